"""The transformers backend: one resident base model, PEFT adapters loaded once and switched in place."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..calls import parse
from ..errors import BijouError
from ..models import resolve_model


@dataclass(frozen=True)
class Generation:
    """Model text for one prompt, with the latency split."""

    text: str
    prefill_s: float
    decode_s: float
    prompt_tokens: int
    new_tokens: int

    @property
    def seconds(self) -> float:
        return self.prefill_s + self.decode_s


class HFModel:
    """A base model with any number of LoRA adapters resident; ``use(name)`` activates one, ``None``
    the bare base."""

    def __init__(self, base: str, adapters: dict[str, str | Path] | None = None, dtype: str = "fp32"):
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
        self.active: str | None = None

    def _load_adapter(self, model: Any, name: str, path: Path) -> Any:
        from peft import PeftModel

        if not (path / "adapter_config.json").is_file():
            raise BijouError(f"{path}: not an adapter folder (no adapter_config.json)")
        if not self.adapters:
            model = PeftModel.from_pretrained(model, str(path), adapter_name=name)
        else:
            model.load_adapter(str(path), adapter_name=name)
        self.adapters.append(name)
        return model

    def use(self, name: str | None) -> None:
        """Activate adapter ``name`` (``None``: the bare base model); nothing is reloaded."""
        if name is not None:
            if name not in self.adapters:
                raise BijouError(f"no adapter {name!r} loaded (loaded: {', '.join(self.adapters) or 'none'})")
            self.model.set_adapter(name)
        self.active = name

    def _context(self):
        if self.active is None and self.adapters:
            return self.model.disable_adapter()
        return contextlib.nullcontext()

    def generate(self, prompt: str, stop: str, max_new_tokens: int = 128) -> Generation:
        """Greedy decoding with a KV cache until ``stop`` (the prompt format's end marker), or until
        the text holds a complete JSON list: the call parser reads nothing after it."""
        torch = self.torch
        ids = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=False).input_ids
        stop_id = self.tokenizer.convert_tokens_to_ids(stop)
        out: list[int] = []
        with torch.inference_mode(), self._context():
            started = time.perf_counter()
            result = self.model(input_ids=ids, use_cache=True)
            token = int(result.logits[0, -1].argmax())
            prefill = time.perf_counter() - started
            started = time.perf_counter()
            cache = result.cache
            while token != stop_id and len(out) < max_new_tokens:
                out.append(token)
                if "]" in self.tokenizer.decode([token]) and parse(self.tokenizer.decode(out)).ok:
                    break
                result = self.model(input_ids=torch.tensor([[token]]), cache=cache, use_cache=True)
                cache = result.cache
                token = int(result.logits[0, -1].argmax())
            decode = time.perf_counter() - started
        text = self.tokenizer.decode(out, skip_special_tokens=False)
        return Generation(text, prefill, decode, ids.shape[1], len(out))
