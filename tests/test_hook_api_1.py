"""Plugins written for hook API 1 (``register(name=...)`` and five ``device_*`` hooks) still work.

The in-test fan (tests/toy_fan.py) declares ``BIJOU_HOOK_API = 1``: it lists, passes the
conformance checks, trains and answers commands like the hook API 2 lamp.
"""

from __future__ import annotations

import json

import pytest
import toy_fan
import toy_plugin
from click.testing import CliRunner

from bijou_core import EvalRules
from bijou_core.cli import main
from bijou_core.devices import DeviceRegistry, HookApi1Device
from bijou_core.plugins import Plugins


@pytest.fixture
def fan_cli(monkeypatch) -> DeviceRegistry:
    """The CLI sees the hook API 1 fan next to the hook API 2 lamp."""
    plugins = Plugins()
    plugins.register(toy_fan, "fan", package="toy-fan", version="0.1.0")
    plugins.register(toy_plugin, "lamp", package="toy-lamp", version="1.2.3")
    registry = DeviceRegistry(plugins)
    monkeypatch.setattr("bijou_core.cli.devices.load_registry", lambda: registry)
    return registry


def run(*args) -> str:
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_an_api_1_plugin_loads_through_the_adapter(fan_cli):
    fan = fan_cli.get("fan")
    assert isinstance(fan, HookApi1Device) and not isinstance(fan_cli.get("lamp"), HookApi1Device)
    assert fan_cli.plugins.info["fan"].hooks == [
        "device_eval_set",
        "device_runtime",
        "device_templates",
        "device_tools",
        "register_devices",
    ]
    assert [t["name"] for t in fan.tools] == ["set_speed", "oscillate"]
    assert fan.eval_rules == EvalRules()  # no device_eval_rules hook: the defaults
    assert fan.runtime().execute({"name": "set_speed", "arguments": {"speed": 2}}) == {"speed": 2}


def test_an_api_1_plugin_lists_and_checks(fan_cli):
    rows = {row["name"]: row for row in json.loads(run("devices", "list", "--json"))}
    assert rows["fan"] == {
        "name": "fan",
        "display_name": "Desk Fan",
        "version": "0.1.0",
        "package": "toy-fan",
        "plugin": "fan",
        "tools": 2,
        "status": "ok",
    }
    assert rows["lamp"]["status"] == "ok"
    report = run("devices", "check", "fan")
    assert report.startswith("fan (toy-fan 0.1.0)\n") and "FAIL" not in report
    assert report.count("  ok   ") == 5 and "runtime: FanSimulator handles every tool" in report


@pytest.mark.slow
def test_an_api_1_plugin_trains_and_runs(fan_cli, tiny_model_dir, tmp_path, bijou_cache):
    adapters = tmp_path / "adapters"
    common = ["--base", tiny_model_dir, "--num-examples", 24, "--batch-size", 8, "--no-eval"]
    run("devices", "train", "fan", "--output-dir", adapters / "fan", "--max-steps", 2, *common)
    manifest = json.loads((adapters / "fan" / "bijou-manifest.json").read_text())
    assert (manifest["device"], manifest["device_version"]) == ("fan", "0.1.0")
    assert manifest["tools_hash"] == fan_cli.get("fan").tools_hash

    args = ["run", "--adapters-dir", adapters, "--backend", "transformers", "--device", "fan"]
    out = run(*args, "--no-decline", "--command", "fan to two")
    (record,) = [json.loads(line) for line in out.splitlines()]
    assert record["device"] == "fan" and record["valid"]  # constrained: a call valid for the fan
    assert fan_cli.get("fan").validator.is_valid(record["calls"])
    assert record["state"].keys() == {"speed", "oscillating"}  # the fan's own simulator ran
