"""Property-based tests: hostile input to the parser, the validator, the file loaders and the xLAM
converter gives bijou's documented result (or one ``BijouError`` line), never another exception.

Bounded (``max_examples``) and without deadlines, so CI stays fast and steady on a busy machine.
"""

from __future__ import annotations

import json

import toy_plugin
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bijou_core.calls import Parsed, dumps, parse
from bijou_core.data.synth import TemplateSet
from bijou_core.data.xlam import Skip, convert_row
from bijou_core.devices import load_records
from bijou_core.errors import BijouError
from bijou_core.files import load_document
from bijou_core.schema import CallValidator, check_format, check_tools

BOUNDED = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


def _nested(levels: int) -> list:
    value: list = []
    for _ in range(levels):
        value = [value]
    return value


DEEP = st.integers(min_value=0, max_value=5000).map(_nested)
NESTING = st.integers(min_value=0, max_value=5000).map(lambda n: "[" * n + "]" * n)
CALL_TEXT = st.one_of(
    st.text(max_size=200),
    NESTING,
    JSON.map(json.dumps),
    st.integers(min_value=4000, max_value=6000).map(
        lambda n: '[{"name": "x", "arguments": {"a": ' + "9" * n + "}}]"
    ),
    st.builds(
        lambda a, b: a + dumps([{"name": "set_light", "arguments": {"on": True}}]) + b,
        st.text(max_size=20),
        st.text(max_size=20),
    ),
)


@BOUNDED
@given(CALL_TEXT)
def test_the_call_parser_returns_its_result_for_any_text(text):
    parsed = parse(text)
    assert isinstance(parsed, Parsed)
    assert parsed.ok == (parsed.error is None)
    if parsed.ok:
        assert all(set(c) == {"name", "arguments"} and isinstance(c["name"], str) for c in parsed.calls)


@BOUNDED
@given(JSON | DEEP)
def test_the_validator_returns_reasons_for_any_value(value):
    validator = CallValidator(toy_plugin.TOOLS)
    errors = validator.check_calls(value)
    assert isinstance(errors, list) and all(isinstance(e, str) for e in errors)
    assert validator.check_calls([value]) and validator.errors(value) is not None


def _call_like(name, arguments):
    return {"name": name, "arguments": arguments}


@BOUNDED
@given(st.lists(st.builds(_call_like, JSON, JSON), max_size=3))
def test_the_validator_takes_calls_with_any_name_and_arguments(calls):
    errors = CallValidator(toy_plugin.TOOLS).check_calls(calls)
    assert isinstance(errors, list) and (
        errors or all(c["name"] in {"set_light", "set_brightness", "set_color", "name_scene"} for c in calls)
    )


def _schema_like():
    keyword = st.sampled_from(
        [
            "type",
            "minimum",
            "maximum",
            "exclusiveMinimum",
            "exclusiveMaximum",
            "multipleOf",
            "enum",
            "default",
            "pattern",
            "minLength",
            "maxLength",
            "items",
            "$ref",
            "properties",
            "required",
        ]
    )
    return st.dictionaries(keyword, JSON, max_size=5)


TOOLS = (
    st.lists(
        st.fixed_dictionaries(
            {
                "name": st.sampled_from(["a", "b", "set_x"]) | st.text(max_size=10),
                "description": st.text(max_size=10),
                "parameters": st.fixed_dictionaries(
                    {
                        "type": st.just("object"),
                        "properties": st.dictionaries(
                            st.sampled_from(["p", "q"]), _schema_like(), max_size=2
                        ),
                    },
                    optional={"required": st.lists(st.sampled_from(["p", "q"]), max_size=2)},
                ),
            }
        ),
        max_size=3,
    )
    | JSON
)


@BOUNDED
@given(TOOLS)
def test_tools_are_checked_with_one_line_or_accepted(tools):
    try:
        checked = check_tools(tools, "tools.json")
    except BijouError as exc:
        assert "\n" not in str(exc)
        return
    CallValidator(checked).check_calls([{"name": checked[0]["name"], "arguments": {}}])


@BOUNDED
@given(JSON)
def test_templates_are_checked_with_one_line_or_accepted(templates):
    try:
        check_format(templates, "templates", "templates.yaml")
        TemplateSet(toy_plugin.TOOLS, templates, "templates.yaml")
    except BijouError as exc:
        assert "\n" not in str(exc)


@BOUNDED
@given(
    st.binary(max_size=300) | st.text(max_size=300).map(str.encode),
    st.sampled_from([".json", ".yaml", ".toml", ".jsonl"]),
)
def test_files_load_or_fail_with_one_line(tmp_path_factory, data, suffix):
    path = tmp_path_factory.mktemp("fuzz") / f"file{suffix}"
    path.write_bytes(data)
    try:
        if suffix == ".jsonl":
            load_records(path, CallValidator(toy_plugin.TOOLS))
        else:
            load_document(path)
    except BijouError as exc:
        assert "\n" not in str(exc)


XLAM_ROW = (
    st.fixed_dictionaries(
        {
            "query": st.text(max_size=20),
            "tools": JSON.map(json.dumps) | NESTING | JSON,
            "answers": JSON.map(json.dumps) | NESTING | JSON,
        }
    )
    | JSON
)


@BOUNDED
@given(XLAM_ROW)
def test_the_xlam_converter_converts_or_skips_any_row(row):
    try:
        record = convert_row(row)
    except Skip as skip:
        assert str(skip)
        return
    assert CallValidator(record["tools"]).is_valid(record["answers"])


def test_finding_16_fuzzed_inputs_get_the_documented_result():
    assert parse("[" * 100_000).error == "JSON nested more than 32 levels deep"
    assert parse('[{"name": "x", "arguments": {"n": ' + "9" * 5000 + "}}]").error.startswith(
        "invalid JSON: Exceeds"
    )
    assert parse(json.dumps(_nested(40))).error == "JSON nested more than 32 levels deep"
    validator = CallValidator(toy_plugin.TOOLS)
    assert validator.check_calls([{"name": ["set_light"], "arguments": {}}]) == [
        "call 0: a call's name must be a string"
    ]
    assert validator.check_calls([{"name": "name_scene", "arguments": {"scene": _nested(5000)}}]) == [
        "call 0: name_scene: arguments nested more than 32 levels deep"
    ]
    deep_tool = {
        "name": "t",
        "description": "d",
        "parameters": {"type": "object", "properties": {"x": _nested(200)}},
    }
    try:
        check_tools([deep_tool], "tools.json")
    except BijouError as exc:
        assert str(exc) == "tools.json: nested more than 32 levels deep"
    else:
        raise AssertionError("a tool nested 5,000 deep was accepted")
    row = {"query": "q", "tools": json.dumps([deep_tool]), "answers": "[]"}
    for bad in (row, {**row, "tools": _nested(5000)}, {**row, "answers": "[" * 100_000}):
        try:
            convert_row(bad)
        except Skip:
            continue
        raise AssertionError(f"converted {bad!r:.60}")
