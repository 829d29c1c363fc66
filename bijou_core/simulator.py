"""The base of every device runtime: state, one method per tool, and confirmation rules."""

from __future__ import annotations

import copy
import inspect
from typing import Any, ClassVar

from .calls import Call


class DeviceSimulator:
    """A device (or its simulator) that executes validated calls: the ``runtime`` of a ``DeviceSpec``.

    A subclass defines ``initial_state()`` and one method per tool, named like the tool, taking the
    tool's parameters as keyword arguments (optional ones arrive with their schema default filled
    in) and returning a small JSON-serializable result. Methods change ``self.state`` as the device
    would. ``confirm`` names the tools a user must confirm before they run (sending a message, going
    live). A handler never raises for a call valid against its tool's schema: when the device cannot
    do it in its current state it returns a result saying so, e.g. ``{"ok": False, "error": ...}``::

        class RingSimulator(DeviceSimulator):
            confirm = frozenset({"factory_reset"})

            def initial_state(self):
                return {"alarm": None}

            def set_alarm(self, time):
                self.state["alarm"] = time
                return {"ok": True, "alarm": time}

    bijou makes one instance per session (``bijou run``, the server, the conformance checks), so
    state carries over from one command to the next as on the device.
    """

    confirm: ClassVar[frozenset[str]] = frozenset()

    def __init__(self) -> None:
        self.state: dict[str, Any] = self.initial_state()

    def initial_state(self) -> dict[str, Any]:
        """The device's state when it is switched on (a fresh dict per instance)."""
        return {}

    def needs_confirmation(self, call: Call) -> bool:
        """True when ``call``'s tool is listed in ``confirm``."""
        return call["name"] in self.confirm

    def handles(self, tool_name: str) -> bool:
        """True when this class has a handler method for the tool ``tool_name``."""
        method = getattr(self, tool_name, None)
        return callable(method) and not tool_name.startswith("_") and tool_name not in dir(DeviceSimulator)

    def execute(self, call: Call, tool: dict[str, Any] | None = None) -> Any:
        """Run ``call`` (already validated); optional arguments take their schema defaults."""
        arguments = dict(call.get("arguments") or {})
        for pname, pschema in ((tool or {}).get("parameters", {}).get("properties", {})).items():
            if pname not in arguments and "default" in pschema:
                arguments[pname] = copy.deepcopy(pschema["default"])
        if not self.handles(call["name"]):
            raise NotImplementedError(f"{type(self).__name__} has no handler for {call['name']!r}")
        return getattr(self, call["name"])(**arguments)

    def missing_handlers(self, tools: list[dict[str, Any]]) -> list[str]:
        """Tools of the device that this runtime cannot execute."""
        return [t["name"] for t in tools if not self.handles(t["name"])]

    def accepts(self, tool: dict[str, Any]) -> bool:
        """True when the handler's signature takes every parameter of ``tool``."""
        params = inspect.signature(getattr(self, tool["name"])).parameters
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            return True
        return set(tool["parameters"].get("properties", {})) <= set(params)
