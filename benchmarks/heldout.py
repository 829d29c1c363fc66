"""Score adapters on fresh held-out commands, written apart from the templates and the eval sets.

    python benchmarks/heldout.py [--adapters-dir adapters] [--device DEVICE ...]
        [--also LABEL=DIR ...]

The commands in ``benchmarks/heldout/DEVICE.jsonl`` were written by someone who read only the
devices' tool definitions and READMEs: no templates, no eval set, no model output. Plain commands
such as "take a photo" are also what the templates say, so each run is reported twice: on every
command, and on the commands no template phrasing (or no-tool entry) can produce ("unseen
wording"). Each adapter set is scored with ``bijou devices eval --dataset``; the base model and the
first set come from one ``--compare`` run. Writes ``benchmarks/heldout/DEVICE-results.json`` (every
command of every run) and ``benchmarks/heldout/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bijou_core.conformance import phrasing_patterns, template_set
from bijou_core.data.synth import normalize_query
from bijou_core.devices import load_registry
from bijou_core.evaluate.metrics import summarize
from bijou_core.files import atomic_writer, write_json

HERE = Path(__file__).resolve().parent / "heldout"
DEVICES = ("airpods-pro", "omi", "rayban-stories")
METRICS = ("function_match", "exact_match", "irrelevance")


def templated(device_name: str, queries: list[str]) -> list[bool]:
    """Whether each query is one the device's templates (phrasings or no-tool list) can produce."""
    templates = template_set(load_registry().get(device_name))
    patterns = [p for p, _ in phrasing_patterns(templates)]
    no_tool = {normalize_query(q) for q in templates.no_tool}
    keys = [normalize_query(q) for q in queries]
    return [k in no_tool or any(p.match(k) for p in patterns) for k in keys]


def evaluate(device: str, adapter: Path, compare: bool) -> list[dict[str, Any]]:
    """The runs of ``bijou devices eval`` on the device's held-out commands."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "runs.json"
        command = [
            sys.executable,
            "-m",
            "bijou_core.cli",
            "devices",
            "eval",
            device,
            "--adapter",
            str(adapter),
        ]
        command += ["--dataset", str(HERE / f"{device}.jsonl"), "--output", str(out)]
        done = subprocess.run([*command, "--compare"] if compare else command)
        if done.returncode:
            raise SystemExit(done.returncode)  # bijou has said why, in one line
        return json.loads(out.read_text())["runs"]


def rates(examples: list[dict[str, Any]]) -> dict[str, Any]:
    summary = summarize(examples)
    return {"examples": len(examples), **{m: summary[m] for m in METRICS}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--adapters-dir", type=Path, default=Path("adapters"))
    parser.add_argument("--device", action="append", choices=DEVICES)
    parser.add_argument(
        "--also",
        action="append",
        default=[],
        metavar="LABEL=DIR",
        help="Another folder of adapters to score, e.g. an earlier round's.",
    )
    args = parser.parse_args()
    sets = [("adapter", args.adapters_dir)]
    sets += [(label, Path(folder)) for label, _, folder in (s.partition("=") for s in args.also)]
    labels = ["base", *(label for label, _ in sets)]
    devices = args.device or DEVICES
    missing = [str(folder / d) for _, folder in sets for d in devices if not (folder / d).is_dir()]
    if missing:
        parser.error(f"no adapter folder {missing[0]}")
    table = [
        "# Held-out commands: base against base+adapter",
        "",
        "Commands written apart from the templates and the eval sets (see `benchmarks/heldout.py`).",
        "*unseen wording*: the commands no template can produce. Function / exact match and",
        "irrelevance in %, constrained decoding, transformers backend.",
        f"Made by `{shlex.join(['python', 'benchmarks/heldout.py', *sys.argv[1:]])}`.",
        "",
        "| device | commands | n | " + " | ".join(f"{label} f / e / irr" for label in labels) + " |",
        "| --- | --- | ---: |" + " ---: |" * len(labels),
    ]
    for device in devices:
        runs = evaluate(device, sets[0][1] / device, compare=True)
        runs[1]["name"] = sets[0][0]
        for label, folder in sets[1:]:
            run = evaluate(device, folder / device, compare=False)[0]
            runs.append({**run, "name": label})
        flags = templated(device, [e["query"] for e in runs[0]["examples"]])
        for run in runs:
            for example, flag in zip(run["examples"], flags, strict=True):
                example["templated"] = flag
        write_json(HERE / f"{device}-results.json", {"device": device, "runs": runs})
        for subset, keep in (("all", lambda e: True), ("unseen wording", lambda e: not e["templated"])):
            cells = []
            for run in runs:
                r = rates([e for e in run["examples"] if keep(e)])
                cells.append(" / ".join("–" if r[m] is None else f"{r[m]:.1f}" for m in METRICS))
            n = sum(1 for e in runs[0]["examples"] if keep(e))
            table.append(f"| {device} | {subset} | {n} | " + " | ".join(cells) + " |")
    with atomic_writer(HERE / "RESULTS.md") as fh:
        fh.write("\n".join(table) + "\n")
    print("\n".join(table))


if __name__ == "__main__":
    main()
