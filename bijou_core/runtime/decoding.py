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
- with ``decline``, when the grammar masks the model's own first choice (it was writing a value, a
  call or an ending the device's tools do not allow: for "who won the game last night", a
  ``media_control`` action "last"), the answer is no call instead of the allowed call the grammar
  would force (``next_track``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

from ..calls import dumps, parse
from .grammar import CallMatcher

MAX_NEW_TOKENS = 256  # an answer's budget: a few calls


class Backend(Protocol):
    """What the decoding loop needs from a model runtime."""

    end_ids: set[int]

    def tokenize(self, text: str) -> list[int]: ...

    def detokenize(self, ids: list[int]) -> str: ...

    def start(self, prefix: list[int]) -> None:
        """Make the model's state hold exactly ``prefix`` (restored from cache where possible)."""

    def feed(self, ids: list[int]) -> Any:
        """Run ``ids`` after the current state; the next-token scores (1-D float32 torch tensor)."""

    def truncate(self, length: int) -> None:
        """Forget every position from ``length`` on."""


@dataclass(frozen=True)
class Generation:
    """Model text for one prompt, with the latency split."""

    text: str
    prefill_s: float
    decode_s: float
    prompt_tokens: int
    cached_tokens: int
    new_tokens: int
    forced_tokens: int = 0
    declined: str | None = None  # the model's text up to the choice the grammar masked

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


def generate(
    backend: Backend,
    prompt: str,
    prefix: str | None = None,
    matcher: CallMatcher | None = None,
    max_new_tokens: int = MAX_NEW_TOKENS,
    decline: bool = False,
) -> Generation:
    """Greedy decoding of ``prompt`` (whose first characters are ``prefix``, kept cached); with
    ``matcher`` and ``decline``, no call when the grammar masks the model's first choice."""
    import torch

    started = time.perf_counter()
    ids = backend.tokenize(prompt)
    prefix_ids = backend.tokenize(prefix) if prefix else []
    if ids[: len(prefix_ids)] != prefix_ids:  # the prefix does not end on a token boundary
        prefix_ids = []
    backend.start(prefix_ids)
    fed = len(prefix_ids)  # positions the model has seen
    out: list[int] = []
    forced_tokens = 0
    prefill = None
    declined = None
    while True:
        if matcher is not None and (forced := matcher.forced()):
            new = _forced_tokens(backend, matcher, out, forced)
            keep = _common_prefix(out, new)
            forced_tokens += len(new) - keep
            out = new
            if fed > len(ids) + keep:
                backend.truncate(len(ids) + keep)
                fed = len(ids) + keep
            if matcher.done:
                break
        if len(out) >= max_new_tokens:
            break
        pending = (ids + out)[fed:]  # the prompt's rest, or the last token with any forced text after it
        logits = backend.feed(pending)
        fed += len(pending)
        if prefill is None:
            prefill = time.perf_counter() - started
            started = time.perf_counter()
        if matcher is not None:
            wanted = int(torch.argmax(logits))
            matcher.mask(logits)
            if decline and not torch.isfinite(logits[wanted]):
                declined = backend.detokenize([*out, wanted])
                break
        token = int(torch.argmax(logits))
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
    text = dumps([]) if declined is not None else backend.detokenize(out)
    return Generation(text, prefill, decode, len(ids), len(prefix_ids), len(out), forced_tokens, declined)
