"""The runtime: adapters swapped in place, constrained calls, prefix caching, execution, ``bijou run``.

Models are the tiny two-layer Llama with random LoRA adapters: their answers are nonsense, which
is what makes them good witnesses (any state left behind by a swap changes the text).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import pytest
from click.testing import CliRunner
from scripted_backend import scripted_engine
from tiny_adapters import write_random_adapters

from bijou_core.calls import dumps
from bijou_core.cli import main
from bijou_core.devices import load_registry
from bijou_core.errors import BijouError
from bijou_core.manifest import read_manifest, write_manifest
from bijou_core.prompt import PromptFormat
from bijou_core.runtime.config import EngineConfig
from bijou_core.runtime.decoding import generate
from bijou_core.runtime.engine import Answer, Engine
from bijou_core.runtime.grammar import Vocabulary

QUERIES = {"lamp": ["kill the lights", "brightness to seventy"], "fan": ["fan on two", "stop swinging"]}


@pytest.fixture(scope="module")
def adapters_dir(tmp_path_factory, tiny_model_dir, home):
    """A random LoRA adapter per device, with the manifest ``bijou devices train`` writes."""
    return write_random_adapters(tmp_path_factory.mktemp("adapters"), tiny_model_dir, home, ["lamp", "fan"])


def load(adapters_dir, home, names=("lamp", "fan"), devices=(), **kwargs) -> Engine:
    adapters = {n: adapters_dir / n for n in names}
    return Engine.load(adapters, devices=devices, registry=home, config=EngineConfig(**kwargs))


# ---------------------------------------------------------------- the grammar of calls


def test_grammar_accepts_every_eval_answer_and_nothing_outside_the_schema(embedded_tokenizer_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(embedded_tokenizer_dir)
    vocabulary = Vocabulary.from_hf(tokenizer, len(tokenizer))
    registry = load_registry()
    for name in ("airpods-pro", "omi", "rayban-stories"):
        device = registry.get(name)
        grammar = vocabulary.grammar(device.tools)
        for record in device.eval_set:
            matcher = grammar.matcher()
            matcher.accept_text(dumps(record.answers))
            assert matcher.done, record.query
    grammar = vocabulary.grammar(registry.get("airpods-pro").tools)
    for wrong in (
        '[{"name": "set_volume", "arguments": {"level": 101}}]',  # above the maximum
        '[{"name": "set_volume", "arguments": {"level": "50"}}]',  # a string for an integer
        '[{"name": "set_noise_control", "arguments": {"mode": "quiet"}}]',  # not in the enum
        '[{"name": "set_noise_control", "arguments": {}}]',  # a required argument missing
        '[{"name": "media_control", "arguments": {"action": "play", "loud": true}}]',  # unknown argument
        '[{"name": "make_coffee", "arguments": {}}]',  # unknown tool
        '[{"name":"media_control","arguments":{"action":"play"}}]',  # not the trained layout
    ):
        with pytest.raises(RuntimeError, match="rejected"):
            grammar.matcher().accept_text(wrong)
    matcher = grammar.matcher()
    matcher.accept_text('[{"name": "set_noise_')
    assert matcher.forced() == 'control", "arguments": {"mode": "'


def test_scores_past_the_vocabulary_are_never_allowed(embedded_tokenizer_dir):
    """A model may pad its output rows past the tokenizer (Qwen2.5: 151,936 for 151,665 tokens);
    with a vocabulary sized from the tokenizer, the padded rows must still never be chosen."""
    import numpy as np
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(embedded_tokenizer_dir)
    grammar = Vocabulary.from_hf(tokenizer, len(tokenizer)).grammar(load_registry().get("omi").tools)
    matcher = grammar.matcher()
    logits = np.zeros(len(tokenizer) + 64, dtype=np.float32)
    logits[len(tokenizer) + 3] = 100.0
    matcher.mask(logits)
    assert np.isinf(logits[len(tokenizer) :]).all()
    assert tokenizer.decode([int(logits.argmax())]).startswith("[")


class ScriptedModel:
    """A backend whose "model" always wants the canonical tokens of ``answer``; it records every
    token it is fed, so a test sees exactly the token split the decoding loop showed the model."""

    n_ctx = 1024

    def __init__(self, tokenizer, answer: str, end: str = "<|im_end|>"):
        self.tokenizer, self.end_ids = tokenizer, {tokenizer.convert_tokens_to_ids(end)}
        self.target = self.tokenize(answer) + sorted(self.end_ids)
        self.seen: list[int] = []

    def tokenize(self, text, special=True):
        return self.tokenizer(text, add_special_tokens=False, split_special_tokens=not special).input_ids

    def detokenize(self, ids):
        return self.tokenizer.decode(ids, clean_up_tokenization_spaces=False)

    def start(self, prefix):
        self.seen = list(prefix)

    def feed(self, ids, rows=1):
        import numpy as np

        self.seen += ids
        logits = np.zeros((rows, self.tokenizer.vocab_size + 1), dtype=np.float32)
        for row in range(rows):
            written = len(self.seen) - (rows - 1 - row) - self.prompt_len
            logits[row, self.target[min(written, len(self.target) - 1)]] = 1.0
        return logits

    def truncate(self, length):
        del self.seen[length:]


def test_forced_text_is_fed_in_the_token_split_of_training(embedded_tokenizer_dir):
    """Constrained decoding feeds forced text in chunks, yet the model must see each answer split
    into tokens exactly as in training (BPE merges depend on what follows: ``"}},`` vs ``"}}]``)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(embedded_tokenizer_dir)
    vocabulary = Vocabulary.from_hf(tokenizer, len(tokenizer))
    device = load_registry().get("airpods-pro")
    fmt = PromptFormat.for_tokenizer(tokenizer, "compact", device.name)
    grammar = vocabulary.grammar(device.tools)
    forced_total = 0
    for record in device.eval_set:
        answer = dumps(record.answers)
        model = ScriptedModel(tokenizer, answer)
        prompt = fmt.prompt(tokenizer, device.tools, record.query)
        model.prompt_len = len(model.tokenize(prompt))
        gen = generate(model, prompt, fmt.shared_prefix(device.tools), grammar.matcher(), decline=True)
        assert gen.text == answer and gen.declined is None
        assert model.seen == model.tokenize(prompt + answer)[: len(model.seen)], record.query
        forced_total += gen.forced_tokens
    assert forced_total > 0


