"""DeviceSpec.from_package: a device from a package's data folder, its manifest checked."""

from __future__ import annotations

import json
import sys

import pytest
import toy_plugin

from bijou_core.devices import DeviceRegistry
from bijou_core.errors import BijouError
from bijou_core.plugin_api import DeviceSpec, EvalRules, hookimpl
from bijou_core.plugins import Plugins


@pytest.fixture
def package(tmp_path, monkeypatch):
    """An importable package ``desk_lamp`` holding the lamp's files and a device.yaml."""
    folder = tmp_path / "desk_lamp"
    folder.mkdir()
    (folder / "__init__.py").write_text("")
    (folder / "tools.json").write_text(json.dumps(toy_plugin.TOOLS))
    (folder / "templates.yaml").write_text(json.dumps(toy_plugin.TEMPLATES))
    (folder / "eval.jsonl").write_text("".join(json.dumps(r) + "\n" for r in toy_plugin.EVAL_SET))
    (folder / "device.yaml").write_text(
        "name: desk-lamp\ndisplay_name: Desk Lamp\ndescription: A lamp.\n"
        "eval_rules:\n  free_text: [name_scene.scene]\n  case_sensitive: true\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "desk_lamp", raising=False)
    return folder


def test_from_package_reads_the_manifest_and_points_at_the_files(package):
    spec = DeviceSpec.from_package("desk_lamp", runtime=toy_plugin.LampSimulator)
    assert (spec.name, spec.display_name, spec.description, spec.version) == (
        "desk-lamp",
        "Desk Lamp",
        "A lamp.",
        "",
    )
    assert spec.eval_rules == EvalRules(free_text=frozenset({"name_scene.scene"}), case_sensitive=True)
    assert [spec.tools.name, spec.templates.name, spec.eval_set.name] == [
        "tools.json",
        "templates.yaml",
        "eval.jsonl",
    ]
    assert (
        DeviceSpec.from_package("desk_lamp", runtime=toy_plugin.LampSimulator, version="2.0").version == "2.0"
    )

    plugin = type(sys)("desk_lamp_plugin")
    plugin.register_devices = hookimpl(lambda register: register(spec))
    plugins = Plugins()
    plugins.register(plugin, "desk-lamp", package="bijou-desk-lamp", version="0.3.0")
    device = DeviceRegistry(plugins).get("desk-lamp")
    assert device.version == "0.3.0"  # the plugin package's version when the manifest has none
    assert device.tools == toy_plugin.TOOLS and device.tools_source == str(package / "tools.json")
    assert [r.query for r in device.eval_set] == [r["query"] for r in toy_plugin.EVAL_SET]
    assert device.runtime().state["color"] == "warm_white"


def test_a_bad_manifest_is_one_line_naming_the_file_and_field(package):
    (package / "device.yaml").write_text("name: Desk Lamp\n")
    with pytest.raises(BijouError) as error:
        DeviceSpec.from_package("desk_lamp", runtime=toy_plugin.LampSimulator)
    assert str(error.value).startswith(f"{package / 'device.yaml'}: $.name: 'Desk Lamp' does not match")
    (package / "device.yaml").write_text("name: desk-lamp\neval_rules:\n  free_txt: [a.b]\n")
    with pytest.raises(BijouError, match=r"device.yaml: .*'free_txt' was unexpected"):
        DeviceSpec.from_package("desk_lamp", runtime=toy_plugin.LampSimulator)


def test_register_takes_a_device_spec():
    plugin = type(sys)("wrong")
    plugin.register_devices = hookimpl(lambda register: register({"name": "lamp"}))
    plugins = Plugins()
    plugins.register(plugin, "wrong")
    assert DeviceRegistry(plugins).devices == {}
    assert (
        plugins.info["wrong"].error
        == "register_devices raised TypeError: register() takes a DeviceSpec, got dict"
    )
