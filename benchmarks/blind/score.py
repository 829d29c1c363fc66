"""Score adapters on the blind command sets (see benchmarks/blind/README.md).

    python benchmarks/blind/score.py --set dev LABEL=ADAPTERS_DIR [LABEL=ADAPTERS_DIR ...]
        [--device DEVICE ...] [--results DIR] [--eval-args "--copy-text mask"]

For each device and each adapter set, one ``bijou devices eval DEVICE --adapter DIR --dataset``
run (transformers backend, constrained, decline on: the defaults, or as ``--eval-args`` says)
scores the four parts of the set together: the commands, their speech-transcript variant, the
small talk and its variant.
Writes ``RESULTS_DIR/DEVICE-LABEL.json`` (every example of every part) and prints a Markdown table;
``--markdown FILE`` also writes it.
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

from bijou_core.devices import load_registry
from bijou_core.eval_results import EvalResults
from bijou_core.evaluate.metrics import summarize
from bijou_core.files import atomic_writer, write_json

HERE = Path(__file__).resolve().parent
DEVICES = ("airpods-pro", "omi", "rayban-stories")
# The blind sets: the folders here holding a device's commands (dev, dev2, test, test2, ...).
SETS = tuple(sorted(p.name for p in HERE.iterdir() if any((p / f"{d}.jsonl").is_file() for d in DEVICES)))
# A set's four parts and the file suffix of each (DEVICE-speech.jsonl, ...).
SUFFIX = {
    "commands": "",
    "speech": "-speech",
    "smalltalk": "-smalltalk",
    "smalltalk-speech": "-smalltalk-speech",
}
PARTS = tuple(SUFFIX)


def part_files(folder: Path, device: str) -> dict[str, Path]:
    return {part: folder / f"{device}{SUFFIX[part]}.jsonl" for part in PARTS}


def evaluate(
    device: str, adapter: Path, files: dict[str, Path], options: list[str]
) -> dict[str, list[dict[str, Any]]]:
    """Every example of one eval run over the four parts, split back by part."""
    lines = {part: [ln for ln in path.read_text().splitlines() if ln.strip()] for part, path in files.items()}
    with tempfile.TemporaryDirectory() as tmp:
        dataset, out = Path(tmp) / "all.jsonl", Path(tmp) / "run.json"
        dataset.write_text("".join(ln + "\n" for part in PARTS for ln in lines[part]))
        command = [sys.executable, "-m", "bijou_core.cli", "devices", "eval", device]
        command += ["--adapter", str(adapter), "--dataset", str(dataset), "--output", str(out), *options]
        done = subprocess.run(command, stdout=subprocess.DEVNULL)
        if done.returncode:
            raise SystemExit(done.returncode)  # bijou has said why, in one line
        examples = EvalResults.from_json(json.loads(out.read_text())).last.examples
    split, start = {}, 0
    for part in PARTS:
        split[part] = examples[start : start + len(lines[part])]
        start += len(lines[part])
    return split


def cells(device: str, split: dict[str, list[dict[str, Any]]]) -> list[str]:
    """function / exact / irrelevance of the commands and their speech variant; the share of
    small talk answered [] (clean, speech) and how many small-talk answers ran a confirmed tool."""
    confirm = load_registry().get(device).runtime().confirm
    out = []
    for part in ("commands", "speech"):
        s = summarize(split[part])
        out.append(" / ".join(f"{s[m]:.1f}" for m in ("function_match", "exact_match", "irrelevance")))
    for part in ("smalltalk", "smalltalk-speech"):
        s = summarize(split[part])
        out.append(f"{s['irrelevance']:.1f}")
    talk = split["smalltalk"] + split["smalltalk-speech"]
    out.append(str(sum(1 for e in talk for c in e["predicted"] or [] if c["name"] in confirm)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sets", nargs="+", metavar="LABEL=ADAPTERS_DIR")
    parser.add_argument("--set", choices=SETS, required=True)
    parser.add_argument("--device", action="append", choices=DEVICES)
    parser.add_argument("--results", type=Path, default=None, help="Default: benchmarks/blind/SET-results.")
    parser.add_argument("--markdown", type=Path, default=None)
    parser.add_argument(
        "--eval-args", default="", help="More options of bijou devices eval, for every run (quoted)."
    )
    args = parser.parse_args()
    folder = HERE / args.set
    results = args.results or HERE / f"{args.set}-results"
    sets = [(label, Path(d)) for label, _, d in (s.partition("=") for s in args.sets)]
    devices = args.device or DEVICES
    missing = [str(d / dev) for _, d in sets for dev in devices if not (d / dev).is_dir()]
    missing += [str(p) for dev in devices for p in part_files(folder, dev).values() if not p.is_file()]
    if missing:
        parser.error(f"missing: {missing[0]}")
    table = [
        f"Blind {args.set} set, made by `{shlex.join(['python', *sys.argv])}`.",
        "Commands: function / exact / irrelevance %. Small talk: % answered `[]`. Confirm: small-talk",
        "answers that called a tool needing confirmation (clean and speech together).",
        "",
        "| device | adapters | n | commands | speech transcripts | small talk (n) | small talk, speech "
        "| confirm |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for device in devices:
        files = part_files(folder, device)
        for label, adapters in sets:
            split = evaluate(device, adapters / device, files, shlex.split(args.eval_args))
            write_json(
                results / f"{device}-{label}.json", {"device": device, "adapters": str(adapters), **split}
            )
            c = cells(device, split)
            n, talk = len(split["commands"]), len(split["smalltalk"])
            table.append(
                f"| {device} | {label} | {n} | {c[0]} | {c[1]} | {c[2]} ({talk}) | {c[3]} | {c[4]} |"
            )
            print(table[-1], flush=True)
    if args.markdown:
        with atomic_writer(args.markdown) as fh:
            fh.write("\n".join(table) + "\n")
    print("\n".join(table))


if __name__ == "__main__":
    main()
