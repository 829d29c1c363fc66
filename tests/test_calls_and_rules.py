"""The one parser of model output and the comparison of calls under a device's rules."""

from __future__ import annotations

import toy_plugin

from bijou_core.calls import dumps, parse
from bijou_core.rules import EvalRules

TOOLS = {t["name"]: t for t in toy_plugin.TOOLS}


def test_parse_accepts_the_call_format_and_tolerates_wrapping():
    calls = [{"name": "set_light", "arguments": {"on": True}}]
    assert parse(dumps(calls)).calls == calls
    assert parse("```json\n" + dumps(calls) + "\n```").calls == calls
    assert parse(dumps(calls) + "\n<|im_end|> trailing").calls == calls
    assert parse("[]").calls == []


def test_parse_reports_why_text_is_not_calls():
    assert parse("sure! turning it on").error == "no JSON list in the output"
    assert parse('[{"name": "x", "arguments": {').error.startswith("invalid JSON")
    assert parse('[{"arguments": {}}]').error == "call 0 is not an object with a name and arguments"
    assert not parse('[{"name": "x", "arguments": {}}').ok


def test_dumps_is_compact_and_stable():
    assert dumps([{"name": "a", "arguments": {"b": "é"}}]) == '[{"name": "a", "arguments": {"b": "é"}}]'


def test_defaults_equal_omission_and_strings_normalized():
    rules = EvalRules(free_text=frozenset({"name_scene.scene"}))
    omitted = [{"name": "set_color", "arguments": {"color": "red"}}]
    stated = [{"name": "set_color", "arguments": {"fade": False, "color": "red"}}]
    other = [{"name": "set_color", "arguments": {"color": "red", "fade": True}}]
    assert rules.same_calls(omitted, stated, TOOLS)
    assert not rules.same_calls(omitted, other, TOOLS)
    assert rules.same_calls(
        [{"name": "name_scene", "arguments": {"scene": "Movie night"}}],
        [{"name": "name_scene", "arguments": {"scene": "the movie night!"}}],
        TOOLS,
    )
    assert rules.same_calls(
        [{"name": "name_scene", "arguments": {"scene": "night with the movie"}}],
        [{"name": "name_scene", "arguments": {"scene": "movie night"}}],
        TOOLS,
    )
    assert not rules.same_calls(
        [{"name": "name_scene", "arguments": {"scene": "movie night"}}],
        [{"name": "name_scene", "arguments": {"scene": "movie"}}],
        TOOLS,
    )
    # free text as said or as the prompt's digits: the same words
    assert rules.same_calls(
        [{"name": "name_scene", "arguments": {"scene": "twenty five candles"}}],
        [{"name": "name_scene", "arguments": {"scene": "25 candles"}}],
        TOOLS,
    )
    assert not rules.same_calls(
        [{"name": "name_scene", "arguments": {"scene": "twenty five candles"}}],
        [{"name": "name_scene", "arguments": {"scene": "26 candles"}}],
        TOOLS,
    )
    assert rules.same_calls(
        [{"name": "set_brightness", "arguments": {"percent": 5}}],
        [{"name": "set_brightness", "arguments": {"percent": 5.0}}],
        TOOLS,
    )
    strict = EvalRules(defaults_equal_omission=False, case_sensitive=True)
    assert not strict.same_calls(omitted, stated, TOOLS)
    assert not strict.same_calls(
        [{"name": "name_scene", "arguments": {"scene": "Focus"}}],
        [{"name": "name_scene", "arguments": {"scene": "focus"}}],
        TOOLS,
    )


def test_order_of_several_calls_matters_unless_rules_say_not():
    a = {"name": "set_light", "arguments": {"on": True}}
    b = {"name": "set_brightness", "arguments": {"percent": 30}}
    assert not EvalRules().same_calls([a, b], [b, a], TOOLS)
    assert EvalRules(ordered=False).same_calls([a, b], [b, a], TOOLS)
    assert not EvalRules().same_calls([a, b], [a], TOOLS)
