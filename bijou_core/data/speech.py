"""Speech-transcript noise for synthetic commands: what a recognizer hands the model.

A typed template command ("Set the volume to 40, please.") becomes what people say and a
recognizer writes down: lower case, no punctuation, a filler now and then ("um set the volume to
40 please"), a restart ("set the set the volume to 40"). The words that carry an argument's value
are never split or repeated, so the command's calls stay exactly what they were.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable

FILLERS = ("um", "uh", "so", "okay so", "like", "uh so", "um okay", "well", "oh", "ah", "hmm")
MID_FILLERS = ("um", "uh", "like", "you know", "i mean")
# Punctuation a recognizer does not write; a point or colon between digits ("4:30", "2.5") stays.
_PUNCT = re.compile(r"(?<!\d)[.:]|[.:](?!\d)|[,;!?\"()\[\]\-]")


def plain(text: str) -> str:
    """Lower case, no punctuation but apostrophes and number points, single spaces."""
    return " ".join(_PUNCT.sub(" ", text.casefold()).split())


def _protected(words: list[str], values: Iterable[str]) -> set[int]:
    """Indices of the words that spell one of ``values`` (argument text kept whole)."""
    keep: set[int] = set()
    for value in values:
        target = plain(value).split()
        n = len(target)
        if not n:
            continue
        for i in range(len(words) - n + 1):
            if words[i : i + n] == target:
                keep.update(range(i, i + n))
    return keep


def spoken(text: str, rng: random.Random, values: Iterable[str] = ()) -> str:
    """``text`` as a speech transcript: plain, and now and then a filler or a restart; the words
    of ``values`` (string arguments) are never split or repeated."""
    words = plain(text).split()
    if not words:
        return text
    keep = _protected(words, values)
    if rng.random() < 0.35:
        # a restart repeats the first one or two words, unless they carry an argument
        n = rng.choice((1, 1, 2))
        if len(words) > n and not keep.intersection(range(n)):
            words = words[:n] + words
            keep = {i + n for i in keep}
    if rng.random() < 0.3 and len(words) > 2:
        gaps = [i for i in range(1, len(words)) if not (i in keep and i - 1 in keep)]
        if gaps:
            at = rng.choice(gaps)
            words = [*words[:at], rng.choice(MID_FILLERS), *words[at:]]
    if rng.random() < 0.5:
        words = [rng.choice(FILLERS), *words]
    return " ".join(words)
