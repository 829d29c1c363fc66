"""The one prompt format: (tools, query) -> model input, calls -> model answer.

Training, evaluation and the runtime all render through this module, so what a model sees at run
time is byte for byte what it was trained on. Two styles:

- ``full``: a system turn lists the tools as compact signatures (for the base model, which must
  read the tools it is given, and for any model without a device adapter);
- ``compact``: the system turn only names the device; the tools are implied by its adapter, which
  makes prompts several times shorter (faster training and prefill).

Models whose vocabulary has the turn markers of a format in :data:`TURNS` get bijou's own rendering
of that format, with a shared prefix (the system text and the user turn's header) that training runs
once per batch and the runtime keeps per adapter: ChatML (``<|im_start|>``: SmolLM2, Qwen2.5), whose
chat templates lack tool support or ``{% generation %}`` markers, and Gemma's turns
(``<start_of_turn>``: Gemma 3, which has no system role: the system text opens the first user turn,
as Gemma's chat template puts it). Other models go through their tokenizer's chat template.

Spoken numbers in a command are written as digits (``numbers.digits``: "seventy five" -> "75"),
and so are numbers in the string arguments of a trained answer, for formats that record
``digits`` (version 2; adapters trained before it are rendered as they were trained).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .calls import Call, dumps
from .numbers import digits

FORMAT_VERSION = 2
STYLES = ("full", "compact")
INSTRUCTION = (
    "You turn a spoken command into calls of the tools below. Answer with a JSON list of calls "
    '[{"name": ..., "arguments": {...}}], in the order spoken, or [] if no tool applies.'
)


@dataclass(frozen=True)
class Turns:
    """A chat format's markers: a turn is ``{start}{role}\n{text}{end}\n``."""

    start: str
    end: str
    system: str | None  # the system role; None: the system text opens the first user turn
    model: str  # the role of the model's answers
    begin: str = ""  # what the text starts with (the BOS token where the model needs one)

    def open(self, role: str) -> str:
        return f"{self.start}{role}\n"

    def close(self) -> str:
        return f"{self.end}\n"


TURNS = {
    "chatml": Turns("<|im_start|>", "<|im_end|>", system="system", model="assistant"),
    "gemma": Turns("<start_of_turn>", "<end_of_turn>", system=None, model="model", begin="<bos>"),
}


def _type_text(schema: dict[str, Any]) -> str:
    if "enum" in schema:
        return "|".join(json.dumps(v) if not isinstance(v, str) else v for v in schema["enum"])
    kind = schema.get("type", "any")
    if kind == "array":
        return f"list[{_type_text(schema.get('items', {}))}]"
    if "minimum" in schema or "maximum" in schema:
        return f"{kind} {schema.get('minimum', '')}..{schema.get('maximum', '')}"
    return str(kind)


def signature(tool: dict[str, Any]) -> str:
    """A tool as one compact line: ``name(param: type, opt?: type = default) - description``."""
    params = tool["parameters"]
    required = set(params.get("required", []))
    parts = []
    for name, schema in params.get("properties", {}).items():
        mark = "" if name in required else "?"
        default = f" = {json.dumps(schema['default'])}" if "default" in schema else ""
        parts.append(f"{name}{mark}: {_type_text(schema)}{default}")
    return f"{tool['name']}({', '.join(parts)}) - {tool['description']}"


def system_text(tools: list[dict[str, Any]] | None, style: str, device: str | None = None) -> str:
    """The system turn of a prompt in ``style``."""
    if style == "compact":
        return f"device: {device}"
    lines = "\n".join(signature(t) for t in tools or [])
    return f"{INSTRUCTION}\nTools:\n{lines}"


def _with_digits(arguments: dict[str, Any]) -> dict[str, Any]:
    return {k: digits(v) if isinstance(v, str) else v for k, v in arguments.items()}


