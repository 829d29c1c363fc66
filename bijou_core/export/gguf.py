"""GGUF export with llama.cpp's own tools: a transformers model folder becomes a 16/32-bit GGUF
(``convert_hf_to_gguf.py``), then quantized GGUFs (``llama_model_quantize``); a PEFT LoRA adapter
becomes a GGUF LoRA (``convert_lora_to_gguf.py``), or is merged into its base (PEFT's
``merge_and_unload``) and that model converted as any other. A model trained by bijou and every device adapter
carry bijou's prompt as their chat template (``tokenizer.chat_template``, :mod:`bijou_core.chat_template`).

Each file gets ``<file>.manifest.json`` beside it (source, method, size, sha256). Everything is
written into a hidden work folder and moved into place only once the whole export has succeeded.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich.filesize import decimal

from .. import __version__
from ..chat_template import carried_template
from ..errors import BijouError
from ..files import temp_dir, write_json
from ..manifest import MANIFEST, Manifest, file_sha256, model_identity, read_manifest
from ..models import resolve_model
from ..prompt import PromptFormat
from .converters import (
    CONVERT_LORA,
    CONVERT_MODEL,
    SET_METADATA,
    console,
    converters_dir,
    llama_cpp_version,
    run_converter,
)

FLOAT_TYPES = ("f16", "bf16", "f32")  # written by convert_hf_to_gguf.py
QUANT_TYPES = (  # llama.cpp's quantization types that need no importance matrix
    "q8_0",
    "q6_k",
    "q5_k_m",
    "q5_k_s",
    "q5_1",
    "q5_0",
    "q4_k_m",
    "q4_k_s",
    "q4_1",
    "q4_0",
    "q3_k_l",
    "q3_k_m",
    "q3_k_s",
    "q2_k",
    "iq4_xs",
    "iq4_nl",
)
METHODS = FLOAT_TYPES + QUANT_TYPES
LORA_TYPES = ("f16", "bf16", "f32", "q8_0")
QUANTIZE_FROM = ("f32", "bf16", "f16")  # the first one exported is quantized; else a temporary f16


def check_methods(methods: str | Iterable[str], valid: tuple[str, ...] = METHODS) -> list[str]:
    """Methods (a list or ``"q4_k_m,q8_0"``) lower-cased and deduplicated; unknown ones are one line."""
    items = methods.split(",") if isinstance(methods, str) else methods
    chosen = list(dict.fromkeys(m.strip().lower() for m in items if m.strip()))
    if not chosen:
        raise BijouError(f"no GGUF method given; valid: {', '.join(valid)}")
    for method in chosen:
        if method not in valid:
            raise BijouError(f"unknown GGUF method {method!r}; valid: {', '.join(valid)}")
    return chosen


def gguf_name(folder: Path) -> str:
    """The name GGUF files take: ``models/bijou-base/final`` -> ``bijou-base``, else the folder's name."""
    folder = folder.resolve()
    return folder.parent.name if folder.name == "final" else folder.name


def local_model_folder(spec: str, allow_patterns: list[str] | None = None) -> tuple[Path, str]:
    """A registered name, a folder or a hub id as a local folder (hub ids through the hub's cache),
    and the name its GGUF files take."""
    resolved = resolve_model(spec)
    if Path(resolved).is_dir():
        return Path(resolved), gguf_name(Path(resolved))
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(resolved, allow_patterns=allow_patterns)), resolved.split("/")[-1]
    except Exception as exc:
        reason = type(exc).__name__
        raise BijouError(f"cannot download {resolved!r} from the Hugging Face hub ({reason})") from None


