"""Training throughput of bijou's default adapter training against plain full-prompt TRL training.

All variants train the same synthesized examples of one device on the embedded model, side by side
in one process, for the same number of optimizer steps; the table reports examples/s, tokens/s
and each variant's speed-up over TRL as is (full prompt, TRL defaults). "Prompt-equivalent
tokens/s" counts every example at its full-prompt length, so variants with shorter prompts are
compared on the work that matters: examples learned per second.

    python benchmarks/train_throughput.py --device omi --steps 8
    python benchmarks/train_throughput.py --only 7 --only 8 --only 7 --only 8 --steps 24 \
        --output benchmarks/training-throughput-bf16-base.md   # two rows, alternated, longer
"""

from __future__ import annotations

import argparse
import platform
import shlex
import sys
import tempfile
from dataclasses import dataclass
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
from bijou_core.train.sft import TrainSettings, load_base, train_lora, use_bf16


@dataclass(frozen=True)
class Variant:
    """One way of training: each field is a lever, on or off."""

    name: str
    style: str = "compact"
    trainer: type = AnswerOnlySFTTrainer
    checkpointing: bool = False
    shared_prefix: bool = True
    by_length: bool = False
    packed: bool = False
    bf16_base: bool = False  # the frozen base held in bf16


VARIANTS = [
    Variant("TRL as is: full prompt, SFTTrainer, gradient checkpointing", "full", SFTTrainer, True, False),
    Variant("full prompt, SFTTrainer, no checkpointing", "full", SFTTrainer, shared_prefix=False),
    Variant("full prompt, answer-only logits", "full", shared_prefix=False),
    Variant("... + shared prefix (--prompt-style full)", "full"),
    Variant("... + compact prompt (--no-pack-batches)"),
    Variant("... + --group-by-length, padded", by_length=True),
    Variant("... + packed batches (--precision bf16: the default before the nineteenth round)", packed=True),
    Variant(
        "bijou default: ... + frozen base in bf16 (--precision bf16-base, auto)", packed=True, bf16_base=True
    ),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="omi")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lora-r", type=int, default=DEFAULT_LORA_R, help="default: bijou devices train's")
    parser.add_argument("--output", type=Path, default=Path("benchmarks/training-throughput.md"))
    parser.add_argument(
        "--only",
        type=int,
        action="append",
        choices=range(1, len(VARIANTS) + 1),
        help="Run only this row (1-based; repeatable, in the order given, repeats included).",
    )
    args = parser.parse_args()
    variants = [VARIANTS[i - 1] for i in args.only] if args.only else VARIANTS

    device = load_registry().get(args.device)
    records = template_set(device).generate(args.steps * args.batch_size, seed=0)
    rows = []
    full_tokens = None
    for variant in variants:
        tokenizer, model, _ = load_base(args.model, bf16_weights=variant.bf16_base and use_bf16("auto"))
        fmt = PromptFormat.for_tokenizer(tokenizer, variant.style, device.name)
        prompts = [fmt.prompt(tokenizer, device.tools, r["query"]) for r in records]
        completions = [fmt.answer(r["answers"]) for r in records]
        tokens_per_example = sum(
            len(tokenizer(p + c).input_ids) for p, c in zip(prompts, completions, strict=True)
        )
        tokens_per_example /= len(records)
        if variant.style == "full":
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
                gradient_checkpointing=variant.checkpointing,
                group_by_length=variant.by_length,
                pack_batches=variant.packed,
            )
            prefix = fmt.shared_prefix(device.tools) if variant.shared_prefix else None
            result, _, _ = train_lora(
                settings, prompts, completions, tokenizer, model, variant.trainer, prefix
            )
        examples_per_s = args.steps * args.batch_size / result.seconds
        rows.append((variant.name, tokens_per_example, examples_per_s, result.tokens_per_second))
        print(
            f"{variant.name}: {examples_per_s:.2f} examples/s, {result.tokens_per_second:.0f} tokens/s",
            flush=True,
        )

    baseline = rows[0][2]
    lines = [
        f"# Training throughput: {args.device} adapter on {args.model}",
        "",
        f"Same {len(records)} synthesized examples, {args.steps} optimizer steps of {args.batch_size} "
        f"per variant, LoRA rank {args.lora_r} on every variant, measured side by side in one run "
        "(rows in the order they ran; speed-up against the first) by "
        f"`python benchmarks/train_throughput.py {shlex.join(sys.argv[1:])}`.",
        f"Machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
        f"torch {torch.__version__}, CPU backend capability {torch.backends.cpu.get_cpu_capability()}.",
        "",
        "| variant | tokens / example | examples/s | tokens/s | prompt-equivalent tokens/s | speed-up |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, tokens, eps, tps in rows:
        equivalent = f"{eps * full_tokens:.0f}" if full_tokens else ""
        lines.append(
            f"| {name} | {tokens:.0f} | {eps:.2f} | {tps:.0f} | {equivalent} | {eps / baseline:.2f}× |"
        )
    lines += [
        "",
        'Each "..." row adds one lever to the row above it (the group-by-length row to the compact '
        "row, the packed row to the compact row). Every row runs under bf16 autocast where the processor "
        f"has it (here: {'yes' if use_bf16('auto') else 'no, so the last row holds its base in fp32'}). "
        "Throughput only: what a lever does to accuracy is measured by training whole adapters "
        "(see `README.md` here; `--group-by-length` cost accuracy and is off by default; packing "
        "gives the same loss and gradients as padding, checked in `tests/test_train.py`).",
    ]
    with atomic_writer(args.output) as fh:
        fh.write("\n".join(lines) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