def test_guessing_the_users_words_ahead_keeps_the_answer_and_saves_model_calls(embedded_tokenizer_dir):
    """Prompt lookup feeds the user's words (and the usual ending) ahead of the model: every answer
    stays the greedy one, in the token split of training, and answers that copy the user's words
    (omi's memories, searches and to-dos) take fewer model calls."""
    from transformers import AutoTokenizer

    from bijou_core.runtime.engine import _user_span

    tokenizer = AutoTokenizer.from_pretrained(embedded_tokenizer_dir)
    vocabulary = Vocabulary.from_hf(tokenizer, len(tokenizer))
    calls = {0: 0, 8: 0}
    kept = 0
    device = load_registry().get("omi")
    fmt = PromptFormat.for_tokenizer(tokenizer, "compact", device.name)
    grammar = vocabulary.grammar(device.tools)
    for record in device.eval_set:
        answer = dumps(record.answers)
        prompt = fmt.prompt(tokenizer, device.tools, record.query)
        user = _user_span(fmt, tokenizer, device.tools, record.query, prompt)
        for draft in calls:
            model = ScriptedModel(tokenizer, answer)
            model.prompt_len = len(model.tokenize(prompt))
            gen = generate(
                model,
                prompt,
                fmt.shared_prefix(device.tools),
                grammar.matcher(),
                user=user,
                draft_tokens=draft,
            )
            assert gen.text == answer, record.query
            assert model.seen == model.tokenize(prompt + answer)[: len(model.seen)], record.query
            calls[draft] += len(gen.passes)
            kept += gen.kept
    assert kept > 50 and calls[8] < 0.85 * calls[0]


