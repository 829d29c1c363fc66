"""Evaluation reports: the JSON results file, a Markdown table and a PNG chart."""

from __future__ import annotations

from pathlib import Path

from ..eval_results import METRICS, EvalResults, markdown_table
from ..files import atomic_writer, write_json


def chart(results: EvalResults, path: Path) -> None:
    """A PNG with two panels: the metrics per run, and exact match per tool per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = results.runs
    tools = sorted({t for r in runs for t in r.summary["per_tool"]})
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.8), gridspec_kw={"width_ratios": [1, 1.6]})
    width = 0.8 / len(runs)
    for i, run in enumerate(runs):
        s = run.summary
        left.bar(
            [m + i * width for m in range(len(METRICS))],
            [s[m] or 0 for m in METRICS],
            width,
            label=run.name,
        )
        right.bar(
            [t + i * width for t in range(len(tools))],
            [(s["per_tool"].get(tool) or {}).get("exact_match") or 0 for tool in tools],
            width,
            label=run.name,
        )
    left.set_xticks(
        [m + width * (len(runs) - 1) / 2 for m in range(len(METRICS))], METRICS, rotation=30, ha="right"
    )
    right.set_xticks(
        [t + width * (len(runs) - 1) / 2 for t in range(len(tools))], tools, rotation=40, ha="right"
    )
    left.set_title("metrics (%)")
    right.set_title("exact match per tool (%)")
    for ax in (left, right):
        ax.set_ylim(0, 105)
        ax.legend(fontsize=8)
    fig.suptitle(f"{results.device} — {results.dataset}")
    fig.tight_layout()
    with atomic_writer(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=110)
    plt.close(fig)


def write_reports(results: EvalResults, output: Path | None, markdown: Path | None, png: Path | None) -> None:
    if output:
        write_json(output, results.to_json())
    if markdown:
        with atomic_writer(markdown) as fh:
            fh.write(markdown_table(results))
    if png:
        chart(results, png)
