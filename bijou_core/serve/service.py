"""The engine shared by every request: devices by model name, one lock around the resident model.

The model holds one adapter and one decoding state at a time, so each request takes the lock for its
whole turn (swap, answer, execution): requests for different devices interleave between turns, and
no adapter or cached state of one device can reach another's answer. The time a request waited for
the lock is reported as its ``queue`` latency.
"""

from __future__ import annotations

import copy
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..cli.run_cmd import turn_record
from ..devices import Device
from ..errors import BijouError
from ..runtime.engine import Answer, Engine
from ..runtime.grammar import Choice
from .errors import ApiError
from .requests import ChatRequest


@dataclass(frozen=True)
class Turn:
    """One answered request: the engine's answer and the record ``bijou run`` would print for it."""

    model: str
    answer: Answer
    record: dict[str, Any]
    budget: int  # the most tokens the answer could have

    @property
    def cut_short(self) -> bool:
        return not self.answer.valid and self.answer.generation.new_tokens >= self.budget


class Service:
    """``engine`` behind the API; with ``execute``, calls run on the device simulators."""

    def __init__(self, engine: Engine, execute: bool = False):
        self.engine = engine
        self.execute = execute
        self.lock = threading.Lock()
        self.started = int(time.time())

    def device(self, model: str) -> Device:
        """The device a request's ``model`` names: ``omi``, or ``BASE:omi`` with the loaded base."""
        base, _, name = model.rpartition(":")
        if base and base not in (self.engine.base, Path(self.engine.base).name):
            raise ApiError(
                404,
                f"model {model!r}: the base is {self.engine.base}, not {base}",
                "model",
                "model_not_found",
            )
        if name not in self.engine.devices:
            known = ", ".join(self.engine.devices)
            raise ApiError(
                404, f"model {model!r} does not exist (devices: {known})", "model", "model_not_found"
            )
        return self.engine.device(name)

    def models(self) -> list[dict[str, Any]]:
        """``GET /v1/models``: one model per device, with its adapter and tools under ``x_bijou``."""
        with self.lock:
            adapters = {d: self.engine.slots.get((d, True)) for d in self.engine.devices}
            devices = {d: self.engine.device(d) for d in self.engine.devices}
        return [
            {
                "id": name,
                "object": "model",
                "created": self.started,
                "owned_by": "bijou",
                "x_bijou": {
                    "base": self.engine.base,
                    "alias": f"{Path(self.engine.base).name}:{name}",
                    "adapter": slot.adapter if slot else None,
                    "version": devices[name].version,
                    "tools": [{"type": "function", "function": tool} for tool in devices[name].tools],
                },
            }
            for name, slot in adapters.items()
        ]

    def complete(self, request: ChatRequest) -> Turn:
        """Answer one chat request (validated here, 4xx on a bad one) under the model's lock."""
        device = self.device(request.model)
        query = request.command()
        choice: Choice = request.choice(device)
        waiting = time.perf_counter()
        with self.lock:
            queue_s = time.perf_counter() - waiting
            slot = self.engine.slots[(device.name, self.engine.has_adapter(device.name))]
            swap_s = self.engine.use(device.name) if self.engine.active is not slot else 0.0
            answer = self.engine.answer(query, choice, request.token_budget)
            outcomes, state, before = [], None, {}
            if self.execute:
                before = copy.deepcopy(self.engine.runtime(device.name).state)
                outcomes = self.engine.execute(answer, lambda call: request.confirm)
                state = copy.deepcopy(self.engine.runtime(device.name).state)
        record = turn_record(answer, outcomes, swap_s, state)
        record["changed"] = {key: value for key, value in (state or {}).items() if before.get(key) != value}
        record["adapter"] = slot.adapter
        record["latency_ms"]["queue"] = round(1000 * queue_s, 3)
        return Turn(request.model, answer, record, request.token_budget)

    def load_adapter(self, name: str, path: str) -> dict[str, Any]:
        with self.lock:
            try:
                device = self.engine.load_adapter(name, path)
            except BijouError as exc:
                raise ApiError(400, str(exc), "lora_path") from None
        return {"status": "loaded", "lora_name": name, "model": device.name}

    def unload_adapter(self, name: str) -> dict[str, Any]:
        with self.lock:
            if name not in self.engine.adapters:
                loaded = ", ".join(self.engine.adapters) or "none"
                raise ApiError(404, f"no adapter {name!r} loaded (loaded: {loaded})", "lora_name")
            device = self.engine.unload_adapter(name)
        return {"status": "unloaded", "lora_name": name, "model": device.name}
