"""The base of every device runtime: state, one method per tool, and confirmation rules."""

from __future__ import annotations

import copy
import inspect
from typing import Any, ClassVar

from ..calls import Call


class DeviceSimulator:
    """A device (or its simulator) that executes validated calls.

    Subclasses define ``initial_state()`` and one method per tool, named like the tool, taking the
    tool's arguments as keyword arguments (defaults already filled in) and returning a JSON-able
    result; they change ``self.state`` as the device would. Tools listed in ``confirm`` need the
    user's confirmation before they run.
    """

    confirm: ClassVar[frozenset[str]] = frozenset()

    def __init__(self) -> None:
        self.state: dict[str, Any] = self.initial_state()

    def initial_state(self) -> dict[str, Any]:
        return {}

    def needs_confirmation(self, call: Call) -> bool:
        return call["name"] in self.confirm

    def handles(self, tool_name: str) -> bool:
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
