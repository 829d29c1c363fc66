"""Validation of tools files and calls: one precise line per problem."""

from __future__ import annotations

import copy
import json

import pytest
import toy_plugin

from bijou_core.devices import tools_from_file
from bijou_core.errors import BijouError
from bijou_core.schema import CallValidator, check_tools


def broken(mutate) -> list:
    tools = copy.deepcopy(toy_plugin.TOOLS)
    mutate(tools)
    return tools


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda t: t[1]["parameters"]["properties"]["percent"].update(maximum="100"),
            "$[1].parameters.properties.percent.maximum: '100' is not of type 'number'",
        ),
        (lambda t: t.append(copy.deepcopy(t[0])), "$[4].name: duplicate tool name 'set_light'"),
        (
            lambda t: t[0]["parameters"]["required"].append("brightness"),
            "$[0].parameters.required: 'brightness' is not a property",
        ),
        (
            lambda t: t[2]["parameters"]["properties"]["fade"].update(default="yes"),
            "$[2].parameters.properties.fade.default: 'yes' is not of type 'boolean'",
        ),
        (
            lambda t: t[2]["parameters"]["properties"]["color"]["enum"].append(3),
            "$[2].parameters.properties.color.enum[4]: 3 is not of type 'string'",
        ),
        (lambda t: t[0].pop("description"), "$[0]: 'description' is a required property"),
    ],
)
def test_bad_tools_name_the_field(mutate, message):
    with pytest.raises(BijouError) as err:
        check_tools(broken(mutate), "tools.json")
    assert str(err.value) == f"tools.json: {message}"


def test_malformed_tools_file_names_line(tmp_path):
    path = tmp_path / "tools.json"
    path.write_text('[\n  {"name": "x",\n  "description": }\n]')
    with pytest.raises(BijouError, match=r"tools.json:3:18: invalid JSON: Expecting value"):
        tools_from_file(path)
    with pytest.raises(BijouError, match="nope.json: file not found"):
        tools_from_file(tmp_path / "nope.json")


def test_call_validation():
    validator = CallValidator(toy_plugin.TOOLS)
    assert validator.check_calls([{"name": "set_brightness", "arguments": {"percent": 40}}]) == []
    assert validator.check_calls([]) == []
    assert validator.check_calls([{"name": "set_brightness", "arguments": {"percent": 140}}]) == [
        "call 0: set_brightness: $.percent: 140 is greater than the maximum of 100"
    ]
    assert validator.check_calls([{"name": "set_color", "arguments": {"color": "green"}}]) == [
        "call 0: set_color: $.color: 'green' is not one of ['warm_white', 'cool_white', 'red', 'blue']"
    ]
    assert validator.errors({"name": "fly", "arguments": {}}) == ["unknown tool 'fly'"]
    assert validator.errors({"name": "set_light", "arguments": {"on": True, "dim": 3}})[0].startswith(
        "set_light: $: Additional properties are not allowed"
    )
    assert validator.errors({"name": "set_light", "arguments": {}}) == [
        "set_light: $: 'on' is a required property"
    ]
    assert not validator.is_valid({"name": "set_light"})
    assert json.dumps(toy_plugin.TOOLS)  # the fixture itself is plain JSON


def test_written_files_get_ordinary_permissions(tmp_path):
    import os

    from bijou_core.files import write_json

    write_json(tmp_path / "m.json", {"a": 1})
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "m.json").stat().st_mode & 0o777 == 0o666 & ~mask
