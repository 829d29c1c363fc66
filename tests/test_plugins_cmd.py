"""``bijou plugins``: installed plugins as JSON, broken and incompatible ones with their reason."""

from __future__ import annotations

import json
import sys
import types
from importlib import metadata

import pytest
from click.testing import CliRunner

from bijou_core import hookimpl
from bijou_core.cli import main


def plugin_module(name: str, **attributes) -> types.ModuleType:
    module = types.ModuleType(name)
    for key, value in attributes.items():
        setattr(module, key, hookimpl(value) if callable(value) else value)
    return module


@pytest.fixture(autouse=True)
def installed(monkeypatch) -> None:
    """Entry points: the lamp, a missing module, a plugin for hook API 3, one raising in a hook."""
    monkeypatch.setitem(
        sys.modules,
        "future_plugin",
        plugin_module("future_plugin", BIJOU_HOOK_API=3, register_devices=lambda register: None),
    )
    monkeypatch.setitem(
        sys.modules,
        "raising_plugin",
        plugin_module("raising_plugin", register_devices=lambda register: 1 / 0),
    )
    specs = [
        ("lamp", "toy_plugin"),
        ("missing", "no_such_module_xyz"),
        ("future", "future_plugin"),
        ("raising", "raising_plugin"),
    ]
    eps = [metadata.EntryPoint(name=n, value=v, group="bijou") for n, v in specs]
    monkeypatch.setattr(metadata, "entry_points", lambda group=None: eps if group == "bijou" else [])
    monkeypatch.delenv("BIJOU_LOAD_PLUGINS", raising=False)


def run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, ["plugins", *args], env=env, catch_exceptions=False)


def test_plugins_lists_hooks_devices_and_errors():
    result = run()
    assert result.exit_code == 0
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert list(rows) == ["future", "lamp", "missing", "raising"]
    assert rows["lamp"] == {
        "name": "lamp",
        "package": None,
        "version": None,
        "hooks": ["register_devices"],
        "devices": ["lamp"],
        "error": None,
    }
    assert rows["future"]["error"] == (
        "incompatible hook API: plugin targets bijou hook API 3, this bijou provides 2 (and still loads 1)"
    )
    assert rows["future"]["devices"] == [] and rows["future"]["hooks"] == []
    assert rows["missing"]["error"].startswith("failed to import: ModuleNotFoundError: No module named")
    assert rows["raising"]["error"] == "register_devices raised ZeroDivisionError: division by zero"
    assert rows["raising"]["devices"] == []
    assert (
        "warning: plugin future is broken: incompatible hook API: plugin targets bijou hook API 3"
        in result.stderr
    )
    assert result.stderr.count("warning: plugin") == 3


def test_builtin_plugin_only_with_all():
    rows = json.loads(run("--all").stdout)
    assert rows[0]["name"] == "bijou-core"
    assert rows[0]["package"] == "bijou-core" and rows[0]["hooks"] == ["register_models"]
    assert "bijou-core" not in [row["name"] for row in json.loads(run().stdout)]


def test_plugins_honours_bijou_load_plugins():
    only = json.loads(run(env={"BIJOU_LOAD_PLUGINS": "lamp,future"}).stdout)
    assert [row["name"] for row in only] == ["future", "lamp"]
    assert json.loads(run(env={"BIJOU_LOAD_PLUGINS": ""}).stdout) == []
