"""The transformers backend: one resident base model, PEFT adapters loaded once and switched in place."""

from __future__ import annotations

import contextlib
import copy
from pathlib import Path
from typing import Any

from ..errors import BijouError
from ..models import resolve_model
from .decoding import CONTEXT
from .grammar import Vocabulary


class HFBackend:
    """A base model with any number of LoRA adapters resident; ``use(name)`` activates one, ``None``
    the bare base. Each adapter's prompt-prefix cache is kept, so a swap costs no prefill."""

    name = "transformers"

    def __init__(
        self,
        base: str,
        adapters: dict[str, str | Path] | None = None,
        dtype: str = "fp32",
        n_ctx: int | None = None,
    ):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        source = resolve_model(base)
        self.tokenizer = AutoTokenizer.from_pretrained(source)
        torch_dtype = torch.bfloat16 if dtype == "bf16" else torch.float32
        model = AutoModelForCausalLM.from_pretrained(source, dtype=torch_dtype)
        model.eval()
        self.adapters: list[str] = []
        for name, path in (adapters or {}).items():
            model = self._load_adapter(model, name, Path(path))
        self.model = model
        longest = getattr(model.config, "max_position_embeddings", None) or CONTEXT
        self.n_ctx = min(n_ctx, longest) if n_ctx else longest  # default: all the model takes
        self.active: str | None = None
        self.end_ids = {
            i for i in (self.tokenizer.eos_token_id, self.tokenizer.pad_token_id) if i is not None
        }
        self._prefixes: dict[tuple[str | None, tuple[int, ...]], Any] = {}
        self._cache: Any = None
        self._vocabulary: Vocabulary | None = None

    def _load_adapter(self, model: Any, name: str, path: Path) -> Any:
        from peft import PeftModel

        if not (path / "adapter_config.json").is_file():
            raise BijouError(f"{path}: not an adapter folder (no adapter_config.json)")
        try:
            if not self.adapters:
                model = PeftModel.from_pretrained(model, str(path), adapter_name=name)
            else:
                model.load_adapter(str(path), adapter_name=name)
        except Exception as exc:  # a truncated or foreign adapter: PEFT, safetensors, json raise
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise BijouError(f"{path}: cannot load the adapter: {reason}") from None
        self.adapters.append(name)
        return model

    def load_adapter(self, name: str, path: str | Path) -> None:
        """Make one more adapter resident (the base is not reloaded)."""
        self.model = self._load_adapter(self.model, name, Path(path))

    def unload_adapter(self, name: str) -> None:
        """Forget adapter ``name`` and its cached prompt prefixes."""
        if self.active == name:
            self.use(None)
        self.adapters.remove(name)
        if self.adapters:
            self.model.delete_adapter(name)
        else:  # the last one: back to the bare base model (PEFT serves no model without an adapter)
            self.model = self.model.unload()
        self._prefixes = {key: cache for key, cache in self._prefixes.items() if key[0] != name}

    def use(self, name: str | None) -> None:
        """Activate adapter ``name`` (``None``: the bare base model); nothing is reloaded."""
        if name is not None:
            if name not in self.adapters:
                raise BijouError(f"no adapter {name!r} loaded (loaded: {', '.join(self.adapters) or 'none'})")
            self.model.set_adapter(name)
        self.active = name
        self._cache = None

    def add_end_token(self, text: str) -> None:
        """Also stop at ``text`` (the prompt format's end marker)."""
        self.end_ids.add(self.tokenizer.convert_tokens_to_ids(text))

    def vocabulary(self) -> Vocabulary:
        if self._vocabulary is None:
            self._vocabulary = Vocabulary.from_hf(self.tokenizer, self.model.config.vocab_size)
        return self._vocabulary

    def tokenize(self, text: str, special: bool = True) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False, split_special_tokens=not special).input_ids

    def detokenize(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)

    def _context(self) -> contextlib.AbstractContextManager[Any]:
        if self.active is None and self.adapters:
            return self.model.disable_adapter()
        return contextlib.nullcontext()

    def _forward(self, ids: list[int], rows: int = 1) -> Any:
        from transformers import DynamicCache

        torch = self.torch
        # A cache of full layers, sliding-window ones included (Gemma 3; the mask applies the window),
        # so that truncate() can go back past a window's worth of positions.
        cache = self._cache if self._cache is not None else DynamicCache()
        with torch.inference_mode(), self._context():
            result = self.model(
                input_ids=torch.tensor([ids]), cache=cache, use_cache=True, logits_to_keep=rows
            )
        self._cache = result.cache
        return result.logits[0, -rows:].float().numpy()

    def start(self, prefix: list[int]) -> None:
        self._cache = None
        if not prefix:
            return
        key = (self.active, tuple(prefix))
        if key not in self._prefixes:
            self._forward(prefix)
            self._prefixes[key] = self._cache
        self._cache = copy.deepcopy(self._prefixes[key])

    def feed(self, ids: list[int], rows: int = 1) -> Any:
        return self._forward(ids, rows)

    def truncate(self, length: int) -> None:
        extra = self._cache.get_seq_length() - length
        if extra > 0:
            self._cache.crop(-extra)  # transformers 5: a negative count of tokens to drop
