"""Tests of the Omi plugin: its data files and its simulator."""

from __future__ import annotations

import json
from datetime import date

import pytest
from bijou_core.devices import Device
from bijou_core.plugin_api import DeviceSimulator
from bijou_core.rules import EvalRules
from bijou_core.testing import (
    assert_eval_set_valid,
    assert_templates_cover,
    device_fixture,
    registered_specs,
)

import bijou_omi
from bijou_omi.simulator import TODAY, OmiSimulator, date_range, keywords

TR = ["today", "yesterday", "this_week", "last_week", "this_month", "last_month", "all_time"]
SPEC = {
    "search_conversations": {"query", "time_range"},
    "get_conversations": {"time_range", "limit"},
    "get_memories": {"topic", "limit"},
    "create_memory": {"content"},
    "get_action_items": {"status", "time_range"},
    "create_action_item": {"description", "due"},
    "complete_action_item": {"description"},
    "get_daily_summary": {"day"},
    "set_recording": {"enabled"},
    "get_battery_status": set(),
    "web_search": {"query"},
    "ask_omi_product": {"question"},
}
REQUIRED = {
    "search_conversations": ["query"],
    "create_memory": ["content"],
    "create_action_item": ["description"],
    "complete_action_item": ["description"],
    "set_recording": ["enabled"],
    "web_search": ["query"],
    "ask_omi_product": ["question"],
}
FREE_TEXT = {
    "search_conversations.query",
    "get_memories.topic",
    "create_memory.content",
    "create_action_item.description",
    "create_action_item.due",
    "complete_action_item.description",
    "web_search.query",
    "ask_omi_product.question",
}


device = device_fixture("omi")


@pytest.fixture
def sim() -> OmiSimulator:
    return OmiSimulator()


def run(sim: OmiSimulator, device: Device, name: str, **arguments):
    """Execute a call the way bijou does: defaults from tools.json fill omitted arguments."""
    return sim.execute({"name": name, "arguments": arguments}, device.tools_by_name[name])


# -- data files ------------------------------------------------------------------------------


def test_tool_names_params_and_required_match_spec(device):
    assert [t["name"] for t in device.tools] == list(SPEC)
    for tool in device.tools:
        params = tool["parameters"]
        assert set(params["properties"]) == SPEC[tool["name"]], tool["name"]
        assert params["required"] == REQUIRED.get(tool["name"], []), tool["name"]


def test_enums_ranges_and_defaults(device):
    def prop(tool, param):
        return device.tools_by_name[tool]["parameters"]["properties"][param]

    for tool in ("search_conversations", "get_conversations", "get_action_items"):
        assert prop(tool, "time_range")["enum"] == TR
        assert prop(tool, "time_range")["default"] == "all_time"
    limit = prop("get_conversations", "limit")
    assert (limit["minimum"], limit["maximum"], limit["default"]) == (1, 50, 10)
    limit = prop("get_memories", "limit")
    assert (limit["minimum"], limit["maximum"], limit["default"]) == (1, 100, 20)
    assert prop("get_action_items", "status")["enum"] == ["open", "completed", "all"]
    assert prop("get_action_items", "status")["default"] == "open"
    assert prop("get_daily_summary", "day") == {
        "type": "string",
        "description": "Which day.",
        "enum": ["today", "yesterday"],
        "default": "today",
    }
    assert prop("set_recording", "enabled")["type"] == "boolean"
    # Optional strings with no default in the spec: no default in the schema either.
    assert "default" not in prop("get_memories", "topic")
    assert "default" not in prop("create_action_item", "due")
    for tool in device.tools_by_name.values():
        for name, schema in tool["parameters"]["properties"].items():
            assert "default" not in schema or name not in tool["parameters"]["required"]


def test_eval_set_valid_size_and_mix(device):
    assert_eval_set_valid(device, min_records=50, min_no_tool_share=0.12, min_per_tool=2)
    multi = sum(1 for r in device.eval_set if len(r.answers) == 2)
    assert 5 <= multi <= 8


def test_eval_hard_cases_route_to_the_right_tool(device):
    by_query = {r.query: [c["name"] for c in r.answers] for r in device.eval_set}
    assert by_query["what did sarah say about the budget"] == ["search_conversations"]
    assert by_query["keep this in your head my locker code is 4312"] == ["create_memory"]
    assert by_query["i gotta call the dentist tomorrow remind me"] == ["create_action_item"]
    assert by_query["how am i supposed to charge this pendant"] == ["ask_omi_product"]
    assert by_query["how much battery is left on my phone"] == []


