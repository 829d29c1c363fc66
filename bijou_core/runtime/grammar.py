"""Schema-constrained decoding: a grammar of call lists to one device's tools, through xgrammar.

The grammar is compiled from the JSON Schema of a call list (:func:`calls_schema`), in the exact
layout :func:`bijou_core.calls.dumps` prints and models are trained on (``", "`` and ``": "``, no
other whitespace). xgrammar was chosen by measurement (``benchmarks/constrained-decoding.md``); it
also tells which text the grammar forces next (jump-forward), which the decoder feeds as one chunk.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import BijouError
from ..schema import MAX_CALLS, calls_schema

SEPARATORS = (", ", ": ")  # as bijou_core.calls.dumps writes them


@dataclass(frozen=True)
class Choice:
    """Which call lists an answer may be: calls to ``tools`` only (``None``: all of the device's), at
    least ``min_calls`` and at most ``max_calls`` of them. ``Choice(max_calls=0)`` allows only ``[]``;
    ``Choice(("set_volume",), min_calls=1)`` forces that tool (OpenAI's ``tool_choice`` values)."""

    tools: tuple[str, ...] | None = None
    min_calls: int = 0
    max_calls: int = MAX_CALLS

    @property
    def restricts(self) -> bool:
        return self != ANY_CALLS

    def allowed(self, tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The tools of ``tools`` this choice allows, in their order."""
        return [t for t in tools if self.tools is None or t["name"] in self.tools]


ANY_CALLS = Choice()  # any list of calls to the device's tools, [] included


class Vocabulary:
    """A tokenizer's vocabulary as xgrammar sees it, built once per resident model."""

    def __init__(self, info: Any):
        xgrammar = _xgrammar()
        self.info = info
        self.compiler = xgrammar.GrammarCompiler(info)
        self._pieces: list[bytes] | None = None
        self._first: Any = None

    def starts(self, allowed: Any) -> list[str]:
        """One allowed token's text per distinct first byte (``allowed``: a boolean array by id)."""
        import numpy as np

        if self._pieces is None:
            self._pieces = list(self.info.decoded_vocab)
            self._first = np.array([p[0] if p else 256 for p in self._pieces])
        ids = np.flatnonzero(allowed[: len(self._pieces)])
        _, first = np.unique(self._first[ids], return_index=True)
        texts = []
        for token in ids[first]:
            try:
                texts.append(self._pieces[token].decode())
            except UnicodeDecodeError:
                continue
        return [t for t in texts if t]

    @classmethod
    def from_hf(cls, tokenizer: Any, vocab_size: int) -> Vocabulary:
        return cls(_xgrammar().TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab_size))

    @classmethod
    def from_pieces(cls, pieces: list[bytes], stop_ids: list[int]) -> Vocabulary:
        """From each token's decoded bytes (what llama.cpp's ``token_to_piece`` gives)."""
        xgrammar = _xgrammar()
        info = xgrammar.TokenizerInfo(pieces, xgrammar.VocabType.RAW, stop_token_ids=stop_ids)
        return cls(info)

    def grammar(self, tools: list[dict[str, Any]], choice: Choice = ANY_CALLS) -> CallGrammar:
        """The grammar of call lists to ``tools`` that ``choice`` allows."""
        schema = calls_schema(choice.allowed(tools), choice.min_calls, choice.max_calls)
        compiled = self.compiler.compile_json_schema(
            schema, any_whitespace=False, separators=SEPARATORS, strict_mode=True
        )
        return CallGrammar(compiled, self)


def _xgrammar() -> Any:
    try:
        import xgrammar
    except ImportError:
        raise BijouError(
            "constrained decoding needs xgrammar: pip install --no-deps xgrammar (or pass --no-constrain)"
        ) from None
    return xgrammar


class CallGrammar:
    """The compiled grammar of one device's call lists; :meth:`matcher` starts one answer."""

    def __init__(self, compiled: Any, vocabulary: Vocabulary):
        self.compiled = compiled
        self.vocabulary = vocabulary

    def matcher(self) -> CallMatcher:
        return CallMatcher(self)


class CallMatcher:
    """Where one answer is in the grammar: masks logits, accepts tokens, says what is forced."""

    def __init__(self, grammar: CallGrammar):
        import xgrammar

        self._xgr = xgrammar
        self._vocabulary = grammar.vocabulary
        self._matcher = xgrammar.GrammarMatcher(grammar.compiled, terminate_without_stop_token=True)
        self._bitmask = xgrammar.allocate_token_bitmask(1, grammar.vocabulary.info.vocab_size)

    def mask(self, logits: Any) -> None:
        """Set the scores of tokens the grammar does not allow next to -inf (a 1-D torch tensor);
        scores past the vocabulary (a model's padded output rows) are never allowed."""
        self._matcher.fill_next_token_bitmask(self._bitmask)
        size = self._vocabulary.info.vocab_size
        self._xgr.apply_token_bitmask_inplace(logits[None, :size], self._bitmask)
        if logits.shape[-1] > size:
            import torch

            with torch.inference_mode():  # the backends' logits are inference tensors
                logits[size:] = float("-inf")

    def accept(self, token: int) -> None:
        if not self._matcher.accept_token(token):
            raise RuntimeError(f"the grammar rejected token {token}")

    def accept_text(self, text: str) -> None:
        if not self._matcher.accept_string(text):
            raise RuntimeError(f"the grammar rejected {text!r}")

    def continuations(self, text: str) -> list[str]:
        """After ``text`` (not accepted): a sample of what may follow, one token per first byte."""
        import numpy as np

        probe = self._matcher.fork()
        if not probe.accept_string(text) or probe.is_terminated():
            return []
        probe.fill_next_token_bitmask(self._bitmask)
        bits = np.unpackbits(self._bitmask[0].numpy().view(np.uint8), bitorder="little").astype(bool)
        return self._vocabulary.starts(bits)

    def allowed_prefix(self, tokens: list[int]) -> int:
        """How many of ``tokens``, from the first, the grammar would accept from here (nothing is
        accepted)."""
        probe = self._matcher.fork()
        for n, token in enumerate(tokens):
            if not probe.accept_token(token):
                return n
        return len(tokens)

    def forced(self) -> str:
        """The text the grammar allows as the only continuation from here ('' if there is a choice)."""
        return self._matcher.find_jump_forward_string()

    @property
    def done(self) -> bool:
        """A complete call list has been produced: nothing may follow."""
        return self._matcher.is_terminated()
