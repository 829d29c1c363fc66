"""Options shared by the commands that run models: backend, constrained decoding, adapters folder."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any

import click

from ..errors import BijouError
from ..runtime.backends import BACKENDS
from ..runtime.config import COPY_TEXT, COPY_TEXT_DEFAULT, SWAPS, EngineConfig
from ..runtime.decoding import CALL_THRESHOLD, TOOL_THRESHOLD
from ..speech import BEAM_SIZE, VOCABULARY_PROMPT, WINDOW_S, SpeechModel, check_window

backend_option = click.option(
    "--backend",
    type=click.Choice(list(BACKENDS)),
    default="transformers",
    show_default=True,
    help="transformers (PEFT adapters) or llama.cpp (GGUF base and GGUF LoRAs: bijou export gguf "
    "--adapters-dir writes them; a full install converts them on first use).",
)

constrain_option = click.option(
    "--constrain/--no-constrain",
    default=True,
    show_default=True,
    help="Constrain generation to calls of the device's tools with schema-valid arguments.",
)

decline_option = click.option(
    "--decline/--no-decline",
    default=True,
    show_default=True,
    help="With --constrain: answer no call when the grammar masks the model's own choice (it was "
    "writing something the tools do not allow) instead of the allowed call it would force.",
)

copy_text_option = click.option(
    "--copy-text",
    type=click.Choice(COPY_TEXT),
    default=COPY_TEXT_DEFAULT,
    show_default=True,
    help="With --constrain: free-text arguments (a message, a search, a name) may use only the "
    "command's words; mask takes the model's best such word, decline answers no call when the model "
    "reaches for a word from elsewhere.",
)


def _threshold_option(name: str, default: float, what: str) -> Callable:
    return click.option(
        f"--{name}-threshold",
        type=click.FloatRange(0, 1),
        default=default,
        show_default=True,
        help=f"With --constrain: answer no call unless the model gives {what} (0: never overrule it).",
    )


call_threshold_option = _threshold_option(
    "call", CALL_THRESHOLD, "a call at least this probability at its first choice between [] and a call"
)
tool_threshold_option = _threshold_option(
    "tool", TOOL_THRESHOLD, "the first call's tool at least this probability among the tools"
)


def adapters_in(folder: Path) -> dict[str, Path]:
    """The adapters of ``folder``: one subfolder per device, as ``bijou devices train`` writes them."""
    found = {p.name: p for p in sorted(folder.iterdir()) if (p / "adapter_config.json").is_file()}
    if not found:
        raise BijouError(f"{folder}: no adapter folders in it (expected DEVICE/adapter_config.json)")
    return found


def adapters_dir_option(func: Callable) -> Callable:
    return click.option(
        "--adapters-dir",
        "--adapters_dir",
        type=click.Path(exists=True, file_okay=False, path_type=Path),
        default=None,
        help="Folder with one adapter subfolder per device (default: ./adapters if present).",
    )(func)


def quant_option(func: Callable) -> Callable:
    return click.option(
        "--quant",
        default="q8_0",
        show_default=True,
        help="llama.cpp backend: the base model's GGUF type (f16, q8_0, q4_k_m, ...).",
    )(func)


threads_option = click.option(
    "--threads",
    type=click.IntRange(1),
    default=None,
    help="llama.cpp backend: CPU threads (default: every core this process may use).",
)


swap_option = click.option(
    "--swap",
    type=click.Choice(SWAPS),
    default="lora",
    show_default=True,
    help="llama.cpp backend: lora (one base, each adapter's GGUF LoRA applied at run time) or merged "
    "(a resident copy of the base per adapter with the adapter merged in: faster per token, a base's "
    "memory per adapter; bijou export gguf --adapters-dir DIR --merged writes them).",
)


def engine_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The options that set how the engine runs (backend, quant, threads, swap, constrain, decline,
    call and tool thresholds, copied text), handed to ``func`` as one ``config: EngineConfig``."""
    names = {f.name for f in fields(EngineConfig)}

    @functools.wraps(func)
    def with_config(*args: Any, **kwargs: Any) -> Any:
        settings = {name: kwargs.pop(name) for name in list(kwargs) if name in names}
        return func(*args, config=EngineConfig(**settings), **kwargs)

    options = [backend_option, quant_option, threads_option, swap_option, constrain_option, decline_option]
    options += [call_threshold_option, tool_threshold_option, copy_text_option]
    for option in reversed(options):
        with_config = option(with_config)
    return with_config


def speech_model_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--stt-model, --stt-beam-size and --stt-window, handed to ``func`` as one ``stt: SpeechModel``."""

    @functools.wraps(func)
    def with_model(*args: Any, stt_model: str | None, stt_beam_size: int, stt_window: int, **kw: Any) -> Any:
        return func(*args, stt=SpeechModel(stt_model, stt_beam_size, stt_window), **kw)

    with_model = click.option(
        "--stt-window",
        type=click.IntRange(0, 30),
        default=WINDOW_S,
        show_default=True,
        callback=lambda ctx, param, value: _window(value),
        help="Seconds of audio the recognizer encodes for speech up to half as long (0: Whisper's "
        "30 s, slower).",
    )(with_model)

    with_model = click.option(
        "--stt-beam-size",
        type=click.IntRange(1),
        default=BEAM_SIZE,
        show_default=True,
        help="The recognizer's beam (1: greedy, faster, more words misheard).",
    )(with_model)
    return click.option(
        "--stt-model",
        default=None,
        help="Speech model for audio: a faster-whisper model id or folder (default: the embedded "
        "Whisper base).",
    )(with_model)


def _window(seconds: int) -> int:
    try:
        return check_window(seconds)
    except BijouError as exc:
        raise click.BadParameter(str(exc)) from None


stt_vocabulary_option = click.option(
    "--stt-vocabulary/--no-stt-vocabulary",
    default=VOCABULARY_PROMPT,
    show_default=True,
    help="Give the recognizer the active device's words (tools, values) as its prompt.",
)
