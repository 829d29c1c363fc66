"""``bijou bench``: the runtime's numbers, measured side by side in one run.

Command latency (prefill/decode) and accuracy per backend and quantization over the devices' eval
sets; adapter swaps against reloading base+adapter; the first command after a swap against a
steady-state one; constrained against unconstrained decoding; resident memory with 0, 1 and 3
adapters; file sizes. Targets of the runtime issue are checked in the report.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .devices import DeviceRegistry
from .evaluate.metrics import percentile, summarize
from .evaluate.run import evaluate_run
from .runtime.backends import BACKENDS
from .runtime.config import EngineConfig
from .runtime.engine import Engine
from .runtime.gguf_files import merged_path

TARGETS = {
    "latency_p50_ms": 150.0,
    "swap_p50_ms": 1.0,
    "swap_speedup": 1000.0,
    "schema_valid": 100.0,
    "constrained_latency_ratio": 1.2,
    "gguf_exact_gap": 2.0,
}


@dataclass(frozen=True, kw_only=True)
class BenchRun:
    """The eval sets answered on one backend, quantization and decoding: rates and latency split."""

    backend: str
    quant: str
    constrained: bool
    label: str
    all: dict[str, Any]  # every device's commands together (see _rates)
    devices: dict[str, dict[str, Any]]  # per device
    examples: list[dict[str, Any]] = field(default_factory=list)


@dataclass(kw_only=True)
class BenchResults:
    """Everything one ``bijou bench`` run measured; a part not measured is ``None``."""

    machine: dict[str, Any]
    base: str
    devices: list[str]
    strategy: str = "lora"  # llama.cpp's swap strategy (see EngineConfig.swap)
    runs: list[BenchRun] = field(default_factory=list)
    swap: dict[str, Any] | None = None  # llama.cpp (see swap_run)
    file_sizes_mib: dict[str, float] | None = None
    swap_transformers: dict[str, Any] | None = None
    memory_mib: dict[str, dict[int, dict[str, float]]] | None = None  # backend -> adapters -> rss, peak
    targets: list[dict[str, Any]] = field(default_factory=list)

    def find(self, backend: str, quant: str | None = None, constrained: bool = True) -> BenchRun | None:
        """The run of ``backend`` (and ``quant``) with that decoding, if one was measured."""
        for run in self.runs:
            if run.backend == backend and run.constrained == constrained and quant in (None, run.quant):
                return run
        return None

    def to_json(self) -> dict[str, Any]:
        """The measured parts as JSON, without each command's answer."""
        runs = [{f.name: getattr(r, f.name) for f in fields(r) if f.name != "examples"} for r in self.runs]
        data = {f.name: getattr(self, f.name) for f in fields(self)} | {"runs": runs}
        return {key: value for key, value in data.items() if value is not None}


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    model = names[0] if names else platform.processor()
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    versions = {
        p: _version(p)
        for p in ("bijou-core", "torch", "transformers", "peft", "llama_cpp_python", "llguidance")
    }
    return {
        "cpu": model,
        "cores": len(os.sched_getaffinity(0)),
        "memory_gib": round(memory, 1),
        "python": platform.python_version(),
        "versions": versions,
        "date": datetime.date.today().isoformat(),
    }


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _p(values: list[float], q: float) -> float | None:
    value = percentile(values, q)
    return None if value is None else round(value, 3 if value < 10 else 1)


def eval_sets_run(engine: Engine, limit: int | None, backend: str, quant: str, constrained: bool) -> BenchRun:
    """Every eval command of every device with an adapter, scored, with its latency split (the
    adapters' prompt prefixes and grammars computed first, as on a running device)."""
    label = f"{backend} {quant}" + ("" if constrained else " free")
    engine.warm_up()
    per_device, examples = {}, []
    for name in [d for d in engine.devices if engine.has_adapter(d)]:
        device = engine.device(name)
        records = device.eval_set[:limit] if limit else device.eval_set
        rows = evaluate_run(engine, device, records, True, f"{label} {name}").examples
        per_device[name] = _rates(rows)
        examples += [{"device": name, **row} for row in rows]
    return BenchRun(
        backend=backend,
        quant=quant,
        constrained=constrained,
        label=label,
        all=_rates(examples),
        devices=per_device,
        examples=examples,
    )


