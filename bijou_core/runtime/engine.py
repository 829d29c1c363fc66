"""The runtime engine: one resident base model, device adapters swapped in place, calls constrained to
the active device's tools, validated, and executed on the device's runtime (a simulator)::

    engine = Engine.load(adapters={"omi": "adapters/omi", "airpods-pro": "adapters/airpods-pro"})
    engine.use("omi")
    engine.call("what's on my to-do list")  # -> [{"name": "get_action_items", "arguments": {}}]
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..calls import Call, dumps, parse
from ..devices import Device, DeviceRegistry, load_registry
from ..errors import BijouError
from ..manifest import Manifest, read_manifest
from ..models import DEFAULT_MODEL
from ..prompt import TURNS, PromptFormat
from ..schema import has_free_text
from .backends import BACKENDS, ModelBackend, adapter_file
from .config import DEFAULTS, EngineConfig
from .decoding import MAX_NEW_TOKENS, Generation, TooLong, generate
from .grammar import ANY_CALLS, CallGrammar, CallMatcher, Choice, copy_pattern


@dataclass
class Slot:
    """One way the engine can serve a device: with its adapter (``adapter`` set) or the bare base."""

    device: Device
    adapter: str | None
    fmt: PromptFormat
    grammars: dict[Choice, CallGrammar] = field(default_factory=dict)


@dataclass(frozen=True)
class Answer:
    """The model's answer to one command: its text, the calls, and why they are invalid if they are."""

    device: str
    query: str
    text: str
    calls: list[Call] | None
    errors: list[str]
    generation: Generation

    @property
    def valid(self) -> bool:
        return self.calls is not None and not self.errors


@dataclass(frozen=True)
class Outcome:
    """What happened to one call: ``done`` (with the device's result), ``refused`` or ``failed``."""

    call: Call
    status: str
    result: Any = None
    reason: str = ""


