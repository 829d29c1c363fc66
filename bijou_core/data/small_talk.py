"""The small-talk bank: what a wearer says near an always-listening device that asks it nothing.

Device-independent utterances (greetings, thanks, compliments, hesitations, retractions, chatter)
and templates of overheard speech (what the wearer says to the people around them) ship in
``small_talk.yaml``; synthesis mixes them into every device's data as ``[]`` answers and builds
retractions from the device's own phrasings ("turn the volume ... never mind").
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

import yaml

SLOT = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class SmallTalk:
    """The bank's utterances (all categories together) and the pieces composed around them."""

    utterances: tuple[str, ...]
    openers: tuple[str, ...]
    closers: tuple[str, ...]
    retraction_tails: tuple[str, ...]
    overheard_templates: tuple[str, ...]
    overheard_slots: dict[str, tuple[str, ...]]

    def overheard(self, rng: random.Random) -> str:
        """One overheard sentence: a template with each ``{slot}`` filled from its list."""
        template = rng.choice(self.overheard_templates)
        text = SLOT.sub(lambda m: rng.choice(self.overheard_slots[m.group(1)]), template)
        return " ".join(text.split())


@cache
def small_talk() -> SmallTalk:
    """The bank shipped with bijou."""
    data = yaml.safe_load(files(__package__).joinpath("small_talk.yaml").read_text(encoding="utf-8"))
    utterances = tuple(u for group in data["utterances"].values() for u in group)
    overheard = data["overheard"]
    return SmallTalk(
        utterances,
        tuple(data["openers"]),
        tuple(data["closers"]),
        tuple(data["retraction_tails"]),
        tuple(overheard["templates"]),
        {slot: tuple(values) for slot, values in overheard["slots"].items()},
    )
