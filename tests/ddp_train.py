"""Run by tests/test_distributed.py under ``accelerate launch``: each rank trains, then reports."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))

import toy_plugin  # noqa: E402

from bijou_core.data.synth import TemplateSet  # noqa: E402
from bijou_core.prompt import PromptFormat  # noqa: E402
from bijou_core.train.sft import TrainSettings, end_distributed, load_base, train_lora  # noqa: E402


def lora_digest(model) -> str:
    digest = hashlib.sha256()
    for name, param in sorted(model.named_parameters()):
        if "lora_" in name:
            digest.update(name.encode())
            digest.update(param.detach().to(torch.float32).numpy().tobytes())
    return digest.hexdigest()


def main(model_dir: str, out: str) -> None:
    records = TemplateSet(toy_plugin.TOOLS, toy_plugin.TEMPLATES, "lamp").generate(32, seed=0)
    tokenizer, model, _ = load_base(model_dir)
    fmt = PromptFormat.for_tokenizer(tokenizer, "compact", "lamp")
    prompts = [fmt.prompt(tokenizer, toy_plugin.TOOLS, r["query"]) for r in records]
    completions = [fmt.answer(r["answers"]) for r in records]
    settings = TrainSettings(
        model_name=model_dir,
        output_dir=Path(out) / "run",
        num_epochs=1,
        batch_size=4,
        save_steps=10**6,
        precision="fp32",
    )
    result, peft_model, _ = train_lora(settings, prompts, completions, tokenizer, model)
    rank = (
        torch.distributed.get_rank()
        if torch.distributed.is_initialized()
        else int(os.environ.get("RANK", -1))
    )
    report = {
        "rank": rank,
        "world_size": result.world_size,
        "steps": result.steps,
        "backend": torch.distributed.get_backend() if torch.distributed.is_initialized() else None,
        "lora": lora_digest(peft_model),
    }
    Path(out, f"rank{rank}.json").write_text(json.dumps(report))
    end_distributed()  # as bijou's train commands do


if __name__ == "__main__":
    main(*sys.argv[1:])
