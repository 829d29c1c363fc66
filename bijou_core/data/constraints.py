"""Values within a parameter's JSON Schema constraints, for synthesized commands.

Numbers honour ``minimum``/``maximum``, their exclusive forms, ``multipleOf`` and the integer type;
a free-text value (from a template's ``lists``) must fit ``pattern``, ``minLength`` and
``maxLength``. Every value is checked with the schema's own validator, so a record never breaks
the tool it calls; where no value can fit, one clear line says so.
"""

from __future__ import annotations

import json
import math
import random
from fractions import Fraction
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator

from ..errors import BijouError

SPAN = 100  # the width of the range drawn from where the schema sets no bound
ATTEMPTS = 50


def _validator(schema: dict[str, Any]) -> Draft202012Validator:
    return _cached_validator(json.dumps(schema, sort_keys=True))


@lru_cache(maxsize=1024)
def _cached_validator(schema_json: str) -> Draft202012Validator:
    schema = json.loads(schema_json)
    return Draft202012Validator({k: v for k, v in schema.items() if k not in ("default", "description")})


def fits(schema: dict[str, Any], value: Any) -> bool:
    """Whether ``value`` is valid for the parameter ``schema``."""
    return _validator(schema).is_valid(value)


def _grid(
    low: Fraction, high: Fraction, strict: tuple[bool, bool], step: Fraction
) -> tuple[Fraction, Fraction]:
    """The first and last multiples of ``step`` within the bounds."""
    first = math.ceil(low / step) * step
    first += step if strict[0] and first == low else 0
    last = math.floor(high / step) * step
    last -= step if strict[1] and last == high else 0
    return first, last


def number_grid(schema: dict[str, Any], where: str) -> tuple[Fraction, Fraction, Fraction]:
    """``(first, last, step)``: the values a numeric slot draws from are first + k·step up to last."""
    low = high = None
    strict_low = strict_high = False
    if "minimum" in schema:
        low = Fraction(str(schema["minimum"]))
    if "exclusiveMinimum" in schema and (low is None or Fraction(str(schema["exclusiveMinimum"])) >= low):
        low, strict_low = Fraction(str(schema["exclusiveMinimum"])), True
    if "maximum" in schema:
        high = Fraction(str(schema["maximum"]))
    if "exclusiveMaximum" in schema and (high is None or Fraction(str(schema["exclusiveMaximum"])) <= high):
        high, strict_high = Fraction(str(schema["exclusiveMaximum"])), True
    if low is None:
        low = Fraction(0) if high is None else min(Fraction(0), high - 1 if strict_high else high)
    if high is None:
        high = max(low, Fraction(0)) + SPAN
    # The spacing: multipleOf (whole numbers of it for integers), else 1, else for a number in a
    # narrow range the largest power of ten that puts values in it.
    if "multipleOf" in schema:
        step = Fraction(str(schema["multipleOf"]))
        step = Fraction(step.numerator) if schema.get("type") == "integer" else step
    else:
        step = Fraction(1)
    first, last = _grid(low, high, (strict_low, strict_high), step)
    while first > last and "multipleOf" not in schema and schema.get("type") != "integer" and step > 1e-6:
        step /= 10
        first, last = _grid(low, high, (strict_low, strict_high), step)
    if first > last:
        raise BijouError(f"{where}: no number fits its bounds and multipleOf")
    return first, last, step


def _number(value: Fraction) -> int | float:
    return int(value) if value.denominator == 1 else float(value)


def number_ends(schema: dict[str, Any], where: str) -> list[int | float]:
    """The smallest and largest values a numeric slot draws."""
    first, last, _ = number_grid(schema, where)
    return [_number(first), _number(last)]


def pick_number(schema: dict[str, Any], rng: random.Random, where: str) -> int | float:
    """A random number valid for ``schema``."""
    first, last, step = number_grid(schema, where)
    count = int((last - first) / step)
    validator = _validator(schema)
    for _ in range(ATTEMPTS):
        value = _number(first + step * rng.randint(0, count))
        if validator.is_valid(value):
            return value
    raise BijouError(f"{where}: no number drawn within its bounds passes its schema (multipleOf?)")


def misfit(schema: dict[str, Any], values: list[Any]) -> str | None:
    """Why one of a slot's listed ``values`` is not valid for ``schema`` (None when all are)."""
    validator = _validator(schema)
    for index, value in enumerate(values):
        error = next(iter(validator.iter_errors(value)), None)
        if error is not None:
            return f"[{index}]: {error.message}"
    return None
