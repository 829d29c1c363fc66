"""The GGUF files the llama.cpp runtime reads, converted once and cached (``bijou export gguf
--adapters-dir DIR``; ``bijou run`` and ``bijou serve`` run it first on a full install).

A base model (registered name, folder or hub id) is converted into
``CACHE/gguf/<name>-<fingerprint>/<name>-<method>.gguf`` and linked (or copied) beside the adapters
as :func:`~bijou_core.runtime.gguf_files.base_name` says; a device adapter folder gets
``<adapter>/<adapter>-lora-f16.gguf`` beside its weights, converted again when the weights are newer,
and on request (``--merged``) the adapter merged into its base as ``<adapter>-merged-<method>.gguf``.
All go through :mod:`bijou_core.export.gguf` (llama.cpp's converters).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

from ..manifest import model_identity, read_manifest
from ..model_cache import cache_dir
from ..models import DEFAULT_MODEL
from ..runtime.engine import recorded_base
from ..runtime.gguf_files import adapters_folder, base_name, is_fresh, lora_is_fresh, lora_path, merged_path
from .gguf import (
    check_methods,
    export_adapter_gguf,
    export_merged_gguf,
    export_model_gguf,
    local_model_folder,
)


def can_convert() -> bool:
    """Whether this install converts models (llama.cpp's converters need torch: the ml extra)."""
    return importlib.util.find_spec("torch") is not None


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
    if lora_is_fresh(adapter_dir):
        return lora_path(adapter_dir)
    from filelock import FileLock

    with FileLock(adapter_dir / f".{lora_path(adapter_dir).name}.lock"):  # one process converts
        if lora_is_fresh(adapter_dir):
            return lora_path(adapter_dir)
        return export_adapter_gguf(adapter_dir, lora_path(adapter_dir), base=base)


def merged_gguf(adapter_dir: str | Path, methods: list[str], base: str | None = None) -> list[Path]:
    """Adapter ``adapter_dir`` merged into its base, a GGUF per method beside its weights, merged and
    converted (once for all stale methods) when missing or older than the weights."""
    adapter_dir = Path(adapter_dir)
    methods = check_methods(methods)

    def stale() -> list[str]:
        return [m for m in methods if not is_fresh(merged_path(adapter_dir, m), adapter_dir)]

    if stale():
        from filelock import FileLock

        with FileLock(adapter_dir / ".merged.lock"):  # one process merges and converts
            if stale():
                export_merged_gguf(adapter_dir, stale(), base)
    return [merged_path(adapter_dir, m) for m in methods]


def prepare_llama_cpp(
    adapters: dict[str, Path], base: str | None, methods: list[str], merged: bool = False
) -> list[Path]:
    """Every GGUF file the llama.cpp backend reads for ``adapters`` on ``base`` (default: the one
    their manifests name): each adapter's LoRA (with ``merged``, also the adapter merged into its
    base, per method) and, unless ``base`` is a ``.gguf`` file, the base of each method beside them.
    Files already there and fresh are kept; the paths, in that order."""
    base = base or recorded_base({name: read_manifest(folder) for name, folder in adapters.items()})
    recorded = None if base.endswith(".gguf") else base
    paths = [adapter_gguf(folder, recorded) for folder in adapters.values()]
    if merged:
        paths += [path for folder in adapters.values() for path in merged_gguf(folder, methods, recorded)]
    if base.endswith(".gguf") or not adapters:
        return paths
    folder = adapters_folder(adapters)
    for method in check_methods(methods):
        target = folder / base_name(base, method)
        if not target.is_file():
            _place(base_gguf(base, method), target)
        paths.append(target)
    return paths


def llama_cpp_base(adapters: dict[str, Path], base: str | None, quant: str, swap: str = "lora") -> str | None:
    """On a full install, what the llama.cpp backend reads, converted where missing or stale: with
    adapters, their files (merged ones for the ``merged`` swap; the base to load stays ``base``);
    without, the base's GGUF file, returned as the base to load. A runtime-only install converts
    nothing (``base`` is returned as given)."""
    if not can_convert():
        return base
    if adapters:
        prepare_llama_cpp(adapters, base, [quant], merged=swap == "merged")
        return base
    return str(base_gguf(base or DEFAULT_MODEL, quant))


def _place(source: Path, target: Path) -> None:
    """``source`` at ``target``: a hard link where the filesystem allows, else a copy (atomically)."""
    staged = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        try:
            os.link(source, staged)
        except OSError:
            shutil.copyfile(source, staged)
        staged.replace(target)
    finally:
        staged.unlink(missing_ok=True)
