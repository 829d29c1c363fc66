"""Devices registered by plugins: a ``DeviceSpec`` per device, its parts loaded and checked when used."""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from .errors import BijouError
from .files import iter_jsonl, load_document, load_json
from .plugin_api import DeviceSpec
from .plugins import Plugins, describe_exception, load_plugins
from .rules import EvalRules
from .schema import CallValidator, check_format, check_tools
from .simulator import DeviceSimulator

NAME_RE = re.compile(r"[a-z0-9][a-z0-9-]*")  # matched whole (fullmatch): no trailing newline
MAX_NAME = 64


@dataclass(frozen=True)
class Record:
    """One dataset record with where it came from (for error messages)."""

    query: str
    answers: list[dict[str, Any]]
    source: str
    line: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"query": self.query, "answers": self.answers}


def _is_path(value: Any) -> bool:
    return isinstance(value, (str, os.PathLike)) or hasattr(value, "read_text")


def _source(value: Any, fallback: str) -> str:
    """The name of a hook's answer in messages: its path, or ``fallback`` for in-memory data."""
    if isinstance(value, (str, os.PathLike)):
        return os.fspath(value)
    return str(value) if hasattr(value, "read_text") else fallback


def load_records(path: str | os.PathLike[str], tools: CallValidator | None = None) -> list[Record]:
    """Load a ``{"query", "answers"}`` JSONL file; with ``tools``, every call is validated."""
    source = os.fspath(path)
    return [_record(data, source, line, tools) for line, data in iter_jsonl(path)]


def _record(data: Any, source: str, line: int | None, tools: CallValidator | None) -> Record:
    check_format(data, "record", f"{source}:{line}" if line else source)
    if tools is not None:
        errors = tools.check_calls(data["answers"])
        if errors:
            where = f"{source}:{line}" if line else source
            raise BijouError(f"{where}: {errors[0]}")
    return Record(data["query"], data["answers"], source, line)


REQUIRED = ("tools", "templates", "eval_set", "runtime")


