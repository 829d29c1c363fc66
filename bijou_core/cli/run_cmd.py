"""``bijou run``: the terminal demo. One resident model, device adapters swapped with ``/device``.

Interactive in a terminal; otherwise (``--command``, or commands on stdin) one JSON line per command,
so scripts and tests drive it.
"""

from __future__ import annotations

import copy
import itertools
import json
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from ..calls import Call, dumps
from ..errors import BijouError
from ..microphone import Microphone
from ..runtime.config import EngineConfig
from ..runtime.engine import Engine
from ..runtime.records import turn_record
from ..speech import Recognizer, SpeechModel, Transcript, device_vocabulary, read_audio
from .devices import _registry
from .runtime_options import (
    adapters_dir_option,
    adapters_in,
    engine_options,
    speech_model_options,
    stt_vocabulary_option,
)

HELP = "/device NAME swaps the device (and its adapter), /devices lists them, /quit leaves."


def load_engine(
    ctx: click.Context,
    adapters_dir: Path | None,
    devices: tuple[str, ...],
    base: str | None,
    config: EngineConfig,
) -> Engine:
    """The engine ``run`` and ``serve`` use: every adapter of ``adapters_dir`` (default ./adapters),
    plus ``devices`` served by the bare base when they have no adapter."""
    if adapters_dir is None and Path("adapters").is_dir():
        adapters_dir = Path("adapters")
    adapters = adapters_in(adapters_dir) if adapters_dir else {}
    if config.backend == "llama.cpp":
        from ..export.prepare import llama_cpp_base

        base = llama_cpp_base(adapters, base, config.quant, config.swap)
    registry = _registry(ctx)
    extra = [d for d in devices if d not in adapters] or ([] if adapters else list(registry.devices))
    return Engine.load(adapters, base, extra, config, registry)


@click.command("run")
@click.option("--device", "devices", multiple=True, help="Device to start with (repeat to load more).")
@adapters_dir_option
@click.option("--base", "--model-name", "base", default=None, help="Base model (default: the adapters').")
@engine_options
@click.option("--command", "commands", multiple=True, help="Answer this command and exit (repeatable).")
@click.option(
    "--audio",
    "audio",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Answer the command spoken in this audio file (WAV, FLAC, MP3, OGG...; repeatable).",
)
@click.option(
    "--listen",
    is_flag=True,
    help="Push-to-talk: Enter starts recording from the microphone, Enter stops (voice extra).",
)
@speech_model_options
@stt_vocabulary_option
@click.option("--yes", is_flag=True, help="Confirm every call that needs confirmation (scripts).")
@click.pass_context
def run(
    ctx: click.Context,
    devices: tuple[str, ...],
    adapters_dir: Path | None,
    base: str | None,
    config: EngineConfig,
    commands: tuple[str, ...],
    audio: tuple[Path, ...],
    listen: bool,
    stt: SpeechModel,
    stt_vocabulary: bool,
    yes: bool,
) -> None:
    """Speak (type) commands to devices; each becomes validated calls run on the device's simulator.

    Without a terminal, or with --command, commands come from the options or stdin (one per line,
    `/device NAME` lines swap) and results go out as JSON lines. Calls that need confirmation run
    only when confirmed (interactively, or with --yes). With --audio, each file is recognized
    first and its transcript answered like a typed command; with --listen, so is each recording
    from the microphone (Enter starts, Enter stops; a typed line is answered as typed).
    """
    clips = [(path, read_audio(path)) for path in audio]  # bad files fail before any model loads
    microphone = Microphone.default() if listen else None  # as does a missing microphone
    recognizer = stt.load() if clips or microphone else None
    engine = load_engine(ctx, adapters_dir, devices, base, config)
    for warning in engine.warnings:
        click.echo(f"warning: {warning}", err=True)
    engine.warm_up()
    if recognizer is not None:
        recognizer.warm_up()
    swap = engine.use(devices[0] if devices else engine.devices[0])
    interactive = not commands and not clips and sys.stdin.isatty()
    lines = commands or ([] if clips or microphone else _stdin_lines(interactive))
    if interactive:
        click.echo(f"bijou {engine.backend.name}: devices {', '.join(engine.devices)}. {HELP}")
    for line in lines:
        if line.split(" ", 1)[0] in ("/quit", "/exit"):
            break
        swap = _typed_turn(engine, line, swap, interactive, yes)
    for path, samples in clips:
        swap = _spoken_turn(engine, recognizer, path, swap, interactive, yes, stt_vocabulary, samples)
    if microphone is not None:
        _listen(engine, recognizer, microphone, swap, interactive, yes, stt_vocabulary)


def _failed(message: str, interactive: bool, **where: str) -> None:
    """One line for a turn that failed, and the session goes on (scripts feed many commands):
    ``Error: ...`` in a terminal, else a JSON line naming the command or audio ``where``."""
    if interactive:
        click.echo(f"Error: {message}", err=True)
    else:
        click.echo(json.dumps({**where, "error": message}, ensure_ascii=False))


def _typed_turn(engine: Engine, line: str, swap: float, interactive: bool, yes: bool) -> float:
    """A typed line (a command, or ``/device NAME``); the swap time the next record shows."""
    try:
        return _turn(engine, line, swap, interactive, yes)
    except BijouError as exc:
        _failed(str(exc), interactive, command=line)
        return swap


def _spoken_turn(
    engine: Engine,
    recognizer: Recognizer,
    path: Path,
    swap: float,
    interactive: bool,
    yes: bool,
    vocabulary: bool,
    samples: Any = None,
    name: str | None = None,
) -> float:
    """The command spoken in ``path`` (its ``samples`` if already read), recognized then answered
    like typed text; an error names the audio (as ``name``, if given)."""
    try:
        samples = read_audio(path) if samples is None else samples
        assert engine.active is not None
        words = device_vocabulary(engine.active.device) if vocabulary else None
        heard = recognizer.transcribe(path, samples, words)
        return _turn(engine, heard.text, swap, interactive, yes, heard)
    except BijouError as exc:
        _failed(str(exc).replace(str(path), name or str(path)), interactive, audio=name or str(path))
        return swap


