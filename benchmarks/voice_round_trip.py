"""A device's default training records with a share of their queries heard by the recognizer.

    python benchmarks/voice_round_trip.py DEVICE OUT.jsonl [--share 0.25] [--seed 0]
    bijou devices train DEVICE --data-path OUT.jsonl

The records are the ones ``bijou devices train DEVICE --seed SEED`` synthesizes. Each is picked
with probability ``--share``, spoken by espeak-ng in one of the training voices below (never the
eval voices of ``bijou devices eval --speech``) and recognized as the runtime does (the embedded
Whisper base, beam 5, the device's words as its prompt). The query becomes the transcript when
its label still holds: at most 40% of the words changed, every argument value that is not an enum
value or a boolean is still heard, and no word that can turn a command around (on/off, up/down,
un-, ...) was lost, changed or added. The round-trip lever of benchmarks/voice-round-trip.md.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path
from typing import Any

import jiwer
from tqdm import tqdm

from bijou_core.conformance import template_set
from bijou_core.devices import Device, load_registry
from bijou_core.errors import BijouError
from bijou_core.files import write_jsonl
from bijou_core.models import cache_dir
from bijou_core.speech import Recognizer, comparable_words, device_vocabulary, speak
from bijou_core.train.device import DEFAULT_EXAMPLES, MIX

VOICES = ("mb-us1:150", "mb-us2:165", "mb-en1:150", "en-gb-scotland:165", "en-029:155", "mb-us3:150")
MAX_WER = 0.4
# Words whose loss, change or gain can turn a command around.
TURNING_WORDS = """on off up down not no dont don't never stop start enable disable left right both in out
more less louder quieter higher lower softer mute next previous back forward skip answer decline end all
half max min full quiet loud pause play resume hang accept reject"""
POLAR = frozenset(TURNING_WORDS.split())


def enum_values(device: Device) -> set[str]:
    return {
        value
        for tool in device.tools
        for prop in tool.get("parameters", {}).get("properties", {}).values()
        for value in prop.get("enum", [])
        if isinstance(value, str)
    }


def label_holds(said: str, heard: str, answers: list[dict[str, Any]], enums: set[str]) -> bool:
    """Whether the calls of ``said`` are still the answer to ``heard`` (see the module docstring)."""
    ref, hyp = comparable_words(said), comparable_words(heard)
    if not hyp:
        return False
    if ref == hyp:
        return True
    aligned = jiwer.process_words(ref, hyp)
    if aligned.wer > MAX_WER:
        return False
    ref_words, hyp_words = ref.split(), hyp.split()
    changed: set[str] = set()
    for chunk in aligned.alignments[0]:
        if chunk.type != "equal":
            changed.update(ref_words[chunk.ref_start_idx : chunk.ref_end_idx])
            changed.update(hyp_words[chunk.hyp_start_idx : chunk.hyp_end_idx])
    if changed & POLAR or any(word.startswith("un") for word in changed):
        return False
    values = [
        value
        for call in answers
        for value in call["arguments"].values()
        if not isinstance(value, bool) and not (isinstance(value, str) and value in enums)
    ]
    return all(f" {comparable_words(str(value))} " in f" {hyp} " for value in values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("device")
    parser.add_argument("output", type=Path)
    parser.add_argument("--share", type=float, default=0.25)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    try:
        device = load_registry().get(args.device)
    except BijouError as exc:
        raise SystemExit(f"error: {exc}") from None
    records = template_set(device).generate(DEFAULT_EXAMPLES, seed=args.seed, **MIX)
    rng = random.Random(1000 + args.seed)
    # a record's pick and its voice drawn in turn: the same records and voices for the same seed
    picked = [(r, rng.choice(VOICES)) for r in records if rng.random() < args.share]
    recognizer = Recognizer()
    recognizer.warm_up()
    vocabulary, enums = device_vocabulary(device), enum_values(device)
    audio = cache_dir() / "round-trip-audio"
    replaced = 0
    for record, voice in tqdm(picked, desc=f"{args.device}: spoken and heard"):
        try:
            path = speak(record["query"], voice, audio)
            heard = recognizer.transcribe(path, vocabulary=vocabulary).text
        except BijouError:  # nothing recognized: the typed query stays
            continue
        if label_holds(record["query"], heard, record["answers"], enums):
            record["query"] = heard
            replaced += 1
    write_jsonl(args.output, records)
    print(
        f"{args.output}: {len(records)} records, {len(picked)} spoken, {replaced} replaced by what was heard"
    )


if __name__ == "__main__":
    main()
