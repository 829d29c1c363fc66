"""The one schema validator: bijou's file formats (``schemas/``), calls against a tool's parameters,
and the JSON Schema of a call list (what constrained decoding and deployed servers enforce)."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, ValidationError, best_match
from referencing import Registry, Resource

from .bounds import MAX_DEPTH, bad_number, too_deep
from .errors import at

FORMATS = ("tools", "templates", "record", "device", "manifest")
MAX_CALLS = 4  # calls in one spoken command
MAX_TEXT = 120  # characters of a spoken string argument, where the tool sets no maxLength
ANNOTATIONS = frozenset({"description", "title", "examples", "default"})  # keywords that allow nothing


@cache
def format_schema(name: str) -> dict[str, Any]:
    """One of bijou's own format schemas (``tools``, ``templates``, ``record``, ``device``, ``manifest``)."""
    return json.loads(files("bijou_core.schemas").joinpath(f"{name}.schema.json").read_text())


@cache
def _format_validator(name: str) -> Draft202012Validator:
    registry: Registry = Registry().with_resources(
        (format_schema(f)["$id"], Resource.from_contents(format_schema(f))) for f in FORMATS
    )
    # Relative references such as "tools.schema.json" resolve against the $id base.
    registry = registry.with_resources(
        (f"{f}.schema.json", Resource.from_contents(format_schema(f))) for f in FORMATS
    )
    return Draft202012Validator(format_schema(name), registry=registry)


def describe(error: ValidationError) -> str:
    """``$.path.to.field: message`` for a jsonschema error."""
    return f"{error.json_path}: {error.message}"


def check_format(data: Any, name: str, source: str, place: str | int | None = None) -> None:
    """Validate ``data`` against bijou's ``name`` format; raise one located line on failure."""
    error = best_match(_format_validator(name).iter_errors(data))
    if error is not None:
        where = f"{place} " if place not in (None, "") else ""
        raise at(source, None, f"{where}{describe(error)}".strip())


VALUES = ("enum", "const", "default", "examples")  # keywords whose values are data, not schemas
REFERENCES = ("$ref", "$dynamicRef", "$recursiveRef")


def _subschemas(schema: Any, path: str):
    """Every ``(path, schema object)`` inside a JSON Schema, ``schema`` included, without recursion."""
    stack = [(path, schema)]
    while stack:
        place, node = stack.pop()
        if isinstance(node, dict):
            yield place, node
            stack.extend((f"{place}.{k}", v) for k, v in node.items() if k not in VALUES)
        elif isinstance(node, list):
            stack.extend((f"{place}[{i}]", v) for i, v in enumerate(node))


def _range_error(schema: dict[str, Any]) -> str | None:
    """Why the numbers a schema allows are unusable: a bound that is not a usable number, or an
    empty range (``minimum`` above ``maximum``)."""
    for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"):
        reason = bad_number(schema.get(key))
        if reason is not None:
            return f"{key}: {reason}"
    low = [(schema[k], k) for k in ("minimum", "exclusiveMinimum") if _is_number(schema.get(k))]
    high = [(schema[k], k) for k in ("maximum", "exclusiveMaximum") if _is_number(schema.get(k))]
    for lo, lo_key in low:
        for hi, hi_key in high:
            if lo > hi or (lo == hi and "exclusive" in lo_key + hi_key):
                return f"{lo_key} {lo} leaves no value under {hi_key} {hi}"
    for lo_key, hi_key in (("minLength", "maxLength"), ("minItems", "maxItems")):
        least, most = schema.get(lo_key), schema.get(hi_key)
        if _is_number(least) and _is_number(most) and least > most:
            return f"{lo_key} {least} is above {hi_key} {most}"
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_tools(tools: Any, source: str) -> list[dict[str, Any]]:
    """Validate a device's tools list: the format, then the consistency of each tool's schema."""
    if too_deep(tools):
        raise at(source, None, f"nested more than {MAX_DEPTH} levels deep")
    check_format(tools, "tools", source)
    seen: set[str] = set()
    for index, tool in enumerate(tools):
        name, params = tool["name"], tool["parameters"]
        place = f"$[{index}]"
        if name in seen:
            raise at(source, None, f"{place}.name: duplicate tool name {name!r}")
        seen.add(name)
        try:
            Draft202012Validator.check_schema(params)
        except SchemaError as exc:
            raise at(source, None, f"{place}.parameters: not a valid JSON Schema: {exc.message}") from None
        for where, node in _subschemas(params, f"{place}.parameters"):
            if ref := next((k for k in REFERENCES if k in node), None):
                raise at(source, None, f"{where}.{ref}: not supported; write the schema inline")
            if (reason := _range_error(node)) is not None:
                raise at(source, None, f"{where}: {reason}")
        props = params["properties"]
        for req in params.get("required", []):
            if req not in props:
                raise at(source, None, f"{place}.parameters.required: {req!r} is not a property")
        for pname, pschema in props.items():
            ppath = f"{place}.parameters.properties.{pname}"
            bare = {k: v for k, v in pschema.items() if k not in ("default", "description")}
            checks = [("default", pschema["default"], bare)] if "default" in pschema else []
            no_enum = {k: v for k, v in bare.items() if k != "enum"}
            checks += [(f"enum[{i}]", v, no_enum) for i, v in enumerate(pschema.get("enum", []))]
            for key, value, schema in checks:
                err = best_match(Draft202012Validator(schema).iter_errors(value))
                if err is not None:
                    raise at(source, None, f"{ppath}.{key}: {err.message}")
            if pname in params.get("required", []) and "default" in pschema:
                raise at(source, None, f"{ppath}: a required parameter cannot have a default")
    return tools


