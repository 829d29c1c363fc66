"""A backend whose "model" answers scripted commands: tests of what is built on the engine can then
assert real calls to the real devices' tools (the tiny random models only write nonsense)."""

from __future__ import annotations

from typing import Any

import numpy as np

from bijou_core.calls import dumps
from bijou_core.devices import Device
from bijou_core.numbers import digits
from bijou_core.prompt import TURNS, PromptFormat
from bijou_core.runtime.engine import Engine, Slot
from bijou_core.runtime.grammar import Vocabulary

CHATML_START, CHATML_END = TURNS["chatml"].start, TURNS["chatml"].end

ASSISTANT = f"{CHATML_START}assistant\n"
USER = f"{CHATML_START}user\n"


class ScriptedBackend:
    """With adapter ``A`` active, the model wants to write ``answers[A][command]`` token by token
    (``[]`` for any other command, and on the bare base); the grammar may still mask its choices."""

    name = "scripted"
    n_ctx = 1024

    def __init__(self, tokenizer: Any, answers: dict[str, dict[str, list[dict[str, Any]]]]):
        self.tokenizer = tokenizer
        self.answers = {  # keyed by the command as the prompt shows it (spoken numbers as digits)
            adapter: {digits(q): dumps(calls) for q, calls in script.items()}
            for adapter, script in answers.items()
        }
        self.end_ids = {tokenizer.convert_tokens_to_ids(CHATML_END)}
        # Where the grammar rules its wish out (a call required), the "model" closes strings and lists
        # first: the answer it is made to write ends soon instead of filling every bound.
        self.closing = [tokenizer.convert_tokens_to_ids(t) for t in ('"', "]")]
        self.active: str | None = None
        self.seen: list[int] = []
        self._vocabulary = Vocabulary.from_hf(tokenizer, len(tokenizer))

    def use(self, name: str | None) -> None:
        self.active = name

    def add_end_token(self, text: str) -> None:
        self.end_ids.add(self.tokenizer.convert_tokens_to_ids(text))

    def vocabulary(self) -> Vocabulary:
        return self._vocabulary

    def tokenize(self, text: str, special: bool = True) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False, split_special_tokens=not special).input_ids

    def detokenize(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)

    def start(self, prefix: list[int]) -> None:
        self.seen = list(prefix)

    def feed(self, ids: list[int], rows: int = 1) -> np.ndarray:
        self.seen += ids
        prompt, _, _ = self.detokenize(self.seen).rpartition(ASSISTANT)
        command = prompt.rpartition(USER)[2].removesuffix(f"{CHATML_END}\n")
        wanted = self.answers.get(self.active or "", {}).get(command, "[]")
        target = self.tokenize(wanted) + [self.tokenizer.convert_tokens_to_ids(CHATML_END)]
        written = len(self.seen) - len(self.tokenize(prompt + ASSISTANT))
        logits = np.zeros((rows, len(self.tokenizer)), dtype=np.float32)
        logits[:, self.closing] = 1.0
        for row in range(rows):  # the row after the token ``rows - 1 - row`` from the end
            at = written - (rows - 1 - row)
            logits[row, target[min(max(at, 0), len(target) - 1)]] = 20.0  # sure of it (call threshold)
        return logits

    def truncate(self, length: int) -> None:
        del self.seen[length:]


def scripted_engine(tokenizer: Any, devices: list[Device], answers: dict[str, dict[str, Any]]) -> Engine:
    """An engine serving ``devices``, each with an adapter named like it that answers its script."""
    engine = Engine(ScriptedBackend(tokenizer, answers), {}, base="scripted")
    for device in devices:
        engine.slots[(device.name, True)] = Slot(device, device.name, PromptFormat("compact", device.name))
        engine.slots[(device.name, False)] = Slot(device, None, PromptFormat("full", device.name))
    return engine
