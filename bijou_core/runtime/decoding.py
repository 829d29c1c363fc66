"""The one decoding loop, shared by both backends: prompt in, call-list text out, timed.

A backend only knows how to tokenize, swap adapters, keep a prompt prefix's state, run tokens through
the model and forget tokens. The loop does the rest the same way for both:

- the prompt's shared prefix (the system turn) is the backend's cached state for the active adapter,
  so only the user's turn is prefilled;
- greedy decoding; with a grammar, disallowed tokens are masked, and text the grammar forces (a
  tool name once it is unambiguous, ``", "arguments": {"``, closing brackets) is fed in the same
  model call as the token before it (or the prompt), instead of being decoded token by token; text
  forced at the very end is never fed at all;
- it stops at the format's end token, or once the text holds a complete call list;
- the user's text is tokenized with special-token parsing off: typed chat markers
  (``<|im_end|>``) stay text and never end or open a turn;
- a prompt that leaves the answer no room in the model's context is refused (:class:`TooLong`)
  before the model sees it, and no step ever feeds past the context;
- with ``decline``, when the grammar masks the model's own first choice (it was writing a value, a
  call or an ending the device's tools do not allow: for "who won the game last night", a
  ``media_control`` action "last"), the answer is no call instead of the allowed call the grammar
  would force (``next_track``); a choice that only a narrower grammar masks (a free-text value
  held to the command's words: "Ava" for "send it to anna") is not declined, the model's best
  allowed token is taken (:meth:`~bijou_core.runtime.grammar.CallMatcher.rules_out`);
- at the model's first choice between no call (``[]``) and a call, the probability it gives the
  call (``p_call``) is kept; below ``call_threshold`` the answer is no call: an always-listening
  device acts only on what its model is sure is a command (``benchmarks/blind/levers.md``);
- while the model writes the first call's tool name, the probability it gives that name under the
  grammar (``p_tool``: the product over the name's tokens it chose; tokens the grammar forces count
  1) is kept; below ``tool_threshold`` the answer is no call: a model that is sure it should call
  something but not sure what is often acting on speech that was not a command;
- with ``draft_tokens``, text the model is likely to copy from the user's words (a message, a
  search, a number) is guessed by prompt lookup: inside a string value, the user's text after the
  value so far (and the usual ``"}}]`` ending), after a digit the user's tokens after it; the
  guess, cut where the grammar rules it out, is fed along with the token before it in one model
  call and kept as far as the model, under the grammar, would have chosen it itself. The answer
  is the same greedy answer; only the number of model calls shrinks (``benchmarks/latency.md``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ..calls import dumps, parse
from ..errors import BijouError
from .grammar import CallMatcher

CONTEXT = 1024  # positions of a backend's context (prompt and answer), both backends alike
MAX_NEW_TOKENS = 256  # an answer's budget: a few calls
# The least probability of a call, at the model's first choice between [] and a call, for the
# answer to be a call (chosen on the blind dev sets: benchmarks/blind/levers.md, 0.6 in the
# eleventh round, 0.7 in the twenty-sixth).
CALL_THRESHOLD = 0.7
# The least probability of the first call's tool name, under the grammar, for the answer to be a
# call (chosen on the blind dev sets: benchmarks/blind/levers.md, twentieth round).
TOOL_THRESHOLD = 0.8
# At most this many of the user's tokens are guessed ahead in one model call (0: no guessing).
DRAFT_TOKENS = 8
# After the user's words a string value copies, a guess of how the answer most often ends: the
# value, its call and the list closed.
CLOSE = '"}}]'
# A call list's text up to its first tool name: while the answer is this and a name without its
# closing quote, the model is choosing the tool.
NAME_OPEN = dumps([{"name": "N", "arguments": {}}]).partition('"N"')[0] + '"'


class TooLong(BijouError):
    """A command too long for the model's context: refused before the model sees it."""


