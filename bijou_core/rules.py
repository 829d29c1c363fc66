"""Evaluation rules: how a device's arguments are normalized before calls are compared."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from .calls import Call
from .numbers import digits

_PUNCT = re.compile(r"[^\w\s]")


@dataclass(frozen=True)
class EvalRules:
    """Per-device comparison rules: a ``DeviceSpec``'s ``eval_rules`` (``eval_rules`` in ``device.yaml``).

    - ``defaults_equal_omission``: an optional argument stated at its default equals omitting it.
    - ``case_sensitive``: compare strings with case (off: "Mom" equals "mom").
    - ``ignore_punctuation``: drop punctuation and repeated spaces in strings.
    - ``free_text``: ``"tool.param"`` names whose strings are free text, compared as the same
      words in any order once ``filler_words`` are dropped ("budget with Sarah" equals
      "sarah budget").
    - ``ordered``: several calls must come in the spoken order.
    """

    defaults_equal_omission: bool = True
    case_sensitive: bool = False
    ignore_punctuation: bool = True
    free_text: frozenset[str] = frozenset()
    filler_words: frozenset[str] = frozenset(
        {"a", "an", "the", "my", "our", "about", "for", "with", "to", "on", "in", "of", "and", "me"}
    )
    ordered: bool = True

    def normalize_string(self, value: str, free_text: bool = False) -> str:
        text = unicodedata.normalize("NFKC", value)
        if free_text:
            text = digits(text)
        if not self.case_sensitive:
            text = text.casefold()
        if self.ignore_punctuation:
            text = _PUNCT.sub(" ", text)
        words = text.split()
        if free_text:
            words = sorted(w for w in words if w not in self.filler_words)
        return " ".join(words)

    def normalize_value(self, value: Any, free_text: bool = False) -> Any:
        if isinstance(value, bool) or value is None:
            return value
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            return self.normalize_string(value, free_text)
        if isinstance(value, list):
            return [self.normalize_value(v, free_text) for v in value]
        if isinstance(value, dict):
            return {k: self.normalize_value(v, free_text) for k, v in sorted(value.items())}
        return value

    def normalize_call(self, call: Call, tool: dict[str, Any] | None) -> Call:
        """The comparable form of a call: defaults filled in (if enabled) and values normalized."""
        arguments = dict(call.get("arguments") or {})
        props = (tool or {}).get("parameters", {}).get("properties", {})
        if self.defaults_equal_omission:
            for pname, pschema in props.items():
                if "default" in pschema and pname not in arguments:
                    arguments[pname] = pschema["default"]
        name = call.get("name")
        return {
            "name": name,
            "arguments": {
                k: self.normalize_value(v, f"{name}.{k}" in self.free_text)
                for k, v in sorted(arguments.items())
            },
        }

    def same_calls(self, expected: list[Call], predicted: list[Call], tools: dict[str, Any]) -> bool:
        """True when the predicted calls equal the expected ones under these rules."""
        exp = [self.normalize_call(c, tools.get(c["name"])) for c in expected]
        pred = [self.normalize_call(c, tools.get(c["name"])) for c in predicted]
        if self.ordered:
            return exp == pred
        return sorted(exp, key=repr) == sorted(pred, key=repr)
