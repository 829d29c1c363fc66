"""The engine shared by every request: devices by model name, one lock around the resident model.

The model holds one adapter and one decoding state at a time, so each request takes the lock for its
whole turn (swap, answer, execution): requests for different devices interleave between turns, and
no adapter or cached state of one device can reach another's answer. The time a request waited for
the lock is reported as its ``queue`` latency. What is served (devices, their adapters) is read
from a snapshot taken whenever an adapter is loaded or unloaded, so listing models or checking
health never waits for the model.
"""

from __future__ import annotations

import copy
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..devices import Device
from ..errors import BijouError
from ..runtime.engine import Answer, Engine
from ..runtime.grammar import Choice
from ..runtime.records import turn_record
from ..speech import VOCABULARY_PROMPT, Recognizer, SpeechModel, Transcript, device_vocabulary
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
    """``engine`` behind the API; with ``execute``, calls run on the device simulators; with
    ``vocabulary``, the recognizer hears audio for a device with that device's words as its prompt."""

    def __init__(
        self,
        engine: Engine,
        execute: bool = False,
        stt: SpeechModel | None = None,
        vocabulary: bool = VOCABULARY_PROMPT,
    ):
        self.engine = engine
        self.execute = execute
        self.stt = stt or SpeechModel()
        self.vocabulary = vocabulary
        self.lock = threading.Lock()
        self.speech_lock = threading.Lock()  # the recognizer: loaded on the first audio, one at a time
        self._recognizer: Recognizer | None = None
        self.started = int(time.time())
        self._catalog: dict[str, tuple[Device, str | None]] = {}
        self._take_catalog()

    def _take_catalog(self) -> None:
        """Snapshot the served devices with their adapters (called with the lock held, or alone)."""
        engine = self.engine
        self._catalog = {
            d: (engine.device(d), getattr(engine.slots.get((d, True)), "adapter", None))
            for d in engine.devices
        }

    @property
    def catalog(self) -> dict[str, tuple[Device, str | None]]:
        """Each served device with its adapter's name (``None``: the bare base)."""
        return self._catalog

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
        catalog = self.catalog
        if name not in catalog:
            known = ", ".join(catalog)
            raise ApiError(
                404, f"model {model!r} does not exist (devices: {known})", "model", "model_not_found"
            )
        return catalog[name][0]

    def models(self) -> list[dict[str, Any]]:
        """``GET /v1/models``: one model per device, with its adapter and tools under ``x_bijou``."""
        return [
            {
                "id": name,
                "object": "model",
                "created": self.started,
                "owned_by": "bijou",
                "x_bijou": {
                    "base": self.engine.base,
                    "alias": f"{Path(self.engine.base).name}:{name}",
                    "adapter": adapter,
                    "version": device.version,
                    "tools": [{"type": "function", "function": tool} for tool in device.tools],
                },
            }
            for name, (device, adapter) in self.catalog.items()
        ]

    def complete(self, request: ChatRequest) -> Turn:
        """Answer one chat request (validated here, 4xx on a bad one) under the model's lock; a
        spoken command (``input_audio``) is recognized first, outside it."""
        device = self.device(request.model)
        choice: Choice = request.choice(device)
        audio = request.audio()
        heard = self.hear(f"input_audio.{audio.format}", audio.data, audio.param, device) if audio else None
        query = request.command(heard.text if heard else None)
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
        record = turn_record(answer, outcomes, swap_s, state, heard)
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
            self._take_catalog()
        return {"status": "loaded", "lora_name": name, "model": device.name}

    def unload_adapter(self, name: str) -> dict[str, Any]:
        with self.lock:
            if name not in self.engine.adapters:
                loaded = ", ".join(self.engine.adapters) or "none"
                raise ApiError(404, f"no adapter {name!r} loaded (loaded: {loaded})", "lora_name")
            device = self.engine.unload_adapter(name)
            self._take_catalog()
        return {"status": "unloaded", "lora_name": name, "model": device.name}

    def hear(
        self,
        filename: str,
        audio: bytes,
        param: str = "file",
        device: Device | None = None,
        prompt: str | None = None,
    ) -> Transcript:
        """What the recognizer hears in uploaded audio (400 naming ``param`` if it cannot): with
        ``prompt`` as the text it heard before, else with ``device``'s words (unless turned off)."""
        name = Path(filename).name or "audio.wav"
        if prompt is None and device is not None and self.vocabulary:
            prompt = device_vocabulary(device)
        with tempfile.TemporaryDirectory(prefix="bijou-audio-") as folder, self.speech_lock:
            path = Path(folder) / name
            path.write_bytes(audio)
            try:
                if self._recognizer is None:
                    self._recognizer = self.stt.load()
                return self._recognizer.transcribe(path, vocabulary=prompt)
            except BijouError as exc:
                raise ApiError(400, str(exc).replace(f"{folder}/", ""), param=param) from None

    def transcribe(self, filename: str, audio: bytes, model: str = "", prompt: str | None = None) -> str:
        """The words spoken in an uploaded audio file (400 on audio that cannot be recognized).
        A ``model`` naming a served device lends its words as the prompt (OpenAI's clients send a
        recognizer's name there, which is ignored); a ``prompt`` replaces them."""
        try:
            device: Device | None = self.device(model)
        except ApiError:
            device = None
        return self.hear(filename, audio, device=device, prompt=prompt or None).text
