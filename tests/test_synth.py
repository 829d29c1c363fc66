"""Synthetic data: deterministic, valid, unique, balanced, covering, with a held-out test split."""

from __future__ import annotations

import copy
import json
import random
import re
from collections import Counter

import pytest
import toy_plugin

from bijou_core.conformance import phrasing_patterns, template_set
from bijou_core.data.small_talk import small_talk
from bijou_core.data.speech import FILLERS, plain, spoken
from bijou_core.data.synth import TemplateSet, generic_templates, holdout_split, normalize_query
from bijou_core.errors import BijouError
from bijou_core.schema import CallValidator


def test_same_seed_same_records_other_seed_other_records(lamp):
    tset = template_set(lamp)
    assert tset.generate(150, seed=7) == tset.generate(150, seed=7)
    assert tset.generate(150, seed=7) != tset.generate(150, seed=8)


def test_records_are_valid_unique_balanced_and_covering(lamp):
    tset = template_set(lamp)
    records = tset.generate(200, seed=3)
    assert len(records) == 200
    validator = CallValidator(lamp.tools)
    assert all(validator.is_valid(r["answers"]) for r in records)
    assert len({normalize_query(r["query"]) for r in records}) == 200

    singles = [r["answers"][0] for r in records if len(r["answers"]) == 1]
    per_tool = Counter(c["name"] for c in singles)
    assert set(per_tool) == {t["name"] for t in lamp.tools}
    # Two shares plus one per parameter: set_color (color, fade) gets 4 shares, the others 3.
    assert per_tool["set_color"] > max(n for t, n in per_tool.items() if t != "set_color")
    per_share = [n / tset.share(t) for t, n in per_tool.items()]
    assert max(per_share) - min(per_share) <= 1

    colors = {c["arguments"]["color"] for c in singles if c["name"] == "set_color"}
    assert colors == {"warm_white", "cool_white", "red", "blue"}
    fades = [c["arguments"].get("fade", "omitted") for c in singles if c["name"] == "set_color"]
    assert {True, False, "omitted"} <= set(fades)

    no_tool = [r for r in records if r["answers"] == []]
    multi = [r for r in records if len(r["answers"]) == 2]
    assert len(no_tool) == 90  # 25% the device's own no-tool commands, 20% small talk
    assert len(multi) == 20
    assert all(a != b for a, b in (r["answers"] for r in multi))


def test_two_command_utterances_may_use_one_tool_twice(lamp):
    multi = [
        r["answers"]
        for r in template_set(lamp).generate(400, seed=0, multi_share=0.5, small_talk_share=0.15)
        if len(r["answers"]) == 2
    ]
    same_tool = [(a, b) for a, b in multi if a["name"] == b["name"]]
    assert same_tool, "no two-command utterance uses one tool twice ('turn it on then make it red')"
    assert all(a["arguments"] != b["arguments"] for a, b in same_tool)
    assert len(same_tool) < len(multi) / 2


def test_numbers_are_spoken_as_digits_and_words(lamp):
    records = template_set(lamp).generate(300, seed=0)
    queries = [r["query"] for r in records if r["answers"] and r["answers"][0]["name"] == "set_brightness"]
    assert any(any(ch.isdigit() for ch in q) for q in queries)
    assert any(w in q.split() for q in queries for w in ("twenty", "thirty", "forty", "fifty", "sixty"))


