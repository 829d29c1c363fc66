"""``bijou eval``: score models and prediction files on public benchmarks (BFCL)."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from ..errors import BijouError
from ..evaluate import bfcl
from ..files import write_json

SHOWN_FAILURES = 10


@click.group("eval")
def eval_group() -> None:
    """Score models and predictions."""


@eval_group.command("bfcl")
@click.option("--category", type=click.Choice(bfcl.CATEGORIES), required=True, help="The BFCL test category.")
@click.option("--model", help="A model to run on the category (needs the eval engine).")
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
    predictions: Path | None,
    output: Path | None,
    limit: int | None,
    underscore_to_dot: bool,
) -> None:
    """Score function calls on a BFCL category with the official AST checker's semantics."""
    if (model is None) == (predictions is None):
        raise click.UsageError("give either --model NAME or --predictions FILE")
    if model is not None:
        raise BijouError(
            "model-driven BFCL runs need the training/eval engine, which is not wired into "
            "'bijou eval bfcl' yet; score a predictions file with --predictions FILE"
        )
    entries = bfcl.load_category(category)
    predicted = bfcl.load_predictions(predictions)
    results = bfcl.score(category, entries, predicted, str(predictions), limit, underscore_to_dot)
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
