"""Tests of the AirPods Pro plugin: its data files and its simulator."""

from __future__ import annotations

import json

import pytest
from bijou_core.plugin_api import DeviceSimulator
from bijou_core.rules import EvalRules
from bijou_core.testing import (
    assert_eval_set_valid,
    assert_templates_cover,
    device_fixture,
    registered_specs,
)

import bijou_airpods_pro
from bijou_airpods_pro.simulator import VOLUME_STEP, AirPodsProSimulator

SPEC = {
    "set_volume": {"level"},
    "adjust_volume": {"direction", "steps"},
    "set_noise_control": {"mode"},
    "media_control": {"action"},
    "call_control": {"action"},
    "set_conversation_awareness": {"enabled"},
    "set_spatial_audio": {"mode"},
    "get_battery_level": {"component"},
    "find_my_airpods": {"play_sound_on"},
    "announce_notifications": {"enabled"},
}


device = device_fixture("airpods-pro")


@pytest.fixture
def sim() -> AirPodsProSimulator:
    return AirPodsProSimulator()


# -- data files ------------------------------------------------------------------------------


def test_tool_names_and_params_match_spec(device):
    assert [t["name"] for t in device.tools] == list(SPEC)
    for tool in device.tools:
        assert set(tool["parameters"]["properties"]) == SPEC[tool["name"]], tool["name"]


def test_enums_ranges_and_defaults(device):
    adjust = device.tools_by_name["adjust_volume"]["parameters"]
    assert adjust["required"] == ["direction"]
    assert adjust["properties"]["steps"] == {
        "type": "integer",
        "description": "How many steps.",
        "minimum": 1,
        "maximum": 5,
        "default": 1,
    }
    level = device.tools_by_name["set_volume"]["parameters"]["properties"]["level"]
    assert (level["minimum"], level["maximum"]) == (0, 100)
    noise = device.tools_by_name["set_noise_control"]["parameters"]["properties"]["mode"]["enum"]
    assert noise == ["noise_cancellation", "transparency", "adaptive", "off"]
    spatial = device.tools_by_name["set_spatial_audio"]["parameters"]["properties"]["mode"]["enum"]
    assert spatial == ["off", "fixed", "head_tracked"]
    battery = device.tools_by_name["get_battery_level"]["parameters"]
    assert battery["properties"]["component"]["default"] == "all" and battery["required"] == []
    find = device.tools_by_name["find_my_airpods"]["parameters"]
    assert find["properties"]["play_sound_on"]["default"] == "both" and find["required"] == []
    for tool in device.tools_by_name.values():
        for name, prop in tool["parameters"]["properties"].items():
            assert ("default" in prop) != (name in tool["parameters"]["required"]), name


def test_eval_set_valid_size_and_mix(device):
    assert_eval_set_valid(device, min_records=50, min_no_tool_share=0.12, min_per_tool=2)
    multi = sum(1 for r in device.eval_set if len(r.answers) == 2)
    assert 5 <= multi <= 8


def test_templates_cover_every_tool_and_yaml_booleans_are_strings(device):
    assert_templates_cover(device)
    templates = device.templates
    assert set(templates["tools"]) == set(SPEC)
    for name, phrasings in templates["tools"].items():
        assert len(phrasings) >= 10, name
    assert len(templates["no_tool"]) >= 30
    # A bare `off` in YAML would load as False: every spoken form must be a string.
    for table in templates["values"].values():
        for value, forms in table.items():
            assert isinstance(value, str) and all(isinstance(f, str) for f in forms)
    for name, phrasings in templates["tools"].items():
        for p in phrasings:
            if isinstance(p, dict) and "{" not in p["text"]:
                call = {"name": name, "arguments": p.get("args", {})}
                assert device.validator.check_calls([call]) == [], p


def test_the_registered_device():
    (spec,) = registered_specs(bijou_airpods_pro)
    assert (spec.name, spec.display_name, spec.runtime) == (
        "airpods-pro",
        "AirPods Pro",
        AirPodsProSimulator,
    )
    assert spec.eval_rules == EvalRules(free_text=frozenset())


