"""Training throughput of bijou's default adapter training against plain full-prompt TRL training.

All variants train the same synthesized examples of one device on the embedded model, side by side
in one process, for the same number of optimizer steps; the table reports examples/s, tokens/s
and each variant's speed-up over TRL as is (full prompt, TRL defaults). "Prompt-equivalent
tokens/s" counts every example at its full-prompt length, so variants with shorter prompts are
compared on the work that matters: examples learned per second.

    python benchmarks/train_throughput.py --device omi --steps 8
"""

from __future__ import annotations

import argparse
import platform
import tempfile
from pathlib import Path

import torch
from trl import SFTTrainer

from bijou_core.conformance import template_set
from bijou_core.devices import load_registry
from bijou_core.files import atomic_writer
from bijou_core.models import DEFAULT_MODEL
from bijou_core.prompt import PromptFormat
from bijou_core.train.answer_only import AnswerOnlySFTTrainer
from bijou_core.train.device import DEFAULT_LORA_R
from bijou_core.train.sft import TrainSettings, load_base, train_lora

VARIANTS = [
    # name, prompt style, trainer, gradient checkpointing, shared prefix, batches by length, packed
    (
        "TRL as is: full prompt, SFTTrainer, gradient checkpointing",
        "full",
        SFTTrainer,
        True,
        False,
        False,
        False,
    ),
    ("full prompt, SFTTrainer, no checkpointing", "full", SFTTrainer, False, False, False, False),
    ("full prompt, answer-only logits", "full", AnswerOnlySFTTrainer, False, False, False, False),
    ("... + shared prefix (--prompt-style full)", "full", AnswerOnlySFTTrainer, False, True, False, False),
    ("... + compact prompt (--no-pack-batches)", "compact", AnswerOnlySFTTrainer, False, True, False, False),
    ("... + --group-by-length, padded", "compact", AnswerOnlySFTTrainer, False, True, True, False),
    ("bijou default: ... + packed batches", "compact", AnswerOnlySFTTrainer, False, True, False, True),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="omi")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lora-r", type=int, default=DEFAULT_LORA_R, help="default: bijou devices train's")
    parser.add_argument("--output", type=Path, default=Path("benchmarks/training-throughput.md"))
    args = parser.parse_args()

    device = load_registry().get(args.device)
    records = template_set(device).generate(args.steps * args.batch_size, seed=0)
    rows = []
    full_tokens = None
    for name, style, trainer_class, checkpointing, shared, by_length, packed in VARIANTS:
        tokenizer, model, _ = load_base(args.model)
        fmt = PromptFormat.for_tokenizer(tokenizer, style, device.name)
        prompts = [fmt.prompt(tokenizer, device.tools, r["query"]) for r in records]
        completions = [fmt.answer(r["answers"]) for r in records]
        tokens_per_example = sum(
            len(tokenizer(p + c).input_ids) for p, c in zip(prompts, completions, strict=True)
        )
        tokens_per_example /= len(records)
        if style == "full":
            full_tokens = tokens_per_example
        with tempfile.TemporaryDirectory() as tmp:
            settings = TrainSettings(
                model_name=args.model,
                output_dir=Path(tmp),
                max_steps=args.steps,
                max_seq_length=1024,
                batch_size=args.batch_size,
                lora_r=args.lora_r,
                save_steps=10**6,
                logging_steps=10**6,
                gradient_checkpointing=checkpointing,
                group_by_length=by_length,
                pack_batches=packed,
            )
            prefix = fmt.shared_prefix(device.tools) if shared else None
            result, _, _ = train_lora(settings, prompts, completions, tokenizer, model, trainer_class, prefix)
        examples_per_s = args.steps * args.batch_size / result.seconds
        rows.append((name, tokens_per_example, examples_per_s, result.tokens_per_second))
        print(f"{name}: {examples_per_s:.2f} examples/s, {result.tokens_per_second:.0f} tokens/s", flush=True)

    baseline = rows[0][2]
    lines = [
        f"# Training throughput: {args.device} adapter on {args.model}",
        "",
        f"Same {len(records)} synthesized examples, {args.steps} optimizer steps of {args.batch_size} "
        f"per variant, LoRA rank {args.lora_r} on every variant, measured side by side in one run by "
        "`benchmarks/train_throughput.py`.",
        f"Machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
        f"torch {torch.__version__}, CPU backend capability {torch.backends.cpu.get_cpu_capability()}.",
        "",
        "| variant | tokens / example | examples/s | tokens/s | prompt-equivalent tokens/s | speed-up |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, tokens, eps, tps in rows:
        equivalent, speedup = eps * full_tokens, eps / baseline
        lines.append(f"| {name} | {tokens:.0f} | {eps:.2f} | {tps:.0f} | {equivalent:.0f} | {speedup:.2f}× |")
    lines += [
        "",
        'Each "..." row adds one lever to the row above it (the group-by-length row to the compact '
        "row). Throughput only: what a lever does to accuracy is measured by training whole adapters "
        "(see `README.md` here; `--group-by-length` cost accuracy and is off by default; packing "
        "gives the same loss and gradients as padding, checked in `tests/test_train.py`).",
    ]
    with atomic_writer(args.output) as fh:
        fh.write("\n".join(lines) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
