"""A small in-test device plugin ("lamp"), written only against the public plugin API (hook API 2)."""

from __future__ import annotations

from bijou_core.plugin_api import DeviceSimulator, DeviceSpec, EvalRules, hookimpl

BIJOU_HOOK_API = 2

NAME = "lamp"

TOOLS = [
    {
        "name": "set_light",
        "description": "Switch the lamp on or off.",
        "parameters": {
            "type": "object",
            "properties": {"on": {"type": "boolean", "description": "On or off."}},
            "required": ["on"],
        },
    },
    {
        "name": "set_brightness",
        "description": "Set the brightness in percent.",
        "parameters": {
            "type": "object",
            "properties": {"percent": {"type": "integer", "minimum": 1, "maximum": 100}},
            "required": ["percent"],
        },
    },
    {
        "name": "set_color",
        "description": "Set the light colour.",
        "parameters": {
            "type": "object",
            "properties": {
                "color": {"type": "string", "enum": ["warm_white", "cool_white", "red", "blue"]},
                "fade": {"type": "boolean", "default": False},
            },
            "required": ["color"],
        },
    },
    {
        "name": "name_scene",
        "description": "Save the current light as a named scene.",
        "parameters": {
            "type": "object",
            "properties": {"scene": {"type": "string"}},
            "required": ["scene"],
        },
    },
]

TEMPLATES = {
    "format": 1,
    "values": {
        "on": {"true": ["on"], "false": ["off"]},
        "fade": {"true": ["slowly"], "false": ["right away"]},
        "color": {"warm_white": ["warm white", "warm"], "cool_white": ["cool white", "daylight"]},
    },
    "lists": {"scene": ["reading", "movie night", "dinner", "focus", "wind down"]},
    "tools": {
        "set_light": ["turn the lamp {on}", "switch {on} the light", "lamp {on}", "lights {on} please"],
        "set_brightness": [
            "brightness {percent}",
            "set the lamp to {percent} percent",
            "dim it to {percent}",
            {"text": "full brightness", "args": {"percent": 100}},
        ],
        "set_color": [
            "make it {color}",
            "change the colour to {color}",
            "{color} light",
            "go {color} {fade}",
            "switch to {color} {fade}",
        ],
        "name_scene": ["save this as {scene}", "call this scene {scene}", "remember this light as {scene}"],
    },
    "no_tool": [
        "turn up the music",
        "what's the weather like",
        "set a timer for ten minutes",
        "dim the screen on my phone",
        "open the garage",
        "how bright is the sun",
    ],
}

EVAL_SET = [
    {"query": "kill the lights", "answers": [{"name": "set_light", "arguments": {"on": False}}]},
    {
        "query": "i need it brighter, 80",
        "answers": [{"name": "set_brightness", "arguments": {"percent": 80}}],
    },
    {"query": "what time is it", "answers": []},
]


class LampSimulator(DeviceSimulator):
    confirm = frozenset({"name_scene"})

    def initial_state(self):
        return {"on": False, "percent": 50, "color": "warm_white", "scenes": []}

    def set_light(self, on):
        self.state["on"] = on
        return {"on": on}

    def set_brightness(self, percent):
        self.state.update(on=True, percent=percent)
        return {"percent": percent}

    def set_color(self, color, fade=False):
        self.state["color"] = color
        return {"color": color, "fade": fade}

    def name_scene(self, scene):
        self.state["scenes"].append(scene)
        return {"saved": scene}


@hookimpl
def register_devices(register):
    register(
        DeviceSpec(
            name=NAME,
            tools=TOOLS,
            templates=TEMPLATES,
            eval_set=EVAL_SET,
            runtime=LampSimulator,
            display_name="Desk Lamp",
            version="1.2.3",
            description="A smart desk lamp.",
            eval_rules=EvalRules(free_text=frozenset({"name_scene.scene"})),
        )
    )
