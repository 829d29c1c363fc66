"""Fine-tuning the base model on general function-calling data (guide step 2)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import __version__
from ..chat_template import carried_template
from ..errors import BijouError
from ..files import iter_jsonl
from ..manifest import Manifest, model_identity
from ..prompt import PromptFormat
from ..schema import CallValidator, check_format, check_tools
from .sft import TrainResult, TrainSettings, is_main_process, load_base, save_merged, train_lora


def training_file(data_path: Path) -> Path:
    """The training JSONL: the file itself, or the single ``*_train.jsonl`` in a folder."""
    if data_path.is_file():
        return data_path
    if not data_path.is_dir():
        raise BijouError(f"{data_path}: no such file or folder (run 'bijou base prepare' first)")
    found = sorted(data_path.glob("*_train.jsonl"))
    if len(found) != 1:
        names = ", ".join(p.name for p in found) or "none"
        raise BijouError(f"{data_path}: expected one *_train.jsonl file, found {names}")
    return found[0]


def load_tool_records(path: Path, max_samples: int | None = None) -> list[dict[str, Any]]:
    """Records that carry their own tools (``bijou base prepare`` output), each call validated."""
    records = []
    for line, record in iter_jsonl(path):
        where = f"{path}:{line}"
        check_format(record, "record", where)
        if "tools" not in record:
            raise BijouError(f"{where}: $: 'tools' is a required property for base-model training data")
        errors = CallValidator(check_tools(record["tools"], where)).check_calls(record["answers"])
        if errors:
            raise BijouError(f"{where}: {errors[0]}")
        records.append(record)
        if max_samples and len(records) >= max_samples:
            break
    if not records:
        raise BijouError(f"{path}: no records")
    return records


def train_base(
    settings: TrainSettings, data_path: Path, max_samples: int | None = None
) -> tuple[TrainResult, Manifest, Path]:
    """Train a LoRA on function-calling records and merge it into ``output_dir/final``."""
    path = training_file(data_path)
    records = load_tool_records(path, max_samples)
    tokenizer, model, source = load_base(settings.model_name, settings.load_in_4bit)
    fmt = PromptFormat.for_tokenizer(tokenizer, "full")
    prompts = [fmt.prompt(tokenizer, r["tools"], r["query"]) for r in records]
    completions = [fmt.answer(r["answers"]) for r in records]
    result, peft_model, tokenizer = train_lora(
        settings, prompts, completions, tokenizer, model, end_text=fmt.end_text
    )
    manifest = Manifest(
        kind="base",
        bijou_version=__version__,
        base_model=model_identity(settings.model_name, source),
        prompt_format=fmt.describe(),
        data={"path": str(path), "records": len(records)},
        training=result.describe(settings),
    )
    final = Path(settings.output_dir) / "final"
    if is_main_process():
        tokenizer.chat_template = carried_template(fmt) or tokenizer.chat_template
        save_merged(peft_model, tokenizer, final, manifest)
    return result, manifest, final
