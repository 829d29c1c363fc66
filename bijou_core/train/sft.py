"""LoRA supervised fine-tuning with TRL's SFTTrainer and PEFT, shared by base and adapter training.

Examples are prompt/completion pairs rendered by :mod:`bijou_core.prompt`, so the loss covers the
answer tokens only, and only those positions are projected onto the vocabulary (TRL's fused LM
head on CUDA and XPU, :class:`~bijou_core.train.answer_only.AnswerOnlySFTTrainer` elsewhere: the
prompt never pays for full-vocabulary scores). On a CPU: bf16 autocast where the processor has
it, with an adapter's frozen base held in bf16 as well (``--precision bf16`` keeps it in fp32),
no gradient checkpointing (it costs ~20% here and memory is plentiful), random batches packed
into rows instead of padded (``--group-by-length`` is an option, measured to cost accuracy).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..errors import BijouError
from ..files import temp_dir, usual_permissions
from ..manifest import MANIFEST, Manifest, write_manifest
from ..models import resolve_model

LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def _max_steps(value: int) -> str | None:
    return (
        None if value == -1 or value >= 1 else f"{value}: expected -1 (the epochs decide) or at least 1 step"
    )


def setting(default: Any, help: str = "", **cli: Any) -> Any:
    """A training setting: its default, its help text and how its flag reads (``cli``: ``min``,
    ``max``, ``min_open``, ``max_open``, ``check`` (value -> error or None), ``negatable``, ``flag``,
    ``show_default``, or ``cli=False`` for a setting with no flag of its own)."""
    return field(default=default, metadata={"help": help, **cli})


@dataclass
class TrainSettings:
    """Every training setting, declared once: the training commands' flags (``--num-epochs`` and
    the guide's ``--num_epochs``) are derived from these fields by :mod:`bijou_core.cli.options`."""

    model_name: str = field(metadata={"cli": False})  # each command names its own --base option
    output_dir: Path = field(metadata={"cli": False})
    num_epochs: float = setting(2.0, "Passes over the training data.")
    batch_size: int = setting(8, "Examples per optimizer step and process.", min=1)
    gradient_accumulation_steps: int = setting(1, "Batches whose gradients add up to one step.", min=1)
    learning_rate: float = setting(5e-4, "The peak learning rate.")
    max_seq_length: int = setting(512, "The longest example in tokens (a longer one is an error).", min=16)
    save_steps: int = setting(200, "Save a checkpoint every this many steps.", min=1)
    max_steps: int = setting(
        -1, "Stop after this many steps (-1: epochs decide).", check=_max_steps, show_default=False
    )
    lora_r: int = setting(16, "The LoRA rank.", min=1)
    lora_alpha: int | None = setting(None, "Default: 2 × r.", min=1)
    lora_dropout: float = setting(0.0, "Dropout on the LoRA input.", min=0, max=1, max_open=True)
    neftune_noise_alpha: float | None = setting(
        None,
        "NEFTune: uniform noise on the input embeddings while training, scaled by alpha / "
        "sqrt(row length × width); a packed row holds a whole batch, so the same alpha adds less "
        "noise per token than on padded batches.",
        min=0,
        min_open=True,
    )
    target_modules: tuple[str, ...] = setting(
        LORA_TARGETS, "Comma-separated module names to adapt.", flag="--lora-targets"
    )
    lora_layers: int | None = setting(
        None,
        "Adapt only the model's last N decoder layers (default: all): the backward pass then "
        "stops at the lowest adapted layer.",
        min=1,
    )
    decision_weight: float = setting(
        1.0,
        "Weight of the loss on each answer's first two tokens, where the model chooses between no "
        "call and a call (1: every answer token alike).",
        min=0,
        min_open=True,
    )
    seed: int = setting(0, "Seed of synthesized data, the data order and the LoRA initialization.")
    resume: bool = setting(False, "Continue from the last checkpoint in the output dir.")
    precision: Literal["auto", "bf16", "bf16-base", "fp32"] = setting(
        "auto",
        "auto: bf16-base where the hardware has bf16. bf16-base: bf16 autocast with an adapter's "
        "frozen base held in bf16 (1.2-1.4x the CPU throughput). bf16: autocast only, the base "
        "in fp32 (the recipe before the nineteenth round).",
    )
    load_in_4bit: bool = setting(False, "QLoRA: load the base in 4 bits (CUDA GPUs only).")
    gradient_checkpointing: bool = setting(
        False, "Recompute activations in the backward pass: less memory, slower.", negatable=True
    )
    group_by_length: bool = setting(
        False,
        "Batch examples of similar lengths together: less padding, but lower accuracy measured.",
        negatable=True,
    )
    pack_batches: bool = setting(
        True,
        "Lay a batch's examples end to end in rows instead of padding them: same loss, "
        "fewer tokens (single process, off CUDA/XPU).",
        negatable=True,
    )
    logging_steps: int = setting(10, cli=False)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["output_dir"] = str(self.output_dir)
        data["target_modules"] = list(self.target_modules)
        return data


