"""Tests of the Ray-Ban Stories plugin: its data files and its simulator."""

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

import bijou_rayban_stories
from bijou_rayban_stories.simulator import MAX_VIDEO_SECONDS, RayBanStoriesSimulator

SPEC = {
    "take_photo": set(),
    "start_video": {"duration_seconds"},
    "stop_video": set(),
    "start_livestream": {"platform"},
    "stop_livestream": set(),
    "media_control": {"action"},
    "set_volume": {"level"},
    "send_message": {"contact", "message", "app"},
    "make_call": {"contact", "app"},
    "share_last_capture": {"destination", "contact"},
    "get_battery_level": {"component"},
    "import_media": set(),
}
CONFIRM = {"send_message", "make_call", "start_livestream", "share_last_capture"}


device = device_fixture("rayban-stories")


@pytest.fixture
def sim() -> RayBanStoriesSimulator:
    return RayBanStoriesSimulator()


def run(sim, tools_by_name, name, **arguments):
    return sim.execute({"name": name, "arguments": arguments}, tools_by_name[name])


# -- data files ------------------------------------------------------------------------------


FREE_TEXT = frozenset(
    {
        "send_message.contact",
        "send_message.message",
        "make_call.contact",
        "share_last_capture.contact",
    }
)


def test_tool_names_and_params_match_spec(device):
    assert [t["name"] for t in device.tools] == list(SPEC)
    for tool in device.tools:
        assert set(tool["parameters"]["properties"]) == SPEC[tool["name"]], tool["name"]


def test_enums_ranges_required_and_defaults(device):
    def prop(tool, param):
        return device.tools_by_name[tool]["parameters"]["properties"][param]

    def required(tool):
        return set(device.tools_by_name[tool]["parameters"]["required"])

    duration, level = prop("start_video", "duration_seconds"), prop("set_volume", "level")
    assert (duration["minimum"], duration["maximum"]) == (1, 60)
    assert (level["minimum"], level["maximum"]) == (0, 100)
    assert prop("start_livestream", "platform")["enum"] == ["facebook", "instagram"]
    assert prop("media_control", "action")["enum"] == [
        "play",
        "pause",
        "next_track",
        "previous_track",
    ]
    assert prop("send_message", "app")["enum"] == ["whatsapp", "messenger", "sms"]
    assert prop("make_call", "app")["enum"] == ["whatsapp", "messenger", "phone"]
    assert prop("share_last_capture", "destination")["enum"] == [
        "instagram_story",
        "facebook",
        "whatsapp",
        "messenger",
    ]
    component = prop("get_battery_level", "component")
    assert (component["enum"], component["default"]) == (["glasses", "case"], "glasses")
    assert required("start_video") == set() and required("start_livestream") == {"platform"}
    assert required("send_message") == {"contact", "message"}
    assert required("make_call") == {"contact"}
    assert required("share_last_capture") == {"destination"}
    assert required("get_battery_level") == set()
    # Only get_battery_level.component has a default; optional apps and contacts are omitted.
    defaults = {
        f"{t}.{p}"
        for t, tool in device.tools_by_name.items()
        for p, s in tool["parameters"]["properties"].items()
        if "default" in s
    }
    assert defaults == {"get_battery_level.component"}


def test_eval_set_valid_size_and_mix(device):
    assert_eval_set_valid(device, min_records=50, min_no_tool_share=0.12, min_per_tool=2)
    multi = sum(1 for r in device.eval_set if len(r.answers) == 2)
    assert 5 <= multi <= 8


def test_eval_hard_cases(device):
    answers = {r.query: r.answers for r in device.eval_set}
    assert answers["shoot that over to jake on messenger"] == [
        {
            "name": "share_last_capture",
            "arguments": {"destination": "messenger", "contact": "Jake"},
        }
    ]
    assert (
        answers["text mom on whatsapp and say I'm running late"][0]["arguments"]["app"]
        == "whatsapp"
    )
    assert answers["start taking video"] == [{"name": "start_video", "arguments": {}}]


def test_templates_cover_every_tool_and_lists(device):
    assert_templates_cover(device)
    assert set(device.templates["tools"]) == set(SPEC)
    for name, phrasings in device.templates["tools"].items():
        assert len(phrasings) >= 10, name
    assert len(device.templates["no_tool"]) >= 30
    for key in FREE_TEXT:
        assert len(device.templates["lists"][key]) >= 15, key
    for table in device.templates["values"].values():
        for value, forms in table.items():
            assert isinstance(value, str) and all(isinstance(f, str) for f in forms)
    for name, phrasings in device.templates["tools"].items():
        for p in phrasings:
            if isinstance(p, dict) and "{" not in p["text"]:
                call = {"name": name, "arguments": p.get("args", {})}
                assert device.validator.check_calls([call]) == [], p


