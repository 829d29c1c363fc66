"""Evaluation reports: the JSON results file, a Markdown table and a PNG chart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..files import atomic_writer, write_json
from .metrics import METRICS


def _cell(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def _rate_cell(summary: dict[str, Any], metric: str) -> str:
    interval = summary.get("interval_95", {}).get(metric)
    if summary[metric] is None or interval is None:
        return _cell(summary[metric])
    return f"{summary[metric]:.1f} ({interval[0]:.1f}–{interval[1]:.1f})"


def _speech_rows(runs: list[dict[str, Any]]) -> list[str]:
    """Spoken runs: the recognizer's word error rate and time, and audio to call."""
    rows = {
        "word error rate %, device-vocabulary prompt": lambda s: _cell(s["wer_with_vocabulary"]),
        "word error rate %, no prompt": lambda s: _cell(s["wer_without_vocabulary"]),
        "recognizer p50 / p95 ms": lambda s: (
            f"{_cell(s['speech_ms']['p50'])} / {_cell(s['speech_ms']['p95'])}"
        ),
        "audio to call p50 / p95 ms": lambda s: (
            f"{_cell(s['audio_to_call_ms']['p50'])} / {_cell(s['audio_to_call_ms']['p95'])}"
        ),
    }
    return [
        f"| {name} | " + " | ".join(cell(r["speech"]) if "speech" in r else "–" for r in runs) + " |"
        for name, cell in rows.items()
    ]


def markdown_table(results: dict[str, Any]) -> str:
    """Runs side by side: one row per metric, then per-tool exact match."""
    runs = results["runs"]
    names = [r["name"] for r in runs]
    lines = [
        f"### {results['device']}: {results['dataset']} ({runs[0]['summary']['examples']} commands)",
        "",
    ]
    if "backend" in results:
        decoding = "constrained to the device's tools" if results["constrained"] else "unconstrained"
        if results.get("decline"):
            decoding += ", no call where the grammar masked the model's choice"
        lines += [f"Base `{results['base_model']}`, {results['backend']} backend, decoding {decoding}.", ""]
    lines += [
        "| metric | " + " | ".join(names) + " |",
        "| --- |" + " ---: |" * len(names),
    ]
    for metric in METRICS:
        lines.append(f"| {metric} % | " + " | ".join(_rate_cell(r["summary"], metric) for r in runs) + " |")
    for q in ("p50", "p95"):
        lines.append(
            f"| latency {q} ms | " + " | ".join(_cell(r["summary"]["latency_ms"][q]) for r in runs) + " |"
        )
    if any("speech" in r for r in runs):
        lines += _speech_rows(runs)
    if any("interval_95" in r["summary"] for r in runs):  # summaries made before intervals have none
        lines += ["", "In brackets: the 95% Wilson interval of each rate over these commands."]
    tools = sorted({t for r in runs for t in r["summary"]["per_tool"]})
    if tools:
        lines += [
            "",
            "| tool: function / exact % | " + " | ".join(names) + " |",
            "| --- |" + " ---: |" * len(names),
        ]
        for tool in tools:
            cells = []
            for r in runs:
                t = r["summary"]["per_tool"].get(tool)
                cells.append(f"{_cell(t['function_match'])} / {_cell(t['exact_match'])}" if t else "–")
            lines.append(f"| {tool} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def chart(results: dict[str, Any], path: Path) -> None:
    """A PNG with two panels: the metrics per run, and exact match per tool per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = results["runs"]
    tools = sorted({t for r in runs for t in r["summary"]["per_tool"]})
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.8), gridspec_kw={"width_ratios": [1, 1.6]})
    width = 0.8 / len(runs)
    for i, run in enumerate(runs):
        s = run["summary"]
        left.bar(
            [m + i * width for m in range(len(METRICS))],
            [s[m] or 0 for m in METRICS],
            width,
            label=run["name"],
        )
        right.bar(
            [t + i * width for t in range(len(tools))],
            [(s["per_tool"].get(tool) or {}).get("exact_match") or 0 for tool in tools],
            width,
            label=run["name"],
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
    fig.suptitle(f"{results['device']} — {results['dataset']}")
    fig.tight_layout()
    with atomic_writer(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=110)
    plt.close(fig)


def write_reports(
    results: dict[str, Any], output: Path | None, markdown: Path | None, png: Path | None
) -> None:
    if output:
        write_json(output, results)
    if markdown:
        with atomic_writer(markdown) as fh:
            fh.write(markdown_table(results))
    if png:
        chart(results, png)
