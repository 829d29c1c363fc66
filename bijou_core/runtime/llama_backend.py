"""The llama.cpp backend, with two swap strategies: a GGUF base with every GGUF LoRA resident,
switched with ``llama_set_adapters_lora`` (llama-cpp-python's low-level API; it has no high-level
switch), or one resident model per adapter with the adapter merged into its weights (no LoRA work
per token, a copy of the base per adapter), switched by choosing which model answers."""

from __future__ import annotations

import ctypes
import itertools
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BijouError
from .decoding import CONTEXT
from .grammar import Vocabulary


class LlamaCppBackend:
    """One llama.cpp model and context; adapters are loaded once and only their scales change."""

    name = "llama.cpp"
    tokenizer = None  # prompts are rendered from the format's turn markers, not a chat template

    def __init__(
        self,
        model_path: str | Path,
        adapters: dict[str, str | Path] | None = None,
        n_ctx: int = CONTEXT,
        n_threads: int | None = None,
    ):
        import llama_cpp

        self._lib = llama_cpp
        if not Path(model_path).is_file():
            raise BijouError(f"{model_path}: no such GGUF file")
        threads = n_threads or len(os.sched_getaffinity(0))
        self.llm = llama_cpp.Llama(
            str(model_path),
            n_ctx=n_ctx,
            n_threads=threads,
            n_threads_batch=threads,
            flash_attn=True,
            verbose=False,
        )
        self.n_ctx = self.llm.n_ctx()
        self._ctx = self.llm._ctx.ctx
        self._memory = llama_cpp.llama_get_memory(self._ctx)
        self._handles: dict[str, Any] = {}
        for name, path in (adapters or {}).items():
            self._load_adapter(name, Path(path))
        self.active: str | None = None
        self._vocab = llama_cpp.llama_model_get_vocab(self.llm._model.model)
        self.n_vocab = llama_cpp.llama_vocab_n_tokens(self._vocab)
        self.end_ids = {self.llm.token_eos()}
        self._n_past = 0
        self._prefix: tuple[str | None, tuple[int, ...]] | None = None  # what the first positions hold
        self._saved: dict[tuple[str | None, tuple[int, ...]], bytes] = {}
        self._vocabulary: Vocabulary | None = None

    @property
    def adapters(self) -> list[str]:
        return list(self._handles)

    def _load_adapter(self, name: str, path: Path) -> None:
        if not path.is_file():
            raise BijouError(f"{path}: no such GGUF LoRA file")
        handle = self._lib.llama_adapter_lora_init(self.llm._model.model, str(path).encode())
        if not handle:
            raise BijouError(
                f"{path}: llama.cpp could not load it as a LoRA of {Path(self.llm.model_path).name}"
            )
        self.llm._stack.callback(self._lib.llama_adapter_lora_free, handle)
        self._handles[name] = handle

    def load_adapter(self, name: str, path: str | Path) -> None:
        """Make one more GGUF LoRA resident (the base is not reloaded)."""
        self._load_adapter(name, Path(path))

    def unload_adapter(self, name: str) -> None:
        """Stop serving adapter ``name``. Its weights stay in memory until the model closes: the
        model's exit stack frees every adapter it loaded, so freeing one here would free it twice."""
        if self.active == name:
            self.use(None)
        del self._handles[name]
        self._saved = {key: state for key, state in self._saved.items() if key[0] != name}
        if self._prefix is not None and self._prefix[0] == name:
            self._prefix = None

    def use(self, name: str | None) -> None:
        """Activate adapter ``name`` (``None``: the bare base); the base stays, nothing is reloaded."""
        lib = self._lib
        if name is None:
            code = lib.llama_set_adapters_lora(self._ctx, None, 0, None)
        else:
            if name not in self._handles:
                loaded = ", ".join(self._handles) or "none"
                raise BijouError(f"no adapter {name!r} loaded (loaded: {loaded})")
            handles = (lib.llama_adapter_lora_p_ctypes * 1)(self._handles[name])
            code = lib.llama_set_adapters_lora(self._ctx, handles, 1, (ctypes.c_float * 1)(1.0))
        if code:
            raise BijouError(f"llama.cpp could not switch to adapter {name!r} (error {code})")
        self.active = name

    def add_end_token(self, text: str) -> None:
        self.end_ids.update(self.tokenize(text))

    def vocabulary(self) -> Vocabulary:
        if self._vocabulary is None:
            self._vocabulary = Vocabulary.from_llama(self._vocab, sorted(self.end_ids))
        return self._vocabulary

    def tokenize(self, text: str, special: bool = True) -> list[int]:
        return self.llm.tokenize(text.encode(), add_bos=False, special=special)

    def detokenize(self, ids: list[int]) -> str:
        return self.llm.detokenize(ids, special=True).decode(errors="replace")

    def _decode(self, ids: list[int], rows: int = 1) -> None:
        """Run ``ids``, keeping the scores after each of the last ``rows`` of them."""
        if self._n_past + len(ids) > self.n_ctx:  # llama_decode would fail and leave the context broken
            raise BijouError(f"{self._n_past + len(ids):,} tokens do not fit the context of {self.n_ctx:,}")
        batch, size = self.llm._batch, self.llm.n_batch
        first = len(ids) % size or size  # the chunks end on a full one, holding the last rows' tokens
        for start, end in itertools.pairwise([0, *range(first, len(ids) + 1, size)]):
            chunk = ids[start:end]
            batch.set_batch(batch=chunk, n_past=self._n_past, logits_all=False)
            if end == len(ids):
                for i in range(max(0, len(chunk) - rows), len(chunk)):
                    batch.batch.logits[i] = True
            self.llm._ctx.decode(batch)
            self._n_past += len(chunk)

    def start(self, prefix: list[int]) -> None:
        """Positions 0.. hold ``prefix`` as computed with the active adapter: kept if already there,
        else restored from the saved state of that (adapter, prefix), else computed and saved."""
        lib = self._lib
        key = (self.active, tuple(prefix))
        if self._prefix == key:
            self.truncate(len(prefix))
            return
        lib.llama_memory_seq_rm(self._memory, 0, -1, -1)
        self._n_past = 0
        if key in self._saved:
            data = self._saved[key]
            buffer = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
            if lib.llama_state_seq_set_data(self._ctx, buffer, len(data), 0) != len(data):
                raise RuntimeError("llama.cpp could not restore a prompt prefix")
            self._n_past = len(prefix)
        elif prefix:
            self._decode(prefix)
            size = lib.llama_state_seq_get_size(self._ctx, 0)
            buffer = (ctypes.c_uint8 * size)()
            lib.llama_state_seq_get_data(self._ctx, buffer, size, 0)
            self._saved[key] = bytes(buffer)
        self._prefix = key

    def feed(self, ids: list[int], rows: int = 1) -> np.ndarray:
        self._decode(ids, rows)
        last = min(rows, len(ids))
        scores = np.empty((last, self.n_vocab), dtype=np.float32)
        for i in range(last):
            scores[i] = np.ctypeslib.as_array(self.llm._ctx.get_logits_ith(i - last), shape=(self.n_vocab,))
        return scores

    def truncate(self, length: int) -> None:
        self._lib.llama_memory_seq_rm(self._memory, 0, length, -1)
        self._n_past = length


