"""``bijou devices`` as a user runs it, on the in-test lamp plugin."""

from __future__ import annotations

import json
import types

import pytest
import toy_plugin
from click.testing import CliRunner

from bijou_core import hookimpl
from bijou_core.cli import main
from bijou_core.devices import DeviceRegistry
from bijou_core.plugins import Plugins


@pytest.fixture
def plugins(monkeypatch) -> Plugins:
    """The CLI sees the lamp plugin and a plugin that breaks while registering."""
    broken = types.ModuleType("broken")
    broken.register_devices = hookimpl(lambda register: register(name="Bad Name"))
    loaded = Plugins()
    loaded.register(toy_plugin, "lamp", package="toy-lamp", version="1.2.3")
    loaded.register(broken, "broken", package="bijou-broken", version="0.0.1")
    monkeypatch.setattr("bijou_core.cli.devices.load_registry", lambda: DeviceRegistry(loaded))
    return loaded


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_list_shows_devices_and_broken_plugins(plugins):
    result = run("devices", "list", "--json")
    assert result.exit_code == 0
    rows = json.loads(result.output)
    assert rows[0] == {
        "name": "lamp",
        "display_name": "Desk Lamp",
        "version": "1.2.3",
        "package": "toy-lamp",
        "plugin": "lamp",
        "tools": 4,
        "status": "ok",
    }
    assert rows[1]["plugin"] == "broken"
    assert rows[1]["status"] == (
        "broken: register_devices raised ValueError: device name 'Bad Name' must be lowercase letters, digits, dashes"
    )
    table = run("devices", "list").output
    assert "lamp" in table and "toy-lamp" in table and "broken: register_devices raised" in table


def test_info_shows_tools(plugins):
    text = run("devices", "info", "lamp").output
    assert "set_color: Set the light colour." in text
    assert "color: string, required, one of warm_white|cool_white|red|blue" in text
    assert "fade: boolean, optional, default false" in text
    assert "percent: integer, required, 1..100" in text
    assert json.loads(run("devices", "info", "lamp", "--json").output) == toy_plugin.TOOLS


def test_unknown_device_is_one_line(plugins):
    result = run("devices", "info", "lampe")
    assert result.exit_code == 1
    assert result.output.startswith("Error: unknown device 'lampe' (known devices: lamp); broken: plugin ")
    assert result.output.count("\n") == 1


def test_check_passes_and_fails_precisely(plugins, monkeypatch):
    result = run("devices", "check", "lamp")
    assert result.exit_code == 0, result.output
    assert "ok   samples: 200 generated samples are schema-valid and run on the runtime" in result.output

    templates = dict(toy_plugin.TEMPLATES, tools={**toy_plugin.TEMPLATES["tools"], "set_color": ["go red"]})
    monkeypatch.setattr(toy_plugin, "TEMPLATES", templates)
    result = run("devices", "check", "lamp")
    assert result.exit_code == 1
    assert (
        "FAIL templates: <lamp templates>: $.tools.set_color[0]: required parameter 'color' has no slot or arg"
        in result.output
    )
    assert result.output.endswith("Error: 3 check(s) failed\n")


def test_check_rejects_eval_queries_made_by_templates(plugins, monkeypatch):
    copied = [
        *toy_plugin.EVAL_SET,
        {"query": "please make it red", "answers": [{"name": "set_color", "arguments": {"color": "red"}}]},
    ]
    monkeypatch.setattr(toy_plugin, "EVAL_SET", copied)
    result = run("devices", "check", "lamp")
    assert result.exit_code == 1
    assert (
        "FAIL eval set: <lamp eval set>:4: 'please make it red' is produced by template set_color[0]"
        in result.output
    )


def test_synth_is_byte_identical_for_a_seed(plugins, tmp_path):
    a, b, c = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "c.jsonl"
    assert (
        run("devices", "synth", "lamp", "--num-examples", "120", "--output", str(a), "--seed", "5").exit_code
        == 0
    )
    run("devices", "synth", "lamp", "--num_examples", "120", "--output", str(b), "--seed", "5")
    run("devices", "synth", "lamp", "--num-examples", "120", "--output", str(c), "--seed", "6")
    assert a.read_bytes() == b.read_bytes() != c.read_bytes()
    assert len(a.read_text().splitlines()) == 120


def test_synth_test_split(plugins, tmp_path):
    train, test = tmp_path / "train.jsonl", tmp_path / "test.jsonl"
    result = run(
        "devices",
        "synth",
        "lamp",
        "--num-examples",
        "100",
        "--output",
        str(train),
        "--test-output",
        str(test),
        "--test-examples",
        "30",
    )
    assert result.exit_code == 0, result.output
    train_q = {json.loads(line)["query"] for line in train.read_text().splitlines()}
    test_q = {json.loads(line)["query"] for line in test.read_text().splitlines()}
    assert len(test_q) == 30 and train_q.isdisjoint(test_q)


def test_synth_failure_writes_nothing(plugins, tmp_path):
    out = tmp_path / "big.jsonl"
    result = run("devices", "synth", "lamp", "--num-examples", "100000", "--output", str(out))
    assert result.exit_code == 1
    assert "the templates give only" in result.output and "100000 were asked for" in result.output
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_synth_from_a_tools_file(tmp_path, plugins):
    tools = tmp_path / "tools.json"
    tools.write_text(json.dumps(toy_plugin.TOOLS))
    out = tmp_path / "out.jsonl"
    result = run("devices", "synth", "--schema", str(tools), "--num-examples", "50", "--output", str(out))
    assert result.exit_code == 0, result.output
    assert "using generic phrasings" in result.output
    assert len(out.read_text().splitlines()) == 50

    (tmp_path / "templates.yaml").write_text("tools:\n  set_light: [lamp {on}\n")
    result = run("devices", "synth", "--schema", str(tools), "--output", str(out))
    assert result.exit_code == 1
    assert result.output.startswith(
        f"Error: {tmp_path / 'templates.yaml'}:2:20: invalid YAML: expected ',' or ']'"
    )

    tools.write_text('[{"name": "x"}')
    result = run("devices", "synth", "--schema", str(tools), "--output", str(out))
    assert result.output == f"Error: {tools}:1:15: invalid JSON: Expecting ',' delimiter\n"
    result = run("devices", "synth", "--schema", str(tmp_path / "none.json"), "--output", str(out))
    assert result.output == f"Error: {tmp_path / 'none.json'}: file not found\n"


def test_synth_needs_a_device_or_a_schema(plugins, tmp_path):
    result = run("devices", "synth", "--output", str(tmp_path / "x.jsonl"))
    assert result.exit_code == 2
    assert "give either a DEVICE or --schema PATH" in result.output
