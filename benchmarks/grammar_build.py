"""What it costs to start a command's grammar, before the model sees anything (issue 21).

For every command of each device's eval set, side by side in one run, with the embedded model's
tokenizer:

- **rebuilt**: a matcher built afresh from the device's cached grammar (the runtime until the
  twenty-fifth round);
- **copied**: a copy of a matcher built once (the runtime since; every command of a device with no
  free-text argument, or with ``--copy-text off``);
- **copy text, inline**: a grammar holding the free-text arguments to the command's words
  (``--copy-text``), the pattern written into each free-text property, and its matcher;
- **copy text, shared**: the same with each distinct string schema defined once under ``$defs``
  (the runtime's way).

Both copy-text grammars are checked to accept and reject the same tokens of every eval answer.

    python benchmarks/grammar_build.py [--output benchmarks/grammar-build.md]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from transformers import AutoTokenizer

from bijou_core.bench import machine
from bijou_core.calls import dumps
from bijou_core.devices import load_registry
from bijou_core.evaluate.metrics import percentile
from bijou_core.files import atomic_writer
from bijou_core.models import DEFAULT_MODEL, resolve_model
from bijou_core.numbers import digits
from bijou_core.runtime.grammar import CallGrammar, Vocabulary, copy_pattern
from bijou_core.schema import calls_schema, has_free_text

HERE = Path(__file__).parent
DEVICES = ("airpods-pro", "omi", "rayban-stories")
WAYS = ("rebuilt", "copied", "copy text, inline", "copy text, shared")


def inline(schema: Any, defs: dict[str, Any] | None = None) -> Any:
    """``schema`` with every ``$ref`` to its ``$defs`` replaced by the definition."""
    defs = schema.get("$defs", {}) if defs is None else defs
    if isinstance(schema, list):
        return [inline(item, defs) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        return defs[schema["$ref"].rpartition("/")[2]]
    return {key: inline(value, defs) for key, value in schema.items() if key != "$defs"}


def timed(start: Callable[[], Any]) -> tuple[float, Any]:
    tick = time.perf_counter()
    result = start()
    return 1000 * (time.perf_counter() - tick), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=HERE / "grammar-build.md")
    args = parser.parse_args()
    tokenizer = AutoTokenizer.from_pretrained(resolve_model(DEFAULT_MODEL))
    vocabulary = Vocabulary.from_hf(tokenizer, len(tokenizer))
    registry = load_registry()
    rows, differing, answers = [], 0, 0
    for name in DEVICES:
        device = registry.get(name)
        cached = vocabulary.grammar(device.tools)
        cached.matcher()  # the matcher copied from here on is built
        times: dict[str, list[float]] = {way: [] for way in WAYS}
        for record in device.eval_set:
            times["rebuilt"].append(timed(lambda g=cached: CallGrammar(g.grammar, vocabulary).matcher())[0])
            times["copied"].append(timed(cached.matcher)[0])
            if not has_free_text(device.tools):
                continue
            pattern = copy_pattern(record.query, digits(record.query))
            ms, written = timed(
                lambda p=pattern, t=device.tools: vocabulary.compile(
                    inline(calls_schema(t, text_pattern=p))
                ).matcher()
            )
            times["copy text, inline"].append(ms)
            ms, shared = timed(
                lambda p=pattern, t=device.tools: vocabulary.grammar(t, text_pattern=p).matcher()
            )
            times["copy text, shared"].append(ms)
            ids = tokenizer(dumps(record.answers), add_special_tokens=False).input_ids
            answers += 1
            differing += written.allowed_prefix(ids) != shared.allowed_prefix(ids)
        cells = [
            f"{percentile(times[way], 50):.2f} / {percentile(times[way], 95):.2f}" if times[way] else "-"
            for way in WAYS
        ]
        rows.append(f"| {name} | {len(device.eval_set)} | " + " | ".join(cells) + " |")
        print(rows[-1], flush=True)
    where = machine()
    lines = [
        "# Starting a command's grammar",
        "",
        f"Written by `python benchmarks/grammar_build.py` on {date.today()}: {where['cpu']}, "
        f"{where['cores']} cores, llguidance {where['versions']['llguidance']}. Each device's eval set, "
        "the embedded model's tokenizer; ms per command, p50 / p95, all ways side by side in one run. "
        "Rebuilt: a matcher built from the device's cached grammar for each command (the runtime "
        "until the twenty-fifth round). Copied: a copy of a matcher built once (the runtime since). "
        "Copy text: the grammar of a command with its free-text arguments held to its words "
        "(`--copy-text mask`, the default; airpods-pro has no free-text argument), built with its "
        "matcher; inline writes the pattern into each free-text property, shared defines each "
        "distinct string schema once under `$defs` (the runtime's way).",
        "",
        "| device | commands | rebuilt | copied | copy text, inline | copy text, shared |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        *rows,
        "",
        f"Inline and shared grammars accepted the same tokens of all {answers} eval answers they were "
        f"given ({differing} differing).",
    ]
    with atomic_writer(args.output) as fh:
        fh.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
