"""Synthetic device commands: templates with typed slots -> ``{"query", "answers"}`` records.

Generation is deterministic for a seed, balanced across tools (weighted by their number of
parameters), covers every enum value and both the stated and omitted form of optional parameters,
mixes in no-tool commands (answered ``[]``) and two-command utterances, and never repeats a query.
Phrasings can be held out for a test split, so that a score on it measures generalization instead
of template recall.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from jsonschema import Draft202012Validator
from num2words import num2words

from ..errors import BijouError, at
from ..schema import CallValidator
from .constraints import misfit, number_ends, pick_number
from .small_talk import small_talk
from .speech import spoken

SLOT = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
GENERIC_PREFIXES = ("please", "hey", "okay", "um", "so")
GENERIC_SUFFIXES = ("please", "thanks", "thank you", "now", "for me")
CONNECTORS = (
    " and ",
    ", and ",
    " and then ",
    ", and then ",
    ", then ",
    " then ",
    " also ",
    ". also ",
    " and also ",
    " plus ",
    ", after that ",
    " and after that ",
)
OMITTED = object()
# Shares of a synthesized set: commands that need no tool ([]), and two-command utterances. With
# 0.15 no-tool, rayban-stories answered 40% of its eval set's near misses with []; with 0.3, 80%
# (90% with 3,300 examples): benchmarks/adapters/no-tool-share.md.
NO_TOOL_SHARE = 0.25
MULTI_SHARE = 0.1
# Small talk from bijou's device-independent bank (greetings, thanks, hesitations, retractions,
# chatter, speech overheard from the wearer's talk with others), answered [] like the device's own
# no-tool commands; and the share of all records rewritten as speech transcripts (fillers,
# restarts, no case or punctuation): benchmarks/blind/levers.md. 0.20 from the twenty-third round
# (0.15 before): more commands copied exactly and more small talk answered [] over two seeds and
# all three devices on the blind dev sets.
SMALL_TALK_SHARE = 0.2
# Of the small-talk records, a quarter are retractions; up to this point of the draw, the rest are
# overheard speech composed from templates, beyond it lines of the flat bank.
OVERHEARD_SHARE = 0.625
SPEECH_SHARE = 0.25


def spoken_number(value: int | float, rng: random.Random) -> str:
    """A number as a speech transcript may give it: digits or English words."""
    if rng.random() < 0.5 or not float(value).is_integer():
        return str(value)
    return num2words(int(value)).replace("-", " ")


def normalize_query(query: str) -> str:
    """The form under which two queries count as duplicates."""
    return " ".join(re.sub(r"[^\w\s]", " ", query.casefold()).split())


@dataclass(frozen=True)
class Phrasing:
    """One phrasing of one tool: text with ``{param}`` slots and arguments fixed by the text."""

    tool: str
    text: str
    args: dict[str, Any]
    index: int
    slots: tuple[str, ...] = field(default=())

    def gives(self, param: str) -> bool:
        return param in self.slots or param in self.args


class TemplateSet:
    """A device's templates checked against its tools, ready to generate commands."""

    def __init__(self, tools: list[dict[str, Any]], templates: dict[str, Any], source: str):
        self.tools = {tool["name"]: tool for tool in tools}
        self.source = source
        self.values: dict[str, dict[str, list[str]]] = templates.get("values", {})
        self.lists: dict[str, list[str]] = templates.get("lists", {})
        self.no_tool: list[str] = list(templates.get("no_tool", []))
        self.prefixes = [*templates.get("prefixes", []), *GENERIC_PREFIXES]
        self.suffixes = [*templates.get("suffixes", []), *GENERIC_SUFFIXES]
        self.validator = CallValidator(tools)
        self.phrasings: dict[str, list[Phrasing]] = {}
        entries = templates.get("tools", {})
        for name in entries:
            if name not in self.tools:
                raise at(source, None, f"$.tools.{name}: no such tool (tools: {', '.join(self.tools)})")
        for name in self.tools:
            if name not in entries:
                raise at(source, None, f"$.tools: no phrasings for tool {name!r}")
            self.phrasings[name] = [self._phrasing(name, i, entry) for i, entry in enumerate(entries[name])]

    # -- checking ---------------------------------------------------------------------------

    def _phrasing(self, tool: str, index: int, entry: str | dict[str, Any]) -> Phrasing:
        text, args = (entry, {}) if isinstance(entry, str) else (entry["text"], entry.get("args", {}))
        place = f"$.tools.{tool}[{index}]"
        props = self.tools[tool]["parameters"]["properties"]
        slots = tuple(SLOT.findall(text))
        for slot in slots:
            if slot not in props:
                raise at(self.source, None, f"{place}: slot {{{slot}}} is not a parameter of {tool}")
            if slot in args:
                raise at(self.source, None, f"{place}: {slot!r} is both a slot and a fixed arg")
            if not self._slot_values(tool, slot):
                raise at(
                    self.source, None, f"{place}: slot {{{slot}}} has no values ({self._hint(tool, slot)})"
                )
            if (reason := self._misfit(tool, slot)) is not None:
                raise at(self.source, None, reason)
        for name, value in args.items():
            if name not in props:
                raise at(self.source, None, f"{place}.args.{name}: not a parameter of {tool}")
            sub = {k: v for k, v in props[name].items() if k not in ("default", "description")}
            error = next(iter(Draft202012Validator(sub).iter_errors(value)), None)
            if error is not None:
                raise at(self.source, None, f"{place}.args.{name}: {error.message}")
        missing = [
            req
            for req in self.tools[tool]["parameters"].get("required", [])
            if req not in slots and req not in args
        ]
        if missing:
            raise at(self.source, None, f"{place}: required parameter {missing[0]!r} has no slot or arg")
        return Phrasing(tool, text, dict(args), index, slots)

    def _hint(self, tool: str, param: str) -> str:
        kind = self.tools[tool]["parameters"]["properties"][param].get("type")
        if kind == "boolean":
            return f'expected values.{tool}.{param} or values.{param} with "true"/"false"'
        return f"expected lists.{tool}.{param} or lists.{param}"

    def _scoped(self, table: dict[str, Any], tool: str, param: str) -> Any:
        return table.get(f"{tool}.{param}", table.get(param))

    def _slot_values(self, tool: str, param: str) -> list[Any]:
        """Every value a slot of ``param`` can take (numbers: the two ends of the range)."""
        schema = self.tools[tool]["parameters"]["properties"][param]
        if "enum" in schema:
            return list(schema["enum"])
        kind = schema.get("type")
        if kind == "boolean":
            spoken = self._scoped(self.values, tool, param) or {}
            return [v for v in (True, False) if spoken.get(str(v).lower())]
        if kind in ("integer", "number"):
            return number_ends(schema, f"{tool}.{param}")
        return list(self._scoped(self.lists, tool, param) or [])

    def _misfit(self, tool: str, param: str) -> str | None:
        """Where a listed value of a slot breaks the parameter's schema (a pattern, a length)."""
        schema = self.tools[tool]["parameters"]["properties"][param]
        if "enum" in schema or schema.get("type") in ("boolean", "integer", "number"):
            return None
        reason = misfit(schema, self._slot_values(tool, param))
        key = f"{tool}.{param}" if f"{tool}.{param}" in self.lists else param
        return None if reason is None else f"$.lists.{key}{reason}"

    def spoken_forms(self, tool: str, param: str) -> list[str] | None:
        """Every text a slot of ``param`` can be spoken as (None for numbers: digits or words)."""
        schema = self.tools[tool]["parameters"]["properties"][param]
        if "enum" in schema:
            spoken = self._scoped(self.values, tool, param) or {}
            return [f for v in schema["enum"] for f in spoken.get(str(v)) or [str(v).replace("_", " ")]]
        if schema.get("type") == "boolean":
            spoken = self._scoped(self.values, tool, param) or {}
            return [f for v in ("true", "false") for f in spoken.get(v, [])]
        if schema.get("type") in ("integer", "number"):
            return None
        return [str(v) for v in self._slot_values(tool, param)]

    def coverage_gaps(self) -> list[str]:
        """Tools and enum/boolean values that no phrasing can produce."""
        gaps = []
        for name, tool in self.tools.items():
            if not self.phrasings.get(name):
                gaps.append(f"tool {name}: no phrasing")
                continue
            for param, schema in tool["parameters"]["properties"].items():
                values = schema.get("enum") or ([True, False] if schema.get("type") == "boolean" else [])
                for value in values:
                    if not self._producers(name, param, value):
                        gaps.append(f"tool {name}: {param}={value!r} is never produced")
        return gaps

    def _producers(self, tool: str, param: str, value: Any) -> list[Phrasing]:
        """Phrasings of ``tool`` that can give ``param`` the value ``value`` (or omit it)."""
        result = []
        for p in self.phrasings[tool]:
            if value is OMITTED:
                ok = not p.gives(param)
            elif param in p.args:
                ok = p.args[param] == value and type(p.args[param]) is type(value)
            else:
                ok = param in p.slots and value in self._slot_values(tool, param)
            if ok:
                result.append(p)
        return result

    def subset(self, keep: Callable[[Phrasing], bool], keep_no_tool: Callable[[int], bool]) -> TemplateSet:
        """A copy holding only the phrasings (and no-tool commands, by index) that ``keep`` accepts."""
        other = object.__new__(TemplateSet)
        other.__dict__.update(self.__dict__)
        other.phrasings = {t: [p for p in ps if keep(p)] for t, ps in self.phrasings.items()}
        other.no_tool = [q for i, q in enumerate(self.no_tool) if keep_no_tool(i)]
        return other

    # -- generation -------------------------------------------------------------------------

    def _speak(self, tool: str, param: str, value: Any, rng: random.Random) -> str:
        schema = self.tools[tool]["parameters"]["properties"][param]
        if isinstance(value, bool):
            return rng.choice(self._scoped(self.values, tool, param)[str(value).lower()])
        if "enum" in schema:
            forms = (self._scoped(self.values, tool, param) or {}).get(str(value))
            return rng.choice(forms) if forms else str(value).replace("_", " ")
        if isinstance(value, (int, float)):
            return spoken_number(value, rng)
        return str(value)

    def _pick(self, tool: str, param: str, rng: random.Random) -> Any:
        schema = self.tools[tool]["parameters"]["properties"][param]
        if schema.get("type") in ("integer", "number") and "enum" not in schema:
            return pick_number(schema, rng, f"{tool}.{param}")
        return rng.choice(self._slot_values(tool, param))

    def fill(
        self, phrasing: Phrasing, rng: random.Random, forced: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        """Fill a phrasing's slots: the spoken text and the call it means."""
        forced = forced or {}
        chosen = {
            slot: forced[slot] if slot in forced else self._pick(phrasing.tool, slot, rng)
            for slot in dict.fromkeys(phrasing.slots)
        }
        text = SLOT.sub(lambda m: self._speak(phrasing.tool, m[1], chosen[m[1]], rng), phrasing.text)
        given = {**phrasing.args, **chosen}
        order = self.tools[phrasing.tool]["parameters"]["properties"]
        arguments = {k: given[k] for k in order if k in given}
        return text, {"name": phrasing.tool, "arguments": arguments}

    def decorate(self, text: str, rng: random.Random) -> str:
        """Add a spoken opener or closer now and then."""
        if rng.random() < 0.3:
            text = f"{rng.choice(self.prefixes)} {text}"
        if rng.random() < 0.2:
            suffix = rng.choice(self.suffixes)
            if not normalize_query(text).endswith(normalize_query(suffix)):
                text = f"{text} {suffix}"
        return text

    def _coverage_targets(self) -> Iterator[tuple[str, str, Any]]:
        for name, tool in self.tools.items():
            for param, schema in tool["parameters"]["properties"].items():
                values = schema.get("enum") or ([True, False] if schema.get("type") == "boolean" else [])
                for value in values:
                    yield name, param, value
                if param not in tool["parameters"].get("required", []):
                    yield name, param, OMITTED

    def _single(self, tool: str, rng: random.Random, target: tuple[str, Any] | None = None):
        choices = self._producers(tool, *target) if target else self.phrasings[tool]
        if not choices:
            return None
        phrasing = rng.choice(choices)
        forced = {target[0]: target[1]} if target and target[0] in phrasing.slots else None
        return self.fill(phrasing, rng, forced)

    def generate(
        self,
        num_examples: int,
        seed: int = 0,
        no_tool_share: float = NO_TOOL_SHARE,
        multi_share: float = MULTI_SHARE,
        small_talk_share: float = SMALL_TALK_SHARE,
        speech_share: float = SPEECH_SHARE,
        exclude: Iterable[str] = (),
    ) -> list[dict[str, Any]]:
        """``num_examples`` distinct records; raises when the templates cannot give that many.

        Queries in ``exclude`` (e.g. a training split's) are never produced.
        """
        if no_tool_share + small_talk_share + multi_share > 0.9:
            raise BijouError(
                "the no-tool, small-talk and two-command shares add up to "
                f"{no_tool_share + small_talk_share + multi_share:.2f}: at most 0.9 leaves room for commands"
            )
        rng = random.Random(seed)
        seen: set[str] = {normalize_query(q) for q in exclude}
        records: list[dict[str, Any]] = []
        counts: Counter[str] = Counter()

        def add(query: str, answers: list[dict[str, Any]]) -> bool:
            key = normalize_query(query)
            if key in seen:
                return False
            seen.add(key)
            records.append({"query": query, "answers": answers})
            if len(answers) == 1:
                counts[answers[0]["name"]] += 1
            return True

        tools = [t for t in self.tools if self.phrasings[t]]
        n_none = round(num_examples * no_tool_share) if self.no_tool else 0
        n_multi = round(num_examples * multi_share) if len(tools) > 1 else 0
        n_talk = round(num_examples * small_talk_share)
        n_single = num_examples - n_none - n_multi - n_talk

        for tool, param, value in self._coverage_targets():
            if len(records) >= n_single:
                break
            for _ in range(20):
                made = self._single(tool, rng, (param, value))
                if made is None or add(self.decorate(made[0], rng), [made[1]]):
                    break
        _fill_up(n_single, add, records, self._balanced(tools, rng, counts))
        _fill_up(len(records) + n_multi, add, records, self._multi(tools, rng))
        _fill_up(len(records) + n_none, add, records, self._none(rng))
        _fill_up(len(records) + n_talk, add, records, self._small_talk(tools, rng))
        # Whatever a finite part (no-tool list, multi) could not give, single commands make up.
        _fill_up(num_examples, add, records, self._balanced(tools, rng, counts))
        if len(records) < num_examples:
            raise BijouError(
                f"{self.source}: the templates give only {len(records)} distinct commands, "
                f"{num_examples} were asked for: add phrasings or list values"
            )
        for record in records:
            if rng.random() < speech_share:
                self._as_speech(record, seen, rng)
        rng.shuffle(records)
        return records

    @staticmethod
    def _as_speech(record: dict[str, Any], seen: set[str], rng: random.Random) -> None:
        """Rewrite ``record``'s query as a speech transcript, unless that gives a query seen before."""
        values = [v for call in record["answers"] for v in call["arguments"].values() if isinstance(v, str)]
        text = spoken(record["query"], rng, values)
        key = normalize_query(text)
        if key not in seen:
            seen.add(key)
            record["query"] = text

    def share(self, tool: str) -> int:
        """A tool's weight among single commands: two plus one per parameter, since each argument
        (stated or not, and its value) is one more thing to learn from examples."""
        return 2 + len(self.tools[tool]["parameters"].get("properties", {}))

    def _balanced(
        self, tools: list[str], rng: random.Random, counts: Counter[str], patience: int = 50
    ) -> Iterator[tuple[str, list]]:
        """Single commands, always for a tool with the fewest so far for its ``share``; a tool
        that keeps giving duplicates is dropped once its phrasings are exhausted."""
        misses: Counter[str] = Counter()
        shares = {t: self.share(t) for t in tools}
        while True:
            load = {t: Fraction(counts[t], shares[t]) for t in tools if misses[t] < patience}
            if not load:
                return
            low = min(load.values())
            tool = rng.choice([t for t, value in load.items() if value == low])
            before = counts[tool]
            text, call = self._single(tool, rng)
            yield self.decorate(text, rng), [call]
            misses[tool] = 0 if counts[tool] > before else misses[tool] + 1

    def _multi(self, tools: list[str], rng: random.Random) -> Iterator[tuple[str, list]]:
        """Two commands in one utterance, the same tool twice included ("answer it then mute me")."""
        while True:
            text_a, call_a = self._single(rng.choice(tools), rng)
            text_b, call_b = self._single(rng.choice(tools), rng)
            if call_a == call_b:
                continue
            text = f"{text_a}{rng.choice(CONNECTORS)}{text_b}"
            yield self.decorate(text, rng), [call_a, call_b]

    def _none(self, rng: random.Random) -> Iterator[tuple[str, list]]:
        while True:
            yield self.decorate(rng.choice(self.no_tool), rng), []

    def _small_talk(self, tools: list[str], rng: random.Random) -> Iterator[tuple[str, list]]:
        """Utterances from the small-talk bank or composed overheard speech (now and then with an
        opener or a closer), and retractions: the start of one of the device's commands taken back
        ("turn the ... never mind"). Small talk one of the device's phrasings can produce is
        skipped."""
        bank = small_talk()
        patterns = [p for p, _ in phrasing_patterns(self)]
        while True:
            draw = rng.random()
            if tools and draw < 0.25:
                words = self._single(rng.choice(tools), rng)[0].split()
                cut = rng.randint(1, max(1, len(words) - 1)) if rng.random() < 0.8 else len(words)
                yield f"{' '.join(words[:cut])} {rng.choice(bank.retraction_tails)}", []
                continue
            text = bank.overheard(rng) if draw < OVERHEARD_SHARE else rng.choice(bank.utterances)
            if rng.random() < 0.25:
                text = f"{rng.choice(bank.openers)} {text}"
            if rng.random() < 0.15:
                text = f"{text} {rng.choice(bank.closers)}"
            if not any(p.match(normalize_query(text)) for p in patterns):
                yield text, []


_NUMBER_WORDS = (
    "zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|"
    "sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|"
    "hundred|thousand|and|point"
)
NUMBER = rf"(?:\d+(?:\.\d+)?|(?:(?:{_NUMBER_WORDS}) ?)+)"


def _alternatives(words: list[str]) -> str:
    forms = sorted({normalize_query(w) for w in words if normalize_query(w)}, key=len, reverse=True)
    return "|".join(re.escape(f) for f in forms)


def _slot_pattern(templates: TemplateSet, tool: str, param: str, wording: int) -> str:
    """What a slot may stand for: its spoken values, any number, or, in a phrasing with at least
    three fixed words, any text for a free-text slot (so that an eval query copying the phrasing
    with a new contact or message is still caught, while "text {contact} {message}" does not
    swallow every command that starts with "text")."""
    schema = templates.tools[tool]["parameters"]["properties"][param]
    forms = templates.spoken_forms(tool, param)
    if forms is None:
        return NUMBER
    if schema.get("type") == "string" and "enum" not in schema and wording >= 3:
        return ".+?"
    return f"(?:{_alternatives(forms)})"


def phrasing_patterns(templates: TemplateSet) -> list[tuple[re.Pattern[str], str]]:
    """A regex per phrasing matching every command it can produce: its text with each slot as the
    slot's spoken values (numbers as digits or words; free text, see :func:`_slot_pattern`),
    optionally opened and closed by fillers. Phrasings made of slots alone are left out."""
    prefix = f"(?:(?:{_alternatives(templates.prefixes)}) )*"
    suffix = f"(?: (?:{_alternatives(templates.suffixes)}))*"
    patterns = []
    for tool, phrasings in templates.phrasings.items():
        for p in phrasings:
            parts = SLOT.split(p.text)  # literal text at even positions, slot names at odd ones
            wording = sum(len(normalize_query(part).split()) for part in parts[::2])
            if not wording:
                continue  # a phrasing of slots alone says nothing about wording
            pieces = []
            for i, part in enumerate(parts):
                if i % 2:
                    pieces.append(_slot_pattern(templates, tool, part, wording))
                else:
                    pieces.append(re.escape(normalize_query(part)))
            body = " ?".join(piece for piece in pieces if piece)
            patterns.append((re.compile(f"^{prefix}{body}{suffix}$"), f"{p.tool}[{p.index}]"))
    return patterns


def _fill_up(
    target: int,
    add: Callable[[str, list], bool],
    records: list,
    stream: Iterator[tuple[str, list]],
    patience: int = 2000,
) -> None:
    """Draw from ``stream`` until ``records`` reaches ``target`` or nothing new comes for a while."""
    misses = 0
    while len(records) < target and misses < patience:
        candidate = next(stream, None)
        if candidate is None:
            return
        misses = 0 if add(*candidate) else misses + 1


def holdout_split(templates: TemplateSet, fraction: float, seed: int = 0) -> tuple[TemplateSet, TemplateSet]:
    """Split phrasings (and no-tool commands) into train and held-out test templates.

    Each tool with at least three phrasings loses about ``fraction`` of them to the test side, never
    so many that training stops covering one of the tool's enum values.
    """
    rng = random.Random(seed)
    held: set[tuple[str, int]] = set()
    for tool, phrasings in templates.phrasings.items():
        if len(phrasings) < 3:
            continue
        k = max(1, round(len(phrasings) * fraction))
        for _ in range(20):
            pick = {(tool, p.index) for p in rng.sample(phrasings, k)}
            trial = held | pick
            rest = templates.subset(lambda p, t=trial: (p.tool, p.index) not in t, lambda i: True)
            if not any(g.startswith(f"tool {tool}:") for g in rest.coverage_gaps()):
                held = trial
                break
    n = len(templates.no_tool)
    no_tool_held = set(rng.sample(range(n), round(n * fraction))) if n >= 3 else set()
    train = templates.subset(lambda p: (p.tool, p.index) not in held, lambda i: i not in no_tool_held)
    test = templates.subset(lambda p: (p.tool, p.index) in held, lambda i: i in no_tool_held)
    return train, test


def generic_templates(tools: list[dict[str, Any]]) -> dict[str, Any]:
    """Plain phrasings derived from tool and parameter names, for a tools file with no templates.

    Good enough to exercise a pipeline; real training data wants hand-written templates.
    """
    phrasings: dict[str, list[str]] = {}
    lists: dict[str, list[str]] = {}
    values: dict[str, dict[str, list[str]]] = {}
    for tool in tools:
        verb = tool["name"].replace("_", " ")
        props = tool["parameters"]["properties"]
        required = tool["parameters"].get("required", [])
        for param, schema in props.items():
            words = param.replace("_", " ")
            if schema.get("type") == "boolean":
                values[f"{tool['name']}.{param}"] = {"true": ["on"], "false": ["off"]}
            elif schema.get("type") == "string" and "enum" not in schema:
                samples = schema.get("examples") or [f"{words} {n}" for n in ("one", "two", "three")]
                lists[f"{tool['name']}.{param}"] = [str(s) for s in samples]
        needed = " ".join(f"{p.replace('_', ' ')} {{{p}}}" for p in required)
        everything = " ".join(f"{p.replace('_', ' ')} {{{p}}}" for p in props)
        phrasings[tool["name"]] = list(
            dict.fromkeys(
                f"{lead}{verb} {args}".strip()
                for lead in ("", "please ", "can you ")
                for args in (needed, everything)
            )
        )
    return {"format": 1, "values": values, "lists": lists, "tools": phrasings}
