"""The call and tool thresholds' trade, read off scored runs: how each rate moves as they rise.

    python benchmarks/blind/threshold.py benchmarks/blind/dev-results/DEVICE-LABEL.json [...]
        [--thresholds 0,0.5,0.7,0.8,0.9,0.95] [--tool-thresholds 0,0.5,0.7]

``bijou devices eval`` keeps, for every command, the probability the model gave a call at its
first choice between ``[]`` and a call (``p_call``). An answer given with a threshold ``t`` is the
answer given without one, except that a call with ``p_call < t`` becomes ``[]``: so one scored run
(threshold 0) gives every threshold's rates exactly, without running the model again. Prints, per
threshold, the rates over all the files given, part by part (see ``score.py``). The same holds for
the tool threshold and ``p_tool`` (the model's probability of the first call's tool, kept by runs
since the twentieth round): with ``--tool-thresholds``, a row per pair of thresholds.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from score import PARTS  # this folder's scorer: the parts of a blind set

from bijou_core.evaluate.metrics import summarize


def at_threshold(example: dict[str, Any], threshold: float, tool_threshold: float = 0.0) -> dict[str, Any]:
    """``example`` as it would have been scored with ``threshold`` (and ``tool_threshold``)."""
    p, tool = example.get("p_call"), example.get("p_tool")
    sure = (p is None or p >= threshold) and (tool is None or tool >= tool_threshold)
    if sure or not example["predicted"]:
        return example
    right = example["expected"] == []
    return {**example, "predicted": [], "function_match": right, "exact_match": right}


def read_run(file: Path) -> dict[str, Any]:
    """One score.py results file; a missing or malformed one is a one-line error naming it."""
    if not file.is_file():
        raise SystemExit(f"{file}: no such scored run (a score.py results file)")
    try:
        run = json.loads(file.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise SystemExit(f"{file}: not a score.py results file ({err})") from None
    missing = [part for part in PARTS if not isinstance(run, dict) or part not in run]
    if missing:
        raise SystemExit(f"{file}: not a score.py results file (no {missing[0]!r} part)")
    return run


def table(
    runs: list[dict[str, Any]], thresholds: list[float], tool_thresholds: tuple[float, ...] = (0.0,)
) -> list[str]:
    lines = [
        "| threshold | tool threshold | commands f / e / irr | speech f / e / irr | small talk [] % "
        "| small talk, speech [] % |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for t, u in ((t, u) for t in thresholds for u in tool_thresholds):
        cells = []
        for part in PARTS:
            s = summarize([at_threshold(e, t, u) for run in runs for e in run[part]])
            if part in ("commands", "speech"):
                cells.append(
                    " / ".join(f"{s[m]:.1f}" for m in ("function_match", "exact_match", "irrelevance"))
                )
            else:
                cells.append(f"{s['irrelevance']:.1f}")
        lines.append(f"| {t:g} | {u:g} | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--thresholds", default="0,0.5,0.6,0.7,0.8,0.9,0.95,0.98")
    parser.add_argument("--tool-thresholds", default="0")
    args = parser.parse_args()
    runs = [read_run(file) for file in args.files]
    floats = [[float(t) for t in values.split(",")] for values in (args.thresholds, args.tool_thresholds)]
    print("\n".join(table(runs, *floats)))


if __name__ == "__main__":
    main()