@dataclass
class TrainResult:
    """What a training run produced and measured."""

    output: Path
    steps: int
    epochs: float
    train_loss: float
    seconds: float
    tokens: int
    world_size: int

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0

    def describe(self, settings: TrainSettings) -> dict[str, Any]:
        """The settings and the measured figures, as manifests record them."""
        return {
            **settings.to_json(),
            "steps": self.steps,
            "epochs": self.epochs,
            "train_loss": self.train_loss,
            "seconds": round(self.seconds, 1),
            "tokens": self.tokens,
            "tokens_per_second": round(self.tokens_per_second, 1),
            "world_size": self.world_size,
        }


def use_bf16(precision: str) -> bool:
    """bf16 autocast when asked, or by default where the hardware runs it fast."""
    import torch

    if precision == "fp32":
        return False
    if torch.cuda.is_available():
        supported = torch.cuda.is_bf16_supported()
    else:
        supported = bool(getattr(torch.backends.cpu, "get_cpu_capability", lambda: "")().startswith("AVX512"))
    if precision != "auto" and not supported and torch.cuda.is_available():
        raise BijouError(f"--precision {precision}: this GPU does not support bf16; use --precision fp32")
    return precision != "auto" or supported


def is_main_process() -> bool:
    """False on the other ranks of a multi-process (accelerate/torchrun) run."""
    return int(os.environ.get("RANK", "0")) == 0


def end_distributed() -> None:
    """Leave a multi-process run's process group once training is over (a no-op otherwise): exiting
    with it open lets gloo's threads abort the process (SIGABRT) after the work is done."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def load_base(model_name: str, load_in_4bit: bool = False, bf16_weights: bool = False):
    """Tokenizer and model for training; 4-bit loading is a GPU option with a clear refusal on CPU.

    ``bf16_weights``: hold the weights in bf16, for a base that stays frozen (an adapter's): under
    bf16 autocast fp32 weights are cast again at every matmul. The LoRA weights PEFT adds stay fp32.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = resolve_model(model_name)
    tokenizer = AutoTokenizer.from_pretrained(source)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    kwargs: dict[str, Any] = {"dtype": torch.bfloat16 if bf16_weights else torch.float32}
    if load_in_4bit:
        if not torch.cuda.is_available():
            raise BijouError("--load-in-4bit needs a CUDA GPU (bitsandbytes); this machine has none")
        from transformers import BitsAndBytesConfig

        kwargs = {
            "quantization_config": BitsAndBytesConfig(
                load_in_4bit=True,
                bnb_4bit_quant_type="nf4",
                bnb_4bit_compute_dtype=torch.bfloat16,
                bnb_4bit_use_double_quant=True,
            ),
            "device_map": {"": int(os.environ.get("LOCAL_RANK", 0))},
        }
    model = AutoModelForCausalLM.from_pretrained(source, **kwargs)
    if load_in_4bit:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model)
    return tokenizer, model, source


def add_no_special_tokens(tokenizer) -> None:
    """Make ``tokenizer`` add no special tokens of its own (Gemma's adds ``<bos>``): rendered prompts
    carry theirs, and TRL tokenizes them with the tokenizer's defaults."""
    if tokenizer("a").input_ids != tokenizer("a", add_special_tokens=False).input_ids:
        tokenizer.add_bos_token = False
        tokenizer.add_eos_token = False


