"""xgrammar against llguidance as bijou's grammar engine: mask time per token on the same answers.

xgrammar imports torch and transformers (its matcher and tokenizer modules do, at import), so the
llama.cpp runtime cannot use it without them; llguidance fills a token bitmask with numpy alone.
This walks the canonical answers of each shipped device's eval set token by token, as a decode step
does: the mask of allowed tokens is computed and applied to a row of scores, then the answer's token
is accepted. xgrammar runs as bijou's runtime ran it (its CPU kernel on a torch row), llguidance as
it runs it now (``bijou_core.runtime.grammar.CallMatcher``: numpy row); both side by side in one
process, device by device. Invalid calls (eval answers mutated so that bijou's validator rejects
them) count where an engine lets one through.

    python benchmarks/grammar_engines.py [--output benchmarks/grammar-engines.md]  # needs xgrammar
"""

from __future__ import annotations

import argparse
import datetime
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch
from constrained_overhead import DEVICES, XGrammar, encode, invalid_calls, machine, targets
from transformers import AutoConfig, AutoTokenizer

from bijou_core.devices import load_registry
from bijou_core.files import atomic_writer
from bijou_core.models import DEFAULT_MODEL, resolve_model
from bijou_core.runtime.grammar import CallMatcher, Vocabulary


def walk_xgrammar(
    xgr: XGrammar, grammar: object, ids: list[int], row: torch.Tensor
) -> tuple[list, list, bool]:
    """(mask seconds, advance seconds) per step, and whether every token and then the end passed."""
    matcher, masks, advances = xgr.xgr.GrammarMatcher(grammar, terminate_without_stop_token=True), [], []
    for token in ids:
        started = time.perf_counter()
        matcher.fill_next_token_bitmask(xgr.bitmask)
        xgr.xgr.apply_token_bitmask_inplace(row, xgr.bitmask)
        masked = time.perf_counter()
        accepted = matcher.accept_token(token)
        advances.append(time.perf_counter() - masked)
        masks.append(masked - started)
        if not accepted:
            return masks, advances, False
    return masks, advances, matcher.is_terminated()


def walk_llguidance(matcher: CallMatcher, ids: list[int], row: np.ndarray) -> tuple[list, list, bool]:
    masks, advances = [], []
    for token in ids:
        started = time.perf_counter()
        matcher.mask(row)
        masked = time.perf_counter()
        try:
            matcher.accept(token)
        except RuntimeError:
            return masks, advances, False
        advances.append(time.perf_counter() - masked)
        masks.append(masked - started)
    return masks, advances, matcher.done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--output", type=Path, default=Path("benchmarks/grammar-engines.md"))
    args = parser.parse_args()
    path = resolve_model(args.model)
    tokenizer = AutoTokenizer.from_pretrained(path)
    vocab_size = AutoConfig.from_pretrained(path).vocab_size
    registry = load_registry()

    started = time.perf_counter()
    xgr = XGrammar(tokenizer, vocab_size)
    setup = {"xgrammar": time.perf_counter() - started}
    started = time.perf_counter()
    vocabulary = Vocabulary.from_hf(tokenizer, vocab_size)
    setup["llguidance"] = time.perf_counter() - started
    labels = {
        "xgrammar": f"xgrammar {version('xgrammar')}",
        "llguidance": f"llguidance {version('llguidance')}",
    }
    torch_row, numpy_row = torch.zeros((1, vocab_size)), np.zeros(vocab_size, dtype=np.float32)

    rows = []
    totals: dict[str, dict[str, list[float]]] = {k: {"mask": [], "advance": []} for k in labels}
    for name in DEVICES:
        device = registry.get(name)
        answers = [t.ids for t in targets(device, tokenizer)]
        wrong = [encode(tokenizer, text) for _, text in invalid_calls(device)]
        started = time.perf_counter()
        compiled_x = xgr.compile(device.tools)
        compile_x = time.perf_counter() - started
        started = time.perf_counter()
        compiled_l = vocabulary.grammar(device.tools)
        compile_l = time.perf_counter() - started
        engines = {
            "xgrammar": (compile_x, lambda ids, g=compiled_x: walk_xgrammar(xgr, g, ids, torch_row)),
            "llguidance": (compile_l, lambda ids, g=compiled_l: walk_llguidance(g.matcher(), ids, numpy_row)),
        }
        for key, (compile_s, walk) in engines.items():
            walk(answers[0])  # warm-up
            masks, advances, rejected = [], [], 0
            for ids in answers:
                m, a, ok = walk(ids)
                masks += m
                advances += a
                rejected += not ok
            through = sum(walk(ids)[2] for ids in wrong)
            totals[key]["mask"] += masks
            totals[key]["advance"] += advances
            rows.append(
                (
                    name,
                    labels[key],
                    len(masks),
                    masks,
                    advances,
                    rejected,
                    len(answers),
                    through,
                    len(wrong),
                    compile_s,
                )
            )
            print(f"{name} / {labels[key]}: mask {np.mean(masks) * 1e3:.3f} ms", flush=True)

    def ms(values: list[float], q: float | None = None) -> str:
        return f"{(np.percentile(values, q) if q else np.mean(values)) * 1e3:.3f}"

    lines = [
        f"# Grammar engines: xgrammar against llguidance on {args.model}",
        "",
        f"Measured by `benchmarks/grammar_engines.py` on {datetime.date.today().isoformat()}; machine: "
        f"{machine()}; {labels['xgrammar']}, {labels['llguidance']}, numpy {np.__version__}.",
        "",
        f"Each step masks a row of {vocab_size:,} scores (xgrammar: its CPU kernel on a torch row, as the "
        "runtime used it; llguidance: `CallMatcher.mask` on a numpy row, as the runtime uses it now) and "
        "accepts the answer's next token; the answers are the canonical answers of each device's eval set.",
        "",
        "## Per token, all devices",
        "",
        "| engine | steps | mask mean (ms) | mask p95 (ms) | accept mean (ms) | needs torch |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for key, label in labels.items():
        mask, advance = totals[key]["mask"], totals[key]["advance"]
        torch_needed = "yes (imports torch and transformers)" if key == "xgrammar" else "no (numpy)"
        lines.append(
            f"| {label} | {len(mask)} | {ms(mask)} | {ms(mask, 95)} | {ms(advance)} | {torch_needed} |"
        )
    ratio = np.mean(totals["xgrammar"]["mask"]) / np.mean(totals["llguidance"]["mask"])
    lines += [
        "",
        f"Mean mask time: xgrammar / llguidance = {ratio:.2f}.",
        "",
        "## Per device",
        "",
        "| device | engine | steps | mask mean (ms) | accept mean (ms) | answers rejected "
        "| invalid calls let through | compile (ms) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, label, steps, masks, advances, rejected, answers, through, wrong, compile_s in rows:
        lines.append(
            f"| {name} | {label} | {steps} | {ms(masks)} | {ms(advances)} | {rejected} of {answers} "
            f"| {through} of {wrong} | {compile_s * 1e3:.1f} |"
        )
    lines += [
        "",
        f"Vocabulary set-up: xgrammar {setup['xgrammar']:.2f} s, llguidance {setup['llguidance']:.2f} s.",
        "",
    ]
    text = "\n".join(lines)
    with atomic_writer(args.output) as fh:
        fh.write(text)
    print(text)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