class Backend(Protocol):
    """What the decoding loop needs from a model runtime."""

    end_ids: set[int]
    n_ctx: int  # positions the model's context holds

    def tokenize(self, text: str, special: bool = True) -> list[int]:
        """Token ids of ``text``; ``special=False`` reads chat markers in it as plain text."""

    def detokenize(self, ids: list[int]) -> str: ...

    def start(self, prefix: list[int]) -> None:
        """Make the model's state hold exactly ``prefix`` (restored from cache where possible)."""

    def feed(self, ids: list[int], rows: int = 1) -> np.ndarray:
        """Run ``ids`` after the current state; the next-token scores after each of the last
        ``rows`` of them (a ``rows`` x vocabulary float32 numpy array)."""

    def truncate(self, length: int) -> None:
        """Forget every position from ``length`` on."""


Masses = tuple[float, float, float]
"""Probability masses at the model's first choice: of no call, of a call, of a bare ``[``."""


@dataclass(frozen=True)
class Generation:
    """Model text for one prompt, with the latency split."""

    text: str
    prefill_s: float  # to the first scores (in an engine, a grammar built for the command included)
    decode_s: float
    prompt_tokens: int
    cached_tokens: int
    new_tokens: int
    forced_tokens: int = 0
    declined: str | None = None  # the model's text up to the choice the grammar masked
    p_call: float | None = None  # the model's probability of a call at its first choice
    unsure: bool = False  # no call, as p_call (or p_tool) was below its threshold
    p_tool: float | None = None  # the model's probability, under the grammar, of the first call's tool
    passes: tuple[tuple[int, float], ...] = ()  # (tokens fed, seconds) of each model call, prefill first
    grammar_s: float = 0.0  # seconds spent masking scores and working out forced text
    drafted: int = 0  # tokens guessed from the user's words and fed ahead
    kept: int = 0  # of them, the ones the model chose itself

    @property
    def seconds(self) -> float:
        return self.prefill_s + self.decode_s


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _forced_tokens(backend: Backend, matcher: CallMatcher, out: list[int], forced: str) -> list[int]:
    """``out`` extended by the grammar's forced text, tokenized as the whole answer is in training.

    Only the tokens that stay the same whatever the grammar lets follow are taken: BPE merges
    depend on the characters after the forced text (``"}},`` is ``"}`` ``},`` but ``"}}]`` is ``"``
    ``}}`` ``]``), and a model fed a split it was never trained on answers worse. What is left of the
    forced text, the model decodes itself.
    """
    text = backend.detokenize(out)
    new = backend.tokenize(text + forced)
    stable = len(new)
    for continuation in matcher.continuations(forced):
        stable = min(stable, _common_prefix(new, backend.tokenize(text + forced + continuation)))
    if stable == len(new):
        matcher.accept_text(forced)
        return new
    head = backend.detokenize(new[:stable])
    if len(head) <= len(text) or not head.startswith(text):
        return out
    matcher.accept_text(head[len(text) :])
    return new[:stable]


def prompt_ids(backend: Backend, prompt: str, user: tuple[int, int] | None = None) -> list[int]:
    """The tokens of ``prompt``; the characters ``user`` spans (the user's text) are tokenized with
    special-token parsing off, the format's own text around them with it on."""
    if user is None:
        return backend.tokenize(prompt)
    start, end = user
    head, text, tail = prompt[:start], prompt[start:end], prompt[end:]
    ids = backend.tokenize(head) if head else []
    ids += backend.tokenize(text, special=False) if text else []
    return ids + (backend.tokenize(tail) if tail else [])


