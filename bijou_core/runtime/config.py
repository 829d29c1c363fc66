"""How an engine runs: one value for the backend, its quantization, threads and swap strategy, and
the decoding choices (constrained, declining, the call and tool thresholds, guessing ahead) that ``bijou
run``, ``bijou serve``, ``bijou bench`` and evaluation pass down."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import BijouError
from .backends import BACKENDS
from .decoding import CALL_THRESHOLD, DRAFT_TOKENS, TOOL_THRESHOLD

SWAPS = ("lora", "merged")  # llama.cpp: LoRAs applied at run time, or one merged model per adapter
# Free-text arguments: as the model writes them (off), made only of the command's words (mask), or
# the same with a word from elsewhere turning the answer into no call (decline).
COPY_TEXT = ("off", "mask", "decline")
COPY_TEXT_DEFAULT = "mask"  # chosen on the blind dev sets (benchmarks/blind/levers.md, 25th round)


@dataclass(frozen=True)
class EngineConfig:
    """An engine's settings (see :func:`~bijou_core.runtime.decoding.generate` for the decoding ones)."""

    backend: str = "transformers"  # transformers (PEFT adapters) or llama.cpp (GGUF files)
    quant: str = "q8_0"  # llama.cpp: the GGUF type of the base
    threads: int | None = None  # llama.cpp: CPU threads (None: every core the process may use)
    swap: str = "lora"  # llama.cpp: one base with GGUF LoRAs, or one resident merged model per adapter
    constrain: bool = True  # answers are call lists of the device's tools, schema-valid
    decline: bool = True  # with constrain: no call when the grammar masks the model's own choice
    call_threshold: float = CALL_THRESHOLD  # with constrain: no call when the model is less sure
    tool_threshold: float = TOOL_THRESHOLD  # with constrain: no call when less sure of the first tool
    draft_tokens: int = DRAFT_TOKENS  # the user's tokens guessed ahead per model call (0: none)
    copy_text: str = COPY_TEXT_DEFAULT  # with constrain: free-text arguments of the command's words

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise BijouError(f"unknown backend {self.backend!r} (expected one of {', '.join(BACKENDS)})")
        if self.swap not in SWAPS:
            raise BijouError(f"unknown swap strategy {self.swap!r} (expected one of {', '.join(SWAPS)})")
        if self.swap == "merged" and self.backend != "llama.cpp":
            raise BijouError(
                "swap strategy 'merged' needs the llama.cpp backend (transformers swaps PEFT adapters)"
            )
        if self.copy_text not in COPY_TEXT:
            raise BijouError(
                f"unknown copy-text mode {self.copy_text!r} (expected one of {', '.join(COPY_TEXT)})"
            )
        for name in ("call", "tool"):
            value = getattr(self, f"{name}_threshold")
            if not 0.0 <= value <= 1.0:
                raise BijouError(f"{name} threshold {value}: expected a probability from 0 to 1")
        if self.draft_tokens < 0 or (self.threads is not None and self.threads < 1):
            raise BijouError("draft tokens must be 0 or more, threads 1 or more")


DEFAULTS = EngineConfig()