def test_templates_cover_every_tool_and_yaml_booleans_are_strings(device):
    assert_templates_cover(device)
    assert set(device.templates["tools"]) == set(SPEC)
    for name, phrasings in device.templates["tools"].items():
        assert len(phrasings) >= 10, name
    assert len(device.templates["no_tool"]) >= 30
    for table in device.templates["values"].values():
        for value, forms in table.items():
            assert isinstance(value, str) and all(isinstance(f, str) for f in forms)
    for key in FREE_TEXT:
        assert len(device.templates["lists"][key]) >= 15, key
    for name, phrasings in device.templates["tools"].items():
        for p in phrasings:
            if isinstance(p, dict) and "{" not in p["text"]:
                call = {"name": name, "arguments": p.get("args", {})}
                assert device.validator.check_calls([call]) == [], p


def test_the_registered_device():
    (spec,) = registered_specs(bijou_omi)
    assert (spec.name, spec.display_name, spec.runtime) == ("omi", "Omi", OmiSimulator)
    assert spec.eval_rules == EvalRules(free_text=frozenset(FREE_TEXT))
    assert [spec.tools.name, spec.templates.name, spec.eval_set.name] == [
        "tools.json",
        "templates.yaml",
        "eval.jsonl",
    ]


def test_free_text_rules_ignore_filler_but_not_content(device):
    rules = registered_specs(bijou_omi)[0].eval_rules
    expected = [{"name": "search_conversations", "arguments": {"query": "Sarah budget"}}]
    said = [{"name": "search_conversations", "arguments": {"query": "sarah about the budget"}}]
    stated = [
        {
            "name": "search_conversations",
            "arguments": {"query": "sarah budget", "time_range": "all_time"},
        }
    ]
    other = [{"name": "web_search", "arguments": {"query": "sarah budget"}}]
    assert rules.same_calls(expected, said, device.tools_by_name)
    assert rules.same_calls(expected, stated, device.tools_by_name)
    assert not rules.same_calls(expected, other, device.tools_by_name)
    week = [
        {
            "name": "search_conversations",
            "arguments": {"query": "sarah budget", "time_range": "this_week"},
        }
    ]
    assert not rules.same_calls(expected, week, device.tools_by_name)


# -- simulator -------------------------------------------------------------------------------


def test_simulator_is_a_device_simulator_with_no_confirmations(sim, device):
    assert isinstance(sim, DeviceSimulator)
    assert sim.confirm == frozenset()
    assert sim.missing_handlers(device.tools) == []
    assert all(sim.accepts(t) for t in device.tools)


def test_date_ranges_are_fixed_and_week_starts_monday():
    assert date(2025, 3, 12) == TODAY and TODAY.weekday() == 2
    assert date_range("yesterday") == (date(2025, 3, 11), date(2025, 3, 11))
    assert date_range("this_week") == (date(2025, 3, 10), TODAY)
    assert date_range("last_week") == (date(2025, 3, 3), date(2025, 3, 9))
    assert date_range("this_month") == (date(2025, 3, 1), TODAY)
    assert date_range("last_month") == (date(2025, 2, 1), date(2025, 2, 28))
    with pytest.raises(ValueError):
        date_range("next_week")


def test_search_conversations_by_keyword_and_time_range(sim, device):
    hits = run(sim, device, "search_conversations", query="Sarah budget")["results"]
    assert hits[0]["id"] == "c10"  # both words match; the brainstorm with Sarah only one
    assert {h["id"] for h in hits} == {"c10", "c5"}
    last_week = sim.search_conversations(query="Sarah budget", time_range="last_week")["results"]
    assert [h["id"] for h in last_week] == ["c5"]
    assert sim.search_conversations(query="sarah", time_range="yesterday")["results"] == []
    assert sim.search_conversations(query="quantum physics")["results"] == []
    # Stemming: "booking flights" finds "flights need booking".
    assert sim.search_conversations(query="booking flights")["results"][0]["id"] == "c8"


def test_get_conversations_newest_first_with_limit(sim, device):
    everything = run(sim, device, "get_conversations")
    assert everything["total"] == 11 and len(everything["conversations"]) == 10  # default limit
    assert everything["conversations"][0]["id"] == "c10"
    assert [c["id"] for c in sim.get_conversations(time_range="today")["conversations"]] == [
        "c10",
        "c9",
    ]
    assert sim.get_conversations(time_range="last_month")["total"] == 2
    assert len(sim.get_conversations(limit=3)["conversations"]) == 3
    assert len(sim.get_conversations(limit=500)["conversations"]) == 11  # clamped to 50


