"""Training a device adapter: synthesize (or load) the device's data, train a LoRA, write manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import __version__
from ..chat_template import carried_template
from ..conformance import template_set
from ..data.synth import MULTI_SHARE, NO_TOOL_SHARE, SMALL_TALK_SHARE, SPEECH_SHARE
from ..devices import Device, load_records
from ..files import write_jsonl
from ..manifest import Manifest, model_identity
from ..prompt import PromptFormat
from .sft import (
    TrainResult,
    TrainSettings,
    is_main_process,
    load_base,
    save_adapter,
    train_lora,
    use_bf16,
)

# 1,980 single commands when small talk went from 10% to 15%; 1,782 since it is 20% (the examples
# stayed: benchmarks/blind/levers.md).
DEFAULT_EXAMPLES = 3960
# The make-up of synthesized training data, by default synth's (benchmarks/blind/levers.md).
MIX = {
    "no_tool_share": NO_TOOL_SHARE,
    "small_talk_share": SMALL_TALK_SHARE,
    "multi_share": MULTI_SHARE,
    "speech_share": SPEECH_SHARE,
}
DEFAULT_LORA_R = 32  # a device adapter's rank; benchmarks/adapters/lora-rank.md


def device_examples(
    device: Device,
    data_path: Path | None,
    num_examples: int,
    seed: int,
    mix: dict[str, float] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The training records for ``device`` and a description of where they came from; ``mix``
    (the shares of :data:`MIX`, default: synth's) shapes synthesized records and is recorded with
    them."""
    if data_path is not None:
        records = [r.to_json() for r in load_records(data_path, device.validator)]
        return records, {"path": str(data_path), "records": len(records)}
    mix = {**MIX, **(mix or {})}
    records = template_set(device).generate(num_examples, seed=seed, **mix)
    described = {"synthesized": len(records), "seed": seed, "templates": device.templates_source}
    return records, {**described, **mix}


def train_device(
    device: Device,
    settings: TrainSettings,
    data_path: Path | None = None,
    num_examples: int = DEFAULT_EXAMPLES,
    prompt_style: str = "compact",
    mix: dict[str, float] | None = None,
) -> tuple[TrainResult, Manifest]:
    """Train ``device``'s adapter into ``settings.output_dir``; returns the result and the manifest."""
    records, data = device_examples(device, data_path, num_examples, settings.seed, mix)
    output = Path(settings.output_dir)
    bf16 = settings.precision in ("auto", "bf16-base") and use_bf16(settings.precision)
    tokenizer, model, source = load_base(settings.model_name, settings.load_in_4bit, bf16_weights=bf16)
    fmt = PromptFormat.for_tokenizer(tokenizer, prompt_style, device.name)
    prompts = [fmt.prompt(tokenizer, device.tools, r["query"]) for r in records]
    completions = [fmt.answer(r["answers"]) for r in records]
    prefix = fmt.shared_prefix(device.tools)
    result, peft_model, tokenizer = train_lora(
        settings, prompts, completions, tokenizer, model, shared_prefix=prefix, end_text=fmt.end_text
    )
    manifest = Manifest(
        kind="adapter",
        bijou_version=__version__,
        device=device.name,
        device_version=device.version,
        plugin_package=device.package,
        tools_hash=device.tools_hash,
        base_model=model_identity(settings.model_name, source),
        prompt_format=fmt.describe(),
        data=data,
        training=result.describe(settings),
    )
    if is_main_process():  # written only now: a run that fails leaves the folder as it was
        if data_path is None:
            write_jsonl(output / "train.jsonl", records)
        tokenizer.chat_template = carried_template(fmt, device.tools) or tokenizer.chat_template
        save_adapter(peft_model, tokenizer, output, manifest)
    return result, manifest