def test_too_many_examples_for_the_templates_is_a_clear_error():
    small = copy.deepcopy(toy_plugin.TEMPLATES)
    small["tools"] = {
        "set_light": ["lamp {on}"],
        "set_brightness": [{"text": "max", "args": {"percent": 100}}],
        "set_color": ["{color}"],
        "name_scene": ["save as {scene}"],
    }
    small["no_tool"] = ["hello"]
    tset = TemplateSet(toy_plugin.TOOLS, small, "small.yaml")
    with pytest.raises(BijouError, match=r"small.yaml: the templates give only \d+ distinct commands, 5000"):
        tset.generate(5000)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda t: t["tools"]["set_light"].append("turn {onn}"),
            "$.tools.set_light[4]: slot {onn} is not a parameter of set_light",
        ),
        (
            lambda t: t["lists"].pop("scene"),
            "$.tools.name_scene[0]: slot {scene} has no values (expected lists.name_scene.scene or lists.scene)",
        ),
        (lambda t: t["tools"].pop("set_color"), "$.tools: no phrasings for tool 'set_color'"),
        (
            lambda t: t["tools"]["set_brightness"].append({"text": "max", "args": {"percent": 101}}),
            "$.tools.set_brightness[4].args.percent: 101 is greater than the maximum of 100",
        ),
        (
            lambda t: t["tools"]["set_color"].append("colour please"),
            "$.tools.set_color[5]: required parameter 'color' has no slot or arg",
        ),
    ],
)
def test_bad_templates_name_the_place(change, message):
    templates = copy.deepcopy(toy_plugin.TEMPLATES)
    change(templates)
    with pytest.raises(BijouError) as err:
        TemplateSet(toy_plugin.TOOLS, templates, "lamp.yaml")
    assert str(err.value) == f"lamp.yaml: {message}"


def test_coverage_gaps_name_unreachable_enum_values():
    templates = copy.deepcopy(toy_plugin.TEMPLATES)
    templates["tools"]["set_color"] = [{"text": "go red", "args": {"color": "red"}}]
    gaps = TemplateSet(toy_plugin.TOOLS, templates, "x").coverage_gaps()
    assert "tool set_color: color='blue' is never produced" in gaps
    assert "tool set_color: fade=True is never produced" in gaps


def test_holdout_split_keeps_test_phrasings_out_of_training(lamp):
    tset = template_set(lamp)
    train, test = holdout_split(tset, 0.25, seed=0)
    assert train.coverage_gaps() == []
    for tool in tset.phrasings:
        train_idx = {p.index for p in train.phrasings[tool]}
        test_idx = {p.index for p in test.phrasings[tool]}
        assert train_idx.isdisjoint(test_idx)
        assert test_idx, f"{tool} has no held-out phrasing"
    train_records = train.generate(120, seed=0)
    test_records = test.generate(40, seed=1, exclude=[r["query"] for r in train_records])
    assert {r["query"] for r in train_records}.isdisjoint(r["query"] for r in test_records)
    train_patterns = [p for p, _ in phrasing_patterns(train)]
    made_by_train = [
        r
        for r in test_records
        if r["answers"]
        and len(r["answers"]) == 1
        and any(p.match(normalize_query(r["query"])) for p in train_patterns)
    ]
    assert len(made_by_train) < 0.1 * len(test_records)


def test_generic_templates_for_a_bare_tools_file():
    tset = TemplateSet(toy_plugin.TOOLS, generic_templates(toy_plugin.TOOLS), "generic")
    assert tset.coverage_gaps() == []
    records = tset.generate(80, seed=0, no_tool_share=0)
    assert all(CallValidator(toy_plugin.TOOLS).is_valid(r["answers"]) for r in records)


def test_template_patterns_match_only_what_the_templates_can_say(lamp):
    patterns = [p for p, _ in phrasing_patterns(template_set(lamp))]

    def made(query: str) -> bool:
        return any(p.match(normalize_query(query)) for p in patterns)

    assert made("please warm white light")
    assert made("brightness forty two") and made("brightness 42")
    assert made("okay save this as movie night thanks")
    assert made("save this as my favourite")  # free text: a new scene name is still the same wording
    assert not made("the kitchen light")
    assert not made("make it green")
    assert not made("keep this as my favourite")


