"""``bijou export``: GGUF files for llama.cpp, uploads to the Hugging Face hub (guide step 6), and
launch bundles for serving engines (vLLM, llama.cpp's server)."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ..export.gguf import LORA_TYPES, METHODS
from .options import option
from .runtime_options import adapters_dir_option, quant_option


@click.group()
def export() -> None:
    """Export trained models: GGUF for llama.cpp, the Hugging Face hub, serving-engine bundles."""


@export.command()
@option("--model", help="A model folder (models/bijou-base/final), a registered name or a hub id.")
@option(
    "--adapter",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A device adapter folder (adapters/DEVICE): exported as a GGUF LoRA.",
)
@option(
    "--adapters-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="An adapters folder: every file the llama.cpp runtime reads (the base beside the adapters, "
    "each adapter's GGUF LoRA), kept when already there.",
)
@option(
    "--merged",
    is_flag=True,
    help="With --adapters-dir: also each adapter merged into its base, a GGUF per method "
    "(ADAPTER/ADAPTER-merged-METHOD.gguf), what --swap merged loads.",
)
@option(
    "--methods",
    default=None,
    help=f"Comma-separated GGUF types; model default q4_k_m,q8_0, adapters folder q8_0 (valid: "
    f"{', '.join(METHODS)}); adapter: one of {', '.join(LORA_TYPES)}, default f16.",
)
@option(
    "--base",
    default=None,
    help="With --adapter or --adapters-dir: the base model (default: the one the manifests name).",
)
@option(
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Default: gguf/ beside a model folder (models/bijou-base/gguf) or ./gguf; the adapter's folder.",
)
def gguf(
    model: str | None,
    adapter: Path | None,
    adapters_dir: Path | None,
    merged: bool,
    methods: str | None,
    base: str | None,
    output_dir: Path | None,
) -> None:
    """Convert a model to GGUF files (then quantize them), an adapter to a GGUF LoRA, or an adapters
    folder to what ``bijou run --backend llama.cpp`` reads (once: fresh files are kept).

    Uses llama.cpp's own converters, fetched once from the installed llama-cpp-python's source on PyPI.
    Each file gets a FILE.manifest.json (source, method, size, sha256).
    """
    from ..export.gguf import check_methods, export_adapter_gguf, export_model_gguf, local_model_folder

    if sum(x is not None for x in (model, adapter, adapters_dir)) != 1:
        raise click.UsageError("give exactly one of --model, --adapter and --adapters-dir")
    if merged and adapters_dir is None:
        raise click.UsageError("--merged goes with --adapters-dir")
    if adapters_dir is not None:
        from ..export.prepare import prepare_llama_cpp
        from .runtime_options import adapters_in

        if output_dir is not None:
            raise click.UsageError("--output-dir does not go with --adapters-dir (the files go in it)")
        chosen = check_methods(methods or "q8_0")
        for path in prepare_llama_cpp(adapters_in(adapters_dir), base, chosen, merged):
            click.echo(f"ready {path}")
        return
    if adapter is not None:
        outtype = check_methods(methods or "f16", LORA_TYPES)
        if len(outtype) != 1:
            raise click.UsageError(f"an adapter is exported once: give one of {', '.join(LORA_TYPES)}")
        output = output_dir / f"{adapter.resolve().name}-lora-{outtype[0]}.gguf" if output_dir else None
        click.echo(f"wrote {export_adapter_gguf(adapter, output, base, outtype[0])}")
        return
    if base is not None:
        raise click.UsageError("--base goes with --adapter or --adapters-dir")
    chosen = check_methods(methods or "q4_k_m,q8_0")
    folder, name = local_model_folder(model)
    if output_dir is None:
        output_dir = folder.parent / "gguf" if Path(model).is_dir() else Path("gguf")
    for path in export_model_gguf(folder, chosen, output_dir, name):
        click.echo(f"wrote {path}")


@export.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@option("--repo-id", required=True, help="The hub repo, e.g. your-name/bijou-lamp (created if needed).")
@option("--private", is_flag=True, help="Create the repo private.")
def hub(folder: Path, repo_id: str, private: bool) -> None:
    """Upload a trained adapter or model FOLDER to the hub, with a model card made from its manifest."""
    from ..export.hub import model_card, upload_folder
    from ..manifest import read_manifest

    url = upload_folder(folder, repo_id, private=private, card=model_card(read_manifest(folder), repo_id))
    click.echo(f"uploaded {folder} to {url}")


def _deployed(ctx: click.Context, adapters_dir: Path, base: str | None) -> tuple[str, list[Any]]:
    from ..export.deploy import deployed_adapters
    from ..manifest import read_manifest
    from ..runtime.engine import recorded_base
    from .devices import _registry
    from .runtime_options import adapters_in

    adapters = adapters_in(adapters_dir)
    base = base or recorded_base({name: read_manifest(folder) for name, folder in adapters.items()})
    return base, deployed_adapters(adapters, _registry(ctx))


def _bundle_options(default_output: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        func = option("--base", default=None, help="The base model (default: the one the adapters name).")(
            func
        )
        func = option(
            "--output",
            type=click.Path(file_okay=False, path_type=Path),
            default=Path(default_output),
            show_default=True,
            help="The bundle's folder.",
        )(func)
        return adapters_dir_option(func)

    return decorate


@export.command("vllm")
@_bundle_options("deploy/vllm")
@click.pass_context
def vllm(ctx: click.Context, adapters_dir: Path | None, output: Path, base: str | None) -> None:
    """A launch bundle for vLLM with every adapter as a LoRA module: the command, bijou's prompt as a
    chat template, each device's call schema for structured outputs and a tool-call parser plugin."""
    from ..export.deploy import write_vllm_bundle
    from ..models import resolve_model

    base, deployed = _deployed(ctx, adapters_dir or Path("adapters"), base)
    command = write_vllm_bundle(output, resolve_model(base), deployed)
    click.echo(f"wrote {output}/ (launch.sh, bijou.jinja, schemas/, bijou_tool_parser.py, README.md)")
    click.echo(shlex.join(command))


@export.command("llama-server")
@_bundle_options("deploy/llama-server")
@quant_option
@option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True, help="The server's port.")
@click.pass_context
def llama_server(
    ctx: click.Context, adapters_dir: Path | None, output: Path, base: str | None, quant: str, port: int
) -> None:
    """A launch bundle for llama.cpp's server: the GGUF base and every adapter's GGUF LoRA (converted
    once), bijou's prompt as a chat template (--jinja) and each device's call schema."""
    from ..export.deploy import write_llama_server_bundle
    from ..export.prepare import adapter_gguf, base_gguf

    base, deployed = _deployed(ctx, adapters_dir or Path("adapters"), base)
    recorded = None if base.endswith(".gguf") else base
    loras = [adapter_gguf(adapter.folder, recorded) for adapter in deployed]
    command = write_llama_server_bundle(output, base_gguf(base, quant), deployed, loras, port)
    click.echo(f"wrote {output}/ (launch.sh, bijou.jinja, schemas/, README.md)")
    click.echo(shlex.join(command))
