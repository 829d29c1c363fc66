"""Scoring predicted calls against expected ones: per example, per run and per tool."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from typing import Any

from ..calls import parse
from ..eval_results import METRICS
from ..rules import EvalRules
from ..schema import CallValidator

Z95 = 1.96  # the normal quantile of a two-sided 95% interval


def score_example(
    expected: list[dict[str, Any]],
    text: str,
    validator: CallValidator,
    rules: EvalRules,
) -> dict[str, Any]:
    """The verdicts for one model answer: parsed calls and each metric as a boolean."""
    parsed = parse(text)
    predicted = parsed.calls
    names_expected = [c["name"] for c in expected]
    valid_json = parsed.ok
    schema_valid = valid_json and validator.is_valid(predicted)
    if valid_json:
        names = [c["name"] for c in predicted]
        function_match = names == names_expected if rules.ordered else sorted(names) == sorted(names_expected)
        exact = function_match and rules.same_calls(expected, predicted, validator.tools)
    else:
        function_match = exact = False
    return {
        "predicted": predicted,
        "parse_error": parsed.error,
        "valid_json": valid_json,
        "schema_valid": schema_valid,
        "function_match": function_match,
        "exact_match": exact,
    }


def _rate(values: list[bool]) -> float | None:
    return round(100.0 * sum(values) / len(values), 1) if values else None


def wilson_interval(successes: int, n: int) -> list[float]:
    """The 95% Wilson score interval of a rate, in percent: the rates that ``successes`` of ``n``
    commands are consistent with (on 67 commands, 61 right does not tell 91% from 95%)."""
    p, z2 = successes / n, Z95 * Z95
    center = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return [round(100.0 * max(0.0, center - half), 1), round(100.0 * min(1.0, center + half), 1)]


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def summarize(examples: list[dict[str, Any]]) -> dict[str, Any]:
    """Run-level rates (percent) with their 95% intervals, latency, and per-tool function/exact
    match."""
    summary: dict[str, Any] = {"examples": len(examples)}
    verdicts = {m: [e[m] for e in examples] for m in METRICS[:4]}
    verdicts["irrelevance"] = [e["exact_match"] for e in examples if not e["expected"]]
    for metric, values in verdicts.items():
        summary[metric] = _rate(values)
    summary["interval_95"] = {
        metric: wilson_interval(sum(values), len(values)) if values else None
        for metric, values in verdicts.items()
    }
    latencies = [e["latency_ms"] for e in examples]
    summary["latency_ms"] = {
        "p50": _round(percentile(latencies, 50)),
        "p95": _round(percentile(latencies, 95)),
        "mean": _round(statistics.fmean(latencies)) if latencies else None,
    }
    per_tool: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    for e in examples:
        for name in dict.fromkeys(c["name"] for c in e["expected"]):
            per_tool[name]["function_match"].append(e["function_match"])
            per_tool[name]["exact_match"].append(e["exact_match"])
    summary["per_tool"] = {
        name: {
            "examples": len(v["exact_match"]),
            **{m: _rate(v[m]) for m in ("function_match", "exact_match")},
        }
        for name, v in sorted(per_tool.items())
    }
    return summary


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
