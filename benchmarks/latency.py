"""Where a command's time goes, against its floor (issue 21), what guessing the user's words
ahead (prompt lookup, ``bijou_core/runtime/decoding.py``) saves, and what llama.cpp's two adapter
swap strategies cost (a LoRA applied at run time, or each adapter merged into its own resident
copy of the base), and what holding free text to the command's words costs (``--copy-text``),
side by side in one run.

    python benchmarks/latency.py ADAPTERS_DIR [ADAPTERS_DIR ...] [--quant q8_0 --quant q4_k_m]
        [--swap lora --swap merged] [--copy-text off --copy-text mask] [--transformers] [--limit N]
        [--output benchmarks/latency.md]

Several adapters folders (the same base) are run one after the other, each run labelled with its
folder's name.

For each backend, quantization, swap strategy and copy-text mode, every eval command of every
device with an adapter in ADAPTERS_DIR is answered twice, constrained as by default: without
guessing and with it (the order alternating from device to device). Each command's time is split
into its prefill (the user's tokens on the cached system turn), its decoding model calls, grammar
time (masks, forced text) and the rest (tokenizing, Python). Its **floor** is what the issue
defines: the measured prefill plus one single-token model call for every token that carries
information (every token of the answer the grammar does not force, the model's first choice
included in the prefill), a single-token call timed as the median of those the run made without
guessing. Each llama.cpp strategy then has its swaps measured as ``bijou bench`` does (swap p50,
the first command after a swap against the same command again) and its memory (RSS after one
command, and peak, in a fresh process with 0, 1 and all adapters).
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

from bijou_core.bench import machine, resident_memory, swap_run
from bijou_core.cli.runtime_options import adapters_in
from bijou_core.errors import BijouError
from bijou_core.evaluate.metrics import percentile, summarize
from bijou_core.evaluate.run import evaluate_run
from bijou_core.export.prepare import prepare_llama_cpp
from bijou_core.files import atomic_writer, write_json
from bijou_core.manifest import read_manifest
from bijou_core.runtime.backends import BACKENDS
from bijou_core.runtime.config import COPY_TEXT, COPY_TEXT_DEFAULT, SWAPS, EngineConfig
from bijou_core.runtime.decoding import DRAFT_TOKENS
from bijou_core.runtime.engine import Engine, recorded_base

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


def strategy_costs(engine: Engine, adapters: dict[str, Path], base: str) -> dict[str, Any]:
    """Swaps of one llama.cpp strategy, as ``bijou bench`` measures them (the default guessing on),
    reloading meaning the base and the first adapter loaded afresh the same way."""
    engine.config = replace(engine.config, draft_tokens=DRAFT_TOKENS)
    first, config = next(iter(adapters)), engine.config
    return swap_run(engine, lambda: BACKENDS["llama.cpp"](base, {first: adapters[first]}, config))


def strategy_row(label: str, costs: dict[str, Any]) -> str:
    memory = costs["memory"]
    most = max(memory)
    return (
        f"| {label} | {costs['adapters_resident']} | {costs['swap_p50_ms']} | {costs['swap_p95_ms']} | "
        f"{costs['first_after_swap_p50_ms']} | {costs['steady_p50_ms']} | {costs['first_vs_steady']} | "
        f"{costs['reload_p50_ms']} | {' / '.join(str(m['rss']) for m in memory.values())} | "
        f"{memory[most]['peak']} |"
    )


def comparison(quant: str, raw: dict[str, Any], costs: dict[str, dict[str, Any]]) -> str:
    """One line: merged against LoRA at ``quant``, guessing on (the default)."""
    lora, merged = raw[f"llama.cpp {quant} lora"], raw[f"llama.cpp {quant} merged"]

    def p50(run: dict[str, Any], key: str) -> float:
        return statistics.median(e[key] for e in run["yes"])

    a, b = summarize(lora["yes"]), summarize(merged["yes"])
    rss = [costs[f"llama.cpp {quant} {s}"]["memory"] for s in ("lora", "merged")]
    most = max(rss[0])
    return (
        f"- {quant}, merged against LoRA (guessing on): command p50 {p50(lora, 'latency_ms'):.1f} -> "
        f"{p50(merged, 'latency_ms'):.1f} ms (x{p50(merged, 'latency_ms') / p50(lora, 'latency_ms'):.2f}), "
        f"prefill p50 {p50(lora, 'prefill_ms'):.1f} -> {p50(merged, 'prefill_ms'):.1f} ms, single-token "
        f"call {lora['single_call_ms']:.2f} -> {merged['single_call_ms']:.2f} ms; function "
        f"{a['function_match']:.1f} -> {b['function_match']:.1f}, exact {a['exact_match']:.1f} -> "
        f"{b['exact_match']:.1f}; RSS with {most} adapters {rss[0][most]['rss']} -> "
        f"{rss[1][most]['rss']} MiB."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("adapters_dirs", type=Path, nargs="+", metavar="ADAPTERS_DIR")
    parser.add_argument("--quant", action="append", default=None, help="llama.cpp quantization (repeatable).")
    parser.add_argument(
        "--swap", action="append", choices=SWAPS, default=None, help="llama.cpp swap strategy (repeatable)."
    )
    parser.add_argument(
        "--copy-text", action="append", choices=COPY_TEXT, default=None, help="Copy-text mode (repeatable)."
    )
    parser.add_argument(
        "--threads",
        action="append",
        type=int,
        default=None,
        help="llama.cpp threads (repeatable; default: every core).",
    )
    parser.add_argument("--transformers", action="store_true", help="Also the transformers backend.")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--output", type=Path, default=HERE / "latency.md")
    args = parser.parse_args()
    try:
        sets = {folder.name: adapters_in(folder) for folder in args.adapters_dirs}
    except BijouError as err:
        parser.error(str(err))
    if len(sets) < len(args.adapters_dirs):
        parser.error("adapters folders must have different names: the runs are labelled by them")
    bases = {recorded_base({n: read_manifest(f) for n, f in adapters.items()}) for adapters in sets.values()}
    if len(bases) > 1:
        parser.error(f"the adapters folders were trained on different bases: {', '.join(sorted(bases))}")
    base = bases.pop()
    quants, swaps = args.quant or ["q8_0"], list(dict.fromkeys(args.swap or ["lora"]))
    copies = list(dict.fromkeys(args.copy_text or [COPY_TEXT_DEFAULT]))
    threads = list(dict.fromkeys(args.threads or [None]))
    if any(t is not None and t < 1 for t in threads):
        parser.error("--threads: expected 1 or more")
    configs = [
        EngineConfig(backend="llama.cpp", quant=q, swap=s, copy_text=c, threads=t)
        for q in quants
        for s in swaps
        for t in threads
        for c in copies
    ]
    if args.transformers:
        configs += [EngineConfig(backend="transformers", quant="fp32", copy_text=c) for c in copies]
    for adapters in sets.values():
        prepare_llama_cpp(adapters, None, quants, merged="merged" in swaps)
    lines, raw, costs = [], {}, {}
    for name, adapters, config in [(n, a, c) for n, a in sets.items() for c in configs]:
        key = (f"{name} " if len(sets) > 1 else "") + f"{config.backend} {config.quant}"
        key += f" {config.swap}" if config.backend == "llama.cpp" else ""
        key += f" threads {config.threads}" if len(threads) > 1 and config.backend == "llama.cpp" else ""
        strategy = key not in costs and config.backend == "llama.cpp"  # swaps and memory once per strategy
        label = key + (f" copy {config.copy_text}" if len(copies) > 1 else "")
        engine = Engine.load(adapters, config=config)
        by_mode = run(engine, args.limit)
        single = single_call_ms(by_mode["no"])
        raw[label] = {"single_call_ms": single, **by_mode}
        for mode, examples in by_mode.items():
            lines.append(row(label, mode, examples, single))
            print(lines[-1], flush=True)
        for device in adapters:
            for mode, examples in by_mode.items():
                mine = [e for e in examples if e["device"] == device]
                lines.append(row(f"{label}, {device}", mode, mine, single))
        if strategy:
            costs[key] = strategy_costs(engine, adapters, base)
        del engine
        if strategy:
            costs[key]["memory"] = resident_memory(adapters, "llama.cpp", config.quant, base, config.swap)
            print(strategy_row(key, costs[key]), flush=True)
    where = machine()
    header = [
        "# Command latency: where the time goes, against the floor",
        "",
        f"Written by `{' '.join(['python', *sys.argv])}` on {date.today()}: {where['cpu']}, "
        f"{where['cores']} cores. Adapters: {', '.join(dict.fromkeys(d for a in sets.values() for d in a))} "
        f"({', '.join(map(str, args.adapters_dirs))}); each device's eval set; constrained decoding, "
        "decline and the call threshold on (the defaults). Every run below ran in this one process, "
        "one after the other (both guessing modes device by device); memory was measured in fresh "
        "processes.",
        "",
        "Swap: llama.cpp's adapter strategy, `lora` (one base, each adapter's GGUF LoRA applied at run "
        "time) or `merged` (each adapter merged into its own resident copy of the base; `bijou export "
        "gguf --adapters-dir DIR --merged`). Guess: the user's words guessed ahead (prompt lookup). "
        "Decode calls: model calls after the prefill, p50 (mean); fed: tokens per decode call, mean. "
        "Model, grammar, other: ms per command, p50. Kept/guessed: guessed tokens the model then chose "
        "itself. Floor: prefill + one single-token call per information-carrying token; measured/floor "
        "as the p50 of the per-command ratio and as the ratio of the p50s.",
        "",
        "| run | guess | n | p50 ms | p95 ms | prefill p50 | decode calls | fed | model | grammar | other "
        "| kept/guessed | floor p50 | measured/floor p50 | p50/p50 | function % | exact % | schema-valid % |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| ---: | ---: | ---: | ---: |",
    ]
    single_lines = [
        f"- {k}: single-token decode call p50 {v['single_call_ms']:.2f} ms" for k, v in raw.items()
    ]
    swap_lines = []
    if costs:
        swap_lines = [
            "",
            "## Swap strategies: swaps and memory",
            "",
            "Swaps as `bijou bench` measures them (30 swaps among the resident adapters, each followed by "
            "a command and the same command again; reloading: the base and the first adapter loaded "
            "afresh). Memory: RSS after one command in a fresh process holding 0, 1 and all adapters "
            "(with 0, the bare base), and that last process's peak.",
            "",
            "| run | adapters | swap p50 ms | swap p95 ms | first after swap p50 ms | steady p50 ms "
            "| first / steady | reload p50 ms | RSS MiB (0 / 1 / all adapters) | peak MiB (all) |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
            *(strategy_row(label, c) for label, c in costs.items()),
            "",
            *(
                comparison(q, raw, costs)
                for q in quants
                if set(SWAPS) <= set(swaps) and len(copies) == len(threads) == len(sets) == 1
            ),
        ]
    with atomic_writer(args.output) as fh:
        fh.write("\n".join([*header, *lines, "", *single_lines, *swap_lines]) + "\n")
    write_json(args.output.with_suffix(".json"), {"runs": raw, "strategies": costs})
    print(json.dumps({k: v["single_call_ms"] for k, v in raw.items()}))


if __name__ == "__main__":
    main()
