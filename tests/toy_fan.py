"""A second in-test device ("fan"), so the runtime can swap between two devices' adapters.

It is written for hook API 1 (``register(name=...)`` and the ``device_*`` hooks) and kept so, the
fixture that shows such plugins still list, check, train and run (tests/test_hook_api_1.py).
"""

from __future__ import annotations

from bijou_core import DeviceSimulator, hookimpl

BIJOU_HOOK_API = 1
NAME = "fan"

TOOLS = [
    {
        "name": "set_speed",
        "description": "Set the fan speed.",
        "parameters": {
            "type": "object",
            "properties": {"speed": {"type": "integer", "minimum": 0, "maximum": 3}},
            "required": ["speed"],
        },
    },
    {
        "name": "oscillate",
        "description": "Turn oscillation on or off.",
        "parameters": {
            "type": "object",
            "properties": {"enabled": {"type": "boolean"}},
            "required": ["enabled"],
        },
    },
]

TEMPLATES = {
    "format": 1,
    "values": {"enabled": {"true": ["on"], "false": ["off"]}},
    "tools": {
        "set_speed": ["fan speed {speed}", "set the fan to {speed}"],
        "oscillate": ["oscillation {enabled}", "turn swinging {enabled}"],
    },
    "no_tool": ["open the window", "how hot is it"],
}

EVAL_SET = [
    {"query": "fan to two", "answers": [{"name": "set_speed", "arguments": {"speed": 2}}]},
    {"query": "is it raining", "answers": []},
]


class FanSimulator(DeviceSimulator):
    def initial_state(self):
        return {"speed": 0, "oscillating": False}

    def set_speed(self, speed):
        self.state["speed"] = speed
        return {"speed": speed}

    def oscillate(self, enabled):
        self.state["oscillating"] = enabled
        return {"oscillating": enabled}


@hookimpl
def register_devices(register):
    register(name=NAME, display_name="Desk Fan", version="0.1.0", description="A smart desk fan.")


@hookimpl
def device_tools(device):
    return TOOLS if device == NAME else None


@hookimpl
def device_templates(device):
    return TEMPLATES if device == NAME else None


@hookimpl
def device_eval_set(device):
    return EVAL_SET if device == NAME else None


@hookimpl
def device_runtime(device):
    return FanSimulator if device == NAME else None
