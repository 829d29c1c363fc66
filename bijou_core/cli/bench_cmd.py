"""``bijou bench``: runtime latency, swaps, constraints, memory and sizes, written to a table."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..errors import BijouError
from ..export.gguf import check_methods
from ..files import atomic_writer
from ..manifest import read_manifest
from ..runtime.backends import BACKENDS
from ..runtime.engine import recorded_base
from .devices import _registry
from .runtime_options import adapters_dir_option, adapters_in, swap_option


@click.command("bench")
@adapters_dir_option
@click.option("--base", "--model-name", "base", default=None, help="Base model (default: the adapters').")
@click.option(
    "--backends",
    default=",".join(BACKENDS),
    show_default=True,
    help="Comma-separated backends to measure.",
)
@click.option("--quants", default="f16,q8_0,q4_k_m", show_default=True, help="llama.cpp base GGUF types.")
@swap_option
@click.option("--limit", type=click.IntRange(1), default=None, help="Only the first N commands per device.")
@click.option("--memory/--no-memory", default=True, show_default=True, help="Measure resident memory.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the Markdown table here (e.g. benchmarks/RESULTS.md).",
)
@click.pass_context
def bench(
    ctx: click.Context,
    adapters_dir: Path | None,
    base: str | None,
    backends: str,
    quants: str,
    swap: str,
    limit: int | None,
    memory: bool,
    as_json: bool,
    output: Path | None,
) -> None:
    """Measure the runtime on every adapter of --adapters-dir over the devices' eval sets."""
    from ..bench import markdown, run_bench

    chosen = [b.strip() for b in backends.split(",") if b.strip()]
    for backend in chosen:
        if backend not in BACKENDS:
            raise BijouError(f"unknown backend {backend!r} (expected one of {', '.join(BACKENDS)})")
    adapters_dir = adapters_dir or Path("adapters")
    if not adapters_dir.is_dir():
        raise BijouError(
            f"{adapters_dir}: no such folder; pass --adapters-dir (one adapter folder per device)"
        )
    adapters = adapters_in(adapters_dir)
    base = base or recorded_base({n: read_manifest(p) for n, p in adapters.items()})
    results = run_bench(adapters, _registry(ctx), base, chosen, check_methods(quants), limit, memory, swap)
    table = markdown(results)
    if output:
        with atomic_writer(output) as fh:
            fh.write(table)
    if as_json:
        click.echo(json.dumps(results.to_json(), indent=2))
    else:
        click.echo(table)
