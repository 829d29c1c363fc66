"""Bounds on what bijou reads, so hostile input gets one clear line instead of a crash.

Nesting is bounded (Python's JSON decoder, jsonschema and ``copy.deepcopy`` recurse, and a deep
document ends in ``RecursionError``); so are numbers in schemas (finite, and exact as a float).
"""

from __future__ import annotations

import math
from typing import Any

MAX_DEPTH = 32  # arrays/objects inside each other: a tools file or a call list needs a handful
MAX_BOUND = 2**53  # a schema bound beyond this is not an exact float, and no spoken number


def depth(value: Any) -> int:
    """How deeply lists and dicts nest in ``value`` (0 for a scalar), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, level)
        if level > MAX_DEPTH:
            return level
        stack.extend((child, level + 1) for child in children)
    return deepest


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """True when ``value`` nests lists and dicts more than ``limit`` levels deep."""
    return depth(value) > limit


def bad_number(value: Any) -> str | None:
    """Why ``value`` cannot be a bound in a schema (None when it can)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return f"{value} is not a finite number"
    if abs(value) > MAX_BOUND:
        return f"{value:.3g} is beyond ±2**53"
    return None
