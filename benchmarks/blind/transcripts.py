"""Derive the speech-transcript variant of a blind command set, deterministically.

    python benchmarks/blind/transcripts.py benchmarks/blind/dev/omi.jsonl [...]
        -> benchmarks/blind/dev/omi-speech.jsonl

What a recognizer hands the model instead of typed text. For each command, with a random
generator seeded by the SHA-256 of its query (so the output never changes):
- lower case; no punctuation but apostrophes; "%" said as "percent"; hyphens as spaces;
- numbers as words ("40" -> "forty", "4:30" -> "four thirty", "3rd" -> "third"); free-text
  argument values that contain numbers are rewritten the same way, since that is what was said;
- with probability 0.4 a filler first ("um", "uh", "er", "so um", "okay so", "hmm");
- with probability 0.3 a restart: the first one or two words said twice;
- with probability 0.3 a filler ("uh", "um", "like") between two words, never inside an
  argument's words.
This is written apart from bijou's own training-data noise (``bijou_core/data/speech.py``): other
fillers, other probabilities, numbers always as words.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import sys
from pathlib import Path

from num2words import num2words

START_FILLERS = ("um", "uh", "er", "so um", "okay so", "hmm")
MID_FILLERS = ("uh", "um", "like")
_NUMBER = re.compile(r"(\d+):(\d\d)|(\d+)(?:st|nd|rd|th)\b|(\d+(?:\.\d+)?)")


def _number_words(match: re.Match[str]) -> str:
    if match[1]:
        minutes = (
            "" if match[2] == "00" else " " + ("oh " if match[2][0] == "0" else "") + num2words(int(match[2]))
        )
        return num2words(int(match[1])) + minutes
    if match[3]:
        return num2words(int(match[3]), to="ordinal")
    value = match[4]
    return num2words(float(value) if "." in value else int(value))


def said(text: str) -> str:
    """Lower case, numbers as words, no punctuation but apostrophes, single spaces."""
    text = text.casefold().replace("%", " percent")
    text = _NUMBER.sub(_number_words, text)
    text = re.sub(r"[^\w\s']", " ", text.replace("-", " "))
    return " ".join(text.split())


def _argument_words(words: list[str], values: list[str]) -> set[int]:
    keep: set[int] = set()
    for value in values:
        target = value.split()
        for i in range(len(words) - len(target) + 1):
            if target and words[i : i + len(target)] == target:
                keep.update(range(i, i + len(target)))
    return keep


def transcript(record: dict) -> dict:
    """The spoken variant of one ``{query, answers}`` record."""
    rng = random.Random(hashlib.sha256(record["query"].encode()).digest())
    answers = [
        {
            "name": call["name"],
            "arguments": {
                k: said(v) if isinstance(v, str) and re.search(r"\d", v) else v
                for k, v in call["arguments"].items()
            },
        }
        for call in record["answers"]
    ]
    values = [said(v) for call in answers for v in call["arguments"].values() if isinstance(v, str)]
    words = said(record["query"]).split()
    keep = _argument_words(words, values)
    if rng.random() < 0.3 and len(words) > 2:
        n = rng.choice((1, 2))
        if not keep.intersection(range(n)):
            words = words[:n] + words
            keep = {i + n for i in keep}
    if rng.random() < 0.3 and len(words) > 2:
        gaps = [i for i in range(1, len(words)) if not (i in keep and i - 1 in keep)]
        if gaps:
            at = rng.choice(gaps)
            words = [*words[:at], rng.choice(MID_FILLERS), *words[at:]]
    if rng.random() < 0.4:
        words = [rng.choice(START_FILLERS), *words]
    return {"query": " ".join(words), "answers": answers}


def main(paths: list[str]) -> None:
    for name in paths:
        path = Path(name)
        if path.stem.endswith("-speech"):
            continue  # a variant already
        records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        out = path.with_name(f"{path.stem}-speech.jsonl")
        out.write_text("".join(json.dumps(transcript(r)) + "\n" for r in records))
        print(f"{path} -> {out} ({len(records)} commands)")


if __name__ == "__main__":
    main(sys.argv[1:])