def generate(
    backend: Backend,
    prompt: str,
    prefix: str | None = None,
    matcher: CallMatcher | None = None,
    max_new_tokens: int = MAX_NEW_TOKENS,
    decline: bool = False,
    call_threshold: float = 0.0,
    user: tuple[int, int] | None = None,
    draft_tokens: int = 0,
    tool_threshold: float = 0.0,
) -> Generation:
    """Greedy decoding of ``prompt`` (whose first characters are ``prefix``, kept cached; ``user``
    spans the user's text in it); with ``matcher`` and ``decline``, no call when the grammar masks
    the model's first choice; with ``matcher``, no call when the model gives a call less than
    ``call_threshold`` probability or its first tool less than ``tool_threshold``; with
    ``draft_tokens``, up to that many of the user's tokens guessed ahead per model call. Raises
    :class:`TooLong` when the prompt leaves ``max_new_tokens`` no room in the backend's context."""
    started = time.perf_counter()
    ids = prompt_ids(backend, prompt, user)
    room = backend.n_ctx - max_new_tokens
    if len(ids) > room:
        raise TooLong(
            f"command too long: the prompt is {len(ids):,} tokens, the model's context holds {room:,} "
            f"besides the answer"
        )
    prefix_ids = backend.tokenize(prefix) if prefix else []
    if ids[: len(prefix_ids)] != prefix_ids:  # the prefix does not end on a token boundary
        prefix_ids = []
    words = prompt[user[0] : user[1]] if user and draft_tokens else ""
    source = backend.tokenize(words, special=False) if words else []
    backend.start(prefix_ids)
    seen = list(prefix_ids)  # the tokens the model's state holds
    rows: dict[int, np.ndarray] = {}  # the model's scores after the first n tokens of ``seen``, by n
    out: list[int] = []
    forced_tokens = drafted = kept = 0
    passes: list[tuple[int, float]] = []
    grammar_s = 0.0
    prefill = None
    declined = None
    p_call = p_tool = None
    named = False  # the first call's tool name is written (or forced), or there is no call
    opened = None  # the masses of the first choice, while it waits on the token after a bare "["
    while True:
        if matcher is not None:
            tick = time.perf_counter()
            if forced := matcher.forced():
                new = _forced_tokens(backend, matcher, out, forced)
                forced_tokens += len(new) - _common_prefix(out, new)
                out = new
            grammar_s += time.perf_counter() - tick
            if matcher.done:
                break
        if len(out) >= max_new_tokens:
            break
        sequence = ids + out
        if len(sequence) > backend.n_ctx:  # forced text past the context: the answer ends here
            break
        if len(seen) >= len(sequence) and seen[: len(sequence)] == sequence and len(sequence) in rows:
            logits = rows.pop(len(sequence))  # guessed right: the model already chose this token
            kept += 1
        else:
            keep = min(_common_prefix(seen, sequence), len(sequence) - 1)
            if keep < len(seen):
                backend.truncate(keep)
                del seen[keep:]
            room = min(draft_tokens, backend.n_ctx - len(sequence))
            guess = _draft(backend, out, words, source, room) if words else []
            if guess and matcher is not None:  # what the grammar rules out is a certain miss
                guess = guess[: matcher.allowed_prefix(guess)]
            pending = sequence[keep:] + guess
            tick = time.perf_counter()
            scores = backend.feed(pending, len(guess) + 1)
            passes.append((len(pending), time.perf_counter() - tick))
            seen += pending
            rows = {len(sequence) + i: scores[i] for i in range(1, len(guess) + 1)}
            logits = scores[0]
            drafted += len(guess)
        if prefill is None:
            prefill = time.perf_counter() - started
            started = time.perf_counter()
        if matcher is not None:
            wanted = int(np.argmax(logits))
            tick = time.perf_counter()
            matcher.mask(logits)
            grammar_s += time.perf_counter() - tick
            if decline and not np.isfinite(logits[wanted]) and matcher.rules_out(wanted):
                declined = backend.detokenize([*out, wanted])
                break
            if p_call is None:
                p_call, opened = _call_probability(backend, out, logits, opened)
                if p_call is not None and p_call < call_threshold:
                    break
        token = int(np.argmax(logits))
        if p_call is not None and not named:
            text = backend.detokenize(out)
            naming = text.startswith(NAME_OPEN) and '"' not in text[len(NAME_OPEN) :]
            named = len(text) > len(NAME_OPEN) and not naming
            if naming:
                p_tool = (1.0 if p_tool is None else p_tool) * _probability(logits, token)
                if p_tool < tool_threshold:
                    break
        if token in backend.end_ids:
            break
        out.append(token)
        if matcher is not None:
            matcher.accept(token)
            if matcher.done:
                break
        elif "]" in backend.detokenize([token]) and parse(backend.detokenize(out)).ok:
            break
    if prefill is None:  # nothing left for the model to choose
        prefill = time.perf_counter() - started
        started = time.perf_counter()
    decode = time.perf_counter() - started
    unsure = (p_call is not None and p_call < call_threshold) or (
        p_tool is not None and p_tool < tool_threshold
    )
    text = dumps([]) if declined is not None or unsure else backend.detokenize(out)
    return Generation(
        text,
        prefill,
        decode,
        len(ids),
        len(prefix_ids),
        len(out),
        forced_tokens,
        declined,
        p_call,
        unsure,
        p_tool,
        tuple(passes),
        grammar_s,
        drafted,
        kept,
    )


