"""Evaluating a device's commands on a model, with and without the device's adapter."""

from __future__ import annotations

import itertools
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.progress import Progress

from ..devices import Device, Record, load_records
from ..errors import BijouError
from ..eval_results import EvalResults, Run
from ..manifest import read_manifest
from ..models import DEFAULT_MODEL
from ..noise import require_sox
from ..runtime.config import DEFAULTS, EngineConfig
from ..runtime.engine import Engine
from .metrics import score_example, summarize
from .spoken import SpeechSetup, hear, heard_as, speech_summary


def evaluate_run(
    engine: Engine,
    device: Device,
    records: list[Record],
    adapter: bool,
    label: str,
    heard: list[dict[str, Any]] | None = None,
) -> Run:
    """One run over ``records``: every example keeps query, expected, predicted, raw text, latency.
    ``heard``: per record, what a recognizer made of it (its ``transcript`` is then the command)."""
    engine.use(device.name, adapter)
    assert engine.active is not None
    examples = []
    with Progress(transient=True, disable=not sys.stderr.isatty()) as progress:
        task = progress.add_task(f"{device.name} {label}", total=len(records))
        for i, record in enumerate(records):
            spoken = heard[i] if heard else {}
            answer = engine.answer(spoken.get("transcript", record.query))
            gen = answer.generation
            verdict = score_example(record.answers, gen.text, device.validator, device.eval_rules)
            examples.append(
                {
                    "query": record.query,
                    **spoken,
                    "expected": record.answers,
                    "text": gen.text,
                    "declined": gen.declined,
                    "p_call": None if gen.p_call is None else round(gen.p_call, 4),
                    "p_tool": None if gen.p_tool is None else round(gen.p_tool, 4),
                    "unsure": gen.unsure,
                    **verdict,
                    "latency_ms": round(1000 * gen.seconds, 1),
                    "prefill_ms": round(1000 * gen.prefill_s, 1),
                    "decode_ms": round(1000 * gen.decode_s, 1),
                    "prompt_tokens": gen.prompt_tokens,
                    "cached_tokens": gen.cached_tokens,
                    "new_tokens": gen.new_tokens,
                    "forced_tokens": gen.forced_tokens,
                    "passes": [[n, round(1000 * t, 2)] for n, t in gen.passes],  # tokens fed, ms
                    "grammar_ms": round(1000 * gen.grammar_s, 2),
                    "drafted_tokens": gen.drafted,
                    "kept_tokens": gen.kept,
                }
            )
            progress.advance(task)
    return Run(
        name=label,
        adapter=device.name if adapter else None,
        prompt_format=engine.active.fmt.describe(),
        summary=summarize(examples),
        examples=examples,
    )


def evaluate_device(
    device: Device,
    adapter: Path | None = None,
    base: str | None = None,
    dataset: Path | None = None,
    compare: bool = False,
    limit: int | None = None,
    config: EngineConfig = DEFAULTS,
    speech: SpeechSetup | None = None,
) -> EvalResults:
    """Evaluate ``device`` on its eval set (or ``dataset``): base, base+adapter, or both side by side,
    through the runtime engine as ``config`` sets it up (backend, constrained decoding, declining,
    thresholds, copied text). With ``speech``, each run is followed by the same commands spoken in
    each voice (over each noise) and recognized."""
    records = load_records(dataset, device.validator) if dataset else device.eval_set
    records = records[:limit] if limit else records
    if not records:
        raise BijouError(f"{dataset or f'{device.name} eval set'}: no records to evaluate")
    if speech and any(speech.noises):
        require_sox()  # before any model loads
    manifest = read_manifest(adapter) if adapter else None
    if manifest and manifest.device != device.name:
        raise BijouError(f"{adapter} is an adapter for {manifest.device!r}, not {device.name!r}")
    base_name = base or (manifest.trained_on.name if manifest else DEFAULT_MODEL)
    adapters = {device.name: adapter} if adapter else None
    engine = Engine.load(adapters, base_name, [device], config)
    recognizer = speech.stt.load() if speech else None
    if recognizer:
        recognizer.warm_up()
    runs = []
    for use_adapter in ([False] if adapter is None or compare else []) + ([True] if adapter else []):
        label = "base+adapter" if use_adapter else "base"
        runs.append(evaluate_run(engine, device, records, use_adapter, label))
        for voice, noise in itertools.product(speech.voices, speech.noises) if speech else ():
            heard = hear(recognizer, device, records, voice, speech.vocabulary, noise)
            name = f"{label}, spoken ({heard_as(voice, noise)})"
            run = evaluate_run(engine, device, records, use_adapter, name, heard)
            summary = speech_summary(recognizer, records, heard, run, voice, noise, speech)
            runs.append(replace(run, speech=summary))
    return EvalResults(
        device=device.name,
        device_version=device.version,
        dataset=str(dataset) if dataset else f"{device.name} eval set",
        base_model=base_name,
        adapter=str(adapter) if adapter else None,
        backend=config.backend,
        constrained=config.constrain,
        decline=config.constrain and config.decline,
        call_threshold=config.call_threshold if config.constrain else None,
        tool_threshold=config.tool_threshold if config.constrain else None,
        copy_text=config.copy_text if config.constrain else None,
        warnings=engine.warnings,
        runs=runs,
    )