def test_memories_create_and_recall(sim, device):
    before = len(run(sim, device, "get_memories")["memories"])
    result = run(sim, device, "create_memory", content="my locker code is 4312")
    assert result["ok"] and not result["duplicate"]
    assert sim.state["memories"][-1]["content"] == "my locker code is 4312"
    assert len(sim.get_memories()["memories"]) == before + 1
    assert sim.get_memories(topic="locker")["memories"] == ["my locker code is 4312"]
    assert sim.get_memories(topic="food", limit=2)["memories"] == [
        "My favorite sushi place is Kaito",
        "Mike likes hazy IPAs",
    ]
    again = sim.create_memory(content="My locker code is 4312")
    assert again["duplicate"] and len(sim.state["memories"]) == before + 1
    assert sim.create_memory(content="  ")["ok"] is False


def test_action_items_lifecycle(sim, device):
    open_items = run(sim, device, "get_action_items")["action_items"]
    assert all(a["status"] == "open" for a in open_items) and len(open_items) == 5
    created = run(
        sim, device, "create_action_item", description="call the dentist", due="tomorrow"
    )["action_item"]
    assert created == {
        "id": "a8",
        "description": "call the dentist",
        "due": "tomorrow",
        "status": "open",
        "created": "2025-03-12",
    }
    assert sim.create_action_item(description="buy milk")["action_item"]["due"] is None
    today = sim.get_action_items(time_range="today")["action_items"]
    assert {a["description"] for a in today} == {
        "Send Sarah the revised budget",
        "call the dentist",
        "buy milk",
    }
    done = run(sim, device, "complete_action_item", description="booking the flights")
    assert done["ok"] and done["action_item"]["id"] == "a2"
    assert sim.state["action_items"][1]["status"] == "completed"
    completed = sim.get_action_items(status="completed")["action_items"]
    assert [a["id"] for a in completed] == ["a2", "a5", "a6"]
    assert len(sim.get_action_items(status="all")["action_items"]) == 9
    # Already completed items and unknown items are not matched.
    assert sim.complete_action_item(description="the lease renewal")["ok"] is False
    assert sim.complete_action_item(description="walk the dog")["ok"] is False


def test_daily_summary(sim, device):
    today = run(sim, device, "get_daily_summary")
    assert today["date"] == "2025-03-12" and today["conversations"] == 2
    assert today["minutes_recorded"] == 37
    assert today["new_action_items"] == ["Send Sarah the revised budget"]
    yesterday = sim.get_daily_summary(day="yesterday")
    assert yesterday["date"] == "2025-03-11"
    assert yesterday["people"] == ["Dr. Patel's office", "Mike"]


def test_recording_and_battery(sim, device):
    assert sim.state["recording"] is True
    battery = run(sim, device, "get_battery_status")
    assert battery == {
        "ok": True,
        "level": 64,
        "charging": False,
        "recording": True,
        "hours_left": 16,
    }
    assert run(sim, device, "set_recording", enabled=False) == {
        "ok": True,
        "recording": False,
        "changed": True,
    }
    assert sim.state["recording"] is False
    assert sim.get_battery_status()["hours_left"] == 64  # idle drains slower
    assert sim.set_recording(enabled=False)["changed"] is False
    sim.set_recording(enabled=True)
    assert sim.state["recording"] is True


def test_web_search_and_product_questions_are_canned(sim, device):
    web = run(sim, device, "web_search", query="the weather in Lisbon")
    assert web["answer"].startswith("Partly cloudy") and len(web["results"]) == 2
    assert sim.web_search(query="cheap flights to rome")["answer"] is None
    assert sim.state["searches"] == ["the weather in Lisbon", "cheap flights to rome"]
    charge = run(sim, device, "ask_omi_product", question="how do I charge you")
    assert "USB-C" in charge["answer"]
    assert (
        "battery lasts" in sim.ask_omi_product(question="how long does the battery last")["answer"]
    )
    assert sim.ask_omi_product(question="who designed you")["answer"] is None


def test_keywords_drop_stop_words_and_stem():
    assert keywords("What did Sarah say about the budgets?") == {"sarah", "budget"}
    assert keywords("booking flights") == {"book", "flight"}


def test_simulator_is_deterministic_and_instances_are_independent():
    a, b = OmiSimulator(), OmiSimulator()
    a.create_memory(content="jenna hates cilantro")
    a.set_recording(enabled=False)
    assert b.state == OmiSimulator().state
    assert a.get_conversations() == b.get_conversations()


def test_every_eval_call_runs_on_the_simulator(device):
    for record in device.eval_set:
        sim = OmiSimulator()
        for call in record.answers:
            result = sim.execute(call, device.tools_by_name[call["name"]])
            json.dumps(result)  # JSON-able