@dataclass(frozen=True)
class PromptFormat:
    """How prompts and answers are rendered for one tokenizer, in one style."""

    style: str = "full"
    device: str | None = None
    chat_template: bool = False  # use the tokenizer's own chat template (a model with no known turns)
    eos_text: str = ""  # with ``chat_template``: the end marker (the tokenizer's EOS token)
    turns: str = "chatml"  # otherwise: the turn format, a key of TURNS
    digits: bool = True  # spoken numbers as digits (False: formats recorded before version 2)

    @classmethod
    def for_tokenizer(
        cls, tokenizer: Any, style: str = "full", device: str | None = None, digits: bool = True
    ) -> PromptFormat:
        vocab = tokenizer.get_vocab()
        return cls.for_vocabulary(vocab.__contains__, style, device, tokenizer.eos_token or "", digits)

    @classmethod
    def for_vocabulary(
        cls,
        has_token: Callable[[str], bool],
        style: str = "full",
        device: str | None = None,
        eos_text: str = "",
        digits: bool = True,
    ) -> PromptFormat:
        """The format for a vocabulary (``has_token``: whether a marker is one token of it)."""
        if style not in STYLES:
            raise ValueError(f"unknown prompt style {style!r} (expected one of {', '.join(STYLES)})")
        if style == "compact" and not device:
            raise ValueError("a compact prompt needs the device name")
        for name, turns in TURNS.items():
            if has_token(turns.start) and has_token(turns.end):
                return cls(style, device, turns=name, digits=digits)
        return cls(style, device, chat_template=True, eos_text=eos_text, digits=digits)

    @classmethod
    def recorded(cls, record: dict[str, Any]) -> PromptFormat:
        """The format a manifest records (:meth:`describe`); records from before version 2 wrote
        numbers as spoken and, before Gemma, named no turns (ChatML)."""
        return cls(
            record["style"],
            record.get("device"),
            chat_template=bool(record.get("chat_template")),
            turns=record.get("turns", "chatml"),
            digits=record.get("digits", False),
        )

    @property
    def end_text(self) -> str:
        """The marker that ends an answer."""
        return self.eos_text if self.chat_template else TURNS[self.turns].end

    def prompt(self, tokenizer: Any, tools: list[dict[str, Any]] | None, query: str) -> str:
        """The model input for ``query``, ending where the model's answer starts."""
        query = self.user_text(query)
        system = system_text(tools, self.style, self.device)
        if self.chat_template:
            messages = [{"role": "system", "content": system}, {"role": "user", "content": query}]
            return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        turns = TURNS[self.turns]
        return f"{self.shared_prefix(tools)}{query}{turns.close()}{turns.open(turns.model)}"

    def user_text(self, query: str) -> str:
        """The user's words as the model reads them (spoken numbers as digits, where recorded)."""
        return digits(query) if self.digits else query

    def shared_prefix(self, tools: list[dict[str, Any]] | None) -> str | None:
        """The text every prompt for ``tools`` starts with (the system text and the user turn's
        header), where it is known: training runs it once per batch, the runtime keeps its state."""
        if self.chat_template:
            return None
        system = system_text(tools, self.style, self.device)
        turns = TURNS[self.turns]
        if turns.system is None:
            return f"{turns.begin}{turns.open('user')}{system}\n\n"
        return f"{turns.begin}{turns.open(turns.system)}{system}{turns.close()}{turns.open('user')}"

    def answer(self, calls: list[Call]) -> str:
        """The text a model is trained to produce for ``calls``, end marker included."""
        if self.digits:
            calls = [{**c, "arguments": _with_digits(c["arguments"])} for c in calls]
        return dumps(calls) + self.end_text

    def describe(self) -> dict[str, Any]:
        """What an adapter's manifest records of the format it was trained with."""
        return {
            "version": FORMAT_VERSION,
            "style": self.style,
            "device": self.device,
            "chat_template": self.chat_template,
            "digits": self.digits,
            **({} if self.chat_template else {"turns": self.turns}),
        }