def export_model_gguf(
    model_dir: str | Path,
    methods: str | Iterable[str],
    output_dir: str | Path,
    name: str | None = None,
    source: dict[str, Any] | None = None,
) -> list[Path]:
    """Convert a transformers model folder to ``output_dir/NAME-METHOD.gguf``, one per method
    (``source``: what the manifests record it was converted from, default the folder itself)."""
    chosen = check_methods(methods)
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise BijouError(f"{model_dir}: no such model folder")
    if not (model_dir / "config.json").is_file():
        raise BijouError(f"{model_dir}: not a model folder (no config.json)")
    name = name or gguf_name(model_dir)
    manifest = _bijou_manifest(model_dir)
    source = source or _source(name, model_dir, manifest)
    template = carried_template(PromptFormat.recorded(manifest.prompt_format)) if manifest else None
    quants = [m for m in chosen if m in QUANT_TYPES]
    floats = [m for m in chosen if m in FLOAT_TYPES]
    quantize_from = next((m for m in QUANTIZE_FROM if m in floats), "f16")
    files: dict[str, Path] = {}
    converters_dir()  # fetched before anything is written
    with _work_folder(Path(output_dir), name) as work:
        for method in dict.fromkeys(floats + ([quantize_from] if quants else [])):
            files[method] = work / f"{name}-{method}.gguf"
            started = time.perf_counter()
            run_converter(
                CONVERT_MODEL,
                [str(model_dir), "--outtype", method, "--outfile", str(files[method])],
                f"converting {name} to {method}",
            )
            if template:  # a base trained before its tokenizer files carried the template
                _set_chat_template(files[method], template)
            _report(method, files[method], started, "" if method in floats else " (temporary, to quantize)")
        for method in quants:
            files[method] = work / f"{name}-{method}.gguf"
            quantize(files[quantize_from], files[method], method)
        for method in chosen:
            origin = {"quantized_from": quantize_from} if method in quants else {}
            _write_manifest(files[method], method, source, **origin)
        return _publish(work, [files[m] for m in chosen], Path(output_dir))


def quantize(source: Path, target: Path, method: str) -> None:
    """One quantization by llama.cpp, through llama-cpp-python's low-level API."""
    import ctypes

    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{method.upper()}")
    started = time.perf_counter()
    with _llama_log() as log, console.status(f"quantizing {source.name} to {method}"):
        code = llama_cpp.llama_model_quantize(
            str(source).encode(), str(target).encode(), ctypes.byref(params)
        )
    lines = "".join(log).splitlines()
    if code:
        marker = "failed to quantize:"
        failed = [line.split(marker)[-1].strip() for line in lines if marker in line]
        reason = failed[-1] if failed else f"error {code}"
        raise BijouError(f"llama.cpp could not quantize {source.name} to {method}: {reason}")
    fallback = re.search(r"(\d+) of (\d+) tensor\(s\) required fallback", "\n".join(lines))
    note = f" ({fallback[1]} of {fallback[2]} tensors fell back to other types)" if fallback else ""
    _report(method, target, started, note)


@contextmanager
def _llama_log() -> Iterator[list[str]]:
    """Collect llama.cpp's log (a line per tensor) instead of printing it; the previous logger after."""
    import ctypes

    import llama_cpp

    previous, data = llama_cpp.llama_log_callback(), ctypes.c_void_p()
    llama_cpp.llama_log_get(ctypes.byref(previous), ctypes.byref(data))
    lines: list[str] = []
    collect = llama_cpp.llama_log_callback(
        lambda _level, text, _data: lines.append(text.decode(errors="replace"))
    )
    llama_cpp.llama_log_set(collect, None)
    try:
        yield lines
    finally:
        llama_cpp.llama_log_set(previous, data)


def export_adapter_gguf(
    adapter_dir: str | Path, output: str | Path | None = None, base: str | None = None, outtype: str = "f16"
) -> Path:
    """Convert a PEFT LoRA adapter folder to a GGUF LoRA (default ``ADAPTER/NAME-lora-f16.gguf``).

    ``base`` (a folder, registered name or hub id) defaults to the base model the adapter's manifest
    records; only its config is read.
    """
    adapter_dir = Path(adapter_dir)
    outtype = check_methods([outtype], LORA_TYPES)[0]
    if not (adapter_dir / "adapter_config.json").is_file():
        raise BijouError(f"{adapter_dir}: not a PEFT adapter folder (no adapter_config.json)")
    manifest = _bijou_manifest(adapter_dir)
    if base is None and manifest is None:
        raise BijouError(f"{adapter_dir}: no {MANIFEST} names its base model; pass --base (a model folder)")
    base_dir, base_name = local_model_folder(base or manifest.trained_on.local_or_name(), ["*.json"])
    name = adapter_dir.resolve().name
    template = _adapter_template(manifest) if manifest else None
    output = Path(output) if output else adapter_dir / f"{name}-lora-{outtype}.gguf"
    source = _source(name, adapter_dir, manifest)
    converters_dir()
    with _work_folder(output.parent, name) as work:
        path = work / output.name
        started = time.perf_counter()
        run_converter(
            CONVERT_LORA,
            ["--base", str(base_dir), "--outtype", outtype, "--outfile", str(path), str(adapter_dir)],
            f"converting adapter {name} to a GGUF LoRA",
        )
        if template:
            _set_chat_template(path, template)
        _report(outtype, path, started)
        _write_manifest(path, outtype, source, base_model=asdict(model_identity(base_name, str(base_dir))))
        return _publish(work, [path], output.parent)[0]