def airpods_prompt(tokenizer_dir, query: str):
    """The embedded tokenizer, airpods-pro, its compact prompt format and grammar, and the prompt."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    device = load_registry().get("airpods-pro")
    fmt = PromptFormat.for_tokenizer(tokenizer, "compact", device.name)
    grammar = Vocabulary.from_hf(tokenizer, len(tokenizer)).grammar(device.tools)
    return tokenizer, device, fmt, grammar, fmt.prompt(tokenizer, device.tools, query)


def test_a_value_the_tools_do_not_allow_gets_no_call_instead_of_a_forced_one(embedded_tokenizer_dir):
    """The model writes "quiet", which is not a noise-control mode: with ``decline`` the answer is no
    call and keeps what the model was writing; without it the grammar bends the text into a mode."""
    tokenizer, device, fmt, grammar, prompt = airpods_prompt(embedded_tokenizer_dir, "make it quiet")
    wanted = '[{"name": "set_noise_control", "arguments": {"mode": "quiet"}}]'
    model = ScriptedModel(tokenizer, wanted)
    model.prompt_len = len(model.tokenize(prompt))
    gen = generate(model, prompt, fmt.shared_prefix(device.tools), grammar.matcher(), decline=True)
    assert gen.text == "[]"
    assert wanted.startswith(gen.declined) and gen.declined.startswith(wanted[: wanted.index("quiet") + 1])
    forced = generate(model, prompt, fmt.shared_prefix(device.tools), grammar.matcher(), max_new_tokens=24)
    assert forced.declined is None and forced.text.startswith('[{"name": "set_noise_control"')
    assert forced.text != wanted[: len(forced.text)]  # the grammar bent the value


class Preferring(ScriptedModel):
    """A scripted model with a second choice: it wants the next token of ``answer`` while what it
    has written is a start of it, and with less probability that of ``second``."""

    def __init__(self, tokenizer, answer: str, second: str):
        super().__init__(tokenizer, answer)
        self.choices = [(1.0, self.target), (0.5, self.tokenize(second) + sorted(self.end_ids))]

    def feed(self, ids, rows=1):
        import numpy as np

        self.seen += ids
        logits = np.zeros((rows, self.tokenizer.vocab_size + 1), dtype=np.float32)
        for row in range(rows):
            written = self.seen[self.prompt_len : len(self.seen) - (rows - 1 - row)]
            for score, target in self.choices:
                if target[: len(written)] == written and len(written) < len(target):
                    logits[row, target[len(written)]] = max(logits[row, target[len(written)]], score)
        return logits


def test_free_text_copied_from_the_command_keeps_its_words(embedded_tokenizer_dir):
    """The model reaches for a name the user never said ("Eva" for "anna"): as it writes it (off),
    with only the command's words allowed and its best such word taken (mask: "Anna"), or as no
    call (decline). Enum values and other tools' arguments are untouched."""
    from transformers import AutoTokenizer

    from bijou_core.runtime.grammar import copy_pattern

    tokenizer = AutoTokenizer.from_pretrained(embedded_tokenizer_dir)
    device = load_registry().get("rayban-stories")
    fmt = PromptFormat.for_tokenizer(tokenizer, "compact", device.name)
    vocabulary = Vocabulary.from_hf(tokenizer, len(tokenizer))
    query = "send that video to anna on messenger"
    prompt = fmt.prompt(tokenizer, device.tools, query)
    call = '[{{"name": "share_last_capture", "arguments": {{"destination": "messenger", "contact": "{}"}}}}]'
    model = Preferring(tokenizer, call.format("Eva"), call.format("Anna"))
    model.prompt_len = len(model.tokenize(prompt))
    wide = vocabulary.grammar(device.tools)
    copied = vocabulary.grammar(device.tools, text_pattern=copy_pattern(query))
    prefix = fmt.shared_prefix(device.tools)
    answers = {
        "off": generate(model, prompt, prefix, wide.matcher(), decline=True),
        "mask": generate(model, prompt, prefix, copied.matcher(wider=wide), decline=True),
        "decline": generate(model, prompt, prefix, copied.matcher(), decline=True),
    }
    assert answers["off"].text == call.format("Eva")
    assert answers["mask"].text == call.format("Anna") and answers["mask"].declined is None
    assert answers["decline"].text == "[]" and answers["decline"].declined.endswith('"contact": "E')


