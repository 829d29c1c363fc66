"""Evaluating a device's commands on a model, with and without the device's adapter."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from rich.progress import Progress

from ..devices import Device, Record, load_records
from ..models import DEFAULT_MODEL
from ..prompt import PromptFormat
from ..runtime.hf_engine import HFModel
from ..train.manifest import read_manifest
from .metrics import score_example, summarize


def adapter_format(tokenizer: Any, manifest: dict[str, Any]) -> PromptFormat:
    """The prompt format an adapter was trained with, as its manifest records it."""
    fmt = manifest["prompt_format"]
    return PromptFormat.for_tokenizer(tokenizer, fmt["style"], fmt.get("device"))


def evaluate_run(
    model: HFModel, device: Device, records: list[Record], adapter: str | None, fmt: PromptFormat, label: str
) -> dict[str, Any]:
    """One run over ``records``: every example keeps query, expected, predicted, raw text, latency."""
    model.use(adapter)
    examples = []
    with Progress(transient=True, disable=not sys.stderr.isatty()) as progress:
        task = progress.add_task(f"{device.name} {label}", total=len(records))
        for record in records:
            prompt = fmt.prompt(model.tokenizer, device.tools, record.query)
            gen = model.generate(prompt, fmt.end_text)
            verdict = score_example(record.answers, gen.text, device.validator, device.eval_rules)
            examples.append(
                {
                    "query": record.query,
                    "expected": record.answers,
                    "text": gen.text,
                    **verdict,
                    "latency_ms": round(1000 * gen.seconds, 1),
                    "prefill_ms": round(1000 * gen.prefill_s, 1),
                    "decode_ms": round(1000 * gen.decode_s, 1),
                    "prompt_tokens": gen.prompt_tokens,
                    "new_tokens": gen.new_tokens,
                }
            )
            progress.advance(task)
    return {
        "name": label,
        "adapter": adapter,
        "prompt_format": fmt.describe(),
        "summary": summarize(examples),
        "examples": examples,
    }


def evaluate_device(
    device: Device,
    adapter: Path | None = None,
    base: str | None = None,
    dataset: Path | None = None,
    compare: bool = False,
    limit: int | None = None,
) -> dict[str, Any]:
    """Evaluate ``device`` on its eval set (or ``dataset``): base, base+adapter, or both side by side."""
    records = load_records(dataset, device.validator) if dataset else device.eval_set
    records = records[:limit] if limit else records
    manifest = read_manifest(adapter) if adapter else None
    base_name = base or (manifest["base_model"]["name"] if manifest else DEFAULT_MODEL)
    warnings = []
    if manifest and manifest.get("tools_hash") != device.tools_hash:
        warnings.append(
            f"{adapter} was trained on other tool definitions than {device.name} {device.version}"
        )
    model = HFModel(base_name, {device.name: adapter} if adapter else None)
    full = PromptFormat.for_tokenizer(model.tokenizer, "full", device.name)
    runs = []
    if adapter is None or compare:
        runs.append(evaluate_run(model, device, records, None, full, "base"))
    if adapter is not None:
        fmt = adapter_format(model.tokenizer, manifest)
        runs.append(evaluate_run(model, device, records, device.name, fmt, "base+adapter"))
    return {
        "device": device.name,
        "device_version": device.version,
        "dataset": str(dataset) if dataset else f"{device.name} eval set",
        "base_model": base_name,
        "adapter": str(adapter) if adapter else None,
        "warnings": warnings,
        "runs": runs,
    }