def incomplete(checkpoint: Path) -> str | None:
    """Why a checkpoint folder cannot be resumed from (a kill while it was being saved), or None:
    the trainer state is written last, so it must parse, and every weight file must be whole."""
    import zipfile

    from safetensors import SafetensorError, safe_open

    try:
        state = json.loads((checkpoint / "trainer_state.json").read_text())
    except (OSError, ValueError):
        return "no readable trainer_state.json"
    if not isinstance(state, dict) or "global_step" not in state:
        return "trainer_state.json has no global_step"
    for weights in checkpoint.glob("*.safetensors"):
        try:
            with safe_open(str(weights), "pt") as reader:
                reader.keys()
        except (OSError, SafetensorError) as exc:
            return f"{weights.name}: {exc}"
    for pickled in [*checkpoint.glob("*.pt"), *checkpoint.glob("*.pth")]:
        if not zipfile.is_zipfile(pickled):
            return f"{pickled.name} is truncated"
    return None


def last_complete_checkpoint(folder: Path) -> str | None:
    """The newest checkpoint under ``folder`` that is complete; newer incomplete ones (a run killed
    while saving) are reported on stderr and removed, so the trainer never meets them again."""
    if not folder.is_dir():
        return None
    steps = {}
    for item in folder.iterdir():
        match = re.fullmatch(r"checkpoint-(\d+)", item.name)
        if match and item.is_dir():
            steps[int(match[1])] = item
    for step in sorted(steps, reverse=True):
        reason = incomplete(steps[step])
        if reason is None:
            return str(steps[step])
        print(f"warning: {steps[step]} is incomplete ({reason}); removed it", file=sys.stderr)
        shutil.rmtree(steps[step], ignore_errors=True)
    return None


def train_lora(
    settings: TrainSettings,
    prompts: list[str],
    completions: list[str],
    tokenizer=None,
    model=None,
    trainer_class: type | None = None,
    shared_prefix: str | None = None,
    end_text: str | None = None,
) -> tuple[TrainResult, Any, Any]:
    """Train a LoRA adapter on prompt/completion pairs; returns the result, the PEFT model, tokenizer.

    Checkpoints go to ``output_dir/checkpoints`` every ``save_steps``; ``resume`` continues from the
    last one. The caller saves the final adapter (see :func:`save_adapter`). ``trainer_class``
    defaults to :class:`AnswerOnlySFTTrainer` (benchmarks pass TRL's own SFTTrainer to compare).
    ``shared_prefix``: text every prompt starts with, run once per batch (see that trainer).
    ``end_text``: the end marker every completion ends with (TRL appends the tokenizer's EOS token
    to completions that end otherwise: Gemma's ``<end_of_turn>`` is not its EOS token).
    """
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from trl import SFTConfig

    from .answer_only import AnswerOnlySFTTrainer

    if not prompts:
        raise BijouError("no training examples")
    if tokenizer is None or model is None:
        tokenizer, model, _ = load_base(settings.model_name, settings.load_in_4bit)
    add_no_special_tokens(tokenizer)
    torch.manual_seed(settings.seed)
    checkpoints = Path(settings.output_dir) / "checkpoints"
    resume_from = last_complete_checkpoint(checkpoints) if settings.resume else None
    if settings.resume and resume_from is None:
        raise BijouError(f"--resume: no checkpoint under {checkpoints}")
    _check_lengths(tokenizer, prompts, completions, settings.max_seq_length)
    _check_targets(model, settings.target_modules)
    layers = adapted_layers(model, settings.lora_layers)
    dataset = Dataset.from_dict({"prompt": prompts, "completion": completions})
    config = SFTConfig(
        output_dir=str(checkpoints),
        num_train_epochs=settings.num_epochs,
        max_steps=settings.max_steps,
        per_device_train_batch_size=settings.batch_size,
        gradient_accumulation_steps=settings.gradient_accumulation_steps,
        learning_rate=settings.learning_rate,
        lr_scheduler_type="cosine",
        warmup_steps=0.05,
        max_length=settings.max_seq_length,
        eos_token=end_text or None,
        completion_only_loss=True,
        # Batches of similar lengths pad less, but measured here they cost accuracy (no-tool and
        # multi-call examples end up in batches of their own): off by default.
        train_sampling_strategy="group_by_length" if settings.group_by_length else "random",
        bf16=use_bf16(settings.precision),
        gradient_checkpointing=settings.gradient_checkpointing,
        save_steps=settings.save_steps,
        save_total_limit=2,
        logging_steps=settings.logging_steps,
        report_to=[],
        seed=settings.seed,
        data_seed=settings.seed,
        neftune_noise_alpha=settings.neftune_noise_alpha,
        use_cpu=not torch.cuda.is_available(),
        dataloader_pin_memory=torch.cuda.is_available(),
        ddp_find_unused_parameters=False,
    )
    lora = LoraConfig(
        r=settings.lora_r,
        lora_alpha=settings.lora_alpha or 2 * settings.lora_r,
        lora_dropout=settings.lora_dropout,
        target_modules=list(settings.target_modules),
        layers_to_transform=layers,
        task_type="CAUSAL_LM",
    )
    trainer_class = trainer_class or AnswerOnlySFTTrainer
    extra: dict[str, Any] = {}
    if issubclass(trainer_class, AnswerOnlySFTTrainer):
        extra["pack"] = settings.pack_batches
        extra["decision_weight"] = settings.decision_weight
        if shared_prefix:
            extra["shared_prefix"] = tokenizer(shared_prefix, add_special_tokens=False).input_ids
    trainer = trainer_class(
        model=model,
        args=config,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=lora,
        **extra,
    )
    started = time.perf_counter()
    output = trainer.train(resume_from_checkpoint=resume_from)
    seconds = time.perf_counter() - started
    state = trainer.state
    result = TrainResult(
        output=Path(settings.output_dir),
        steps=state.global_step,
        epochs=float(state.epoch or 0.0),
        train_loss=float(output.training_loss),
        seconds=seconds,
        tokens=int(trainer._total_train_tokens),
        world_size=trainer.accelerator.num_processes,
    )
    return result, trainer.model, tokenizer