class Device:
    """One device: its :class:`DeviceSpec`, the parts loaded and checked when first used."""

    def __init__(self, spec: DeviceSpec, plugin: str, package: str | None = None):
        self.spec = spec
        self.name = spec.name
        self.display_name = spec.display_name
        self.version = spec.version
        self.description = spec.description
        self.plugin = plugin
        self.package = package

    def __repr__(self) -> str:
        return f"<Device {self.name} {self.version} from plugin {self.plugin}>"

    def _part(self, part: str) -> Any:
        """One part of the spec (``tools``, ``templates``...); a required one must be there."""
        value = getattr(self.spec, part)
        if value is None and part in REQUIRED:
            raise BijouError(f"plugin {self.plugin}: device {self.name} has no {part}")
        return value

    @cached_property
    def _tools_value(self) -> Any:
        return self._part("tools")

    @cached_property
    def tools_source(self) -> str:
        return _source(self._tools_value, f"<{self.plugin} tools>")

    @cached_property
    def tools(self) -> list[dict[str, Any]]:
        value = self._tools_value
        return check_tools(load_json(value) if _is_path(value) else value, self.tools_source)

    @cached_property
    def tools_by_name(self) -> dict[str, dict[str, Any]]:
        return {tool["name"]: tool for tool in self.tools}

    @cached_property
    def validator(self) -> CallValidator:
        return CallValidator(self.tools)

    @cached_property
    def tools_hash(self) -> str:
        """A hash of the tool definitions, to detect adapters trained on other tools."""
        canonical = json.dumps(self.tools, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    @cached_property
    def _templates_value(self) -> Any:
        return self._part("templates")

    @cached_property
    def templates_source(self) -> str:
        return _source(self._templates_value, f"<{self.plugin} templates>")

    @cached_property
    def templates(self) -> dict[str, Any]:
        value = self._templates_value
        data = load_document(value) if _is_path(value) else value
        check_format(data, "templates", self.templates_source)
        return data

    @cached_property
    def eval_set(self) -> list[Record]:
        value = self._part("eval_set")
        if _is_path(value):
            return load_records(value, self.validator)
        return [
            _record(r, f"<{self.plugin} eval set>", i, self.validator) for i, r in enumerate(value, start=1)
        ]

    @cached_property
    def eval_rules(self) -> EvalRules:
        rules = self._part("eval_rules")
        if rules is None:
            return EvalRules()
        if not isinstance(rules, EvalRules):
            raise BijouError(f"plugin {self.plugin}: the eval rules of {self.name} must be EvalRules")
        return rules

    def runtime(self) -> DeviceSimulator:
        """A fresh runtime (simulator) for this device."""
        value = self._part("runtime")
        runtime = value() if isinstance(value, type) else value
        if not isinstance(runtime, DeviceSimulator):
            raise BijouError(
                f"plugin {self.plugin}: the runtime of {self.name} must be a DeviceSimulator, "
                f"got {type(runtime).__name__}"
            )
        return runtime

    def status(self) -> str:
        """``ok``, or ``broken: <reason>`` when the tools cannot be loaded."""
        try:
            self.tools  # noqa: B018 - loading is the check
        except BijouError as exc:
            return f"broken: {exc}"
        return "ok"


class HookApi1Device(Device):
    """A device of a hook API 1 plugin: each part answered by its ``device_*`` hook when first used.

    The adapter that keeps plugins written before :class:`DeviceSpec` working: their
    ``register(name=...)`` call gives the spec's name and labels, the hooks give the rest.
    """

    def __init__(self, spec: DeviceSpec, plugin: str, package: str | None, plugins: Plugins):
        super().__init__(spec, plugin, package)
        self._plugins = plugins

    def _part(self, part: str) -> Any:
        hook = f"device_{part}"
        try:
            value = self._plugins.call_one(self.plugin, hook, device=self.name)
        except (Exception, SystemExit) as exc:  # plugin code cannot end bijou
            raise BijouError(
                f"plugin {self.plugin}: {hook}(device={self.name!r}) raised {describe_exception(exc)}"
            ) from exc
        if value is None and part in REQUIRED:
            raise BijouError(f"plugin {self.plugin}: {hook} returned nothing for {self.name}")
        return value


class DeviceRegistry:
    """Every device registered by the loaded plugins.

    A device name claimed by two plugins belongs to neither: a plugin cannot take over another's
    device by loading first. The name is left out of ``devices`` and asking for it is an error that
    names both packages (``BIJOU_LOAD_PLUGINS`` chooses one explicitly).
    """

    def __init__(self, plugins: Plugins):
        self.plugins = plugins
        self.devices: dict[str, Device] = {}
        self.conflicts: dict[str, list[str]] = {}  # device name -> the plugins that claim it
        claims: dict[str, list[Device]] = {}
        for plugin_name in list(plugins.info):
            if plugins.info[plugin_name].ok:
                for device in self._collect(plugin_name):
                    claims.setdefault(device.name, []).append(device)
        for name, claimants in claims.items():
            if len(claimants) == 1:
                self.devices[name] = claimants[0]
            else:
                self.conflicts[name] = [device.plugin for device in claimants]

    def conflict(self, name: str) -> str:
        """Why the device ``name`` claimed by several plugins cannot be used."""
        owners = [f"{self.plugins.info[p].package or p} (plugin {p})" for p in self.conflicts[name]]
        return (
            f"device {name!r} is registered by {len(owners)} plugins: {' and '.join(owners)}; "
            "neither is used: uninstall one, or pick one with BIJOU_LOAD_PLUGINS"
        )

    def broken_plugins(self) -> list[str]:
        """One line per plugin that could not be loaded: its name, package and error."""
        return [
            f"plugin {info.name} ({info.package or 'no package'}): {info.error}"
            for info in self.plugins.info.values()
            if not info.ok
        ]

    def _collect(self, plugin_name: str) -> list[Device]:
        info = self.plugins.info[plugin_name]
        found: list[Device] = []

        def register(
            spec: DeviceSpec | None = None,
            /,
            *,
            name: str | None = None,
            display_name: str = "",
            version: str = "",
            description: str = "",
        ) -> None:
            api_1 = spec is None  # register(name=...): the parts come from the device_* hooks
            if api_1:
                spec = DeviceSpec(name, None, None, None, None, display_name, version, description)
            elif not isinstance(spec, DeviceSpec):
                raise TypeError(f"register() takes a DeviceSpec, got {type(spec).__name__}")
            name = spec.name
            if not isinstance(name, str) or not NAME_RE.fullmatch(name):
                raise ValueError(f"device name {name!r} must be lowercase letters, digits, dashes")
            if len(name) > MAX_NAME:
                raise ValueError(f"device name {name[:20]!r}... is longer than {MAX_NAME} characters")
            if any(d.name == name for d in found):
                raise ValueError(f"device {name!r} is registered twice by plugin {plugin_name}")
            spec = replace(
                spec, display_name=spec.display_name or name, version=spec.version or info.version or "0"
            )
            if api_1:
                found.append(HookApi1Device(spec, plugin_name, info.package, self.plugins))
            else:
                found.append(Device(spec, plugin_name, info.package))

        self.plugins.call_guarded(plugin_name, "register_devices", register=register)
        return found if info.ok else []

    def get(self, name: str) -> Device:
        if name in self.devices:
            return self.devices[name]
        if name in self.conflicts:
            raise BijouError(self.conflict(name))
        known = ", ".join(sorted(self.devices)) or "none installed"
        broken = "; ".join(self.broken_plugins())
        raise BijouError(
            f"unknown device {name!r} (known devices: {known})" + (f"; broken: {broken}" if broken else "")
        )


def load_registry() -> DeviceRegistry:
    """The device registry for the installed plugins, honouring ``BIJOU_LOAD_PLUGINS``."""
    return DeviceRegistry(load_plugins())


def tools_from_file(path: str | Path) -> list[dict[str, Any]]:
    """Load and validate a tools JSON file outside any plugin (``--schema``)."""
    return check_tools(load_json(path), os.fspath(path))
