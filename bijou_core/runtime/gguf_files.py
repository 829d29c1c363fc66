"""Where the llama.cpp backend finds its GGUF files; it only reads them (``bijou export gguf
--adapters-dir DIR`` converts them, once: :mod:`bijou_core.export.prepare`).

An adapters folder holds its base as ``DIR/<base>-<quant>.gguf`` and each adapter's GGUF LoRA as
``DIR/<adapter>/<adapter>-lora-f16.gguf``, so the folder alone is what a device needs.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from ..errors import BijouError

LORA_TYPE = "f16"  # the GGUF type of an adapter's LoRA


def prepare_command(folder: Path, base: str, quant: str) -> str:
    """The command that writes the GGUF files of adapters ``folder``."""
    words = ["bijou", "export", "gguf", "--adapters-dir", str(folder), "--base", base, "--methods", quant]
    return shlex.join(words)


def base_name(base: str, quant: str) -> str:
    """The file name of ``base`` (a registered name, folder or hub id) as a GGUF of type ``quant``."""
    return f"{re.sub(r'[^A-Za-z0-9._-]+', '_', base).strip('_')}-{quant}.gguf"


def adapters_folder(adapters: dict[str, Path]) -> Path:
    """The one folder ``adapters`` (name -> adapter folder) sit in."""
    folders = {path.resolve().parent for path in adapters.values()}
    if len(folders) != 1:
        raise BijouError(
            "the llama.cpp backend reads its GGUF base from the adapters' folder: give adapters of one "
            f"folder (got {', '.join(sorted(map(str, folders))) or 'none'}) or a .gguf base"
        )
    return folders.pop()


def base_file(base: str, quant: str, adapters: dict[str, Path]) -> Path:
    """The GGUF base to load: ``base`` itself if it is a ``.gguf`` path, else the one beside ``adapters``."""
    if base.endswith(".gguf"):
        return Path(base)
    if not adapters:
        raise BijouError(
            f"the llama.cpp backend needs a GGUF base: pass a .gguf file as the base "
            f"(bijou export gguf --model {shlex.quote(base)} --methods {quant} writes one)"
        )
    folder = adapters_folder(adapters)
    path = folder / base_name(base, quant)
    if not path.is_file():
        raise BijouError(f"{path}: no GGUF base; convert it first: {prepare_command(folder, base, quant)}")
    return path


def lora_path(folder: Path) -> Path:
    """Where adapter ``folder``'s GGUF LoRA is (or goes)."""
    return folder / f"{folder.resolve().name}-lora-{LORA_TYPE}.gguf"


def lora_is_fresh(folder: Path) -> bool:
    """The GGUF LoRA exists and is no older than the adapter's weights (when those are there)."""
    target, weights = lora_path(folder), folder / "adapter_model.safetensors"
    return target.is_file() and (not weights.is_file() or target.stat().st_mtime >= weights.stat().st_mtime)


def lora_file(folder: Path, base: str, quant: str) -> Path:
    """Adapter ``folder``'s GGUF LoRA; one clear error when it is missing or older than the weights."""
    if not lora_is_fresh(folder):
        state = "older than its weights" if lora_path(folder).is_file() else "missing"
        command = prepare_command(folder.resolve().parent, base, quant)
        raise BijouError(f"{lora_path(folder)}: GGUF LoRA {state}; convert it first: {command}")
    return lora_path(folder)
