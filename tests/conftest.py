from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import toy_plugin  # noqa: E402

from bijou_core.devices import Device, DeviceRegistry  # noqa: E402
from bijou_core.plugins import Plugins  # noqa: E402


@pytest.fixture
def toy_registry() -> DeviceRegistry:
    """A registry holding only the in-test lamp plugin."""
    plugins = Plugins()
    plugins.register(toy_plugin, "lamp", package="toy-lamp", version="1.2.3")
    return DeviceRegistry(plugins)


@pytest.fixture
def lamp(toy_registry: DeviceRegistry) -> Device:
    return toy_registry.get("lamp")