class MergedLlamaCppBackend:
    """One llama.cpp model (and context, and prompt-prefix states) per adapter, each a GGUF of the
    base with that adapter merged in; ``use(name)`` only changes which one answers, so a swap moves
    no state. The bare base (``use(None)``) is loaded on its first use, or at once with no adapter."""

    name = "llama.cpp"
    tokenizer = None

    def __init__(
        self,
        model_path: str | Path,
        adapters: dict[str, str | Path] | None = None,
        n_ctx: int = CONTEXT,
        n_threads: int | None = None,
    ):
        if not Path(model_path).is_file():
            raise BijouError(f"{model_path}: no such GGUF file")
        self._base_path, self._n_ctx, self._threads = Path(model_path), n_ctx, n_threads
        self._models: dict[str | None, LlamaCppBackend] = {}
        self.end_ids: set[int] = set()
        self._vocabulary: Vocabulary | None = None
        for name, path in (adapters or {}).items():
            self.load_adapter(name, path)
        self.active: str | None = None
        self._model = self._models[next(iter(self._models))] if self._models else self._open(None, model_path)
        self.n_ctx = self._model.n_ctx

    def _open(self, name: str | None, path: str | Path) -> LlamaCppBackend:
        model = LlamaCppBackend(path, n_ctx=self._n_ctx, n_threads=self._threads)
        self.end_ids |= model.end_ids
        model.end_ids = self.end_ids  # one vocabulary: every model stops at the same tokens
        self._models[name] = model
        return model

    @property
    def adapters(self) -> list[str]:
        return [name for name in self._models if name is not None]

    def load_adapter(self, name: str, path: str | Path) -> None:
        """Make one more merged model resident."""
        if not Path(path).is_file():
            raise BijouError(f"{path}: no such merged GGUF file")
        self._open(name, path)

    def unload_adapter(self, name: str) -> None:
        """Stop serving adapter ``name`` and free its model."""
        if self.active == name:
            self.use(None)
        self._models.pop(name).llm.close()

    def use(self, name: str | None) -> None:
        """Let adapter ``name``'s model answer (``None``: the bare base, loaded on its first use)."""
        if name not in self._models:
            if name is not None:
                raise BijouError(f"no adapter {name!r} loaded (loaded: {', '.join(self.adapters) or 'none'})")
            self._open(None, self._base_path)
        self._model = self._models[name]
        self.active = name

    def add_end_token(self, text: str) -> None:
        self.end_ids.update(self.tokenize(text))

    def vocabulary(self) -> Vocabulary:
        if self._vocabulary is None:  # one for all: the models share their tokenizer
            self._vocabulary = self._model.vocabulary()
        return self._vocabulary

    def tokenize(self, text: str, special: bool = True) -> list[int]:
        return self._model.tokenize(text, special)

    def detokenize(self, ids: list[int]) -> str:
        return self._model.detokenize(ids)

    def start(self, prefix: list[int]) -> None:
        self._model.start(prefix)

    def feed(self, ids: list[int], rows: int = 1) -> np.ndarray:
        return self._model.feed(ids, rows)

    def truncate(self, length: int) -> None:
        self._model.truncate(length)