@dataclass
class Engine:
    """Serve commands for several devices on one resident model (see the module docstring)."""

    backend: ModelBackend
    slots: dict[tuple[str, bool], Slot]
    config: EngineConfig = DEFAULTS
    base: str = DEFAULT_MODEL
    registry: DeviceRegistry | None = None
    warnings: list[str] = field(default_factory=list)
    active: Slot | None = None
    _runtimes: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(
        cls,
        adapters: dict[str, str | Path] | None = None,
        base: str | None = None,
        devices: Iterable[str | Device] = (),
        config: EngineConfig = DEFAULTS,
        registry: DeviceRegistry | None = None,
    ) -> Engine:
        """Load ``base`` with every adapter folder in ``adapters`` (name -> folder, as ``bijou devices
        train`` writes them) resident, on ``config.backend``; ``devices`` (names or Device objects) adds
        devices served by the bare base (full prompt). ``base`` defaults to the base the adapters were
        trained on. With ``config.constrain`` and ``decline``, a command whose answer the grammar would
        have to bend (see :func:`~bijou_core.runtime.decoding.generate`) gets no call, and with
        ``constrain`` so does one the model gives a call less than ``call_threshold`` probability."""
        devices = list(devices)
        given = {d.name: d for d in devices if isinstance(d, Device)}
        names = [d for d in devices if isinstance(d, str)]

        def get(name: str) -> Device:
            nonlocal registry
            if name in given:
                return given[name]
            registry = registry or load_registry()
            return registry.get(name)

        adapters = {name: Path(path) for name, path in (adapters or {}).items()}
        manifests = {name: read_manifest(path) for name, path in adapters.items()}
        served = {name: get(manifest.device) for name, manifest in manifests.items()}
        for device in {d.name for d in served.values()}:
            twins = [str(adapters[n]) for n, d in served.items() if d.name == device]
            if len(twins) > 1:
                raise BijouError(f"two adapters for device {device!r}: {', '.join(twins)}")
        plain = [get(name) for name in dict.fromkeys([*names, *given, *(d.name for d in served.values())])]
        base = base or recorded_base(manifests)
        model = BACKENDS[config.backend](base, adapters, config)
        engine = cls(model, {}, config, base, registry)
        for name, manifest in manifests.items():
            engine._add_adapter_slot(name, adapters[name], manifest, served[name])
        for device in plain:
            engine.slots[(device.name, False)] = Slot(device, None, engine._format("full", device.name))
            model.add_end_token(engine.slots[(device.name, False)].fmt.end_text)
        return engine

    def _add_adapter_slot(self, name: str, folder: Path, manifest: Manifest, device: Device) -> None:
        if manifest.tools_hash != device.tools_hash:
            stale = f"{folder} was trained on other tool definitions"
            self.warnings.append(f"{stale} than {device.name} {device.version}")
        recorded = manifest.prompt_format
        fmt = self._format(
            recorded["style"],
            recorded.get("device"),
            recorded.get("chat_template"),
            digits=recorded.get("digits", False),
        )
        self.slots[(device.name, True)] = Slot(device, name, fmt)
        self.backend.add_end_token(fmt.end_text)

    def load_adapter(self, name: str, folder: str | Path) -> Device:
        """Make adapter ``folder`` (as ``bijou devices train`` writes it) resident under ``name``, next
        to the others, without reloading the base: its device is served with it from now on."""
        folder = Path(folder)
        manifest = read_manifest(folder)
        self.registry = self.registry or load_registry()
        device = self.registry.get(manifest.device)
        if name in self.adapters:
            raise BijouError(f"an adapter named {name!r} is already loaded")
        if self.has_adapter(device.name):
            held = self.slots[(device.name, True)].adapter
            raise BijouError(f"device {device.name!r} already has an adapter ({held!r}): unload it first")
        trained_on = recorded_base({name: manifest})
        if trained_on != self.base:
            raise BijouError(f"{folder} was trained on {trained_on}, not on the loaded base {self.base}")
        config = self.config
        path = adapter_file(self.backend.name, self.base, folder, config.quant, config.swap)
        self.backend.load_adapter(name, path)
        self._add_adapter_slot(name, folder, manifest, device)
        if (device.name, False) not in self.slots:
            self.slots[(device.name, False)] = Slot(device, None, self._format("full", device.name))
        return device

    def unload_adapter(self, name: str) -> Device:
        """Forget adapter ``name``; its device is served by the bare base from now on."""
        slot = next((s for s in self.slots.values() if s.adapter == name), None)
        if slot is None:
            raise BijouError(f"no adapter {name!r} loaded (loaded: {', '.join(self.adapters) or 'none'})")
        if self.active is slot:
            self.backend.use(None)
            self.active = None
        del self.slots[(slot.device.name, True)]
        self.backend.unload_adapter(name)
        return slot.device

    @property
    def adapters(self) -> list[str]:
        """The resident adapters' names."""
        return sorted(s.adapter for s in self.slots.values() if s.adapter is not None)

    def _format(
        self, style: str, device: str | None, chat_template: bool | None = None, digits: bool = True
    ) -> PromptFormat:
        if self.backend.tokenizer is not None:
            return PromptFormat.for_tokenizer(self.backend.tokenizer, style, device, digits)
        fmt = PromptFormat.for_vocabulary(
            lambda text: len(self.backend.tokenize(text)) == 1, style, device, digits=digits
        )
        if chat_template or fmt.chat_template:
            markers = " or ".join(turns.start for turns in TURNS.values())
            raise BijouError(f"the llama.cpp backend needs a model with turn markers ({markers})")
        return fmt

    @property
    def devices(self) -> list[str]:
        return sorted({device for device, _ in self.slots})

    def has_adapter(self, device: str) -> bool:
        return (device, True) in self.slots

    def device(self, name: str) -> Device:
        """The loaded device called ``name``."""
        if (name, False) not in self.slots:
            raise BijouError(f"no device {name!r} loaded (loaded: {', '.join(self.devices) or 'none'})")
        return self.slots[(name, False)].device

    def use(self, device: str, adapter: bool | None = None) -> float:
        """Serve ``device`` from now on, with its adapter (default when one is loaded) or the bare
        base (``adapter=False``); the seconds the swap took. The base is never reloaded."""
        adapter = self.has_adapter(device) if adapter is None else adapter
        slot = self.slots.get((device, adapter))
        if slot is None:
            known = ", ".join(self.devices) or "none"
            what = "adapter for " if adapter else ""
            raise BijouError(f"no {what}device {device!r} loaded (loaded: {known})")
        started = time.perf_counter()
        self.backend.use(slot.adapter)
        self.active = slot
        return time.perf_counter() - started

    def _slot(self) -> Slot:
        if self.active is None:
            if len(self.devices) != 1:
                raise BijouError("no device chosen: call use(DEVICE) first")
            self.use(self.devices[0])
        assert self.active is not None
        return self.active

    def warm_up(self) -> None:
        """Compute every adapter's prompt-prefix state and grammar now, so that the first command
        after any swap costs what a steady one does; the active device stays."""
        active = self.active
        for (device, adapter), slot in self.slots.items():
            if adapter:
                self.use(device)
                self._grammar(slot, ANY_CALLS)
                prefix = slot.fmt.shared_prefix(slot.device.tools)
                self.backend.start(self.backend.tokenize(prefix) if prefix else [])
        if active is not None:
            self.use(active.device.name, active.adapter is not None)

    def _grammar(self, slot: Slot, choice: Choice) -> CallGrammar:
        if choice not in slot.grammars:
            slot.grammars[choice] = self.backend.vocabulary().grammar(slot.device.tools, choice)
        return slot.grammars[choice]

    def _matcher(self, slot: Slot, choice: Choice, query: str) -> CallMatcher:
        """Where an answer to ``query`` starts in its grammar: with ``copy_text``, free-text
        arguments made only of the command's words, as typed or as the model reads them."""
        grammar = self._grammar(slot, choice)
        mode = self.config.copy_text
        copies = mode != "off" and has_free_text(choice.allowed(slot.device.tools))
        pattern = copy_pattern(query, slot.fmt.user_text(query)) if copies else None
        if pattern is None:
            return grammar.matcher()
        copied = self.backend.vocabulary().grammar(slot.device.tools, choice, pattern)
        return copied.matcher(wider=grammar if mode == "mask" else None)

    def answer(self, query: str, choice: Choice = ANY_CALLS, max_tokens: int = MAX_NEW_TOKENS) -> Answer:
        """The active device's answer to ``query`` (at most ``max_tokens`` tokens), parsed and
        validated against its tools. A
        ``choice`` that restricts the calls (a subset of the tools, a call required, or none) is
        enforced by the grammar even without ``constrain``; where it requires a call, the model's
        answer is never declined nor judged unsure (the call it is made to write is what was asked
        for). A command with no word in it (no letter or digit in any script: noise, punctuation,
        control characters) has nothing to act on and gets ``[]`` without asking the model. A
        command too long for the model's context gets no call and one error saying so."""
        slot = self._slot()
        if not has_words(query):
            nothing = Generation(dumps([]), 0.0, 0.0, 0, 0, 0)
            return Answer(slot.device.name, query, nothing.text, [], [], nothing)
        tools = slot.device.tools
        tokenizer = self.backend.tokenizer
        config = self.config
        constrain = config.constrain or choice.restricts
        tick = time.perf_counter()
        matcher = self._matcher(slot, choice, query) if constrain else None
        building = time.perf_counter() - tick  # a grammar built for this command: before any model call
        prompt = slot.fmt.prompt(tokenizer, tools, query)
        required = bool(choice.min_calls)
        prefix = slot.fmt.shared_prefix(tools)
        user = _user_span(slot.fmt, tokenizer, tools, query, prompt)
        try:
            gen = generate(
                self.backend,
                prompt,
                prefix,
                matcher,
                max_tokens,
                decline=config.decline and not required,
                call_threshold=0.0 if required else config.call_threshold,
                user=user,
                draft_tokens=config.draft_tokens,
                tool_threshold=0.0 if required else config.tool_threshold,
            )
        except TooLong as exc:
            refused = Generation("", 0.0, 0.0, 0, 0, 0)
            return Answer(slot.device.name, query, "", None, [str(exc)], refused)
        gen = replace(gen, prefill_s=gen.prefill_s + building)
        parsed = parse(gen.text)
        if parsed.calls is None:
            errors = [parsed.error or "not a call list"]
        else:
            errors = slot.device.validator.check_calls(parsed.calls)
        return Answer(slot.device.name, query, gen.text, parsed.calls, errors, gen)

    def call(self, query: str) -> list[Call]:
        """The calls for ``query``; one clear error when the model's answer is not valid."""
        answer = self.answer(query)
        if not answer.valid:
            raise BijouError(f"invalid answer {answer.text!r}: {'; '.join(answer.errors)}")
        return answer.calls or []

    def runtime(self, device: str) -> Any:
        """The device's runtime (simulator); its state lasts as long as the engine."""
        if device not in self._runtimes:
            self._runtimes[device] = self.device(device).runtime()
        return self._runtimes[device]

    def execute(self, answer: Answer, confirm: Callable[[Call], bool] | None = None) -> list[Outcome]:
        """Run a valid answer's calls on the device's runtime, in order. Nothing runs from an invalid
        answer; a call that needs confirmation runs only if ``confirm(call)`` says yes."""
        if not answer.valid:
            reason = "; ".join(answer.errors)
            return [Outcome(call, "failed", reason=reason) for call in answer.calls or []] or [
                Outcome({}, "failed", reason=reason)
            ]
        device = self.device(answer.device)
        runtime = self.runtime(answer.device)
        outcomes = []
        for call in answer.calls or []:
            if runtime.needs_confirmation(call) and not (confirm and confirm(call)):
                outcomes.append(Outcome(call, "refused", reason="not confirmed"))
                continue
            try:
                result = runtime.execute(call, device.tools_by_name[call["name"]])
            except Exception as exc:  # a device error is reported, not raised
                outcomes.append(Outcome(call, "failed", reason=f"{type(exc).__name__}: {exc}"))
            else:
                outcomes.append(Outcome(call, "done", result))
        return outcomes


