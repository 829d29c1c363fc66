"""Tests of the smart ring plugin: bijou's conformance kit, then the simulator's behaviour."""

from collections import Counter

from bijou_core.testing import (
    assert_conforms,
    assert_eval_set_valid,
    assert_runtime_handles,
    assert_templates_cover,
    device_fixture,
)

from bijou_smart_ring.simulator import RESTING_BPM, WORKOUT_BPM, SmartRingSimulator

device = device_fixture("smart-ring")

TOOLS = {
    "get_sleep_score",
    "get_heart_rate",
    "get_readiness",
    "start_workout",
    "end_workout",
    "set_do_not_disturb",
    "set_alarm",
    "find_my_ring",
}


def test_passes_bijou_devices_check(device):
    assert_conforms(device)


def test_tools_are_the_documented_ones(device):
    assert set(device.tools_by_name) == TOOLS


def test_templates_produce_every_tool_value_and_parameter(device):
    assert_templates_cover(device)


def test_templates_have_enough_phrasings(device):
    counts = {tool: len(phrasings) for tool, phrasings in device.templates["tools"].items()}
    assert min(counts.values()) >= 8, counts
    assert len(device.templates["no_tool"]) >= 30


def test_eval_set_is_hand_written_and_big_enough(device):
    assert_eval_set_valid(device, min_records=40, min_no_tool_share=0.1)
    per_tool = Counter(call["name"] for record in device.eval_set for call in record.answers)
    assert {tool for tool, n in per_tool.items() if n >= 2} == TOOLS
    assert sum(len(record.answers) == 2 for record in device.eval_set) >= 3


def test_runtime_runs_generated_commands(device):
    assert_runtime_handles(device)


def run(ring: SmartRingSimulator, device, name: str, **arguments):
    return ring.execute({"name": name, "arguments": arguments}, device.tools_by_name[name])


def test_workout_lifecycle(device):
    ring = device.runtime()
    assert run(ring, device, "get_heart_rate") == {"bpm": RESTING_BPM}
    assert run(ring, device, "start_workout", type="run") == {"started": True, "type": "run"}
    assert run(ring, device, "get_heart_rate") == {"bpm": WORKOUT_BPM}
    assert run(ring, device, "start_workout", type="swim")["started"] is False  # one at a time
    assert run(ring, device, "end_workout") == {"ended": True, "type": "run", "saved": True}
    run(ring, device, "start_workout", type="yoga")
    assert run(ring, device, "end_workout", save=False)["saved"] is False
    assert [w["type"] for w in ring.state["workouts"]] == ["run"]
    assert run(ring, device, "end_workout")["ended"] is False


def test_alarm_dnd_sleep_and_finding(device):
    ring = device.runtime()
    assert run(ring, device, "set_alarm", time="6:30 am")["wake_window_minutes"] == 0
    assert ring.state["alarm"] == {"time": "6:30 am", "smart_wake": False}
    smart = run(ring, device, "set_alarm", time="seven", smart_wake=True)
    assert smart == {"alarm": "seven", "wake_window_minutes": 30}
    run(ring, device, "set_do_not_disturb", enabled=True)
    assert ring.state["do_not_disturb"] is True
    assert run(ring, device, "get_sleep_score") == {"night": "last_night", "score": 84}
    assert run(ring, device, "get_sleep_score", night="week_average")["score"] == 78
    assert run(ring, device, "find_my_ring")["vibrating"] is True


def test_ending_a_workout_needs_confirmation(device):
    ring = device.runtime()
    assert ring.needs_confirmation({"name": "end_workout", "arguments": {}})
    assert not ring.needs_confirmation({"name": "start_workout", "arguments": {"type": "run"}})
