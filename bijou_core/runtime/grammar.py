"""Schema-constrained decoding: a grammar of call lists to one device's tools, through llguidance.

The grammar is compiled from the JSON Schema of a call list (:func:`calls_schema`), in the exact
layout :func:`bijou_core.calls.dumps` prints and models are trained on (``", "`` and ``": "``, no
other whitespace). llguidance was chosen by measurement (``benchmarks/grammar-engines.md``): it
masks numpy scores without torch (the llama.cpp runtime needs neither torch nor transformers), and
it tells which text the grammar forces next (fast-forward), which the decoder feeds as one chunk.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import BijouError
from ..schema import MAX_CALLS, calls_schema

SEPARATORS = (", ", ": ")  # as bijou_core.calls.dumps writes them
WORD = re.compile(r"[^\W_]+")  # a run of letters and digits, in any script
MAX_COPIED_WORDS = 200  # distinct words of a command its free text may be held to


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
    """A tokenizer's vocabulary as llguidance sees it (an ``LLTokenizer``), built once per resident
    model."""

    def __init__(self, tokenizer: Any):
        self.tokenizer = tokenizer
        self.size: int = tokenizer.vocab_size
        self._pieces: list[bytes] = []
        self._first: np.ndarray | None = None

    def starts(self, allowed: np.ndarray) -> list[str]:
        """One allowed token's text per distinct first byte (``allowed``: a boolean array by id)."""
        if self._first is None:
            self._pieces = [self.tokenizer.decode_bytes([token]) for token in range(self.size)]
            self._first = np.array([p[0] if p else 256 for p in self._pieces])
        ids = np.flatnonzero(allowed[: self.size])
        _, first = np.unique(self._first[ids], return_index=True)
        texts = []
        for token in ids[first].tolist():
            if self.tokenizer.is_special_token(token):
                continue
            try:
                texts.append(self._pieces[token].decode())
            except UnicodeDecodeError:
                continue
        return [t for t in texts if t]

    @classmethod
    def from_hf(cls, tokenizer: Any, vocab_size: int) -> Vocabulary:
        """From a fast transformers tokenizer, with ``vocab_size`` rows of scores."""
        from llguidance.hf import from_tokenizer

        return cls(from_tokenizer(tokenizer, n_vocab=vocab_size))

    @classmethod
    def from_llama(cls, vocab: Any, stop_ids: list[int]) -> Vocabulary:
        """From a llama.cpp model's vocabulary (a ``llama_vocab`` pointer)."""
        from llguidance.llamacpp import lltokenizer_from_vocab

        return cls(lltokenizer_from_vocab(vocab, eos_token=stop_ids))

    def grammar(
        self, tools: list[dict[str, Any]], choice: Choice = ANY_CALLS, text_pattern: str | None = None
    ) -> CallGrammar:
        """The grammar of call lists to ``tools`` that ``choice`` allows (free-text strings matching
        ``text_pattern``, where it is given: see :func:`copy_pattern`)."""
        grammar = self.compile(
            calls_schema(choice.allowed(tools), choice.min_calls, choice.max_calls, text_pattern)
        )
        # the tools' own schemas are checked once; a command's pattern (made here) when it starts
        error = (
            None
            if text_pattern
            else _llguidance().LLMatcher.validate_grammar(grammar.grammar, self.tokenizer)
        )
        if error:
            raise BijouError(
                f"cannot compile the call grammar of {', '.join(t['name'] for t in tools)}: {error}"
            )
        return grammar

    def compile(self, schema: dict[str, Any]) -> CallGrammar:
        """The grammar of the JSON values ``schema`` allows, in the layout calls are written in."""
        layout = {
            "item_separator": SEPARATORS[0],
            "key_separator": SEPARATORS[1],
            "whitespace_flexible": False,
        }
        # no_forcing: the mask allows every token the grammar's bytes allow, not only the first token
        # of forced text's own split (the model may write '"}' where '"}}' is forced, then '},')
        lark = (
            f'%llguidance {{"no_forcing": true}}\nstart: %json {json.dumps({**schema, "x-guidance": layout})}'
        )
        return CallGrammar(_llguidance().LLMatcher.grammar_from_lark(lark), self)


def copy_pattern(*texts: str) -> str | None:
    """The regex of a string made only of words of ``texts``, with anything but letters and digits
    around and between them: what a free-text argument copied from a command may say. Each word as
    the command writes it, or in lower case, capitalized or upper case (a model held to "anna" may
    write "Anna", never "AnNa"). None past ``MAX_COPIED_WORDS`` distinct words: no spoken command
    has that many, and the regex would take longer to build than the command to answer."""
    said = {word for text in texts for word in WORD.findall(text)}
    if len({word.lower() for word in said}) > MAX_COPIED_WORDS:
        return None
    forms = {form for word in said for form in (word, word.lower(), word.capitalize(), word.upper())}
    other = r"[^\p{L}\p{N}]"
    if not forms:
        return f"^{other}*$"
    word = f"(?:{'|'.join(re.escape(w) for w in sorted(forms, key=lambda w: (-len(w), w)))})"
    return f"^{other}*(?:{word}(?:{other}+{word})*)?{other}*$"