def _allowed(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The tokens the grammar allows (finite scores: a handful, the rest have probability 0), in
    increasing order, and their probabilities."""
    tokens = np.flatnonzero(np.isfinite(logits))
    if not tokens.size:
        return tokens, np.zeros(0)
    scores = logits[tokens].astype(np.float64)
    probs = np.exp(scores - scores.max())
    return tokens, probs / probs.sum()


def _probability(logits: np.ndarray, token: int) -> float:
    """The probability of ``token``, one the grammar allows, under ``logits``."""
    tokens, probs = _allowed(logits)
    return float(probs[np.searchsorted(tokens, token)])


def _draft(backend: Backend, out: list[int], user: str, source: list[int], limit: int) -> list[int]:
    """Prompt lookup: what the answer will likely copy next from the user's words (``user``, as
    tokens ``source``), at most ``limit`` tokens. Inside a string value, the user's text after the
    place that holds the value so far (so that ``"buy`` finds `` milk`` after "buy" even though the
    user's token was `` buy``); after a digit (numbers are split into digits), the user's tokens
    after the latest place holding the answer's last one to three tokens. Nothing elsewhere: between
    values the model chooses structure, which guesses from the user's words only slow down."""
    if limit <= 0 or not out:
        return []
    text = backend.detokenize(out)
    quotes = text.count('"') - text.count('\\"')
    if quotes % 2:  # inside a string: its text so far
        value = text[text.rindex('"') + 1 :]
        at = user.rfind(value) if value.strip() else -1
        if at < 0:
            return []
        rest = user[at + len(value) :].rstrip(" .!?")
        return backend.tokenize(rest + CLOSE, special=False)[:limit]
    if not backend.detokenize(out[-1:]).strip().isdigit():
        return []  # between values the model chooses structure: nothing of the user's to copy
    for n in range(min(3, len(out)), 0, -1):
        tail = out[-n:]
        for start in range(len(source) - n, -1, -1):
            if source[start : start + n] == tail:
                return source[start + n : start + n + limit]
    return []


def _call_probability(
    backend: Backend, out: list[int], logits: np.ndarray, opened: Masses | None = None, top: int = 32
) -> tuple[float | None, Masses | None]:
    """At the choice between ``[]`` and a call (nothing but ``[`` written yet), the probability of
    the call under the grammar-masked ``logits``, and None before or after that choice.

    A tokenizer may offer that choice in one token (Gemma's ``[]`` and ``[{``), in two (``[`` then
    ``]`` or ``{"``: SmolLM2's only way, and Gemma's way to a call), or both. When the model's own
    choice is a bare ``[``, the masses of this token (empty, call, bare ``[``) are returned as
    ``opened`` and the probability comes at the next token, which splits the bare ``[``'s mass."""
    text = backend.detokenize(out)
    if text not in ("", "["):
        return None, None
    allowed, probs = _allowed(logits)
    if not allowed.size:
        return None, None
    best = np.argpartition(probs, -min(top, probs.size))[-top:]
    probs, tokens = probs[best], allowed[best]
    empty = call = bare = 0.0
    for p, token in zip(probs.tolist(), tokens.tolist(), strict=True):
        after = text + backend.detokenize([token])
        if after.startswith("[]"):
            empty += p
        elif after.startswith("[{"):
            call += p
        elif after == "[":
            bare += p
    if opened is not None and text == "[":
        if empty + call == 0.0:
            return None, opened
        before_empty, before_call, before_bare = opened
        share = call / (empty + call)
        empty, call = before_empty + before_bare * (1 - share), before_call + before_bare * share
    elif bare and backend.detokenize([int(np.argmax(logits))]) == "[":
        return None, (empty, call, bare)  # the model chose a bare "[": the choice comes next
    if empty + call == 0.0:
        return None, None  # only "[" so far: the choice comes at the next token
    return call / (empty + call), None