def test_templates_state_and_omit_optional_params(device):
    def states(tool, param):
        return [
            p
            for p in device.templates["tools"][tool]
            if f"{{{param}}}" in (p if isinstance(p, str) else p["text"])
            or (isinstance(p, dict) and param in p.get("args", {}))
        ]

    for tool, param in [
        ("start_video", "duration_seconds"),
        ("send_message", "app"),
        ("make_call", "app"),
        ("share_last_capture", "contact"),
        ("get_battery_level", "component"),
    ]:
        stated = states(tool, param)
        assert stated and len(stated) < len(device.templates["tools"][tool]), (tool, param)


def test_share_with_contact_phrasings_only_address_people(device):
    for p in device.templates["tools"]["share_last_capture"]:
        if isinstance(p, dict) and "{contact}" in p["text"]:
            assert p["args"]["destination"] in {"whatsapp", "messenger"}, p


def test_the_registered_device_and_its_rules(device):
    (spec,) = registered_specs(bijou_rayban_stories)
    assert (spec.name, spec.display_name) == ("rayban-stories", "Ray-Ban Stories")
    assert spec.runtime is RayBanStoriesSimulator
    rules = spec.eval_rules
    assert rules == EvalRules(free_text=FREE_TEXT)
    said = [{"name": "send_message", "arguments": {"contact": "Mom", "message": "On my way!"}}]
    heard = [{"name": "send_message", "arguments": {"contact": "mom", "message": "on my way"}}]
    assert rules.same_calls(said, heard, device.tools_by_name)
    other_app = [{**heard[0], "arguments": {**heard[0]["arguments"], "app": "sms"}}]
    assert not rules.same_calls(said, other_app, device.tools_by_name)
    battery = [{"name": "get_battery_level", "arguments": {}}]
    glasses = [{"name": "get_battery_level", "arguments": {"component": "glasses"}}]
    case = [{"name": "get_battery_level", "arguments": {"component": "case"}}]
    assert rules.same_calls(battery, glasses, device.tools_by_name)
    assert not rules.same_calls(battery, case, device.tools_by_name)


# -- simulator -------------------------------------------------------------------------------


def test_simulator_handles_every_tool_and_confirm_set(sim, device):
    assert isinstance(sim, DeviceSimulator)
    assert sim.confirm == CONFIRM
    assert sim.missing_handlers(device.tools) == []
    assert all(sim.accepts(t) for t in device.tools)
    needs = {
        t["name"]
        for t in device.tools
        if sim.needs_confirmation({"name": t["name"], "arguments": {}})
    }
    assert needs == CONFIRM


def test_photo_adds_a_capture(sim, device):
    before = sim.media_count
    result = run(sim, device.tools_by_name, "take_photo")
    assert result["ok"] and result["media_count"] == before + 1
    assert sim.state["captures"][-1]["type"] == "photo"


def test_cannot_start_video_while_recording(sim, device):
    assert run(sim, device.tools_by_name, "start_video")["ok"]
    assert sim.state["camera"]["mode"] == "recording"
    second = run(sim, device.tools_by_name, "start_video", duration_seconds=10)
    assert second["ok"] is False and "recording" in second["error"]
    assert run(sim, device.tools_by_name, "take_photo")["ok"] is False
    assert run(sim, device.tools_by_name, "start_livestream", platform="facebook")["ok"] is False
    before = sim.media_count
    sim.elapse(12)
    stopped = run(sim, device.tools_by_name, "stop_video")
    assert stopped["ok"] and sim.media_count == before + 1
    assert sim.state["captures"][-1] == {
        "id": stopped["capture"],
        "type": "video",
        "seconds": 12,
        "imported": False,
    }
    assert sim.state["camera"]["mode"] == "idle"


def test_stop_video_when_not_recording_is_an_error_result(sim, device):
    result = run(sim, device.tools_by_name, "stop_video")
    assert result == {"ok": False, "error": "not recording"}