def _llguidance() -> Any:
    try:
        import llguidance
    except ImportError:
        raise BijouError(
            "constrained decoding needs llguidance: pip install llguidance (or pass --no-constrain)"
        ) from None
    return llguidance


class CallGrammar:
    """The compiled grammar of one device's call lists; :meth:`matcher` starts one answer."""

    def __init__(self, grammar: str, vocabulary: Vocabulary):
        self.grammar = grammar
        self.vocabulary = vocabulary
        self._fresh: Any = None  # a matcher at the start, copied for each answer (~0.03 ms, not ~4)

    def matcher(self, wider: CallGrammar | None = None) -> CallMatcher:
        """A matcher at the start of an answer; with ``wider`` (a grammar allowing more), it also
        follows that grammar, to tell what only this one rules out (:meth:`CallMatcher.rules_out`)."""
        return CallMatcher(self._start(), self.vocabulary, wider._start() if wider else None)

    def _start(self) -> Any:
        import llguidance

        if self._fresh is None:
            self._fresh = llguidance.LLMatcher(self.vocabulary.tokenizer, self.grammar, log_level=0)
            if self._fresh.is_error():
                raise BijouError(f"cannot compile a call grammar: {self._fresh.get_error()}")
        return self._fresh.deep_copy()


class CallMatcher:
    """Where one answer is in the grammar: masks scores, accepts tokens, says what is forced."""

    def __init__(self, matcher: Any, vocabulary: Vocabulary, wider: Any | None = None):
        from llguidance.numpy import allocate_token_bitmask

        self._matcher = matcher
        self._wider = wider
        self._vocabulary = vocabulary
        self._bitmask = allocate_token_bitmask(1, vocabulary.size)

    def _allowed(self, matcher: Any) -> np.ndarray:
        """Whether each token id may come next in ``matcher`` (a boolean array, 32-padded)."""
        from llguidance.numpy import fill_next_token_bitmask

        fill_next_token_bitmask(matcher, self._bitmask)
        return np.unpackbits(self._bitmask[0].view(np.uint8), bitorder="little").view(bool)

    def mask(self, logits: np.ndarray) -> None:
        """Set the scores of tokens the grammar does not allow next to -inf (a 1-D float32 numpy
        array); scores past the vocabulary (a model's padded output rows) are never allowed."""
        allowed = self._allowed(self._matcher)
        known = min(len(allowed), logits.shape[-1])
        head = logits[:known]
        head[~allowed[:known]] = -np.inf
        logits[known:] = -np.inf

    def rules_out(self, token: int) -> bool:
        """Whether ``token`` may not come next: under the wider grammar where there is one (a token
        only this grammar masks is not ruled out), else under this one."""
        return not (self._wider or self._matcher).validate_tokens([token])

    def accept(self, token: int) -> None:
        for matcher in self._followed():
            if not matcher.consume_token(token):
                raise RuntimeError(f"the grammar rejected token {token}: {matcher.get_error()}")

    def accept_text(self, text: str) -> None:
        if not all(self._consume_text(matcher, text) for matcher in self._followed()):
            raise RuntimeError(f"the grammar rejected {text!r}")

    def _followed(self) -> list[Any]:
        return [self._matcher] if self._wider is None else [self._matcher, self._wider]

    def _consume_text(self, matcher: Any, text: str) -> bool:
        """Advance ``matcher`` over ``text`` (its state depends on the bytes, not on their token split)."""
        tokens = self._vocabulary.tokenizer.tokenize_str(text)
        return matcher.validate_tokens(tokens) == len(tokens) and matcher.consume_tokens(tokens)

    def continuations(self, text: str) -> list[str]:
        """After ``text`` (not accepted): a sample of what may follow, one token per first byte."""
        probe = self._matcher.deep_copy()
        if not self._consume_text(probe, text) or probe.is_stopped():
            return []
        return self._vocabulary.starts(self._allowed(probe))

    def allowed_prefix(self, tokens: list[int]) -> int:
        """How many of ``tokens``, from the first, the grammar would accept from here (nothing is
        accepted)."""
        return self._matcher.validate_tokens(tokens)

    def forced(self) -> str:
        """The text the grammar allows as the only continuation from here ('' if there is a choice)."""
        forced = self._matcher.compute_ff_bytes()
        return forced.decode(errors="ignore")  # a character cut at the end is left for the model

    @property
    def done(self) -> bool:
        """A complete call list has been produced: nothing may follow."""
        return self._matcher.is_stopped()
