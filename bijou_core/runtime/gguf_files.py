"""The GGUF files the llama.cpp backend needs, converted on first use and cached.

A base model (registered name, folder or hub id) becomes
``CACHE/gguf/<name>-<fingerprint>/<name>-<method>.gguf``; a device adapter folder gets
``<adapter>/<name>-lora-f16.gguf`` beside its weights, converted again when the weights are newer.
Both go through :mod:`bijou_core.export.gguf` (llama.cpp's converters).
"""

from __future__ import annotations

from pathlib import Path

from ..export.gguf import check_methods, export_adapter_gguf, export_model_gguf, local_model_folder
from ..manifest import model_identity
from ..model_cache import cache_dir


def base_gguf(base: str, method: str = "q8_0") -> Path:
    """A GGUF file of ``base`` quantized with ``method`` (a ``.gguf`` path is used as it is)."""
    if base.endswith(".gguf"):
        return Path(base)
    method = check_methods([method])[0]
    folder, name = local_model_folder(base)
    fingerprint = model_identity(name, str(folder)).fingerprint
    target_dir = cache_dir() / "gguf" / f"{name}-{fingerprint}"
    target = target_dir / f"{name}-{method}.gguf"
    if not target.is_file():
        from filelock import FileLock

        target_dir.mkdir(parents=True, exist_ok=True)
        with FileLock(target_dir / f".{target.name}.lock"):  # one process converts, others wait
            if not target.is_file():
                export_model_gguf(folder, [method], target_dir, name=name)
    return target


def adapter_gguf(adapter_dir: str | Path, base: str | None = None) -> Path:
    """The GGUF LoRA of a PEFT adapter folder, converted when missing or older than the weights."""
    adapter_dir = Path(adapter_dir)
    target = adapter_dir / f"{adapter_dir.resolve().name}-lora-f16.gguf"
    weights = adapter_dir / "adapter_model.safetensors"

    def fresh() -> bool:
        return target.is_file() and (
            not weights.is_file() or target.stat().st_mtime >= weights.stat().st_mtime
        )

    if fresh():
        return target
    from filelock import FileLock

    with FileLock(adapter_dir / f".{target.name}.lock"):  # one process converts, others wait
        return target if fresh() else export_adapter_gguf(adapter_dir, target, base=base)
