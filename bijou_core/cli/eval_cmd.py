"""``bijou eval``: score models and prediction files on public benchmarks (BFCL)."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from ..evaluate import bfcl
from ..files import write_json

SHOWN_FAILURES = 10


@click.group("eval")
def eval_group() -> None:
    """Score models and predictions."""


@eval_group.command("bfcl")
@click.option("--category", type=click.Choice(bfcl.CATEGORIES), required=True, help="The BFCL test category.")
@click.option("--model", help="A model to run on the category: a registered name, a folder or a hub id.")
@click.option(
    "--adapter",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A LoRA adapter for --model.",
)
@click.option(
    "--predictions",
    type=click.Path(path_type=Path),
    help='JSONL of {"id", "calls": [...]} or {"id", "text": "raw model output"} lines to score.',
)
@click.option("--output", "-o", type=click.Path(path_type=Path), help="Write the per-id verdicts as JSON.")
@click.option("--limit", type=click.IntRange(1), help="Score only the first N entries of the category.")
@click.option(
    "--underscore-to-dot",
    is_flag=True,
    help="Expect dotted BFCL names with '_' for '.' (math.factorial as math_factorial), like the "
    "official checker for models whose API forbids dots.",
)
def bfcl_command(
    category: str,
    model: str | None,
    adapter: Path | None,
    predictions: Path | None,
    output: Path | None,
    limit: int | None,
    underscore_to_dot: bool,
) -> None:
    """Score function calls on a BFCL category with the official AST checker's semantics."""
    if (model is None) == (predictions is None):
        raise click.UsageError("give either --model NAME or --predictions FILE")
    entries = bfcl.load_category(category)
    if model is not None:
        from ..evaluate.bfcl_run import predict

        predicted, texts = predict(model, entries[:limit], adapter)
        source = model
    else:
        predicted, texts, source = bfcl.load_predictions(predictions), None, str(predictions)
    results = bfcl.score(category, entries, predicted, source, limit, underscore_to_dot)
    if texts is not None:
        results["model"] = {"model": model, "adapter": str(adapter) if adapter else None, "texts": texts}
    if output is not None:
        write_json(output, results)
    failures = [r for r in results["results"] if not r["valid"]]
    if failures:
        table = Table("id", "error", title=f"failures (first {min(len(failures), SHOWN_FAILURES)})")
        for failure in failures[:SHOWN_FAILURES]:
            table.add_row(failure["id"], failure["error"])
        Console(stderr=True, width=160).print(table)
    summary = results["summary"]
    missing = sum(r["error"] == bfcl.NO_PREDICTION for r in failures)
    note = f", {missing} without a prediction" if missing else ""
    click.echo(
        f"BFCL {category}: {summary['correct']}/{summary['total']} correct "
        f"({100 * summary['accuracy']:.1f}%{note})" + (f"; verdicts in {output}" if output else "")
    )