def _rates(rows: list[dict[str, Any]]) -> dict[str, Any]:
    summary = summarize(rows)
    return {
        **{
            k: summary[k] for k in ("examples", "valid_json", "schema_valid", "function_match", "exact_match")
        },
        **{
            f"{part}_p{q}_ms": _p([r[f"{part}_ms"] for r in rows], q)
            for part in ("latency", "prefill", "decode")
            for q in (50, 95)
        },
    }


def swap_run(engine: Engine, reload: Any, rounds: int = 30) -> dict[str, Any]:
    """Swap p50/p95 among the resident adapters; the first command after a swap against the same
    command again (steady state); reloading base+adapter from disk (``reload()``), in one run."""
    devices = [d for d in engine.devices if engine.has_adapter(d)]
    queries = {}
    for name in devices:
        engine.use(name)
        queries[name] = engine.active.device.eval_set[0].query  # type: ignore[union-attr]
        engine.answer(queries[name])
    swaps, first, steady = [], [], []
    for i in range(rounds):
        name = devices[i % len(devices)]
        swaps.append(1000 * engine.use(name))
        first.append(1000 * engine.answer(queries[name]).generation.seconds)
        steady.append(1000 * engine.answer(queries[name]).generation.seconds)
    reloads = []
    for _ in range(3):
        started = time.perf_counter()
        reload()
        reloads.append(1000 * (time.perf_counter() - started))
    swap_p50, reload_p50 = _p(swaps, 50), _p(reloads, 50)
    return {
        "adapters_resident": len(devices),
        "swap_p50_ms": swap_p50,
        "swap_p95_ms": _p(swaps, 95),
        "reload_p50_ms": reload_p50,
        "swap_speedup": round(reload_p50 / swap_p50) if swap_p50 else None,
        "first_after_swap_p50_ms": _p(first, 50),
        "steady_p50_ms": _p(steady, 50),
        "first_vs_steady": round(_p(first, 50) / _p(steady, 50), 2),
    }


def resident_memory(
    adapters: dict[str, Path], backend: str, quant: str, base: str, swap: str = "lora"
) -> dict[int, dict[str, float]]:
    """Resident memory (MiB: ``rss`` now, ``peak`` the most it held) of a fresh process holding the
    base with 0, 1 and all adapters (swapped as ``swap`` says), after one command (with no adapter,
    the bare base serves the first device with the full prompt)."""
    from .export.prepare import base_gguf

    memory = {}
    names = list(adapters)
    for count in sorted({0, min(1, len(names)), len(names)}):
        spec = {
            "adapters": {n: str(adapters[n]) for n in names[:count]},
            "backend": backend,
            "quant": quant,
            "swap": swap,
            "base": str(base_gguf(base, quant)) if backend == "llama.cpp" and not count else base,
            "device": names[0],
        }
        code = "import sys, bijou_core.bench as b; b._measure_rss(sys.argv[1])"
        out = subprocess.run([sys.executable, "-c", code, json.dumps(spec)], capture_output=True, text=True)
        if out.returncode:
            raise RuntimeError(f"measuring memory failed: {out.stderr.strip().splitlines()[-1:]}")
        rss, peak = map(float, out.stdout.strip().splitlines()[-1].split())
        memory[count] = {"rss": round(rss), "peak": round(peak)}
    return memory


def _measure_rss(arguments: str) -> None:
    spec = json.loads(arguments)
    config = EngineConfig(backend=spec["backend"], quant=spec["quant"], swap=spec["swap"])
    engine = Engine.load(spec["adapters"], spec["base"], [spec["device"]], config)
    engine.use(spec["device"])
    engine.answer("hello")
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    print(*(int(status[key].split()[0]) / 1024 for key in ("VmRSS", "VmHWM")))


