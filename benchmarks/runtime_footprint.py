"""The on-device runtime alone against the full install: install size, resident memory, latency.

Two virtual environments answer the same commands from the same GGUF files (an adapters folder
prepared by ``bijou export gguf --adapters-dir``) on the llama.cpp backend: one with only
``bijou-core[runtime]`` and the device plugins, one with everything (``scripts/setup.sh``). For each,
the size of its site-packages, then fresh processes, alternating between the two, that load the
engine with every adapter, answer commands for two devices with a swap before each command, and
report their peak resident memory, each command's latency and whether torch, transformers or peft
were imported. Finally ``bijou run --backend llama.cpp --adapters-dir DIR`` of the runtime venv
answers commands for two devices with a swap, as a user would run it.

    python benchmarks/runtime_footprint.py RUNTIME_VENV ADAPTERS_DIR [--full-venv .venv]
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import subprocess
import sys
from pathlib import Path

from bijou_core.bench import machine
from bijou_core.cli.runtime_options import adapters_in
from bijou_core.devices import load_registry
from bijou_core.files import atomic_writer

DEVICES = ("omi", "airpods-pro")
HEAVY = ("torch", "transformers", "peft")
MEASURE = """
import json, resource, sys, time
from pathlib import Path
from bijou_core.cli.runtime_options import adapters_in
from bijou_core.runtime.config import EngineConfig
from bijou_core.runtime.engine import Engine

engine = Engine.load(adapters_in(Path(sys.argv[1])), config=EngineConfig(backend="llama.cpp"))
engine.warm_up()
seconds, answers = [], []
for device, command in json.loads(sys.argv[2]):
    engine.use(device)
    started = time.perf_counter()
    answers.append(engine.answer(command).text)
    seconds.append(time.perf_counter() - started)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "answers": answers, "peak_rss_mib": peak,
                  "imported": [m for m in sys.argv[3].split(",") if m in sys.modules]}))
"""


def site_packages(venv: Path) -> Path:
    return next((venv / "lib").glob("python3*/site-packages"))


def size_mib(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink()) / 2**20


def measure(venv: Path, adapters_dir: Path, commands: list[list[str]]) -> dict:
    out = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            MEASURE,
            str(adapters_dir),
            json.dumps(commands),
            ",".join(HEAVY),
        ],
        capture_output=True,
        text=True,
    )
    if out.returncode:
        raise SystemExit(f"{venv}: {out.stderr.strip().splitlines()[-1:]}")
    return json.loads(out.stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runtime_venv", type=Path)
    parser.add_argument("adapters_dir", type=Path)
    parser.add_argument("--full-venv", type=Path, default=Path(".venv"))
    parser.add_argument("--commands", type=int, default=10, help="commands per device per process")
    parser.add_argument("--rounds", type=int, default=3, help="processes per venv, alternating")
    parser.add_argument("--output", type=Path, default=Path("benchmarks/runtime-footprint.md"))
    args = parser.parse_args()
    adapters_in(args.adapters_dir)  # one clear error for a wrong folder
    registry = load_registry()
    queries = {d: [r.query for r in registry.get(d).eval_set[: args.commands]] for d in DEVICES}
    commands = [[d, queries[d][i]] for i in range(args.commands) for d in DEVICES]  # a swap before each
    venvs = {"runtime only": args.runtime_venv, "full install": args.full_venv}
    runs: dict[str, list[dict]] = {label: [] for label in venvs}
    for round_ in range(args.rounds):
        for label, venv in venvs.items():
            runs[label].append(measure(venv, args.adapters_dir, commands))
            print(f"round {round_ + 1} {label}: peak {runs[label][-1]['peak_rss_mib']:.0f} MiB", flush=True)
    same = all(r["answers"] == runs["full install"][0]["answers"] for rs in runs.values() for r in rs)
    cli = [
        str(args.runtime_venv / "bin" / "bijou"),
        *("run", "--backend", "llama.cpp", "--adapters-dir", str(args.adapters_dir), "--device", DEVICES[0]),
        *("--command", queries[DEVICES[0]][0], "--command", f"/device {DEVICES[1]}"),
        *("--command", queries[DEVICES[1]][0]),
    ]
    transcript = subprocess.run(cli, capture_output=True, text=True, check=True).stdout.splitlines()

    lines = [
        "# The runtime alone against the full install",
        "",
        f"Measured by `benchmarks/runtime_footprint.py` on {datetime.date.today().isoformat()}; "
        f"{machine()['cores']} cores ({machine()['cpu']}). Adapters: `{args.adapters_dir.name}/` "
        f"({', '.join(sorted(adapters_in(args.adapters_dir)))}), base and LoRAs as GGUF files "
        "(q8_0 base, f16 LoRAs) written by `bijou export gguf --adapters-dir`.",
        "",
        f"Each process loads the engine on llama.cpp with every adapter, warms it up and answers "
        f"{len(commands)} eval commands alternating {' and '.join(DEVICES)} (a swap before each); "
        f"{args.rounds} processes per install, alternating between the two in one run.",
        "",
        "| install | site-packages (MiB) | peak RSS after the commands (MiB) | command p50 (ms) "
        "| command mean (ms) | torch / transformers / peft imported |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    summary = {}
    for label, venv in venvs.items():
        seconds = [1000 * s for r in runs[label] for s in r["seconds"]]
        peak = statistics.median(r["peak_rss_mib"] for r in runs[label])
        imported = sorted({m for r in runs[label] for m in r["imported"]}) or ["none"]
        summary[label] = (size_mib(site_packages(venv)), peak, statistics.median(seconds))
        lines.append(
            f"| {label} | {summary[label][0]:,.0f} | {peak:,.0f} | {statistics.median(seconds):.1f} "
            f"| {statistics.mean(seconds):.1f} | {', '.join(imported)} |"
        )
    (size_rt, rss_rt, p50_rt), (size_full, rss_full, p50_full) = summary.values()
    lines += [
        "",
        f"Runtime only / full install: site-packages {size_rt / size_full:.3f}, peak RSS "
        f"{rss_rt / rss_full:.2f}, command p50 {p50_rt / p50_full:.2f}. Answers identical across all "
        f"processes: {'yes' if same else 'no'}.",
        "",
        "## `bijou run` from the runtime-only venv",
        "",
        "```",
        f"$ bijou run --backend llama.cpp --adapters-dir {args.adapters_dir.name} --device {DEVICES[0]} "
        f"--command {json.dumps(queries[DEVICES[0]][0])} --command '/device {DEVICES[1]}' "
        f"--command {json.dumps(queries[DEVICES[1]][0])}",
        *(
            json.dumps({k: json.loads(line)[k] for k in ("device", "command", "calls", "valid")})
            for line in transcript
        ),
        "```",
        "",
    ]
    with atomic_writer(args.output) as fh:
        fh.write("\n".join(lines))
    print("\n".join(lines))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    sys.exit(main())