def _listen(
    engine: Engine,
    recognizer: Recognizer,
    microphone: Microphone,
    swap: float,
    interactive: bool,
    yes: bool,
    vocabulary: bool,
) -> None:
    """Push-to-talk until end of input or ``/quit``: an empty line (Enter) starts recording, the
    next line stops it, and the recording goes the way of ``--audio``; a typed line is answered as
    typed (``/device NAME`` swaps)."""
    if interactive:
        click.echo(f"Microphone: {microphone.name}. Enter starts speaking, Enter stops; or type a command.")
    stop = "  recording... Enter stops " if interactive else ""
    with tempfile.TemporaryDirectory(prefix="bijou-listen-") as folder:
        for number in itertools.count(1):
            line = _read_line("> " if interactive else "")
            if line is None or line.split(" ", 1)[0] in ("/quit", "/exit"):
                return
            if line:
                swap = _typed_turn(engine, line, swap, interactive, yes)
                continue
            name = f"recording {number}"
            try:
                path = microphone.record(Path(folder) / f"recording-{number}.wav", lambda: _read_line(stop))
            except BijouError as exc:
                _failed(str(exc), interactive, audio=name)
                continue
            swap = _spoken_turn(engine, recognizer, path, swap, interactive, yes, vocabulary, name=name)


def _read_line(prompt: str) -> str | None:
    """One line typed at the terminal (or read from stdin), stripped; ``None`` at end of input."""
    try:
        return input(prompt).strip()
    except EOFError:
        return None


def _turn(
    engine: Engine, line: str, swap: float, interactive: bool, yes: bool, heard: Transcript | None = None
) -> float:
    """One line of input: a ``/`` command or a spoken command; the swap time the next record shows.
    ``heard``: the recognizer's transcript when ``line`` came from audio."""
    if line.startswith("/") and heard is None:
        word, _, arg = line.partition(" ")
        swapped = _control(engine, word, arg.strip(), interactive)
        return swap if swapped is None else swapped
    answer = engine.answer(line)
    before = copy.deepcopy(engine.runtime(answer.device).state)
    confirm = _ask if interactive else (lambda call: yes)
    outcomes = engine.execute(answer, confirm)
    record = turn_record(answer, outcomes, swap, engine.runtime(answer.device).state, heard)
    click.echo(_show(record, before) if interactive else json.dumps(record, ensure_ascii=False))
    return 0.0


def _control(engine: Engine, word: str, arg: str, interactive: bool) -> float | None:
    """A ``/`` command: ``/device NAME`` swaps (the seconds it took), ``/devices`` lists."""
    if word == "/device" and arg:
        swap = engine.use(arg)
        if interactive:
            click.echo(f"-> {arg} (swap {swap * 1000:.3f} ms)")
        return swap
    if word == "/devices":
        adapters = {d: engine.has_adapter(d) for d in engine.devices}
        if interactive:
            click.echo(", ".join(f"{d}{'' if a else ' (base model)'}" for d, a in adapters.items()))
        else:
            click.echo(json.dumps({"devices": adapters}))
        return None
    click.echo(HELP, err=True)
    return None


def _stdin_lines(interactive: bool) -> Iterator[str]:
    if not interactive:
        yield from (line.strip() for line in sys.stdin if line.strip())
        return
    while True:
        try:
            line = input("> ")
        except EOFError:
            return
        if line.strip():
            yield line.strip()


def _ask(call: Call) -> bool:
    return click.confirm(f"run {dumps([call])}?", default=False)


def _show(record: dict[str, Any], before: dict[str, Any]) -> str:
    """A command's result for people: the call JSON, results, what changed, the latency split."""
    lines = [f"  heard: {record['transcript']}"] if "transcript" in record else []
    lines.append(f"  {record['text']}")
    if record["declined"] is not None:
        wanted = f"  no call: the model was writing {record['declined']}, which the tools do not allow"
        lines.append(click.style(wanted, fg="yellow"))
    if record["unsure"] and record["p_tool"] is not None:  # it was past the choice of a call
        unsure = f"  no call: the model gave its tool only {record['p_tool']:.0%} (--tool-threshold)"
        lines.append(click.style(unsure, fg="yellow"))
    elif record["unsure"]:
        unsure = f"  no call: the model gave a call only {record['p_call']:.0%} (--call-threshold)"
        lines.append(click.style(unsure, fg="yellow"))
    if not record["valid"]:
        lines.append(click.style(f"  not run: {'; '.join(record['errors'])}", fg="red"))
    for result in record["results"]:
        if result["status"] == "done":
            lines.append(
                click.style(f"  {result['call']['name']}: {json.dumps(result['result'])}", fg="green")
            )
        elif record["valid"]:
            lines.append(
                click.style(
                    f"  {result['call']['name']}: {result['status']} ({result['reason']})", fg="yellow"
                )
            )
    changed = {k: v for k, v in record["state"].items() if before.get(k) != v}
    lines.append(f"  state: {json.dumps(changed, ensure_ascii=False) if changed else 'unchanged'}")
    ms = record["latency_ms"]
    speech = f"{ms['speech']:.0f} ms speech + " if "speech" in ms else ""
    lines.append(
        f"  {speech}{ms['prefill']:.0f} ms prefill + {ms['decode']:.0f} ms decode (swap {ms['swap']:.3f} ms)"
    )
    return "\n".join(lines)