def run_bench(
    adapters: dict[str, Path],
    registry: DeviceRegistry,
    base: str,
    backends: list[str],
    quants: list[str],
    limit: int | None = None,
    memory: bool = True,
    swap: str = "lora",
) -> BenchResults:
    """Every measurement of the module docstring, in one process and one run (llama.cpp's adapters
    swapped as ``swap`` says)."""
    from .export.prepare import adapter_gguf, base_gguf, prepare_llama_cpp

    results = BenchResults(machine=machine(), base=base, devices=list(adapters), strategy=swap)

    def settings(backend: str, quant: str = "q8_0", constrain: bool = True) -> EngineConfig:
        strategy = swap if backend == "llama.cpp" else "lora"
        return EngineConfig(backend=backend, quant=quant, swap=strategy, constrain=constrain)

    def engine(backend: str, quant: str = "q8_0", constrain: bool = True) -> Engine:
        return Engine.load(adapters, base, [], settings(backend, quant, constrain), registry)

    def reload(backend: str, quant: str = "q8_0") -> Callable[[], Any]:
        """Loading the base and the first adapter afresh, as the engine does (through ``BACKENDS``)."""
        first = next(iter(adapters))
        return lambda: BACKENDS[backend](base, {first: adapters[first]}, settings(backend, quant))

    main_quant = "q8_0" if "q8_0" in quants else quants[0]
    if "llama.cpp" in backends:
        prepare_llama_cpp(adapters, base, quants, merged=swap == "merged")
        for quant in quants:
            results.runs.append(eval_sets_run(engine("llama.cpp", quant), limit, "llama.cpp", quant, True))
        free = engine("llama.cpp", main_quant, False)
        results.runs.append(eval_sets_run(free, limit, "llama.cpp", main_quant, False))
        results.swap = {
            "backend": "llama.cpp",
            "quant": main_quant,
            **swap_run(engine("llama.cpp", main_quant), reload("llama.cpp", main_quant)),
        }
        sizes = {f"base {q}": base_gguf(base, q) for q in quants}
        sizes |= {f"adapter {n} (GGUF LoRA f16)": adapter_gguf(p) for n, p in adapters.items()}
        sizes |= {
            f"adapter {n} (PEFT safetensors)": p / "adapter_model.safetensors" for n, p in adapters.items()
        }
        if swap == "merged":
            sizes |= {
                f"adapter {n} merged {q}": merged_path(p, q) for n, p in adapters.items() for q in quants
            }
        results.file_sizes_mib = {
            k: round(v.stat().st_size / 2**20, 1) for k, v in sizes.items() if v.is_file()
        }
    if "transformers" in backends:
        results.runs.append(eval_sets_run(engine("transformers"), limit, "transformers", "fp32", True))
        results.swap_transformers = {
            "backend": "transformers",
            **swap_run(engine("transformers"), reload("transformers"), rounds=9),
        }
    if memory:
        results.memory_mib = {
            backend: resident_memory(
                adapters, backend, main_quant, base, swap if backend == "llama.cpp" else "lora"
            )
            for backend in backends
        }
    results.targets = check_targets(results, main_quant)
    return results


def check_targets(results: BenchResults, quant: str) -> list[dict[str, Any]]:
    """The runtime issue's targets against the measured values (rows only where both runs exist)."""
    rows = []
    gguf, free, hf = (
        results.find("llama.cpp", quant),
        results.find("llama.cpp", quant, False),
        results.find("transformers"),
    )

    def row(what: str, target: str, value: Any, met: bool) -> None:
        rows.append({"target": what, "goal": target, "measured": value, "met": met})

    if gguf:
        p50 = gguf.all["latency_p50_ms"]
        row(
            f"command latency p50, llama.cpp {quant}",
            f"<= {TARGETS['latency_p50_ms']:.0f} ms",
            p50,
            p50 <= TARGETS["latency_p50_ms"],
        )
        valid = min(r.all["schema_valid"] for r in results.runs if r.constrained)
        row("schema-valid calls, every constrained run", "100%", valid, valid >= TARGETS["schema_valid"])
    if results.swap:
        swap = results.swap
        row(
            "adapter swap p50",
            f"<= {TARGETS['swap_p50_ms']:.0f} ms",
            swap["swap_p50_ms"],
            swap["swap_p50_ms"] <= TARGETS["swap_p50_ms"],
        )
        row(
            "swap vs reloading base+adapter",
            f">= {TARGETS['swap_speedup']:.0f}x",
            swap["swap_speedup"],
            swap["swap_speedup"] >= TARGETS["swap_speedup"],
        )
    if gguf and free:
        ratio = round(gguf.all["latency_p50_ms"] / free.all["latency_p50_ms"], 2)
        row(
            "constrained / unconstrained latency p50",
            f"<= {TARGETS['constrained_latency_ratio']}x",
            ratio,
            ratio <= TARGETS["constrained_latency_ratio"],
        )
    if gguf and hf:
        gap = round(abs(gguf.all["exact_match"] - hf.all["exact_match"]), 1)
        row(
            f"exact match, llama.cpp {quant} vs transformers",
            f"within {TARGETS['gguf_exact_gap']:.0f} points",
            gap,
            gap <= TARGETS["gguf_exact_gap"],
        )
    return rows


