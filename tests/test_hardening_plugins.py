"""Findings 5-8 of the hostile-input campaign (issue 19): plugins cannot take over a device, crash
or silence bijou, and ``bijou devices check`` catches the mistakes generation would let through."""

from __future__ import annotations

import copy
import json
import sys
import textwrap
import types
import zipfile
from importlib import metadata

import pytest
import toy_plugin
from click.testing import CliRunner

from bijou_core.cli import main
from bijou_core.conformance import run_checks
from bijou_core.devices import DeviceRegistry
from bijou_core.errors import BijouError
from bijou_core.plugin_api import DeviceSpec, hookimpl
from bijou_core.plugins import Plugins


def fake_entry_points(monkeypatch, *specs: tuple[str, str]) -> None:
    eps = [metadata.EntryPoint(name=n, value=v, group="bijou") for n, v in specs]
    monkeypatch.setattr(metadata, "entry_points", lambda group=None: eps if group == "bijou" else [])


def use_registry(monkeypatch, registry: DeviceRegistry) -> None:
    monkeypatch.setattr("bijou_core.cli.devices.load_registry", lambda: registry)


def lamp_like(templates=None, runtime=None) -> types.ModuleType:
    """The lamp plugin with other templates or another runtime."""
    spec = DeviceSpec(
        name="lamp",
        tools=toy_plugin.TOOLS,
        templates=templates or toy_plugin.TEMPLATES,
        eval_set=toy_plugin.EVAL_SET,
        runtime=runtime or toy_plugin.LampSimulator,
        version="1",
    )
    module = types.ModuleType("lamp_like")
    module.register_devices = hookimpl(lambda register: register(spec))
    return module


def test_finding_05_two_plugins_claiming_one_device_leave_it_to_neither(monkeypatch):
    plugins = Plugins()
    plugins.register(lamp_like(), "aaa-takeover", package="evil-lamp", version="6.6.6")
    plugins.register(toy_plugin, "lamp", package="toy-lamp", version="1.2.3")
    registry = DeviceRegistry(plugins)
    assert "lamp" not in registry.devices and plugins.info["lamp"].ok and plugins.info["aaa-takeover"].ok
    expected = (
        "device 'lamp' is registered by 2 plugins: evil-lamp (plugin aaa-takeover) and toy-lamp "
        "(plugin lamp); neither is used: uninstall one, or pick one with BIJOU_LOAD_PLUGINS"
    )
    with pytest.raises(BijouError) as error:
        registry.get("lamp")
    assert str(error.value) == expected
    use_registry(monkeypatch, registry)
    info = CliRunner().invoke(main, ["devices", "info", "lamp"])
    assert (info.exit_code, info.output) == (1, f"Error: {expected}\n")
    rows = json.loads(CliRunner().invoke(main, ["devices", "list", "--json"]).output)
    assert [(r["name"], r["status"]) for r in rows] == [("lamp", f"broken: {expected}")]


def _zip_plugin(tmp_path) -> str:
    archive = tmp_path / "zipped_lamp.zip"
    source = textwrap.dedent(
        """
        from bijou_core.plugin_api import DeviceSimulator, DeviceSpec, hookimpl

        @hookimpl
        def register_devices(register):
            register(DeviceSpec.from_package(__name__, runtime=DeviceSimulator))
        """
    )
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("zipped_lamp/__init__.py", source)
        zf.writestr("zipped_lamp/device.yaml", "name: zip-lamp\nversion: '1'\n")
        zf.writestr("zipped_lamp/tools.json", json.dumps(toy_plugin.TOOLS))
        zf.writestr("zipped_lamp/templates.yaml", json.dumps(toy_plugin.TEMPLATES))
    return str(archive)


