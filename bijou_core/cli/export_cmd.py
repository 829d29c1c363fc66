"""``bijou export``: GGUF files for llama.cpp, and uploads to the Hugging Face hub (guide step 6)."""

from __future__ import annotations

from pathlib import Path

import click

from ..export.gguf import LORA_TYPES, METHODS
from .options import option


@click.group()
def export() -> None:
    """Export trained models: GGUF for llama.cpp, or the Hugging Face hub."""


@export.command()
@option("--model", help="A model folder (models/bijou-base/final), a registered name or a hub id.")
@option(
    "--adapter",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A device adapter folder (adapters/DEVICE): exported as a GGUF LoRA.",
)
@option(
    "--methods",
    default=None,
    help=f"Comma-separated GGUF types; model default q4_k_m,q8_0 (valid: {', '.join(METHODS)}); "
    f"adapter: one of {', '.join(LORA_TYPES)}, default f16.",
)
@option("--base", default=None, help="With --adapter: its base model (default: the one its manifest names).")
@option(
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Default: gguf/ beside a model folder (models/bijou-base/gguf) or ./gguf; the adapter's folder.",
)
def gguf(
    model: str | None, adapter: Path | None, methods: str | None, base: str | None, output_dir: Path | None
) -> None:
    """Convert a model to GGUF files (then quantize them), or an adapter to a GGUF LoRA.

    Uses llama.cpp's own converters, fetched once from the installed llama-cpp-python's source on PyPI.
    Each file gets a FILE.manifest.json (source, method, size, sha256).
    """
    from ..export.gguf import check_methods, export_adapter_gguf, export_model_gguf, local_model_folder

    if (model is None) == (adapter is None):
        raise click.UsageError("give exactly one of --model and --adapter")
    if adapter is not None:
        outtype = check_methods(methods or "f16", LORA_TYPES)
        if len(outtype) != 1:
            raise click.UsageError(f"an adapter is exported once: give one of {', '.join(LORA_TYPES)}")
        output = output_dir / f"{adapter.resolve().name}-lora-{outtype[0]}.gguf" if output_dir else None
        click.echo(f"wrote {export_adapter_gguf(adapter, output, base, outtype[0])}")
        return
    if base is not None:
        raise click.UsageError("--base goes with --adapter")
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
    from ..train.manifest import read_manifest

    url = upload_folder(folder, repo_id, private=private, card=model_card(read_manifest(folder), repo_id))
    click.echo(f"uploaded {folder} to {url}")