def _check_targets(model, targets: tuple[str, ...]) -> None:
    """Refuse LoRA target names that name no module of the model (PEFT would fail deep inside)."""
    names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    missing = [t for t in targets if t not in names]
    if missing or not targets:
        linear = sorted(
            {n.rsplit(".", 1)[-1] for n, m in model.named_modules() if type(m).__name__ == "Linear"}
        )
        what = f"no module named {', '.join(missing)}" if missing else "no module names given"
        raise BijouError(f"--lora-targets: {what} in the model (its linear layers: {', '.join(linear)})")


def adapted_layers(model, last: int | None) -> list[int] | None:
    """The indices of the model's last ``last`` decoder layers (None: every layer)."""
    if last is None:
        return None
    total = model.config.get_text_config().num_hidden_layers
    if last > total:
        raise BijouError(f"--lora-layers {last}: the model has {total} decoder layers")
    return list(range(total - last, total))


def _check_lengths(tokenizer, prompts: list[str], completions: list[str], max_length: int) -> None:
    """Refuse examples that would lose their answer to truncation (TRL would drop them silently)."""
    lengths = [
        len(ids)
        for ids in tokenizer(
            [p + c for p, c in zip(prompts, completions, strict=True)], add_special_tokens=False
        ).input_ids
    ]
    too_long = [n for n in lengths if n > max_length]
    if too_long:
        raise BijouError(
            f"{len(too_long)} of {len(lengths)} examples are longer than --max-seq-length {max_length} "
            f"(the longest has {max(too_long)} tokens): raise --max-seq-length"
        )


def save_adapter(model, tokenizer, folder: Path, manifest: Manifest) -> None:
    """Write the adapter, its tokenizer and its manifest into ``folder``; the manifest comes last,
    so a folder with a manifest is always complete."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = temp_dir(folder, "adapter")
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (folder / MANIFEST).unlink(missing_ok=True)
        for item in tmp.iterdir():
            usual_permissions(item)
            os.replace(item, folder / item.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    write_manifest(folder, manifest)


def save_merged(model, tokenizer, folder: Path, manifest: Manifest) -> None:
    """Merge the LoRA weights into the base and write a plain model folder atomically."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_dir(folder.parent, folder.name)
    try:
        merged = model.merge_and_unload()
        merged.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        for item in [tmp, *tmp.iterdir()]:
            usual_permissions(item)
        write_manifest(tmp, manifest)
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