def test_small_talk_is_mixed_in_answered_with_no_call(lamp):
    tset = template_set(lamp)
    records = tset.generate(400, seed=1, speech_share=0)
    own = [normalize_query(q) for q in tset.no_tool]
    bank = {normalize_query(u) for u in small_talk().utterances}
    no_call = [normalize_query(r["query"]) for r in records if not r["answers"]]
    talk = [q for q in no_call if not any(o in q for o in own)]
    assert len(no_call) == 180 and len(talk) == 80  # 25% the device's own, 20% small talk
    tails = tuple(normalize_query(t) for t in small_talk().retraction_tails)
    retractions = [q for q in talk if q.endswith(tails)]
    assert 0 < len(retractions) < 30
    b = small_talk()
    composed = {
        normalize_query(f"{o} {u} {c}")
        for u in b.utterances
        for o in ("", *b.openers)
        for c in ("", *b.closers)
    }
    overheard = [q for q in talk if q not in retractions and q not in composed]
    assert 10 < len(overheard) < 40 and len(set(overheard)) == len(overheard)
    assert all(overheard_pattern(b).search(q) for q in overheard)
    assert not [r for r in records if r["answers"] and normalize_query(r["query"]) in bank]


def overheard_pattern(bank) -> re.Pattern[str]:
    """Matches any sentence the overheard templates can compose (openers and closers around it)."""
    bodies = []
    for template in bank.overheard_templates:
        pieces = []
        for piece in re.split(r"(\{\w+\})", template):
            if piece.startswith("{"):
                values = {normalize_query(v) for v in bank.overheard_slots[piece[1:-1]]}
                pieces.append(
                    "(?:" + "|".join(re.escape(v) for v in sorted(values, key=len, reverse=True)) + ")"
                )
            elif normalize_query(piece):
                pieces.append(re.escape(normalize_query(piece)))
        bodies.append(" ?".join(pieces))
    return re.compile("|".join(f"(?:{b})" for b in bodies))


def test_overheard_speech_is_composed_from_its_templates_with_every_slot_filled():
    b = small_talk()
    rng = random.Random(0)
    sentences = {b.overheard(rng) for _ in range(500)}
    assert len(sentences) > 300  # thousands of compositions: few repeats in 500 draws
    assert not [s for s in sentences if "{" in s or "}" in s or "  " in s]
    assert any(s.startswith("my ") and " percent" in s for s in sentences)  # device words, no request


def test_small_talk_that_the_device_can_say_is_not_taught_as_no_call(lamp):
    templates = copy.deepcopy(toy_plugin.TEMPLATES)
    templates["tools"]["set_light"].append({"text": "good night", "args": {"on": False}})
    tset = TemplateSet(toy_plugin.TOOLS, templates, "lamp.yaml")
    records = tset.generate(1500, seed=0, small_talk_share=0.5, no_tool_share=0.1, speech_share=0)
    queries = {normalize_query(r["query"]) for r in records if not r["answers"]}
    assert "good evening" in queries or "good morning" in queries
    assert not any(q in ("good night", "oh good night") for q in queries)


def test_shares_that_leave_no_room_for_commands_are_refused(lamp):
    with pytest.raises(BijouError, match="add up to 1.00: at most 0.9"):
        template_set(lamp).generate(100, no_tool_share=0.5, small_talk_share=0.3, multi_share=0.2)


def test_speech_transcripts_change_the_words_not_the_calls(lamp):
    tset = template_set(lamp)
    said = tset.generate(300, seed=2, speech_share=1.0)
    typed = tset.generate(300, seed=2, speech_share=0)

    def calls(records: list[dict]) -> list[str]:
        return sorted(json.dumps(r["answers"], sort_keys=True) for r in records)

    assert calls(said) == calls(typed)
    assert len({normalize_query(r["query"]) for r in said}) == 300
    with_filler = [r for r in said if r["query"].split()[0] in FILLERS]
    assert len(with_filler) > 100
    assert {r["query"] for r in said} != {r["query"] for r in typed}


def test_spoken_adds_fillers_and_restarts_but_never_splits_an_argument():
    import random

    rng = random.Random(0)
    said = [spoken("Remind me to call the dentist, tomorrow!", rng, ["call the dentist"]) for _ in range(200)]
    assert all(" call the dentist " in f" {s} " for s in said)
    assert any(s.startswith(("um ", "uh ", "so ")) for s in said)
    assert any(s.startswith("remind remind") for s in said)
    assert "remind me to call the dentist tomorrow" in said
    assert plain("Set it to 4:30, OK? noise-cancelling 2.5%") == "set it to 4:30 ok noise cancelling 2.5%"