def test_defaults_equal_omission_in_rules(device):
    rules = EvalRules()
    stated = [{"name": "find_my_airpods", "arguments": {"play_sound_on": "both"}}]
    omitted = [{"name": "find_my_airpods", "arguments": {}}]
    assert rules.same_calls(stated, omitted, device.tools_by_name)
    left = [{"name": "find_my_airpods", "arguments": {"play_sound_on": "left"}}]
    assert not rules.same_calls(left, omitted, device.tools_by_name)


# -- simulator -------------------------------------------------------------------------------


def test_simulator_is_a_device_simulator_with_no_confirmations(sim, device):
    assert isinstance(sim, DeviceSimulator)
    assert sim.confirm == frozenset()
    assert sim.missing_handlers(device.tools) == []
    assert all(sim.accepts(t) for t in device.tools)
    assert not any(
        sim.needs_confirmation({"name": t["name"], "arguments": {}}) for t in device.tools
    )


def test_adjust_volume_steps_and_clamping(sim, device):
    assert sim.state["volume"] == 50
    sim.execute(
        {"name": "adjust_volume", "arguments": {"direction": "up"}},
        device.tools_by_name["adjust_volume"],
    )
    assert sim.state["volume"] == 50 + VOLUME_STEP
    sim.adjust_volume(direction="up", steps=5)
    assert sim.state["volume"] == 100
    result = sim.adjust_volume(direction="down", steps=3)
    assert sim.state["volume"] == 70 and result["changed_by"] == -30
    sim.set_volume(level=5)
    sim.adjust_volume(direction="down", steps=2)
    assert sim.state["volume"] == 0


def test_set_volume_and_modes(sim):
    assert sim.set_volume(level=35) == {"ok": True, "volume": 35}
    sim.set_noise_control(mode="transparency")
    sim.set_spatial_audio(mode="off")
    sim.set_conversation_awareness(enabled=False)
    sim.announce_notifications(enabled=True)
    assert sim.state["noise_control"] == "transparency"
    assert sim.state["spatial_audio"] == "off"
    assert sim.state["conversation_awareness"] is False
    assert sim.state["announce_notifications"] is True


def test_media_control(sim):
    sim.media_control(action="play")
    assert sim.state["media"]["playing"] is True
    first = sim.state["media"]["track"]
    assert sim.media_control(action="next_track")["track"] != first
    assert sim.media_control(action="previous_track")["track"] == first
    assert sim.media_control(action="previous_track")["track"] == first  # stays on the first
    sim.media_control(action="pause")
    assert sim.state["media"]["playing"] is False


def test_call_lifecycle(sim):
    assert sim.call_control(action="mute")["ok"] is False  # still ringing
    assert sim.call_control(action="answer")["call"]["status"] == "active"
    sim.call_control(action="mute")
    assert sim.state["call"]["muted"] is True
    sim.call_control(action="unmute")
    assert sim.state["call"]["muted"] is False
    sim.call_control(action="end")
    assert sim.state["call"]["status"] == "none"
    assert sim.call_control(action="end")["ok"] is False


def test_decline_incoming_call(sim):
    assert sim.call_control(action="decline")["ok"] is True
    assert sim.state["call"]["status"] == "none"
    assert sim.call_control(action="answer")["ok"] is False


def test_battery_defaults_to_all_and_is_deterministic(sim, device):
    tool = device.tools_by_name["get_battery_level"]
    everything = sim.execute({"name": "get_battery_level", "arguments": {}}, tool)
    assert set(everything["battery"]) == {"left", "right", "case"}
    assert sim.get_battery_level(component="case") == {"ok": True, "battery": {"case": 64}}
    assert AirPodsProSimulator().get_battery_level() == everything


def test_find_my_airpods(sim, device):
    tool = device.tools_by_name["find_my_airpods"]
    assert sim.execute({"name": "find_my_airpods", "arguments": {}}, tool)["playing_sound_on"] == [
        "left",
        "right",
    ]
    assert sim.find_my_airpods(play_sound_on="right")["playing_sound_on"] == ["right"]
    assert sim.state["find_my"]["playing_sound_on"] == "right"


def test_every_eval_call_runs_on_the_simulator(device):
    for record in device.eval_set:
        sim = AirPodsProSimulator()
        for call in record.answers:
            result = sim.execute(call, device.tools_by_name[call["name"]])
            json.dumps(result)  # JSON-able