def _closed(parameters: dict[str, Any]) -> dict[str, Any]:
    """The parameters schema with unknown arguments rejected unless the tool allows them."""
    schema = copy.deepcopy(parameters)
    schema.setdefault("additionalProperties", False)
    return schema


class CallValidator:
    """Validates calls (``{"name", "arguments"}``) against a set of tools."""

    def __init__(self, tools: list[dict[str, Any]]):
        self.tools = {tool["name"]: tool for tool in tools}
        self._validators = {
            name: Draft202012Validator(_closed(tool["parameters"])) for name, tool in self.tools.items()
        }

    def errors(self, call: Any) -> list[str]:
        """Every reason ``call`` is not a valid call of one of the tools (empty when valid)."""
        if not isinstance(call, dict) or set(call) != {"name", "arguments"}:
            return ['a call must be an object with exactly "name" and "arguments"']
        name, arguments = call["name"], call["arguments"]
        if not isinstance(name, str):
            return ["a call's name must be a string"]
        if name not in self._validators:
            return [f"unknown tool {name!r}"]
        if not isinstance(arguments, dict):
            return [f"{name}: arguments must be an object"]
        if too_deep(arguments):
            return [f"{name}: arguments nested more than {MAX_DEPTH} levels deep"]
        return [
            f"{name}: {describe(err)}"
            for err in sorted(self._validators[name].iter_errors(arguments), key=str)
        ]

    def check_calls(self, calls: Any) -> list[str]:
        """Every reason a list of calls is invalid (empty when all are valid)."""
        if not isinstance(calls, list):
            return ["calls must be a JSON list"]
        return [f"call {i}: {e}" for i, call in enumerate(calls) for e in self.errors(call)]

    def is_valid(self, calls: Any) -> bool:
        return not self.check_calls(calls)


def free_text(schema: Any) -> bool:
    """Whether ``schema`` is a string of free text (a message, a search): no enum, const, pattern or
    format says what it holds."""
    return (
        isinstance(schema, dict)
        and schema.get("type") == "string"
        and not {"enum", "const", "pattern", "format"} & set(schema)
    )


def has_free_text(schema: Any) -> bool:
    """Whether ``schema`` (a tool list, a tool, a parameter schema) has a free-text string in it."""
    if free_text(schema):
        return True
    children = schema.values() if isinstance(schema, dict) else schema if isinstance(schema, list) else ()
    return any(has_free_text(child) for child in children)


def _bounded(schema: Any, copied: _Copied | None = None) -> Any:
    """``schema`` with every open-ended string bounded, so an answer always ends within its budget,
    every object closed (no argument beyond those a tool lists, unless it says otherwise), and with
    ``copied``, every free-text string held to its regex."""
    if isinstance(schema, list):
        return [_bounded(item, copied) for item in schema]
    if not isinstance(schema, dict):
        return schema
    bounded = {key: _bounded(value, copied) for key, value in schema.items()}
    if schema.get("type") == "string" and not {"enum", "const", "maxLength"} & set(schema):
        bounded["maxLength"] = MAX_TEXT
    if schema.get("type") == "object" and "additionalProperties" not in schema:
        bounded["additionalProperties"] = False
    if copied and free_text(schema):
        return copied.ref({**bounded, "pattern": copied.pattern})
    return bounded


@dataclass
class _Copied:
    """Free-text strings held to one regex, each distinct string schema defined once under
    ``$defs``: a grammar compiles a definition once, but each inline copy of a long regex again."""

    pattern: str
    defs: dict[str, Any] = field(default_factory=dict)
    _names: dict[str, str] = field(default_factory=dict)

    def ref(self, schema: dict[str, Any]) -> dict[str, str]:
        text = {key: value for key, value in schema.items() if key not in ANNOTATIONS}
        name = self._names.setdefault(json.dumps(text, sort_keys=True), f"text{len(self._names)}")
        self.defs[name] = text
        return {"$ref": f"#/$defs/{name}"}


def calls_schema(
    tools: list[dict[str, Any]],
    min_calls: int = 0,
    max_calls: int = MAX_CALLS,
    text_pattern: str | None = None,
) -> dict[str, Any]:
    """The JSON Schema of a list of calls to ``tools`` (an empty list included unless ``min_calls``):
    at most ``max_calls`` calls, string arguments of at most ``MAX_TEXT`` characters unless a tool
    says, free-text strings matching ``text_pattern`` where it is given."""
    if not tools or not max_calls:
        return {"type": "array", "maxItems": 0}
    bounds = {"minItems": min_calls, "maxItems": max_calls} if min_calls else {"maxItems": max_calls}
    copied = _Copied(text_pattern) if text_pattern else None
    schema = {
        "type": "array",
        **bounds,
        "items": {
            "anyOf": [
                {
                    "type": "object",
                    "properties": {
                        "name": {"const": tool["name"]},
                        "arguments": _bounded(tool["parameters"], copied),
                    },
                    "required": ["name", "arguments"],
                    "additionalProperties": False,
                }
                for tool in tools
            ]
        },
    }
    return {**schema, "$defs": copied.defs} if copied and copied.defs else schema
