"""The contract every model runtime meets, and the registry the engine and ``bijou bench`` load
runtimes from: a backend's name maps to a function building it from a base model, adapter folders
(as ``bijou devices train`` writes them) and a quantization. Building a backend converts nothing:
the llama.cpp backend reads GGUF files that ``bijou export gguf --adapters-dir DIR`` wrote."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from ..errors import BijouError
from .decoding import CONTEXT, Backend
from .grammar import Vocabulary


class ModelBackend(Backend, Protocol):
    """A base model with adapters resident: what the decoding loop needs, and what the engine
    needs to swap adapters and build prompts and grammars."""

    name: str
    tokenizer: Any  # a transformers tokenizer (renders chat templates), or None (turn markers only)

    @property
    def adapters(self) -> list[str]: ...

    def use(self, name: str | None) -> None:
        """Activate adapter ``name`` (``None``: the bare base); nothing is reloaded."""

    def load_adapter(self, name: str, path: str | Path) -> None: ...

    def unload_adapter(self, name: str) -> None: ...

    def add_end_token(self, text: str) -> None:
        """Also stop at ``text`` (a prompt format's end marker)."""

    def vocabulary(self) -> Vocabulary: ...


class BackendSettings(Protocol):
    """What a backend is built with, of an engine's settings (an ``EngineConfig``)."""

    quant: str  # llama.cpp: the GGUF type of the base
    threads: int | None  # llama.cpp: CPU threads (None: every core the process may use)
    swap: str  # llama.cpp: "lora" (one base, GGUF LoRAs) or "merged" (one merged model per adapter)


def adapter_file(backend: str, base: str, folder: Path, quant: str, swap: str = "lora") -> Path:
    """What ``backend`` loads of adapter ``folder``: the folder, or its GGUF LoRA or merged GGUF
    (converted beforehand by ``bijou export gguf``)."""
    if backend == "transformers":
        return folder
    from .gguf_files import lora_file, merged_file

    return merged_file(folder, base, quant) if swap == "merged" else lora_file(folder, base, quant)


def _transformers(base: str, adapters: dict[str, Path], config: BackendSettings) -> ModelBackend:
    missing = [name for name in ("torch", "transformers", "peft") if importlib.util.find_spec(name) is None]
    if missing:
        raise BijouError(
            f"the transformers backend needs {', '.join(missing)}: pip install 'bijou-core[ml]' "
            "(a runtime-only install runs --backend llama.cpp)"
        )
    from .hf_backend import HFBackend

    return HFBackend(base, adapters, n_ctx=CONTEXT)  # the runtime's commands: as llama.cpp's


def _llama_cpp(base: str, adapters: dict[str, Path], config: BackendSettings) -> ModelBackend:
    from .gguf_files import base_file
    from .llama_backend import LlamaCppBackend, MergedLlamaCppBackend

    files = {n: adapter_file("llama.cpp", base, p, config.quant, config.swap) for n, p in adapters.items()}
    kind = MergedLlamaCppBackend if config.swap == "merged" else LlamaCppBackend
    return kind(base_file(base, config.quant, adapters), files, n_threads=config.threads)


BACKENDS: dict[str, Callable[[str, dict[str, Path], BackendSettings], ModelBackend]] = {
    "transformers": _transformers,  # PEFT adapters on a transformers model; quant, threads ignored
    "llama.cpp": _llama_cpp,  # a GGUF base of that quantization, GGUF LoRAs or merged GGUFs (read only)
}
