"""The one prompt format used by training, evaluation and the runtime."""

from __future__ import annotations

import pytest
import toy_plugin

from bijou_core.calls import parse
from bijou_core.prompt import PromptFormat, signature


class PlainTokenizer:
    """A tokenizer without ChatML markers: bijou defers to its chat template."""

    eos_token = "</s>"

    def get_vocab(self):
        return {"</s>": 2, "a": 3}

    def apply_chat_template(self, messages, tokenize, add_generation_prompt):
        return "".join(f"[{m['role']}] {m['content']}\n" for m in messages) + "[assistant] "


def test_signatures_are_compact_and_complete():
    assert signature(toy_plugin.TOOLS[2]) == (
        "set_color(color: warm_white|cool_white|red|blue, fade?: boolean = false) - Set the light colour."
    )
    assert (
        signature(toy_plugin.TOOLS[1])
        == "set_brightness(percent: integer 1..100) - Set the brightness in percent."
    )


def test_full_and_compact_prompts(embedded_tokenizer_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(embedded_tokenizer_dir)
    full = PromptFormat.for_tokenizer(tok, "full")
    prompt = full.prompt(tok, toy_plugin.TOOLS, "lights off")
    assert prompt.startswith("<|im_start|>system\n")
    assert all(signature(t) in prompt for t in toy_plugin.TOOLS)
    assert prompt.endswith("<|im_start|>user\nlights off<|im_end|>\n<|im_start|>assistant\n")

    compact = PromptFormat.for_tokenizer(tok, "compact", "lamp")
    short = compact.prompt(tok, toy_plugin.TOOLS, "lights off")
    assert "set_light" not in short and "device: lamp" in short
    assert len(tok(short).input_ids) * 4 < len(tok(prompt).input_ids)

    calls = [{"name": "set_light", "arguments": {"on": False}}]
    answer = full.answer(calls)
    assert answer.endswith("<|im_end|>") and parse(answer).calls == calls
    assert compact.describe() == {
        "version": 2,
        "style": "compact",
        "device": "lamp",
        "chat_template": False,
        "digits": True,
        "turns": "chatml",
    }


def test_gemma_turns_have_no_system_role_and_start_with_bos():
    gemma = {"<bos>", "<start_of_turn>", "<end_of_turn>"}
    fmt = PromptFormat.for_vocabulary(gemma.__contains__, "compact", "lamp", eos_text="<eos>")
    assert fmt.prompt(None, toy_plugin.TOOLS, "lights off") == (
        "<bos><start_of_turn>user\ndevice: lamp\n\nlights off<end_of_turn>\n<start_of_turn>model\n"
    )
    assert fmt.shared_prefix(toy_plugin.TOOLS) == "<bos><start_of_turn>user\ndevice: lamp\n\n"
    assert fmt.answer([]) == "[]<end_of_turn>" and fmt.describe()["turns"] == "gemma"


def test_models_without_chatml_use_their_chat_template():
    tok = PlainTokenizer()
    fmt = PromptFormat.for_tokenizer(tok, "full")
    assert fmt.chat_template and fmt.end_text == "</s>"
    prompt = fmt.prompt(tok, toy_plugin.TOOLS, "lights off")
    assert prompt.startswith("[system] You turn a spoken command") and prompt.endswith(
        "[user] lights off\n[assistant] "
    )
    assert fmt.answer([]) == "[]</s>"


def test_compact_needs_a_device_and_styles_are_checked():
    with pytest.raises(ValueError, match="needs the device name"):
        PromptFormat.for_tokenizer(PlainTokenizer(), "compact")
    with pytest.raises(ValueError, match="unknown prompt style 'tiny'"):
        PromptFormat.for_tokenizer(PlainTokenizer(), "tiny")


def test_spoken_numbers_reach_the_model_as_digits_in_prompts_and_answers():
    fmt = PromptFormat("compact", "lamp")
    prompt = fmt.prompt(None, None, "brightness seventy five and a twenty second fade")
    assert "brightness 75 and a 20 second fade" in prompt
    assert "turn it up two notches" in fmt.prompt(None, None, "turn it up two notches")
    # a recognizer groups the digits of a code: the model reads the number it was trained on
    assert "my locker code is 4312, 1,2,3" in fmt.prompt(None, None, "my locker code is 4,312, 1,2,3")
    answer = fmt.answer([{"name": "remind", "arguments": {"what": "buy twenty five apples", "n": 3}}])
    assert parse(answer).calls == [{"name": "remind", "arguments": {"what": "buy 25 apples", "n": 3}}]


def test_formats_recorded_before_digits_render_as_they_were_trained():
    old = PromptFormat("compact", "lamp", digits=False)
    assert "brightness seventy five" in old.prompt(None, None, "brightness seventy five")
    assert old.describe()["digits"] is False