def test_timed_clip_ends_by_itself_and_open_clip_at_the_limit(sim):
    sim.start_video(duration_seconds=30)
    assert sim.elapse(29) is None and sim.state["camera"]["mode"] == "recording"
    clip = sim.elapse(1)
    assert clip["seconds"] == 30 and sim.state["camera"]["mode"] == "idle"
    assert sim.stop_video()["ok"] is False
    sim.start_video()
    clip = sim.elapse(MAX_VIDEO_SECONDS + 20)
    assert clip["seconds"] == MAX_VIDEO_SECONDS


def test_livestream_lifecycle(sim, device):
    assert run(sim, device.tools_by_name, "stop_livestream")["ok"] is False
    assert run(sim, device.tools_by_name, "start_livestream", platform="instagram") == {
        "ok": True,
        "live_on": "instagram",
    }
    assert run(sim, device.tools_by_name, "start_video")["ok"] is False
    assert run(sim, device.tools_by_name, "start_livestream", platform="facebook")["ok"] is False
    assert run(sim, device.tools_by_name, "stop_livestream") == {"ok": True, "ended": "instagram"}
    assert sim.state["camera"] == {"mode": "idle", "video": None, "livestream": None}


def test_media_control_and_volume_clamping(sim):
    sim.media_control(action="play")
    assert sim.state["media"]["playing"] is True
    first = sim.state["media"]["track"]
    assert sim.media_control(action="next_track")["track"] != first
    assert sim.media_control(action="previous_track")["track"] == first
    assert sim.media_control(action="previous_track")["track"] == first  # stays on the first
    sim.media_control(action="pause")
    assert sim.state["media"]["playing"] is False
    assert sim.set_volume(level=35) == {"ok": True, "volume": 35}
    assert sim.set_volume(level=140)["volume"] == 100
    assert sim.set_volume(level=-5)["volume"] == 0


def test_messages_go_to_the_outbox(sim, device):
    assert sim.state["outbox"] == []
    run(
        sim,
        device.tools_by_name,
        "send_message",
        contact="mom",
        message="running late",
        app="whatsapp",
    )
    run(sim, device.tools_by_name, "send_message", contact="Jake", message="on my way")
    assert sim.state["outbox"] == [
        {"contact": "mom", "message": "running late", "app": "whatsapp"},
        {"contact": "Jake", "message": "on my way", "app": "default"},
    ]
    call = run(sim, device.tools_by_name, "make_call", contact="dad", app="phone")
    assert call["call"] == {"contact": "dad", "app": "phone", "status": "calling"}


def test_share_last_capture(sim, device):
    sim.take_photo()
    last = sim.state["captures"][-1]["id"]
    shared = run(
        sim, device.tools_by_name, "share_last_capture", destination="messenger", contact="Jake"
    )
    assert shared["shared"] == {"capture": last, "destination": "messenger", "contact": "Jake"}
    story = run(sim, device.tools_by_name, "share_last_capture", destination="instagram_story")
    assert story["ok"] and story["shared"]["contact"] is None
    wrong = run(
        sim, device.tools_by_name, "share_last_capture", destination="facebook", contact="Jake"
    )
    assert wrong["ok"] is False
    assert len(sim.state["shares"]) == 2
    sim.state["captures"].clear()
    assert sim.share_last_capture(destination="facebook")["ok"] is False


def test_battery_defaults_to_glasses(sim, device):
    assert run(sim, device.tools_by_name, "get_battery_level") == {
        "ok": True,
        "battery": {"glasses": 72},
    }
    assert sim.get_battery_level(component="case") == {"ok": True, "battery": {"case": 90}}


def test_import_media_moves_only_new_captures(sim):
    sim.take_photo()
    result = sim.import_media()
    assert result["count"] == 2 and result["imported"] == ["VID_0002", "IMG_0003"]
    assert all(c["imported"] for c in sim.state["captures"])
    assert sim.import_media() == {"ok": True, "imported": [], "count": 0}


def test_every_eval_call_runs_on_the_simulator(device):
    for record in device.eval_set:
        sim = RayBanStoriesSimulator()
        if record.answers and record.answers[0]["name"] in {"stop_video", "stop_livestream"}:
            # Stopping only makes sense while the camera is busy: put it in that state first.
            if record.answers[0]["name"] == "stop_video":
                sim.start_video()
            else:
                sim.start_livestream(platform="facebook")
        for call in record.answers:
            result = sim.execute(call, device.tools_by_name[call["name"]])
            json.dumps(result)  # JSON-able
            assert result["ok"], (record.query, result)