def export_merged_gguf(
    adapter_dir: str | Path, methods: str | Iterable[str], base: str | None = None
) -> list[Path]:
    """Merge a PEFT LoRA adapter into its base (``base``, default the one its manifest records) and
    convert that model to ``ADAPTER/ADAPTER-merged-METHOD.gguf``, one per method. The merged
    model carries the adapter's tokenizer (and so its chat template) when the folder has one."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    adapter_dir = Path(adapter_dir)
    if not (adapter_dir / "adapter_config.json").is_file():
        raise BijouError(f"{adapter_dir}: not a PEFT adapter folder (no adapter_config.json)")
    manifest = _bijou_manifest(adapter_dir)
    if base is None and manifest is None:
        raise BijouError(f"{adapter_dir}: no {MANIFEST} names its base model; pass --base (a model folder)")
    base_dir, base_name = local_model_folder(base or manifest.trained_on.local_or_name())
    name = adapter_dir.resolve().name
    source = {
        "adapter": _source(name, adapter_dir, manifest),
        "base_model": asdict(model_identity(base_name, str(base_dir))),
    }
    with _work_folder(adapter_dir, f"{name}-merged") as work:
        with console.status(f"merging adapter {name} into its base"):
            model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
            PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload().save_pretrained(work)
            has_tokenizer = (adapter_dir / "tokenizer_config.json").is_file()
            AutoTokenizer.from_pretrained(adapter_dir if has_tokenizer else base_dir).save_pretrained(work)
        return export_model_gguf(work, methods, adapter_dir, f"{name}-merged", source)


def _adapter_template(manifest: Manifest) -> str | None:
    """An adapter's prompt as a chat template (its device's tools are read only for a full prompt)."""
    fmt = PromptFormat.recorded(manifest.prompt_format)
    if fmt.style != "full" or fmt.chat_template:
        return carried_template(fmt, [])
    from ..devices import load_registry

    return carried_template(fmt, load_registry().get(manifest.device).tools)


def _set_chat_template(path: Path, template: str) -> None:
    """Write ``template`` into ``path``'s metadata (``tokenizer.chat_template``), in place."""
    jinja, rewritten = path.with_name(f"{path.name}.jinja"), path.with_name(f"{path.name}.new")
    jinja.write_text(template, encoding="utf-8")
    args = [str(path), str(rewritten), "--chat-template-file", str(jinja), "--force"]
    run_converter(SET_METADATA, args, f"writing bijou's chat template into {path.name}")
    jinja.unlink()
    os.replace(rewritten, path)


def _bijou_manifest(folder: Path) -> Manifest | None:
    return read_manifest(folder) if (folder / MANIFEST).is_file() else None


def _source(name: str, folder: Path, manifest: Manifest | None) -> dict[str, Any]:
    """What a GGUF file was converted from: the folder's identity and its bijou manifest."""
    return {**asdict(model_identity(name, str(folder))), "bijou_manifest": manifest and manifest.to_json()}


@contextmanager
def _work_folder(output_dir: Path, name: str) -> Iterator[Path]:
    """A hidden folder inside ``output_dir`` for an export's files; removed with whatever is left."""
    work = temp_dir(output_dir, f"{name}-gguf")
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _write_manifest(path: Path, method: str, source: dict[str, Any], **extra: Any) -> None:
    write_json(
        _manifest_path(path),
        {
            "kind": "gguf",
            "bijou_version": __version__,
            "file": path.name,
            "method": method,
            "size_bytes": path.stat().st_size,
            "sha256": file_sha256(path),
            "source": source,
            **extra,
            "llama_cpp_python": llama_cpp_version(),
        },
    )


def _manifest_path(path: Path) -> Path:
    return path.with_name(f"{path.name}.manifest.json")


def _publish(work: Path, files: list[Path], output_dir: Path) -> list[Path]:
    """Move finished files and their manifests into ``output_dir`` (a stale manifest goes first)."""
    published = []
    for path in files:
        target = output_dir / path.name
        _manifest_path(target).unlink(missing_ok=True)
        os.replace(path, target)
        os.replace(_manifest_path(path), _manifest_path(target))
        published.append(target)
    return published


def _report(method: str, path: Path, started: float, note: str = "") -> None:
    size = decimal(path.stat().st_size)
    console.print(f"{method}: {path.name}, {size} in {time.perf_counter() - started:.1f} s{note}")