def test_finding_06_zipped_plugins_load_and_exiting_plugins_cannot_end_bijou(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(_zip_plugin(tmp_path))
    for name, code in [("exits", "import sys\nsys.exit(3)\n"), ("interrupts", "raise KeyboardInterrupt\n")]:
        (tmp_path / f"plugin_{name}.py").write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path))
    fake_entry_points(
        monkeypatch, ("exits", "plugin_exits"), ("interrupts", "plugin_interrupts"), ("zip", "zipped_lamp")
    )
    for module in ("zipped_lamp", "plugin_exits", "plugin_interrupts"):
        monkeypatch.delitem(sys.modules, module, raising=False)
    monkeypatch.setenv("BIJOU_LOAD_PLUGINS", "exits,interrupts,zip")
    result = CliRunner().invoke(main, ["devices", "list", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["plugin"]: r for r in json.loads(result.output)}
    assert (rows["zip"]["name"], rows["zip"]["tools"], rows["zip"]["status"]) == ("zip-lamp", 4, "ok")
    assert rows["exits"]["status"] == "broken: failed to import: SystemExit: 3"
    assert rows["interrupts"]["status"] == "broken: failed to import: KeyboardInterrupt"
    info = CliRunner().invoke(main, ["devices", "info", "zip-lamp"])
    assert info.exit_code == 0 and "set_brightness" in info.output


def test_finding_07_check_fails_with_the_broken_plugins_error(monkeypatch):
    fake_entry_points(monkeypatch, ("lamp", "toy_plugin"), ("ring", "no_such_module_xyz"))
    plugins = Plugins()
    plugins.load_entry_points({})
    use_registry(monkeypatch, DeviceRegistry(plugins))
    error = "plugin ring (no package): failed to import: ModuleNotFoundError: No module named 'no_such_module_xyz'"
    every = CliRunner().invoke(main, ["devices", "check"])
    assert every.exit_code == 1 and f"FAIL {error}\n" in every.output
    named = CliRunner().invoke(main, ["devices", "check", "ring"])
    assert named.exit_code == 1
    assert named.output == f"Error: unknown device 'ring' (known devices: lamp); broken: {error}\n"


def _templates(change) -> dict:
    templates = copy.deepcopy(toy_plugin.TEMPLATES)
    change(templates)
    return templates


class _SetOfScenes(toy_plugin.LampSimulator):
    def name_scene(self, scene):
        return {"saved": {scene}}  # a set: not JSON


MISTAKES = {
    "misspelt values key": (
        _templates(lambda t: t["values"].update(colour=t["values"].pop("color"))),
        "$.values.colour: no tool has a parameter 'colour'",
    ),
    "misspelt enum member": (
        _templates(lambda t: t["values"]["color"].update(warm_whte=t["values"]["color"].pop("warm_white"))),
        "$.values.color.warm_whte: not a value of color (values: blue, cool_white, red, warm_white)",
    ),
    "duplicate phrasing": (
        _templates(lambda t: t["tools"]["set_light"].append("Turn the lamp  {on}")),
        "$.tools.set_light[4]: the same phrasing as $.tools.set_light[0]",
    ),
    "no_tool that a phrasing produces": (
        _templates(lambda t: t["no_tool"].append("please turn the lamp on")),
        "$.no_tool[6]: 'please turn the lamp on' is also produced by phrasing $.tools.set_light[0]",
    ),
}


@pytest.mark.parametrize("mistake", MISTAKES)
def test_finding_08_check_catches_template_mistakes(mistake):
    templates, expected = MISTAKES[mistake]
    plugins = Plugins()
    plugins.register(lamp_like(templates), "lamp")
    (failure,) = [r for r in run_checks(DeviceRegistry(plugins).get("lamp")) if not r.ok]
    assert failure.name == "templates" and failure.detail == f"<lamp templates>: {expected}"


def test_finding_08_check_catches_duplicate_yaml_keys_and_non_json_results(tmp_path):
    yaml_file = tmp_path / "templates.yaml"
    yaml_file.write_text(json.dumps(toy_plugin.TEMPLATES)[:-1] + ', "no_tool": ["what day is it"]}')
    plugins = Plugins()
    plugins.register(lamp_like(yaml_file), "lamp")
    failure = next(r for r in run_checks(DeviceRegistry(plugins).get("lamp")) if not r.ok)
    assert failure.name == "templates" and failure.detail.endswith("invalid YAML: duplicate key 'no_tool'")

    plugins = Plugins()
    plugins.register(lamp_like(runtime=_SetOfScenes), "lamp")
    (failure,) = [r for r in run_checks(DeviceRegistry(plugins).get("lamp")) if not r.ok]
    assert (
        failure.name == "samples"
        and "_SetOfScenes.name_scene returned a result that is not JSON" in failure.detail
    )


def test_finding_08_scaffold_no_tool_commands_are_not_calls_of_the_device():
    from bijou_core.scaffold import derive_eval_set, derive_templates

    tools = [
        {
            "name": "lock_door",
            "description": "Lock the front door.",
            "parameters": {"type": "object", "properties": {}},
        },
        {
            "name": "call",
            "description": "Call a contact.",
            "parameters": {
                "type": "object",
                "properties": {"contact": {"type": "string"}},
                "required": ["contact"],
            },
        },
    ]
    templates = derive_templates(tools)
    no_tool = templates["no_tool"] + [
        r["query"] for r in derive_eval_set(tools, templates) if not r["answers"]
    ]
    assert "lock the front door" not in no_tool and "call mom" not in no_tool
    assert "play some jazz" in no_tool
