"""``bijou base``: the general function-calling base model (guide steps 1 and 2)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..data.xlam import XLAM_DATASET, prepare_dataset
from ..models import DEFAULT_MODEL
from .options import option, settings_from, training_options


@click.group()
def base() -> None:
    """The base model: prepare data and fine-tune."""


@base.command()
@option(
    "--dataset",
    default=XLAM_DATASET,
    show_default=True,
    help="A hub dataset id, or a local xLAM file (.json, .jsonl, .parquet) or folder.",
)
@option(
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("data/training"),
    show_default=True,
)
@option(
    "--max-samples",
    type=click.IntRange(1),
    default=None,
    help="Use only this many rows, drawn at random with --seed (a quick test run).",
)
@option(
    "--val-fraction",
    type=click.FloatRange(0, 0.5),
    default=0.05,
    show_default=True,
    help="Share of the converted records kept for validation.",
)
@option("--seed", type=int, default=0, show_default=True, help="Seed of the row order and the split.")
def prepare(dataset: str, output_dir: Path, max_samples: int | None, val_fraction: float, seed: int) -> None:
    """Convert xLAM rows to bijou records: NAME_train.jsonl and NAME_val.jsonl.

    NAME comes from the dataset id or file (xlam_function_calling_60k). Each row's tools become
    JSON-Schema tools; rows that cannot be converted faithfully are skipped and counted by reason
    in the summary line.
    """
    prepared, train_path, val_path = prepare_dataset(
        dataset, output_dir, max_samples=max_samples, val_fraction=val_fraction, seed=seed
    )
    click.echo(f"wrote {train_path} and {val_path}", err=True)
    click.echo(prepared.summary())


@base.command()
@option(
    "--model-name",
    default=DEFAULT_MODEL,
    show_default=True,
    help="A registered name, a local folder or a hub id (e.g. Qwen/Qwen2.5-1.5B).",
)
@option(
    "--data-path",
    type=click.Path(path_type=Path),
    default=Path("data/training"),
    show_default=True,
    help="The folder 'bijou base prepare' wrote, or one training JSONL.",
)
@option(
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("models/bijou-base"),
    show_default=True,
    help="Checkpoints go to OUTPUT_DIR/checkpoints, the merged model to OUTPUT_DIR/final.",
)
@option("--max-samples", type=click.IntRange(1), default=None, help="Train on the first N records only.")
@option("--hf-repo-id", default=None, help="Upload the final model to this hub repo (created if needed).")
@option("--hf-private", is_flag=True, help="Make the hub repo private.")
@option("--convert-gguf", is_flag=True, help="Also export the final model to GGUF.")
@option("--gguf-methods", default="q4_k_m,q8_0", show_default=True, help="GGUF types for --convert-gguf.")
@training_options(num_epochs=3, batch_size=4, learning_rate=2e-4, max_seq_length=1024, lora_r=16)
def train(
    model_name: str,
    data_path: Path,
    output_dir: Path,
    max_samples: int | None,
    hf_repo_id: str | None,
    hf_private: bool,
    convert_gguf: bool,
    gguf_methods: str,
    **options: Any,
) -> None:
    """Fine-tune the base model on prepared function-calling data (LoRA, merged into OUTPUT_DIR/final)."""
    from ..train.base import train_base
    from ..train.sft import end_distributed, is_main_process

    settings = settings_from(model_name, output_dir, options)
    result, manifest, final = train_base(settings, data_path, max_samples)
    end_distributed()
    if not is_main_process():
        return
    click.echo(
        f"trained base in {result.seconds / 60:.1f} min: {result.steps} steps, {result.epochs:.2f} epochs, "
        f"loss {result.train_loss:.3f}, {result.tokens_per_second:.0f} tokens/s -> {final}"
    )
    if convert_gguf:
        from ..export.gguf import export_model_gguf

        for path in export_model_gguf(
            final, [m.strip() for m in gguf_methods.split(",") if m.strip()], output_dir / "gguf"
        ):
            click.echo(f"wrote {path}")
    if hf_repo_id:
        from ..export.hub import model_card, upload_folder

        url = upload_folder(final, hf_repo_id, private=hf_private, card=model_card(manifest))
        click.echo(f"uploaded {final} to {url}")
