"""What one llama.cpp model call costs: the bare base against base + a resident LoRA, by the
number of tokens fed, measured side by side in one process (issue 21's floor assumes the call).

    python benchmarks/call_cost.py ADAPTER_DIR [--quant q8_0] [--output benchmarks/call-cost.md]

The calls run on a 60-token context, as a command's answer does on its cached system turn; the
two configurations alternate round by round, so drift hits both alike.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import date
from pathlib import Path

from bijou_core.export.prepare import adapter_gguf, base_gguf
from bijou_core.files import atomic_writer
from bijou_core.manifest import read_manifest
from bijou_core.runtime.llama_backend import LlamaCppBackend

HERE = Path(__file__).parent
SIZES = (1, 2, 4, 8, 12)
CONTEXT = "okay so could you please turn the volume down a little bit and then play the next song " * 3


def time_calls(
    backend: LlamaCppBackend, adapter: str | None, ids: list[int], size: int, n: int
) -> list[float]:
    """Seconds of ``n`` calls feeding ``size`` tokens after ``ids``."""
    backend.use(adapter)
    backend.start([])
    backend.feed(ids)
    times = []
    for _ in range(n):
        tick = time.perf_counter()
        backend.feed(ids[:size])
        times.append(time.perf_counter() - tick)
        backend.truncate(len(ids))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("adapter", type=Path)
    parser.add_argument("--quant", default="q8_0")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--output", type=Path, default=HERE / "call-cost.md")
    args = parser.parse_args()
    base = read_manifest(args.adapter).trained_on.name
    backend = LlamaCppBackend(base_gguf(base, args.quant), {"adapter": adapter_gguf(args.adapter)})
    ids = backend.tokenize(CONTEXT)[:60]
    times: dict[tuple[str, int], list[float]] = {}
    for _ in range(args.rounds):
        for size in SIZES:
            for name in (None, "adapter"):
                times.setdefault((name or "base", size), []).extend(time_calls(backend, name, ids, size, 12))
    rows = []
    for size in SIZES:
        bare = statistics.median(times[("base", size)]) * 1000
        lora = statistics.median(times[("adapter", size)]) * 1000
        rows.append(f"| {size} | {bare:.2f} | {lora:.2f} | {lora / bare:.2f} |")
    lines = [
        "# One model call: bare base against base + LoRA",
        "",
        f"Written by `{' '.join(['python', *sys.argv])}` on {date.today()}, "
        f"{len(os.sched_getaffinity(0))} cores; base {base} {args.quant}, adapter {args.adapter.name} "
        "(LoRA on all seven projections, resident, switched with `llama_set_adapters_lora`). p50 of "
        f"{args.rounds * 12} calls per cell, after a 60-token context.",
        "",
        "| tokens fed | bare base ms | base + LoRA ms | ratio |",
        "| ---: | ---: | ---: | ---: |",
        *rows,
    ]
    with atomic_writer(args.output) as fh:
        fh.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