def test_the_engine_holds_free_text_to_the_commands_words_unless_told_not_to(embedded_tokenizer_dir):
    """Through the engine, as ``bijou run``, ``serve`` and ``devices eval`` answer: a name the user
    never said is written with ``off``, turns the answer into no call with ``decline``, and is
    never written with the default (mask). A value made of the command's words is the same in every
    mode."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(embedded_tokenizer_dir)
    device = load_registry().get("rayban-stories")
    share = {"name": "share_last_capture", "arguments": {"destination": "messenger", "contact": "Ava"}}
    said = {"name": "share_last_capture", "arguments": {"destination": "whatsapp", "contact": "Beach Crew"}}
    script = {
        "send that video to anna on messenger": [share],
        "share it with the beach crew on whatsapp": [said],
    }
    engine = scripted_engine(tokenizer, [device], {device.name: script})
    engine.use(device.name)
    answers = {}
    for mode in ("off", "mask", "decline"):
        engine.config = EngineConfig(copy_text=mode)
        answers[mode] = [engine.answer(query) for query in script]
        assert answers[mode][1].calls == [said] and answers[mode][1].valid
    assert answers["off"][0].calls == [share]
    assert answers["decline"][0].calls == [] and answers["decline"][0].generation.declined.endswith(
        '"contact": "Ava'
    )
    assert "Ava" not in answers["mask"][0].text  # what the model writes instead: its test above


def test_the_copy_pattern_allows_the_commands_words_in_any_case_and_nothing_else(embedded_tokenizer_dir):
    """Words of the command as typed or as the model reads it (digits), as written, in lower case,
    capitalized or upper case, with anything but letters and digits between them; no other word, no
    two words glued into one, no word in a case of its own."""
    from transformers import AutoTokenizer

    from bijou_core.numbers import digits
    from bijou_core.runtime.grammar import MAX_COPIED_WORDS, copy_pattern

    tokenizer = AutoTokenizer.from_pretrained(embedded_tokenizer_dir)
    tools = load_registry().get("omi").tools
    typed = "remember the Beach Crew said I'll be twenty minutes late"
    grammar = Vocabulary.from_hf(tokenizer, len(tokenizer)).grammar(
        tools, text_pattern=copy_pattern(typed, digits(typed))
    )

    def allowed(value: str) -> bool:
        answer = dumps([{"name": "create_memory", "arguments": {"content": value}}])
        ids = tokenizer(answer, add_special_tokens=False).input_ids
        return grammar.matcher().allowed_prefix(ids) == len(ids)

    for value in (
        "Beach Crew",
        "beach crew",
        "BEACH crew",
        "I'll be 20 minutes late!",
        "twenty minutes",
        " the  crew. ",
    ):
        assert allowed(value), value
    for value in ("Breeze Crew", "beachcrew", "late tonight", "running late", "bEACH Crew", "BeAch crew"):
        assert not allowed(value), value
    many = " ".join(f"word{i}" for i in range(MAX_COPIED_WORDS + 1))
    assert copy_pattern(many) is None  # no spoken command: not worth building


def test_a_call_the_model_is_unsure_of_becomes_no_call_below_the_threshold(embedded_tokenizer_dir):
    """At its first choice the model gives the call 60% and ``[]`` 40%: a threshold of 0.7 answers
    no call (an always-listening device acts only on what it is sure of), 0.5 the call; both keep
    the probability."""
    import math

    tokenizer, device, fmt, grammar, prompt = airpods_prompt(embedded_tokenizer_dir, "louder i guess")
    answer = '[{"name": "adjust_volume", "arguments": {"direction": "up"}}]'

    class Unsure(ScriptedModel):
        def feed(self, ids, rows=1):
            logits = super().feed(ids, rows) * 40.0 - 20.0
            brace, close = self.tokenize('[{"')[-1], self.tokenize("[]")[-1]
            for row in logits:
                if row[brace] > 0:  # the first choice: a call, or the list closed at once
                    row[brace], row[close] = math.log(0.6), math.log(0.4)
            return logits

    model = Unsure(tokenizer, answer)
    model.prompt_len = len(model.tokenize(prompt))
    sure = generate(model, prompt, fmt.shared_prefix(device.tools), grammar.matcher(), call_threshold=0.5)
    assert sure.text == answer and not sure.unsure and sure.p_call == pytest.approx(0.6, abs=1e-3)
    unsure = generate(model, prompt, fmt.shared_prefix(device.tools), grammar.matcher(), call_threshold=0.7)
    assert unsure.text == "[]" and unsure.unsure and unsure.p_call == pytest.approx(0.6, abs=1e-3)


def test_a_call_whose_tool_the_model_is_unsure_of_becomes_no_call_below_the_tool_threshold(
    embedded_tokenizer_dir,
):
    """Sure of a call, the model gives ``adjust_volume`` 50% and ``set_volume`` 30% at its choice of
    tool (the rest of each name is forced): under the grammar the tool's probability is 0.625. A tool
    threshold of 0.7 answers no call, 0.6 the call; both keep the probability."""
    import math

    from bijou_core.runtime.decoding import NAME_OPEN

    tokenizer, device, fmt, grammar, prompt = airpods_prompt(embedded_tokenizer_dir, "louder i guess")
    answer = '[{"name": "adjust_volume", "arguments": {"direction": "up"}}]'
    assert answer.startswith(NAME_OPEN)

    class TornBetweenTools(ScriptedModel):
        def feed(self, ids, rows=1):
            logits = super().feed(ids, rows) * 40.0 - 20.0
            at = len(self.tokenize(NAME_OPEN))
            adjust, other = self.tokenize(answer)[at], self.tokenize(NAME_OPEN + "set_volume")[at]
            for row in logits:
                if row[adjust] > 0:
                    row[adjust], row[other] = math.log(0.5), math.log(0.3)
            return logits

    model = TornBetweenTools(tokenizer, answer)
    model.prompt_len = len(model.tokenize(prompt))
    prefix = fmt.shared_prefix(device.tools)
    sure = generate(model, prompt, prefix, grammar.matcher(), call_threshold=0.6, tool_threshold=0.6)
    assert sure.text == answer and not sure.unsure
    assert sure.p_tool == pytest.approx(0.625, abs=1e-3) and sure.p_call == pytest.approx(1.0, abs=1e-3)
    unsure = generate(model, prompt, prefix, grammar.matcher(), call_threshold=0.6, tool_threshold=0.7)
    assert unsure.text == "[]" and unsure.unsure and unsure.p_tool == pytest.approx(0.625, abs=1e-3)
    no_threshold = generate(model, prompt, prefix, grammar.matcher())
    assert no_threshold.text == answer and no_threshold.p_tool == pytest.approx(0.625, abs=1e-3)


def test_the_call_probability_adds_up_both_token_paths_of_gemma(gemma_tokenizer_dir):
    """Gemma's tokenizer offers the first choice in one token (``[]``, ``[{``) or in two (``[``, then
    ``{"``: the split of training). A model giving ``[]`` 30% and a bare ``[`` 70%, then sure of a
    call, gives the call 70%: answered at the default threshold, not at 0.8. (Read off the first
    token alone, ``[{`` against ``[]``, the call was near 0% and every command became no call.)"""
    import math

    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gemma_tokenizer_dir)
    device = load_registry().get("airpods-pro")
    fmt = PromptFormat.for_tokenizer(tokenizer, "compact", device.name)
    assert fmt.turns == "gemma"
    grammar = Vocabulary.from_hf(tokenizer, len(tokenizer)).grammar(device.tools)
    prompt = fmt.prompt(tokenizer, device.tools, "louder")
    answer = '[{"name": "adjust_volume", "arguments": {"direction": "up"}}]'

    class TwoPaths(ScriptedModel):
        def feed(self, ids, rows=1):
            logits = super().feed(ids, rows) * 40.0 - 20.0
            bare, empty = self.tokenize("[")[0], self.tokenize("[]")[0]
            for row in logits:
                if row[bare] > 0:  # the first choice
                    row[bare], row[empty] = math.log(0.7), math.log(0.3)
            return logits

    model = TwoPaths(tokenizer, answer, end="<end_of_turn>")
    assert model.target[0] == model.tokenize("[")[0] and len(model.tokenize("[]")) == 1
    model.prompt_len = len(model.tokenize(prompt))
    prefix = fmt.shared_prefix(device.tools)
    sure = generate(model, prompt, prefix, grammar.matcher(), call_threshold=0.6)
    assert sure.text == answer and not sure.unsure and sure.p_call == pytest.approx(0.7, abs=1e-3)
    unsure = generate(model, prompt, prefix, grammar.matcher(), call_threshold=0.8)
    assert unsure.text == "[]" and unsure.unsure and unsure.p_call == pytest.approx(0.7, abs=1e-3)


# ---------------------------------------------------------------- the transformers backend


def test_constrained_calls_are_always_schema_valid(adapters_dir, home):
    engine = load(adapters_dir, home, decline=False)
    free = load(adapters_dir, home, constrain=False)
    declining = load(adapters_dir, home)
    unconstrained_valid, declined = [], []
    for device, queries in QUERIES.items():
        for adapter in (True, False):
            engine.use(device, adapter)
            free.use(device, adapter)
            for query in queries:
                answer = engine.answer(query)
                assert answer.valid, (device, query, answer.text, answer.errors)
                assert home.get(device).validator.is_valid(answer.calls)
                assert answer.generation.forced_tokens > 0
                unconstrained_valid.append(free.answer(query).valid)
                declining.use(device, adapter)
                other = declining.answer(query)
                assert other.valid and (other.text == answer.text or other.calls == [])
                declined.append(other.generation.declined is not None)
    assert not all(unconstrained_valid)  # the random model on its own does not write valid calls
    assert any(declined)  # ... so the grammar masks its choices, and the default engine declines


def test_a_swap_leaves_nothing_behind(adapters_dir, home):
    engine = load(adapters_dir, home, constrain=False)
    engine.use("lamp")
    first = engine.answer("kill the lights").text
    engine.use("fan")
    fan = engine.answer("fan on two").text
    engine.use("lamp", adapter=False)
    base = engine.answer("kill the lights").text
    engine.use("lamp")
    assert engine.answer("kill the lights").text == first
    assert load(adapters_dir, home, ["lamp"], constrain=False).answer("kill the lights").text == first
    fresh_fan = load(adapters_dir, home, ["fan"], constrain=False, devices=["lamp"])
    fresh_fan.use("fan")
    assert fresh_fan.answer("fan on two").text == fan
    fresh_fan.use("lamp", adapter=False)
    assert fresh_fan.answer("kill the lights").text == base
    assert first != base  # the adapter changes the answer, so the equalities above could fail


def test_an_unknown_device_is_one_clear_line(adapters_dir, home):
    engine = load(adapters_dir, home, constrain=False)
    assert engine.device("lamp").name == "lamp"
    with pytest.raises(BijouError, match=r"^no device 'lam' loaded \(loaded: fan, lamp\)$"):
        engine.device("lam")
    with pytest.raises(BijouError, match=r"^no device 'lam' loaded \(loaded: fan, lamp\)$"):
        engine.use("lam")
    with pytest.raises(BijouError, match=r"^no adapter for device 'lamp' loaded \(loaded: fan, lamp\)$"):
        load(adapters_dir, home, ["fan"], constrain=False, devices=["lamp"]).use("lamp", adapter=True)


def test_the_recorded_prompt_format_decides_how_numbers_reach_the_model(adapters_dir, home, tmp_path):
    """Adapters trained with spoken numbers as digits get them at run time; older ones do not."""
    shutil.copytree(adapters_dir / "lamp", tmp_path / "lamp")
    manifest = read_manifest(tmp_path / "lamp")
    manifest = replace(manifest, prompt_format={**manifest.prompt_format, "version": 2, "digits": True})
    write_manifest(tmp_path / "lamp", manifest)
    old = load(adapters_dir, home, names=("lamp",)).slots[("lamp", True)].fmt
    new = Engine.load({"lamp": tmp_path / "lamp"}, registry=home).slots[("lamp", True)].fmt
    assert "brightness to seventy" in old.prompt(None, None, "brightness to seventy")
    assert "brightness to 70" in new.prompt(None, None, "brightness to seventy")


def test_the_cached_prompt_prefix_gives_the_same_answer(adapters_dir, home):
    engine = load(adapters_dir, home, constrain=False)
    engine.use("lamp")
    fmt: PromptFormat = engine.active.fmt
    tools = engine.active.device.tools
    prompt, prefix = fmt.prompt(None, tools, "kill the lights"), fmt.shared_prefix(tools)
    cached = generate(engine.backend, prompt, prefix)
    generate(engine.backend, fmt.prompt(None, tools, "something else entirely"), prefix)
    again = generate(engine.backend, prompt, prefix)
    full = generate(engine.backend, prompt, None)
    assert cached.cached_tokens == len(engine.backend.tokenize(prefix)) > 0 and full.cached_tokens == 0
    assert cached.text == again.text == full.text


def assert_scores_per_row_match_one_at_a_time(engine, query: str) -> None:
    """Several tokens fed in one call give, row by row, the scores of feeding them one at a time
    (what guessing the user's words ahead relies on)."""
    import numpy as np

    fmt: PromptFormat = engine.active.fmt
    tools = engine.active.device.tools
    backend = engine.backend
    prefix = backend.tokenize(fmt.shared_prefix(tools))
    rest = backend.tokenize(fmt.prompt(None, tools, query))[len(prefix) :]
    backend.start(prefix)
    together = backend.feed(rest, 4)
    backend.truncate(len(prefix) + len(rest) - 4)
    alone = np.concatenate([backend.feed([token]) for token in rest[-4:]])
    assert together.shape == alone.shape == (4, together.shape[1])
    assert np.allclose(together, alone, atol=1e-2 * float(np.abs(alone).max()))


def test_scores_of_tokens_fed_together_match_one_at_a_time(adapters_dir, home):
    engine = load(adapters_dir, home, constrain=False)
    engine.use("lamp")
    assert_scores_per_row_match_one_at_a_time(engine, "dim the lights to forty percent")


def test_calls_run_on_the_device_only_when_valid_and_confirmed(adapters_dir, home):
    engine = load(adapters_dir, home)

    def answer(calls, errors=()):
        from bijou_core.runtime.decoding import Generation

        return Answer("lamp", "q", dumps(calls), calls, list(errors), Generation("", 0, 0, 0, 0, 0))

    brightness = {"name": "set_brightness", "arguments": {"percent": 30}}
    scene = {"name": "name_scene", "arguments": {"scene": "focus"}}
    outcomes = engine.execute(answer([brightness, {"name": "set_light", "arguments": {"on": 7}}], ["bad on"]))
    assert [o.status for o in outcomes] == ["failed", "failed"] and outcomes[0].reason == "bad on"
    assert engine.runtime("lamp").state["percent"] == 50  # nothing ran
    outcomes = engine.execute(answer([brightness, scene]))
    assert [o.status for o in outcomes] == ["done", "refused"]
    assert engine.runtime("lamp").state["percent"] == 30 and engine.runtime("lamp").state["scenes"] == []
    asked = []
    outcomes = engine.execute(answer([scene]), confirm=lambda call: asked.append(call) or False)
    assert asked == [scene] and outcomes[0].status == "refused"
    outcomes = engine.execute(answer([scene]), confirm=lambda call: True)
    assert outcomes[0].status == "done" and engine.runtime("lamp").state["scenes"] == ["focus"]


# ---------------------------------------------------------------- bijou run


@pytest.fixture
def home_cli(monkeypatch, home):
    monkeypatch.setattr("bijou_core.cli.devices.load_registry", lambda: home)
    return home


def test_engine_config_refuses_what_no_engine_runs():
    with pytest.raises(
        BijouError, match=r"^unknown backend 'vllm' \(expected one of transformers, llama.cpp\)$"
    ):
        EngineConfig(backend="vllm")
    with pytest.raises(BijouError, match="call threshold 1.5: expected a probability from 0 to 1"):
        EngineConfig(call_threshold=1.5)
    with pytest.raises(BijouError, match="tool threshold -0.1: expected a probability from 0 to 1"):
        EngineConfig(tool_threshold=-0.1)
    with pytest.raises(
        BijouError, match=r"^unknown copy-text mode 'all' \(expected one of off, mask, decline\)$"
    ):
        EngineConfig(copy_text="all")


def test_run_and_serve_build_one_engine_config_from_their_options(adapters_dir, home_cli, monkeypatch):
    seen = []

    def load(adapters, base, devices, config, registry=None):
        seen.append(config)
        raise BijouError("not loading a model here")

    monkeypatch.setattr(Engine, "load", load)
    options = ["--no-decline", "--call-threshold", "0.3", "--tool-threshold", "0.4", "--threads", "1"]
    options += ["--copy-text", "decline"]
    served = ["--adapters-dir", str(adapters_dir), *options]
    evaluated = ["devices", "eval", "lamp", "--adapter", str(adapters_dir / "lamp"), *options]
    for command in (["run", *served, "--command", "x"], ["serve", *served], evaluated):
        result = CliRunner().invoke(main, command)
        assert result.exit_code == 1 and "not loading a model here" in result.output
    expected = EngineConfig(
        decline=False, call_threshold=0.3, tool_threshold=0.4, threads=1, copy_text="decline"
    )
    assert seen == [expected] * 3


def test_run_answers_commands_swaps_devices_and_changes_their_state(adapters_dir, home_cli):
    args = ["run", "--adapters-dir", str(adapters_dir), "--backend", "transformers", "--device", "fan"]
    args.append("--no-decline")  # the random models' calls are forced, so that they run
    stdin = "fan on two\n/device lamp\nkill the lights\n/device fan\nstop swinging\n"
    result = CliRunner().invoke(main, args, input=stdin, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["device"], r["command"]) for r in records] == [
        ("fan", "fan on two"),
        ("lamp", "kill the lights"),
        ("fan", "stop swinging"),
    ]
    assert records[1]["latency_ms"]["swap"] > 0 and records[0]["latency_ms"]["prefill"] > 0
    simulators = {"fan": home_cli.get("fan").runtime(), "lamp": home_cli.get("lamp").runtime()}
    for record in records:
        assert record["valid"] and home_cli.get(record["device"]).validator.is_valid(record["calls"])
        simulator = simulators[record["device"]]
        for result_ in record["results"]:
            assert result_["status"] == (
                "refused" if simulator.needs_confirmation(result_["call"]) else "done"
            )
            if result_["status"] == "done":
                assert result_["result"] == simulator.execute(
                    result_["call"], home_cli.get(record["device"]).tools_by_name[result_["call"]["name"]]
                )
        assert record["state"] == simulator.state  # the device state followed the executed calls

    one = CliRunner().invoke(main, [*args, "--command", "fan on two"], catch_exceptions=False)
    assert [json.loads(line)["calls"] for line in one.stdout.splitlines()] == [records[0]["calls"]]
    declining = CliRunner().invoke(main, [*args[:-1], "--command", "fan on two"], catch_exceptions=False)
    (record,) = [json.loads(line) for line in declining.stdout.splitlines()]
    assert record["declined"] and record["calls"] == [] and record["results"] == []


def test_run_errors_are_one_line(adapters_dir, home_cli, tmp_path):
    args = ["run", "--adapters-dir", str(adapters_dir), "--command", "x"]
    result = CliRunner().invoke(main, [*args, "--device", "toaster"])
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert "unknown device 'toaster'" in result.output
    result = CliRunner().invoke(main, ["run", "--adapters-dir", str(tmp_path), "--command", "x"])
    assert (
        result.output
        == f"Error: {tmp_path}: no adapter folders in it (expected DEVICE/adapter_config.json)\n"
    )
    shutil.copytree(adapters_dir / "lamp", tmp_path / "lamp")
    shutil.copytree(adapters_dir / "lamp", tmp_path / "lamp-v2")
    result = CliRunner().invoke(main, ["run", "--adapters-dir", str(tmp_path), "--command", "x"])
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert result.output.startswith("Error: two adapters for device 'lamp': ")


# ---------------------------------------------------------------- the llama.cpp backend


def prepare_gguf(adapters_dir, quant: str = "f16") -> None:
    """What the llama.cpp backend reads, written by ``bijou export gguf --adapters-dir``."""
    args = ["export", "gguf", "--adapters-dir", str(adapters_dir), "--methods", quant]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output


def test_llama_cpp_reads_gguf_files_and_names_the_command_that_writes_them(adapters_dir, home, tmp_path):
    """Loading converts nothing: without the GGUF files, one error line says what to run."""
    shutil.copytree(adapters_dir / "lamp", tmp_path / "lamp", ignore=shutil.ignore_patterns("*.gguf"))
    with pytest.raises(BijouError) as error:
        load(tmp_path, home, ["lamp"], backend="llama.cpp", quant="f16")
    message = str(error.value)
    assert "\n" not in message and message.startswith(str(tmp_path / "lamp" / "lamp-lora-f16.gguf"))
    assert f"convert it first: bijou export gguf --adapters-dir {tmp_path} --base " in message
    assert message.endswith("--methods f16") and not list(tmp_path.glob("**/*.gguf"))


@pytest.mark.slow
def test_llama_cpp_swaps_in_place_and_constrains(adapters_dir, home, tiny_model_dir, bijou_cache):
    prepare_gguf(adapters_dir)
    engine = load(adapters_dir, home, backend="llama.cpp", quant="f16", constrain=False)
    assert sorted(engine.backend.adapters) == ["fan", "lamp"]
    engine.use("lamp")
    first = engine.answer("kill the lights").text
    engine.use("fan")
    engine.answer("fan on two")
    engine.use("lamp", adapter=False)
    base = engine.answer("kill the lights").text
    engine.use("lamp")
    assert engine.answer("kill the lights").text == first != base
    converted = sorted(p.name for p in adapters_dir.glob("*/*.gguf"))
    assert converted == ["fan-lora-f16.gguf", "lamp-lora-f16.gguf"]
    mtimes = [p.stat().st_mtime for p in adapters_dir.glob("*/*.gguf")]
    prepare_gguf(adapters_dir)
    fresh = load(adapters_dir, home, ["lamp"], backend="llama.cpp", quant="f16", constrain=False)
    assert fresh.answer("kill the lights").text == first
    assert [p.stat().st_mtime for p in adapters_dir.glob("*/*.gguf")] == mtimes  # converted once, cached

    constrained = load(adapters_dir, home, backend="llama.cpp", quant="f16")
    for device, queries in QUERIES.items():
        constrained.use(device)
        for query in queries:
            answer = constrained.answer(query)
            assert answer.valid and home.get(device).validator.is_valid(answer.calls), answer.text
    constrained.use("lamp")
    assert_scores_per_row_match_one_at_a_time(constrained, "dim the lights to forty percent")


TORCH_FREE = """
import json, sys
from pathlib import Path

BLOCKED = ("torch", "transformers", "peft")


class Blocked:  # as if they were not installed
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is not installed")


sys.meta_path.insert(0, Blocked())
import toy_fan, toy_plugin
from bijou_core.devices import DeviceRegistry
from bijou_core.plugins import Plugins
from bijou_core.runtime.config import EngineConfig
from bijou_core.runtime.engine import Engine

plugins = Plugins()
plugins.register(toy_plugin, "lamp", package="toy-lamp", version="1.2.3")
plugins.register(toy_fan, "fan", package="toy-fan", version="0.1.0")
folder = Path(sys.argv[1])
config = EngineConfig(backend="llama.cpp", quant="f16")
engine = Engine.load({n: folder / n for n in ("lamp", "fan")}, config=config, registry=DeviceRegistry(plugins))
answers = []
for device, command in (("lamp", "kill the lights"), ("fan", "fan on two"), ("lamp", "kill the lights")):
    engine.use(device)
    answer = engine.answer(command)
    answers.append([device, answer.text, answer.valid])
print(json.dumps({"answers": answers, "loaded": [m for m in BLOCKED if m in sys.modules]}))
"""


@pytest.mark.slow
def test_the_llama_cpp_runtime_answers_without_torch_transformers_or_peft(adapters_dir, bijou_cache):
    """From GGUF files, the llama.cpp backend answers constrained commands for two devices with a
    swap while torch, transformers and peft cannot even be imported (a runtime-only install)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    prepare_gguf(adapters_dir)
    tests = str(Path(__file__).parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([tests, os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run(
        [sys.executable, "-c", TORCH_FREE, str(adapters_dir)], capture_output=True, text=True, env=env
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.splitlines()[-1])
    assert result["loaded"] == []
    (lamp, text, valid), fan, again = result["answers"]
    assert (lamp, fan[0]) == ("lamp", "fan") and valid and fan[2]
    assert again == [lamp, text, valid]  # the swap back leaves nothing of the fan behind


# ---------------------------------------------------------------- bijou bench


def bench(adapters_dir, tmp_path, *options: str) -> tuple[dict, str]:
    table = tmp_path / "RESULTS.md"
    args = ["bench", "--adapters-dir", str(adapters_dir), "--limit", "2", "--no-memory", "--json"]
    result = CliRunner().invoke(main, [*args, "--output", str(table), *options], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout), table.read_text()


def test_bench_measures_the_transformers_backend(adapters_dir, home_cli, tmp_path):
    results, table = bench(adapters_dir, tmp_path, "--backends", "transformers")
    (run,) = results["runs"]
    assert (run["backend"], run["constrained"]) == ("transformers", True)
    assert set(run["devices"]) == {"fan", "lamp"} and run["all"]["examples"] == 4
    assert run["all"]["schema_valid"] == 100.0 and run["all"]["latency_p50_ms"] > 0
    swap = results["swap_transformers"]
    assert swap["adapters_resident"] == 2 and swap["reload_p50_ms"] > swap["swap_p50_ms"] > 0
    assert results["machine"]["cores"] >= 1 and "| transformers | fp32 | yes | all | 4 |" in table


@pytest.mark.slow
def test_bench_measures_llama_cpp_against_its_targets(adapters_dir, home_cli, tmp_path, bijou_cache):
    results, table = bench(adapters_dir, tmp_path, "--backends", "llama.cpp", "--quants", "f16")
    assert [(r["quant"], r["constrained"]) for r in results["runs"]] == [("f16", True), ("f16", False)]
    assert results["swap"]["swap_speedup"] >= 10  # a swap is far cheaper than loading base+adapter
    targets = {row["target"]: row for row in results["targets"]}
    assert targets["schema-valid calls, every constrained run"]["measured"] == 100.0
    assert "constrained / unconstrained latency p50" in targets and "## Targets" in table
    assert set(results["file_sizes_mib"]) >= {"base f16", "adapter lamp (GGUF LoRA f16)"}
