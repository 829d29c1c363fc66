"""Where a command's time goes, against its floor (issue 21), and what guessing the user's words
ahead (prompt lookup, ``bijou_core/runtime/decoding.py``) saves, side by side in one run.

    python benchmarks/latency.py ADAPTERS_DIR [--quant q8_0 --quant q4_k_m] [--transformers]
        [--limit N] [--output benchmarks/latency.md]

For each backend and quantization, every eval command of every device with an adapter in
ADAPTERS_DIR is answered twice, constrained as by default: without guessing and with it (the order
alternating from device to device). Each command's time is split into its prefill (the user's
tokens on the cached system turn), its decoding model calls, grammar time (masks, forced text)
and the rest (tokenizing, Python). Its **floor** is what the issue defines: the measured prefill
plus one single-token model call for every token that carries information (every token of the
answer the grammar does not force, the model's first choice included in the prefill), a
single-token call timed as the median of those the run made without guessing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

from bijou_core.bench import machine
from bijou_core.evaluate.metrics import percentile, summarize
from bijou_core.evaluate.run import evaluate_run
from bijou_core.export.prepare import prepare_llama_cpp
from bijou_core.files import atomic_writer, write_json
from bijou_core.runtime.config import EngineConfig
from bijou_core.runtime.decoding import DRAFT_TOKENS
from bijou_core.runtime.engine import Engine

HERE = Path(__file__).parent
MODES = {"no": 0, "yes": DRAFT_TOKENS}  # guessing the user's words ahead


def run(engine: Engine, limit: int | None) -> dict[str, list[dict[str, Any]]]:
    """Every eval command in both modes, by mode."""
    engine.warm_up()
    by_mode: dict[str, list[dict[str, Any]]] = {mode: [] for mode in MODES}
    for i, name in enumerate(d for d in engine.devices if engine.has_adapter(d)):
        device = engine.device(name)
        records = device.eval_set[:limit] if limit else device.eval_set
        for mode in list(MODES)[:: 1 if i % 2 == 0 else -1]:
            engine.config = replace(engine.config, draft_tokens=MODES[mode])
            examples = evaluate_run(engine, device, records, True, f"{name} guess={mode}").examples
            by_mode[mode] += [{"device": name, **e} for e in examples]
    return by_mode


def floor_ms(example: dict[str, Any], single_ms: float) -> float:
    """The measured prefill plus one single-token call per information-carrying token after the
    first (which the prefill's scores choose); a declined or unsure answer stops at its prefill."""
    prefill = example["passes"][0][1] if example["passes"] else 0.0
    if example["declined"] is not None or example["unsure"]:
        return prefill
    carrying = example["new_tokens"] - example["forced_tokens"]
    return prefill + max(carrying - 1, 0) * single_ms


def row(label: str, guess: str, examples: list[dict[str, Any]], single_ms: float) -> str:
    s = summarize(examples)
    latency = [e["latency_ms"] for e in examples]
    decode_calls = [max(len(e["passes"]) - 1, 0) for e in examples]
    model = [sum(ms for _, ms in e["passes"][1:]) for e in examples]
    grammar = [e["grammar_ms"] for e in examples]
    other = [e["decode_ms"] - m - g for e, m, g in zip(examples, model, grammar, strict=True)]
    floor = [floor_ms(e, single_ms) for e in examples]
    ratio = [lat / f for lat, f in zip(latency, floor, strict=True) if f > 0]
    fed = [n for e in examples for n, _ in e["passes"][1:]]
    kept = sum(e["kept_tokens"] for e in examples)
    drafted = sum(e["drafted_tokens"] for e in examples)

    def p(values: list[float], q: int = 50) -> str:
        value = percentile(values, q)
        return "-" if value is None else f"{value:.1f}"

    return (
        f"| {label} | {guess} | {len(examples)} | {p(latency)} | {p(latency, 95)} | "
        f"{statistics.median(e['prefill_ms'] for e in examples):.1f} | "
        f"{statistics.median(decode_calls):.0f} ({statistics.mean(decode_calls):.2f}) | "
        f"{statistics.mean(fed) if fed else 0:.2f} | {p(model)} | {p(grammar)} | {p(other)} | "
        f"{kept}/{drafted} | {p(floor)} | {p(ratio)} | "
        f"{statistics.median(latency) / statistics.median(floor):.2f} | "
        f"{s['function_match']:.1f} | {s['exact_match']:.1f} | {s['schema_valid']:.1f} |"
    )


def single_call_ms(examples: list[dict[str, Any]]) -> float:
    """The median single-token decoding call of a run without guessing."""
    return statistics.median(ms for e in examples for n, ms in e["passes"][1:] if n == 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("adapters_dir", type=Path)
    parser.add_argument("--quant", action="append", default=None, help="llama.cpp quantization (repeatable).")
    parser.add_argument("--transformers", action="store_true", help="Also the transformers backend.")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--output", type=Path, default=HERE / "latency.md")
    args = parser.parse_args()
    folders = sorted(args.adapters_dir.iterdir())
    adapters = {p.name: p for p in folders if (p / "bijou-manifest.json").is_file()}
    configs = [("llama.cpp", q) for q in args.quant or ["q8_0"]]
    if args.transformers:
        configs.append(("transformers", "fp32"))
    prepare_llama_cpp(adapters, None, [quant for backend, quant in configs if backend == "llama.cpp"])
    lines, raw = [], {}
    for backend, quant in configs:
        engine = Engine.load(adapters, config=EngineConfig(backend=backend, quant=quant))
        by_mode = run(engine, args.limit)
        single = single_call_ms(by_mode["no"])
        raw[f"{backend} {quant}"] = {"single_call_ms": single, **by_mode}
        for mode, examples in by_mode.items():
            lines.append(row(f"{backend} {quant}", mode, examples, single))
            print(lines[-1], flush=True)
        for device in adapters:
            for mode, examples in by_mode.items():
                mine = [e for e in examples if e["device"] == device]
                lines.append(row(f"{backend} {quant}, {device}", mode, mine, single))
        del engine
    where = machine()
    header = [
        "# Command latency: where the time goes, against the floor",
        "",
        f"Written by `{' '.join(['python', *sys.argv])}` on {date.today()}: {where['cpu']}, "
        f"{where['cores']} cores. Adapters: {', '.join(adapters)} "
        f"({args.adapters_dir}); each device's eval set; constrained decoding, decline and the call "
        "threshold on (the defaults). Both modes ran in this one process, device by device.",
        "",
        "Guess: the user's words guessed ahead (prompt lookup). Decode calls: model calls after the "
        "prefill, p50 (mean); fed: tokens per decode call, mean. Model, grammar, other: ms per "
        "command, p50. Kept/guessed: guessed tokens the model then chose itself. Floor: prefill + one "
        "single-token call per information-carrying token; measured/floor as the p50 of the per-command "
        "ratio and as the ratio of the p50s.",
        "",
        "| run | guess | n | p50 ms | p95 ms | prefill p50 | decode calls | fed | model | grammar | other "
        "| kept/guessed | floor p50 | measured/floor p50 | p50/p50 | function % | exact % | schema-valid % |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| ---: | ---: | ---: | ---: |",
    ]
    single_lines = [
        f"- {k}: single-token decode call p50 {v['single_call_ms']:.2f} ms" for k, v in raw.items()
    ]
    with atomic_writer(args.output) as fh:
        fh.write("\n".join([*header, *lines, "", *single_lines]) + "\n")
    write_json(args.output.with_suffix(".json"), raw)
    print(json.dumps({k: v["single_call_ms"] for k, v in raw.items()}))


if __name__ == "__main__":
    main()
