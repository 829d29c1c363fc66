"""Evaluation results as ``bijou devices eval`` writes them, and their Markdown table (shown by the
CLI, written beside the results and put in a published model card)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

METRICS = ("valid_json", "schema_valid", "function_match", "exact_match", "irrelevance")


@dataclass(frozen=True, kw_only=True)
class Run:
    """One pass over the commands: base or base+adapter, typed or spoken."""

    name: str
    adapter: str | None = None  # the device whose adapter was active
    prompt_format: dict[str, Any] | None = None  # PromptFormat.describe() of the run's prompts
    summary: dict[str, Any]  # bijou_core.evaluate.metrics.summarize: rates, latency, per tool
    examples: list[dict[str, Any]] = field(default_factory=list)  # per command: answer and verdicts
    speech: dict[str, Any] | None = None  # a spoken run's recognizer figures

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Run:
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})

    def to_json(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        return data if self.speech is not None else {k: v for k, v in data.items() if k != "speech"}


@dataclass(frozen=True, kw_only=True)
class EvalResults:
    """A device's evaluation: its runs side by side, and how they were run."""

    device: str
    device_version: str | None = None
    dataset: str
    base_model: str | None = None
    adapter: str | None = None
    backend: str | None = None
    constrained: bool | None = None
    decline: bool | None = None
    call_threshold: float | None = None
    tool_threshold: float | None = None
    copy_text: str | None = None
    warnings: list[str] = field(default_factory=list)
    runs: list[Run]

    @property
    def last(self) -> Run:
        """The last run: base+adapter when an adapter was evaluated."""
        return self.runs[-1]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EvalResults:
        """Results as ``bijou devices eval --output`` wrote them."""
        values = {f.name: data[f.name] for f in fields(cls) if f.name in data}
        return cls(**values | {"runs": [Run.from_json(r) for r in data["runs"]]})

    def to_json(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        return data | {"runs": [r.to_json() for r in self.runs]}


def _cell(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def _rate_cell(summary: dict[str, Any], metric: str) -> str:
    interval = summary.get("interval_95", {}).get(metric)
    if summary[metric] is None or interval is None:
        return _cell(summary[metric])
    return f"{summary[metric]:.1f} ({interval[0]:.1f}–{interval[1]:.1f})"


def _speech_rows(runs: list[Run]) -> list[str]:
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
        f"| {name} | " + " | ".join(cell(r.speech) if r.speech is not None else "–" for r in runs) + " |"
        for name, cell in rows.items()
    ]


def markdown_table(results: EvalResults) -> str:
    """Runs side by side: one row per metric, then per-tool exact match."""
    runs = results.runs
    names = [r.name for r in runs]
    lines = [f"### {results.device}: {results.dataset} ({runs[0].summary['examples']} commands)", ""]
    if results.backend is not None:
        decoding = "constrained to the device's tools" if results.constrained else "unconstrained"
        if results.decline:
            decoding += ", no call where the grammar masked the model's choice"
        if results.copy_text and results.copy_text != "off":
            decoding += f", free text of the command's words ({results.copy_text})"
        lines += [f"Base `{results.base_model}`, {results.backend} backend, decoding {decoding}.", ""]
    lines += [
        "| metric | " + " | ".join(names) + " |",
        "| --- |" + " ---: |" * len(names),
    ]
    for metric in METRICS:
        lines.append(f"| {metric} % | " + " | ".join(_rate_cell(r.summary, metric) for r in runs) + " |")
    for q in ("p50", "p95"):
        lines.append(
            f"| latency {q} ms | " + " | ".join(_cell(r.summary["latency_ms"][q]) for r in runs) + " |"
        )
    if any(r.speech is not None for r in runs):
        lines += _speech_rows(runs)
    if any("interval_95" in r.summary for r in runs):  # summaries made before intervals have none
        lines += ["", "In brackets: the 95% Wilson interval of each rate over these commands."]
    tools = sorted({t for r in runs for t in r.summary["per_tool"]})
    if tools:
        lines += [
            "",
            "| tool: function / exact % | " + " | ".join(names) + " |",
            "| --- |" + " ---: |" * len(names),
        ]
        for tool in tools:
            cells = []
            for r in runs:
                t = r.summary["per_tool"].get(tool)
                cells.append(f"{_cell(t['function_match'])} / {_cell(t['exact_match'])}" if t else "–")
            lines.append(f"| {tool} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
