"""Plugin loading: entry points, BIJOU_LOAD_PLUGINS, broken and incompatible plugins isolated."""

from __future__ import annotations

import types
from importlib import metadata

import pytest
import toy_plugin

from bijou_core import hookimpl
from bijou_core.devices import DeviceRegistry
from bijou_core.errors import BijouError
from bijou_core.plugins import Plugins, allowed_plugins


def plugin(**hooks) -> types.ModuleType:
    """A plugin module made in the test, with the given hook implementations."""
    module = types.ModuleType("test_plugin")
    for name, value in hooks.items():
        setattr(module, name, hookimpl(value) if callable(value) else value)
    return module


def fake_entry_points(monkeypatch, *specs: tuple[str, str]) -> None:
    eps = [metadata.EntryPoint(name=n, value=v, group="bijou") for n, v in specs]
    monkeypatch.setattr(metadata, "entry_points", lambda group=None: eps if group == "bijou" else [])


def test_allowed_plugins_env():
    assert allowed_plugins({}) is None
    assert allowed_plugins({"BIJOU_LOAD_PLUGINS": ""}) == set()
    assert allowed_plugins({"BIJOU_LOAD_PLUGINS": "omi, airpods-pro,"}) == {"omi", "airpods-pro"}


def test_entry_points_load_and_restrict(monkeypatch):
    fake_entry_points(monkeypatch, ("lamp", "toy_plugin"), ("missing", "no_such_module_xyz"))
    plugins = Plugins()
    plugins.load_entry_points({})
    assert plugins.info["lamp"].ok
    assert "register_devices" in plugins.info["lamp"].hooks
    assert "failed to import: ModuleNotFoundError" in plugins.info["missing"].error
    assert list(DeviceRegistry(plugins).devices) == ["lamp"]

    only = Plugins()
    only.load_entry_points({"BIJOU_LOAD_PLUGINS": "missing"})
    assert list(only.info) == ["missing"]
    none = Plugins()
    none.load_entry_points({"BIJOU_LOAD_PLUGINS": ""})
    assert none.info == {}


def test_plugin_raising_in_register_is_broken_not_fatal():
    bad = plugin(register_devices=lambda register: 1 / 0)
    plugins = Plugins()
    plugins.register(toy_plugin, "lamp")
    plugins.register(bad, "bad")
    registry = DeviceRegistry(plugins)
    assert list(registry.devices) == ["lamp"]
    assert plugins.info["bad"].error == "register_devices raised ZeroDivisionError: division by zero"


def test_plugin_raising_in_device_hook_marks_device_broken():
    def tools(device):
        raise RuntimeError("tools file went missing")

    ghost = plugin(register_devices=lambda register: register(name="ghost", version="1"), device_tools=tools)
    plugins = Plugins()
    plugins.register(ghost, "ghost-plugin")
    device = DeviceRegistry(plugins).get("ghost")
    assert device.status() == (
        "broken: plugin ghost-plugin: device_tools(device='ghost') raised RuntimeError: tools file went missing"
    )


def test_incompatible_hook_api_is_reported():
    future = plugin(BIJOU_HOOK_API=3, register_devices=lambda register: None)
    plugins = Plugins()
    info = plugins.register(future, "future")
    assert not info.ok
    assert "plugin targets bijou hook API 3, this bijou provides 2 (and still loads 1)" in info.error


def test_hookimpl_with_unknown_argument_is_reported():
    wrong = plugin(device_tools=lambda device, extra: None)
    info = Plugins().register(wrong, "wrong")
    assert info.error.startswith("incompatible hook implementation")


def test_duplicate_device_name_is_refused():
    plugins = Plugins()
    plugins.register(toy_plugin, "lamp")
    clone = plugin(register_devices=lambda register: register(name="lamp"))
    plugins.register(clone, "clone")
    registry = DeviceRegistry(plugins)
    with pytest.raises(BijouError, match="device 'lamp' is registered by 2 plugins"):
        registry.get("lamp")
    twice = plugin(register_devices=lambda register: [register(name="fan"), register(name="fan")])
    plugins.register(twice, "twice")
    DeviceRegistry(plugins)
    assert "device 'fan' is registered twice by plugin twice" in plugins.info["twice"].error


def test_unknown_device_names_the_known_ones(toy_registry):
    with pytest.raises(BijouError, match=r"unknown device 'lampp' \(known devices: lamp\)"):
        toy_registry.get("lampp")
