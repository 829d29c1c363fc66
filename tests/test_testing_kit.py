"""bijou_core.testing, the conformance kit plugin authors use in their own tests."""

from __future__ import annotations

import copy
import sys
import types
from importlib import metadata

import pytest
import toy_plugin

from bijou_core import hookimpl
from bijou_core.testing import (
    assert_conforms,
    assert_eval_set_valid,
    assert_runtime_handles,
    assert_templates_cover,
    device_fixture,
    load_device,
)


def install(monkeypatch, *specs: tuple[str, str]) -> None:
    """Make ``specs`` the installed ``bijou`` entry points (name, module)."""
    eps = [metadata.EntryPoint(name=n, value=v, group="bijou") for n, v in specs]
    monkeypatch.setattr(metadata, "entry_points", lambda group=None: eps if group == "bijou" else [])
    monkeypatch.delenv("BIJOU_LOAD_PLUGINS", raising=False)


@pytest.fixture
def installed(monkeypatch) -> None:
    """The lamp plugin is installed, and nothing else."""
    install(monkeypatch, ("lamp", "toy_plugin"))


lamp_device = device_fixture("lamp", scope="function")


def test_a_conforming_plugin_passes_every_helper(installed, lamp_device):
    assert lamp_device.display_name == "Desk Lamp"
    assert_conforms("lamp")
    assert_conforms(lamp_device)
    assert_templates_cover(lamp_device)
    assert_eval_set_valid(lamp_device, min_records=3, min_no_tool_share=0.3)
    assert_runtime_handles(lamp_device)


def test_a_missing_plugin_says_what_is_installed_and_how_to_install(monkeypatch):
    install(monkeypatch, ("lamp", "toy_plugin"), ("ghost", "no_such_module_xyz"))
    with pytest.raises(AssertionError) as failure:
        load_device("my-ring")
    message = str(failure.value)
    assert message.startswith(
        "device 'my-ring' is not installed (installed devices: lamp); install its plugin"
    )
    assert "pip install -e ." in message
    assert "plugin ghost (no package) is broken: failed to import: ModuleNotFoundError" in message

    monkeypatch.setenv("BIJOU_LOAD_PLUGINS", "omi")
    with pytest.raises(AssertionError, match="BIJOU_LOAD_PLUGINS='omi' limits which plugins are loaded"):
        load_device("lamp")


def test_assert_conforms_lists_every_failed_check(installed, monkeypatch):
    broken = dict(toy_plugin.TEMPLATES, tools={**toy_plugin.TEMPLATES["tools"], "set_color": ["go red"]})
    monkeypatch.setattr(toy_plugin, "TEMPLATES", broken)
    with pytest.raises(AssertionError) as failure:
        assert_conforms("lamp")
    lines = str(failure.value).splitlines()
    assert lines[0] == "lamp: fails conformance checks of `bijou devices check`:"
    assert lines[1] == (
        "  templates: <lamp templates>: $.tools.set_color[0]: required parameter 'color' has no slot or arg"
    )
    assert [line.split(":")[0].strip() for line in lines[1:]] == ["templates", "samples", "eval set"]


def test_templates_cover_names_unreachable_values(installed, monkeypatch):
    only_red = copy.deepcopy(toy_plugin.TEMPLATES)
    only_red["tools"]["set_color"] = [
        {"text": "go red", "args": {"color": "red"}},
        {"text": "paint it red {fade}", "args": {"color": "red"}},
    ]
    monkeypatch.setattr(toy_plugin, "TEMPLATES", only_red)
    with pytest.raises(AssertionError) as failure:
        assert_templates_cover("lamp")
    message = str(failure.value)
    assert "lamp: templates do not cover the tools:" in message
    assert "tool set_color: color='warm_white' is never produced" in message
    assert "tool set_color: color='blue' is never produced" in message


