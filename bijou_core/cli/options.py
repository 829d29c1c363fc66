"""Options shared by the training commands, with the guide's underscore spellings as aliases, and
``--config FILE`` (YAML or TOML) supplying defaults for any of them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ..data.synth import MULTI_SHARE, NO_TOOL_SHARE, SMALL_TALK_SHARE, SPEECH_SHARE
from ..errors import BijouError
from ..files import load_document
from ..train.sft import LORA_TARGETS, TrainSettings


def _load_config(ctx: click.Context, _param: click.Parameter, value: Path | None) -> Path | None:
    if value is None:
        return value
    data = load_document(value)
    if not isinstance(data, dict):
        raise click.BadParameter(f"{value}: expected a mapping of option names to values")
    names = {p.name for p in ctx.command.params}
    defaults = {}
    for key, setting in data.items():
        name = str(key).lstrip("-").replace("-", "_")
        if name not in names or name == "config":
            raise BijouError(
                f"{value}: unknown option {key!r} for 'bijou {ctx.command_path.split(' ', 1)[-1]}'"
            )
        if isinstance(setting, list) and all(isinstance(item, str) for item in setting):
            setting = ",".join(setting)  # a YAML list for a comma-separated option (lora_targets)
        elif isinstance(setting, (list, dict)):
            raise BijouError(f"{value}: {key}: expected a single value, got {type(setting).__name__}")
        defaults[name] = setting
    ctx.default_map = {**(ctx.default_map or {}), **defaults}
    return value


def _max_steps(_ctx: click.Context, _param: click.Parameter, value: int) -> int:
    if value == 0 or value < -1:
        raise click.BadParameter(f"{value}: expected -1 (the epochs decide) or at least 1 step")
    return value


def option(*names: str, **kwargs: Any) -> Callable:
    """A click option that also accepts the guide's underscore spelling (``--num_epochs``)."""
    aliases = [
        "--" + n[2:].replace("-", "_") for n in names if n.startswith("--") and "-" in n[2:] and "/" not in n
    ]
    return click.option(*names, *aliases, **kwargs)


def config_option(func: Callable) -> Callable:
    return click.option(
        "--config",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        is_eager=True,
        expose_value=False,
        callback=_load_config,
        help="YAML or TOML file whose keys set any option of this command.",
    )(func)


def mix_options(func: Callable) -> Callable:
    """The make-up of a synthesized set: shares of no-tool, small-talk, two-command and
    speech-transcript examples."""
    share = click.FloatRange(0, 0.5)
    func = option(
        "--speech-share",
        type=click.FloatRange(0, 1),
        default=SPEECH_SHARE,
        show_default=True,
        help="Share of examples rewritten as speech transcripts (fillers, restarts, no punctuation).",
    )(func)
    func = option(
        "--multi-share",
        type=share,
        default=MULTI_SHARE,
        show_default=True,
        help="Share of two-command examples.",
    )(func)
    func = option(
        "--small-talk-share",
        type=share,
        default=SMALL_TALK_SHARE,
        show_default=True,
        help="Share of small talk, hesitations and retractions from bijou's bank (answer: []).",
    )(func)
    return option(
        "--no-tool-share",
        type=share,
        default=NO_TOOL_SHARE,
        show_default=True,
        help="Share of the device's own commands it cannot do (answer: []).",
    )(func)


def training_options(
    num_epochs: float, batch_size: int, learning_rate: float, max_seq_length: int, lora_r: int
) -> Callable:
    """The fine-tuning flags of the guide (and a few more), with per-command defaults."""
    decorators = [
        option("--num-epochs", type=float, default=num_epochs, show_default=True),
        option("--batch-size", type=click.IntRange(1), default=batch_size, show_default=True),
        option("--gradient-accumulation-steps", type=click.IntRange(1), default=1, show_default=True),
        option("--learning-rate", type=float, default=learning_rate, show_default=True),
        option("--max-seq-length", type=click.IntRange(16), default=max_seq_length, show_default=True),
        option("--save-steps", type=click.IntRange(1), default=200, show_default=True),
        option(
            "--max-steps",
            type=int,
            default=-1,
            callback=_max_steps,
            help="Stop after this many steps (-1: epochs decide).",
        ),
        option("--lora-r", type=click.IntRange(1), default=lora_r, show_default=True),
        option("--lora-alpha", type=click.IntRange(1), default=None, help="Default: 2 × r."),
        option("--lora-dropout", type=click.FloatRange(0, 1, max_open=True), default=0.0, show_default=True),
        option(
            "--neftune-noise-alpha",
            type=click.FloatRange(0, min_open=True),
            default=None,
            help="NEFTune: uniform noise on the input embeddings while training, scaled by alpha / "
            "sqrt(row length × width); a packed row holds a whole batch, so the same alpha adds less "
            "noise per token than on padded batches.",
        ),
        option(
            "--lora-targets",
            default=",".join(LORA_TARGETS),
            show_default=True,
            help="Comma-separated module names to adapt.",
        ),
        option("--seed", type=int, default=0, show_default=True),
        option("--resume", is_flag=True, help="Continue from the last checkpoint in the output dir."),
        option(
            "--precision",
            type=click.Choice(["auto", "bf16", "fp32"]),
            default="auto",
            show_default=True,
            help="auto: bf16 autocast where the hardware has it.",
        ),
        option("--load-in-4bit", is_flag=True, help="QLoRA: load the base in 4 bits (CUDA GPUs only)."),
        option("--gradient-checkpointing/--no-gradient-checkpointing", default=False, show_default=True),
        option(
            "--group-by-length/--no-group-by-length",
            default=False,
            show_default=True,
            help="Batch examples of similar lengths together: less padding, but lower accuracy measured.",
        ),
        option(
            "--pack-batches/--no-pack-batches",
            default=True,
            show_default=True,
            help="Lay a batch's examples end to end in rows instead of padding them: same loss, "
            "fewer tokens (single process, off CUDA/XPU).",
        ),
        config_option,
    ]

    def apply(func: Callable) -> Callable:
        for decorator in reversed(decorators):
            func = decorator(func)
        return func

    return apply


def settings_from(model_name: str, output_dir: Path, options: dict[str, Any]) -> TrainSettings:
    """TrainSettings from the parsed training options."""
    return TrainSettings(
        model_name=model_name,
        output_dir=output_dir,
        num_epochs=options["num_epochs"],
        batch_size=options["batch_size"],
        gradient_accumulation_steps=options["gradient_accumulation_steps"],
        learning_rate=options["learning_rate"],
        max_seq_length=options["max_seq_length"],
        save_steps=options["save_steps"],
        max_steps=options["max_steps"],
        lora_r=options["lora_r"],
        lora_alpha=options["lora_alpha"],
        lora_dropout=options["lora_dropout"],
        neftune_noise_alpha=options["neftune_noise_alpha"],
        target_modules=tuple(t.strip() for t in options["lora_targets"].split(",") if t.strip()),
        seed=options["seed"],
        resume=options["resume"],
        precision=options["precision"],
        load_in_4bit=options["load_in_4bit"],
        gradient_checkpointing=options["gradient_checkpointing"],
        group_by_length=options["group_by_length"],
        pack_batches=options["pack_batches"],
    )
