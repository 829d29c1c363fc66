"""bijou's cache folder and the one-time conversion of GGUF checkpoints to transformers folders."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .files import temp_dir


def cache_dir() -> Path:
    """Where bijou caches converted models and tools (``BIJOU_CACHE_DIR`` overrides)."""
    if "BIJOU_CACHE_DIR" in os.environ:
        return Path(os.environ["BIJOU_CACHE_DIR"])
    import platformdirs

    return Path(platformdirs.user_cache_dir("bijou"))


def cached_gguf_conversion(name: str, gguf: Path) -> Path:
    """Convert a GGUF checkpoint to a transformers folder once, cached under :func:`cache_dir`."""
    target = cache_dir() / "models" / name
    if (target / "config.json").is_file():
        return target
    from filelock import FileLock

    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(target.parent / f".{name}.lock"):  # one process converts, the others wait for it
        if not (target / "config.json").is_file():
            _convert_gguf(gguf, target, name)
    return target


def _convert_gguf(gguf: Path, target: Path, name: str) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    tmp = temp_dir(target.parent, name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(
            gguf.parent,
            gguf_file=gguf.name,
            quantization_config=GgufConfig(dequantize=True),
            dtype=torch.float32,
        )
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