def markdown(results: BenchResults) -> str:
    """The committed table (benchmarks/RESULTS.md)."""
    m = results.machine
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items() if v)
    lines = [
        "# bijou runtime benchmarks",
        "",
        f"Written by `bijou bench` on {m['date']}: {m['cores']} cores ({m['cpu']}), {m['memory_gib']} GiB, "
        f"Python {m['python']}; {versions}. Base `{results.base}`, adapters: "
        f"{', '.join(results.devices)} (llama.cpp swap strategy: {results.strategy}); each device's "
        "hand-written eval set. Absolute times drift on "
        "shared machines; the ratios were measured side by side in this one run.",
        "",
        "## Targets",
        "",
        "| target | goal | measured | met |",
        "| --- | --- | ---: | :---: |",
    ]
    lines += [
        f"| {r['target']} | {r['goal']} | {r['measured']} | {'yes' if r['met'] else '**no**'} |"
        for r in results.targets
    ]
    lines += [
        "",
        "## Commands: latency and accuracy per backend",
        "",
        "| backend | quant | constrained | device | n | p50 ms | p95 ms | prefill p50 | decode p50 "
        "| valid JSON % | schema-valid % | function % | exact % |",
        "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for run in results.runs:
        for device, r in [*run.devices.items(), ("all", run.all)]:
            lines.append(
                f"| {run.backend} | {run.quant} | {'yes' if run.constrained else 'no'} | {device} "
                f"| {r['examples']} | {r['latency_p50_ms']} | {r['latency_p95_ms']} | {r['prefill_p50_ms']} "
                f"| {r['decode_p50_ms']} | {r['valid_json']} | {r['schema_valid']} | {r['function_match']} "
                f"| {r['exact_match']} |"
            )
    for s in (results.swap, results.swap_transformers):
        if s:
            lines += [
                "",
                f"## Adapter swaps ({s['backend']}{' ' + s['quant'] if 'quant' in s else ''}, "
                f"{s['adapters_resident']} adapters resident)",
                "",
                "| swap p50 ms | swap p95 ms | reload base+adapter p50 ms | speedup | first command after a "
                "swap p50 ms | steady-state p50 ms | first / steady |",
                "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
                f"| {s['swap_p50_ms']} | {s['swap_p95_ms']} | {s['reload_p50_ms']} | {s['swap_speedup']}x "
                f"| {s['first_after_swap_p50_ms']} | {s['steady_p50_ms']} | {s['first_vs_steady']} |",
            ]
    if results.memory_mib:
        lines += [
            "",
            "## Resident memory (MiB, fresh process after one command)",
            "",
            "| backend | adapters | RSS MiB | peak MiB |",
            "| --- | ---: | ---: | ---: |",
        ]
        for backend, by_count in results.memory_mib.items():
            lines += [f"| {backend} | {n} | {m['rss']} | {m['peak']} |" for n, m in by_count.items()]
    if results.file_sizes_mib:
        lines += ["", "## File sizes", "", "| file | MiB |", "| --- | ---: |"]
        lines += [f"| {label} | {size} |" for label, size in results.file_sizes_mib.items()]
    return "\n".join(lines) + "\n"