def test_templates_cover_wants_every_parameter_stated(installed, monkeypatch):
    """Stricter than `bijou devices check`: an optional parameter no phrasing states is a gap."""
    tools = copy.deepcopy(toy_plugin.TOOLS)
    tools[3]["parameters"]["properties"]["note"] = {"type": "string", "default": ""}
    monkeypatch.setattr(toy_plugin, "TOOLS", tools)
    with pytest.raises(
        AssertionError, match="tool name_scene: parameter 'note' is never stated in the generated samples"
    ):
        assert_templates_cover("lamp")


def test_eval_set_copied_from_templates_or_too_small_fails(installed, monkeypatch):
    with pytest.raises(AssertionError, match=r"lamp: eval set too small:\n  3 records, at least 40 wanted"):
        assert_eval_set_valid("lamp", min_records=40)
    with pytest.raises(AssertionError, match=r"1 of 3 records need no tool \(\[\]\), at least 50% wanted"):
        assert_eval_set_valid("lamp", min_no_tool_share=0.5)

    copied = [
        *toy_plugin.EVAL_SET,
        {"query": "switch on the light", "answers": [{"name": "set_light", "arguments": {"on": True}}]},
    ]
    monkeypatch.setattr(toy_plugin, "EVAL_SET", copied)
    with pytest.raises(AssertionError) as failure:
        assert_eval_set_valid("lamp")
    assert str(failure.value).startswith(
        "lamp: eval set check failed: <lamp eval set>:4: 'switch on the light' is produced by template set_light[1]"
    )


def test_eval_set_missing_a_tool_or_asking_twice_fails(installed, monkeypatch):
    with pytest.raises(AssertionError) as failure:
        assert_eval_set_valid("lamp", min_per_tool=1)
    assert str(failure.value).splitlines()[1:] == [
        "  tool set_color: called in 0 records' answers, at least 1 wanted",
        "  tool name_scene: called in 0 records' answers, at least 1 wanted",
    ]

    again = {"query": "Kill the lights!", "answers": [{"name": "set_light", "arguments": {"on": False}}]}
    monkeypatch.setattr(toy_plugin, "EVAL_SET", [*toy_plugin.EVAL_SET, again])
    with pytest.raises(
        AssertionError, match=r"<lamp eval set>:4: 'Kill the lights!' is the query of line 1 again"
    ):
        assert_eval_set_valid("lamp")


def test_runtime_failures_name_the_call(installed, monkeypatch):
    monkeypatch.setattr(toy_plugin.LampSimulator, "set_light", lambda self, on: {"when": object()})
    monkeypatch.setattr(toy_plugin.LampSimulator, "name_scene", lambda self, scene: 1 / 0)
    with pytest.raises(AssertionError) as failure:
        assert_runtime_handles("lamp")
    message = str(failure.value)
    assert message.startswith("lamp: LampSimulator fails on generated commands:")
    assert 'set_light({"on": ' in message and "result is not JSON-serializable" in message
    assert 'name_scene({"scene": ' in message and "raised ZeroDivisionError: division by zero" in message
    assert "more)" in message  # long lists are cut


def test_runtime_without_a_method_fails_the_runtime_check(installed, monkeypatch):
    class NoColor(toy_plugin.LampSimulator):
        set_color = None

    monkeypatch.setattr(toy_plugin, "LampSimulator", NoColor)
    with pytest.raises(
        AssertionError, match="lamp: runtime check failed: NoColor has no method for tools: set_color"
    ):
        assert_runtime_handles("lamp")


def test_incompatible_plugin_is_named_when_its_device_is_asked_for(monkeypatch):
    future = types.ModuleType("future_ring")
    future.BIJOU_HOOK_API = 3
    future.register_devices = hookimpl(lambda register: register(name="ring"))
    monkeypatch.setitem(sys.modules, "future_ring", future)
    install(monkeypatch, ("ring", "future_ring"))
    with pytest.raises(
        AssertionError, match="plugin ring .* is broken: incompatible hook API: plugin targets"
    ):
        load_device("ring")
