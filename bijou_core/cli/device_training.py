"""``bijou devices train`` and ``bijou devices eval``: a device adapter, and honest scores."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from ..eval_results import EvalResults, markdown_table
from ..evaluate.spoken import DEFAULT_VOICES, SpeechSetup
from ..models import DEFAULT_MODEL
from ..noise import Noise
from ..prompt import STYLES
from ..runtime.config import EngineConfig
from ..speech import SpeechModel
from ..train.device import DEFAULT_EXAMPLES, DEFAULT_LORA_R, MIX
from .devices import _registry, devices
from .options import config_option, mix_options, option, settings_from, training_options
from .runtime_options import engine_options, speech_model_options, stt_vocabulary_option


def _print_summary(results: EvalResults) -> None:
    for warning in results.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(markdown_table(results))


@devices.command()
@click.argument("device")
@option(
    "--base",
    "--base-model",
    "base",
    default=DEFAULT_MODEL,
    show_default=True,
    help="Base model: a registered name, a folder (e.g. models/bijou-base/final) or a hub id.",
)
@option(
    "--data-path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Training JSONL ({query, answers}); default: synthesize from the device's templates.",
)
@option(
    "--num-examples",
    type=click.IntRange(1),
    default=DEFAULT_EXAMPLES,
    show_default=True,
    help="How many examples to synthesize when no --data-path is given.",
)
@mix_options
@option("--output-dir", type=click.Path(path_type=Path), default=None, help="Default: adapters/DEVICE.")
@option(
    "--prompt-style",
    type=click.Choice(STYLES),
    default="compact",
    show_default=True,
    help="compact: tools implied by the adapter; full: tools listed in every prompt.",
)
@option(
    "--eval/--no-eval",
    "run_eval",
    default=True,
    show_default=True,
    help="Score the adapter on the device's eval set and record it in the manifest.",
)
@training_options(num_epochs=1, batch_size=8, learning_rate=1e-3, max_seq_length=1024, lora_r=DEFAULT_LORA_R)
@click.pass_context
def train(
    ctx: click.Context,
    device: str,
    base: str,
    data_path: Path | None,
    num_examples: int,
    output_dir: Path | None,
    prompt_style: str,
    run_eval: bool,
    **options: Any,
) -> None:
    """Train DEVICE's LoRA adapter on the base model (guide step 4)."""
    from ..evaluate.run import evaluate_device
    from ..manifest import write_manifest
    from ..train.device import train_device
    from ..train.sft import end_distributed, is_main_process

    dev = _registry(ctx).get(device)
    output_dir = output_dir or Path("adapters") / dev.name
    mix = {name: options.pop(name) for name in MIX}
    settings = settings_from(base, output_dir, options)
    result, manifest = train_device(dev, settings, data_path, num_examples, prompt_style, mix)
    end_distributed()
    if not is_main_process():
        return
    click.echo(
        f"trained {dev.name} adapter in {result.seconds / 60:.1f} min: {result.steps} steps, "
        f"{result.epochs:.2f} epochs, loss {result.train_loss:.3f}, {result.tokens_per_second:.0f} tokens/s "
        f"-> {output_dir}"
    )
    if run_eval and manifest:
        results = evaluate_device(dev, adapter=output_dir)
        manifest = replace(manifest, eval={"dataset": results.dataset, **results.last.summary})
        write_manifest(output_dir, manifest)
        _print_summary(results)


@devices.command("eval")
@click.argument("device")
@option(
    "--adapter",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="The adapter folder (bijou devices train --output-dir).",
)
@option(
    "--base",
    "--model-name",
    "base",
    default=None,
    help="Base model (default: the adapter's, else smollm2-135m).",
)
@option(
    "--dataset",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A {query, answers} JSONL (default: the device's hand-written eval set).",
)
@option("--compare", is_flag=True, help="Run the base and base+adapter side by side.")
@option("--limit", type=click.IntRange(1), default=None, help="Only the first N commands.")
@engine_options
@option(
    "--speech",
    is_flag=True,
    help="Also score the commands spoken by espeak-ng (each --voice) and recognized (voice extra).",
)
@option(
    "--voice",
    "voices",
    multiple=True,
    default=DEFAULT_VOICES,
    show_default=True,
    help="espeak-ng voice[:words per minute] for --speech (repeatable).",
)
@option(
    "--noise",
    "noises",
    multiple=True,
    default=("none",),
    show_default=True,
    help="For --speech: background noise KIND:SNR_DB (white, pink or brown; e.g. pink:10) mixed in "
    "by sox; each voice is heard over each --noise (repeatable; none: clean).",
)
@speech_model_options
@stt_vocabulary_option
@option("--output", type=click.Path(path_type=Path), default=None, help="JSON results file.")
@option("--markdown", type=click.Path(path_type=Path), default=None, help="Markdown table file.")
@option("--chart", type=click.Path(path_type=Path), default=None, help="PNG chart file.")
@config_option
@click.pass_context
def eval_device(
    ctx: click.Context,
    device: str,
    adapter: Path | None,
    base: str | None,
    dataset: Path | None,
    compare: bool,
    limit: int | None,
    config: EngineConfig,
    speech: bool,
    voices: tuple[str, ...],
    noises: tuple[str, ...],
    stt: SpeechModel,
    stt_vocabulary: bool,
    output: Path | None,
    markdown: Path | None,
    chart: Path | None,
) -> None:
    """Evaluate DEVICE: base, base+adapter, or both with --compare (guide step 5); with --speech,
    also from the commands spoken and recognized."""
    from ..evaluate.report import write_reports
    from ..evaluate.run import evaluate_device

    if compare and adapter is None:
        raise click.UsageError("--compare needs --adapter")
    dev = _registry(ctx).get(device)
    if noises != ("none",) and not speech:
        raise click.UsageError("--noise needs --speech")
    heard_over = tuple(dict.fromkeys(None if spec == "none" else Noise.parse(spec) for spec in noises))
    spoken = SpeechSetup(voices, heard_over, stt, stt_vocabulary) if speech else None
    if config.backend == "llama.cpp":  # its GGUF files, converted once (a full install)
        from ..export.prepare import llama_cpp_base

        base = llama_cpp_base({dev.name: adapter} if adapter else {}, base, config.quant, config.swap)
    results = evaluate_device(dev, adapter, base, dataset, compare, limit, config, spoken)
    write_reports(results, output, markdown, chart)
    _print_summary(results)
