"""``bijou serve``: the engine of ``bijou run`` behind an OpenAI-compatible API (bijou_core.serve)."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import BijouError
from ..runtime.config import EngineConfig
from ..speech import SpeechModel
from .run_cmd import load_engine
from .runtime_options import (
    adapters_dir_option,
    engine_options,
    speech_model_options,
    stt_vocabulary_option,
)


@click.command("serve")
@click.option("--device", "devices", multiple=True, help="Also serve this device (bare base if no adapter).")
@adapters_dir_option
@click.option("--base", "--model-name", "base", default=None, help="Base model (default: the adapters').")
@engine_options
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="Port.")
@click.option(
    "--execute",
    is_flag=True,
    help="Run the calls on the device simulators and return the results and device state; calls "
    "that need confirmation run only when the request says confirm: true.",
)
@speech_model_options
@stt_vocabulary_option
@click.pass_context
def serve(
    ctx: click.Context,
    devices: tuple[str, ...],
    adapters_dir: Path | None,
    base: str | None,
    config: EngineConfig,
    host: str,
    port: int,
    execute: bool,
    stt: SpeechModel,
    stt_vocabulary: bool,
) -> None:
    """Serve the devices over an OpenAI-compatible API (/v1/chat/completions: the device is the
    model, the command the last user message, the calls tool_calls) with a playground page at /;
    /v1/audio/transcriptions turns speech into text (voice extra); audio for a device is
    heard with that device's words as the recognizer's prompt (--no-stt-vocabulary: without)."""
    try:
        from ..serve import Service, create_app
        from ..serve.server import run_server
    except ImportError as exc:
        raise BijouError(f"bijou serve needs {exc.name}: pip install 'bijou-core[serve]'") from None
    engine = load_engine(ctx, adapters_dir, devices, base, config)
    for warning in engine.warnings:
        click.echo(f"warning: {warning}", err=True)
    engine.warm_up()
    click.echo(f"bijou serve: {', '.join(engine.devices)} on {engine.backend.name}", err=True)
    click.echo(f"  playground http://{host}:{port}/  API http://{host}:{port}/v1", err=True)
    run_server(create_app(Service(engine, execute, stt, stt_vocabulary)), host, port)
