"""The call format: ``[{"name": ..., "arguments": {...}}]`` (xLAM answers), parsing and printing."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .bounds import MAX_DEPTH, too_deep

Call = dict[str, Any]


@dataclass(frozen=True)
class Parsed:
    """The result of parsing model text: ``calls`` is None when the text is not a call list."""

    calls: list[Call] | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.calls is not None


def dumps(calls: list[Call]) -> str:
    """Canonical compact JSON of a call list, exactly as models are trained to emit it."""
    return json.dumps(calls, ensure_ascii=False, separators=(", ", ": "))


def parse(text: str) -> Parsed:
    """Parse model output into calls.

    The answer must be a JSON list of ``{"name": str, "arguments": object}`` objects; surrounding
    whitespace, a Markdown code fence and trailing text after the list are tolerated.
    """
    body = text.strip()
    if body.startswith("```"):
        body = body.strip("`").removeprefix("json").strip()
    start = body.find("[")
    if start < 0:
        return Parsed(None, "no JSON list in the output")
    try:
        value, _ = json.JSONDecoder().raw_decode(body[start:])
    except json.JSONDecodeError as exc:
        return Parsed(None, f"invalid JSON: {exc.msg}")
    except RecursionError:
        return Parsed(None, f"JSON nested more than {MAX_DEPTH} levels deep")
    except ValueError as exc:  # an integer of more digits than Python converts
        return Parsed(None, f"invalid JSON: {exc}")
    if too_deep(value):
        return Parsed(None, f"JSON nested more than {MAX_DEPTH} levels deep")
    if not isinstance(value, list):
        return Parsed(None, "expected a JSON list of calls")
    for index, call in enumerate(value):
        if (
            not isinstance(call, dict)
            or not isinstance(call.get("name"), str)
            or not isinstance(call.get("arguments", {}), dict)
        ):
            return Parsed(None, f"call {index} is not an object with a name and arguments")
    return Parsed([{"name": c["name"], "arguments": c.get("arguments", {})} for c in value])
