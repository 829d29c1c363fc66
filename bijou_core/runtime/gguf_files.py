"""Where the llama.cpp backend finds its GGUF files; it only reads them (``bijou export gguf
--adapters-dir DIR`` converts them, once: :mod:`bijou_core.export.prepare`).

An adapters folder holds its base as ``DIR/<base>-<quant>.gguf`` and each adapter's GGUF LoRA as
``DIR/<adapter>/<adapter>-lora-f16.gguf``, so the folder alone is what a device needs. With
``--merged``, each adapter merged into its base is ``DIR/<adapter>/<adapter>-merged-<quant>.gguf``
(the ``merged`` swap strategy loads those).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from ..errors import BijouError

LORA_TYPE = "f16"  # the GGUF type of an adapter's LoRA


def prepare_command(folder: Path, base: str, quant: str, merged: bool = False) -> str:
    """The command that writes the GGUF files of adapters ``folder`` (with ``merged``: merged ones too)."""
    words = ["bijou", "export", "gguf", "--adapters-dir", str(folder), "--base", base, "--methods", quant]
    return shlex.join(words + (["--merged"] if merged else []))


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


def merged_path(folder: Path, quant: str) -> Path:
    """Where adapter ``folder`` merged into its base, as a GGUF of type ``quant``, is (or goes)."""
    return folder / f"{folder.resolve().name}-merged-{quant}.gguf"


def is_fresh(target: Path, folder: Path) -> bool:
    """``target`` exists and is no older than adapter ``folder``'s weights (when those are there)."""
    weights = folder / "adapter_model.safetensors"
    return target.is_file() and (not weights.is_file() or target.stat().st_mtime >= weights.stat().st_mtime)


def lora_is_fresh(folder: Path) -> bool:
    """The GGUF LoRA exists and is no older than the adapter's weights (when those are there)."""
    return is_fresh(lora_path(folder), folder)


def lora_file(folder: Path, base: str, quant: str) -> Path:
    """Adapter ``folder``'s GGUF LoRA; one clear error when it is missing or older than the weights."""
    return _checked(
        lora_path(folder), folder, "GGUF LoRA", prepare_command(folder.resolve().parent, base, quant)
    )


def merged_file(folder: Path, base: str, quant: str) -> Path:
    """Adapter ``folder`` merged into its base as a ``quant`` GGUF; one clear error when it is missing
    or older than the weights."""
    command = prepare_command(folder.resolve().parent, base, quant, merged=True)
    return _checked(merged_path(folder, quant), folder, "merged GGUF", command)


def _checked(target: Path, folder: Path, what: str, command: str) -> Path:
    if not is_fresh(target, folder):
        state = "older than its weights" if target.is_file() else "missing"
        raise BijouError(f"{target}: {what} {state}; convert it first: {command}")
    return target