def has_words(query: str) -> bool:
    """Whether ``query`` has anything to act on: a letter or a digit, in any script."""
    return any(char.isalnum() for char in query)


def _user_span(
    fmt: PromptFormat, tokenizer: Any, tools: list[dict[str, Any]], query: str, prompt: str
) -> tuple[int, int] | None:
    """Where ``query`` sits in ``prompt`` (as the format writes it: spoken numbers as digits, say):
    the format is rendered around a placeholder to find it (the query's own text may repeat the
    format's words)."""
    query = fmt.user_text(query)
    marker = "\ue000"  # a private-use character, never in a format's own text
    head, found, tail = fmt.prompt(tokenizer, tools, marker).partition(marker)
    if found and prompt == head + query + tail:
        return len(head), len(head) + len(query)
    start = prompt.rfind(query)  # a chat template that reshapes the text (strips it, say)
    return (start, start + len(query)) if start >= 0 and query else None


def recorded_base(manifests: dict[str, Manifest]) -> str:
    """The one base these adapters were trained on (the default model when there are none)."""
    names = {m.trained_on.name for m in manifests.values()}
    if len(names) > 1:
        raise BijouError(
            f"the adapters were trained on different bases ({', '.join(sorted(names))}); pass a base"
        )
    return names.pop() if names else DEFAULT_MODEL
