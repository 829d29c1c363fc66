"""What ``bijou plugin new`` writes: file texts (``string.Template``), wording, the example device.

Placeholders: ``$name`` (device name), ``$package`` (``bijou-NAME``), ``$module`` (``bijou_NAME``),
``$display_name``, ``$description``, ``$class_name`` (the simulator class) and a few per file.
"""

from __future__ import annotations

from string import Template

PYPROJECT = Template("""\
[build-system]
requires = ["setuptools>=77"]
build-backend = "setuptools.build_meta"

[project]
name = "$package"
version = "0.1.0"
description = "bijou device plugin: $display_name"
readme = "README.md"
requires-python = ">=3.10"
dependencies = ["bijou-core"]

# How bijou finds the plugin: the `bijou` entry-point group, device name = module.
[project.entry-points.bijou]
$name = "$module"

[tool.setuptools.packages.find]
where = ["src"]

[tool.setuptools.package-data]
$module = ["*.json", "*.yaml", "*.jsonl"]

[tool.pytest.ini_options]
testpaths = ["tests"]

[tool.ruff]
line-length = 100
target-version = "py310"

[tool.ruff.lint]
select = ["E", "F", "I", "UP", "B", "SIM"]
""")

INIT = Template('''\
"""bijou device plugin: $display_name."""

from bijou_core.plugin_api import DeviceSpec, hookimpl

from .simulator import $class_name

__version__ = "0.1.0"
BIJOU_HOOK_API = 2


@hookimpl
def register_devices(register):
    register(DeviceSpec.from_package(__name__, runtime=$class_name))
''')

DEVICE_HEADER = """\
# The device this package provides, read by DeviceSpec.from_package (bijou's
# schemas/device.schema.json). eval_rules.free_text lists the free-text string parameters
# ("tool.param"), compared without case, punctuation or filler words.
"""

TESTS = Template('''\
"""Tests of the $display_name plugin: bijou's conformance checks and the simulator."""

from bijou_core.testing import (
    assert_conforms,
    assert_eval_set_valid,
    assert_runtime_handles,
    assert_templates_cover,
    device_fixture,
)

device = device_fixture("$name")


def test_passes_bijou_devices_check(device):
    assert_conforms(device)


def test_templates_produce_every_tool_value_and_parameter(device):
    assert_templates_cover(device)


def test_eval_set_is_valid_and_apart_from_the_templates(device):
    # Once the eval set is written by hand, make its size a requirement:
    # assert_eval_set_valid(device, min_records=40, min_no_tool_share=0.1)
    assert_eval_set_valid(device)


def test_runtime_runs_generated_commands(device):
    assert_runtime_handles(device)
$simulator_tests''')

README = Template("""\
# $package

A [bijou](https://pypi.org/project/bijou-core/) device plugin for **$display_name**.

$description

## Tools

| tool | parameters | what it does |
| --- | --- | --- |
$tools_table

## Install and check

From this folder, in the environment where bijou is installed:

```bash
pip install -e .
bijou devices list                 # $name is listed
bijou devices check $name
python -m pytest                   # this plugin's tests, written with bijou_core.testing
bijou devices synth $name --num-examples 1000 --output data/$name.jsonl
```

`bijou devices check` runs the conformance checks: tools, templates (every tool and enum value
reachable), runtime (a method per tool), 200 generated samples, and the eval set.

## What to edit

- `src/$module/device.yaml`: the device's name, display name, description and evaluation
  rules (which string parameters are free text).
- `src/$module/tools.json`: the tools (OpenAI function style). Keep each description to one
  short line: descriptions go into the model's prompt.
- `src/$module/templates.yaml`: phrasings per tool with `{param}` slots, spoken forms of enum
  and boolean values (`values`), values of free-text parameters (`lists`) and commands that need
  no tool (`no_tool`, with near misses that share words with a tool). Aim for 10 or more varied
  phrasings per tool: questions, terse commands, slang, indirect requests.$templates_note
- `src/$module/eval.jsonl`: the hand-written evaluation set, one `{"query", "answers"}` per
  line. It holds only $eval_count commands for now, written in wording the templates do not use.
  **Extend it by hand** to at least 40 commands as real users would say them (10% or more needing
  no tool, answered `[]`, and a few with two commands in one sentence). Never copy template
  phrasings: `bijou devices check` rejects queries a template could produce. Then raise
  `min_records` in the tests.
- `src/$module/simulator.py`: the device's state and one method per tool, named like the tool.
- `tests/$test_file`: the conformance checks and the simulator's behaviour.

The file formats are described in bijou's `docs/file-formats.md`, the plugin API in `docs/hooks.md`.
""")

DERIVED_TEMPLATES_NOTE = """
  The phrasings and `lists` were derived from the tool and parameter names: rewrite them in the
  words people use."""

TEMPLATES_HEADER = Template("""\
# Phrasings for synthetic training data: `bijou devices synth $name`.
# A slot {param} is filled from the parameter's enum (spoken as `values`), its numeric range
# (digits or words) or a list (`lists`); `args` fix the arguments a phrasing implies.
# Keys "tool.param" scope values and lists to one tool. Format: bijou's schemas/templates.schema.json.
""")

GENERIC_SIMULATOR_HEADER = Template('''\
"""A simulated $display_name: device state and one method per tool.

Generated by `bijou plugin new` from the tools: make each method do what the device does.
"""

from __future__ import annotations

from typing import Any

from bijou_core import DeviceSimulator


class $class_name(DeviceSimulator):
    """$display_name with fixed fake data (deterministic: no clock, no randomness)."""

    # Tools the user must confirm before they run (sending, buying, deleting...).
    confirm = frozenset()

    def initial_state(self) -> dict[str, Any]:
        # TODO: the device's real state (battery, modes, ...) with realistic starting values.
        return $initial_state
''')

GENERIC_SIMULATOR_TESTS = Template("""

def test_simulator_keeps_state(device):
    runtime = device.runtime()
    call = $call
    runtime.execute(call, device.tools_by_name[call["name"]])
    $assertion
""")

# -- wording of derived plugins (--tools) ------------------------------------------------------
# Frames for phrasings derived from tool names, and different ones for the derived eval set: an eval
# query must never be one a template could produce.
TEMPLATE_FRAMES = (
    "{do}",
    "can you {do}",
    "could you {do}",
    "would you {do}",
    "i want to {do}",
    "i'd like to {do}",
    "i need to {do}",
    "go ahead and {do}",
    "let's {do}",
    "time to {do}",
    "quickly {do}",
    "{do} right away",
)
EVAL_FRAMES = (
    "any chance you could {do}",
    "do me a favour and {do}",
    "i was hoping you'd {do}",
    "would it be possible to {do}",
    "hmm {do} i guess",
    "mind if we {do}",
)
MULTI_FRAME = "first {a} and after that {b}"
PLACEHOLDERS = ("one", "two", "three", "four", "five")
GENERIC_NO_TOOL = (
    "what's the weather like tomorrow",
    "play some jazz",
    "call mom",
    "what time is it in tokyo",
    "turn on the kitchen lights",
    "set the thermostat to seventy",
    "send a text to alex",
    "how far away is the moon",
    "open the garage door",
    "add milk to the shopping list",
    "tell me a joke",
    "navigate to the nearest gas station",
    "what's on my calendar today",
    "lock the front door",
    "order more coffee",
)
GENERIC_EVAL_NO_TOOL = (
    "what's the capital of peru",
    "book a table for two at eight",
    "how many ounces are in a cup",
    "start the robot vacuum",
    "is it going to snow this weekend",
    "read me the news headlines",
    "how do you say thank you in japanese",
    "turn the tv down a bit",
    "what's the score of the game",
    "find me a recipe for pancakes",
)


# -- the example device (no --tools): a small wearable with an enum, a range, a boolean ---------

EXAMPLE_TOOLS = [
    {
        "name": "set_vibration",
        "description": "Set how strongly the device vibrates for notifications.",
        "parameters": {
            "type": "object",
            "properties": {
                "level": {
                    "type": "string",
                    "description": "Vibration strength.",
                    "enum": ["off", "low", "medium", "high"],
                }
            },
            "required": ["level"],
        },
    },
    {
        "name": "start_timer",
        "description": "Start a countdown timer.",
        "parameters": {
            "type": "object",
            "properties": {
                "minutes": {
                    "type": "integer",
                    "description": "Length in minutes.",
                    "minimum": 1,
                    "maximum": 120,
                },
                "vibrate": {
                    "type": "boolean",
                    "description": "Vibrate when the timer ends.",
                    "default": True,
                },
            },
            "required": ["minutes"],
        },
    },
    {
        "name": "get_battery",
        "description": "Report the battery level.",
        "parameters": {"type": "object", "properties": {}, "required": []},
    },
]

EXAMPLE_TEMPLATES = {
    "format": 1,
    "values": {
        "level": {
            "off": ["off", "silent", "zero"],
            "low": ["low", "gentle", "soft", "light"],
            "medium": ["medium", "normal", "regular"],
            "high": ["high", "strong", "max", "maximum"],
        },
        "vibrate": {
            "true": ["and buzz me at the end", "with a buzz", "with vibration"],
            "false": ["silently", "without vibration", "with no buzz"],
        },
    },
    "tools": {
        "set_vibration": [
            "set vibration to {level}",
            "vibration {level}",
            "make the vibration {level}",
            "can you set the buzz to {level}",
            "switch vibrations to {level}",
            "i want the vibration {level}",
            "change the vibration strength to {level}",
            "could you put haptics on {level}",
            {"text": "stop vibrating", "args": {"level": "off"}},
            {"text": "no more buzzing", "args": {"level": "off"}},
            {"text": "buzz harder", "args": {"level": "high"}},
            {"text": "i keep missing my notifications", "args": {"level": "high"}},
            {"text": "the buzzing is too strong", "args": {"level": "low"}},
        ],
        "start_timer": [
            "start a timer for {minutes} minutes",
            "set a {minutes} minute timer",
            "timer {minutes} minutes",
            "count down {minutes} minutes",
            "can you time {minutes} minutes",
            "remind me in {minutes} minutes",
            "could you start a countdown of {minutes} minutes",
            "time my tea for {minutes} minutes",
            "start a {minutes} minute timer {vibrate}",
            "set a timer for {minutes} minutes {vibrate}",
            "countdown of {minutes} minutes {vibrate}",
            {"text": "set a silent timer for {minutes} minutes", "args": {"vibrate": False}},
            {"text": "timer for {minutes} minutes and buzz me when it's done", "args": {"vibrate": True}},
        ],
        "get_battery": [
            "how much battery is left",
            "battery level",
            "what's my battery at",
            "check the battery",
            "is the battery low",
            "how charged am i",
            "do i need to charge",
            "how long will the battery last",
            "can you tell me the battery percentage",
            "am i running out of juice",
        ],
    },
    "no_tool": [
        "set an alarm for seven",
        "how much battery does my phone have",
        "what time is it",
        "turn up the volume",
        "play some music",
        "call mom",
        "what's the weather tomorrow",
        "charge my car",
        "set the thermostat to seventy",
        "how many minutes until the bus comes",
        "send a message to alex",
        "turn on the lights",
        "what's the battery life of the new iphone",
        "tell me a joke",
        "how long should i boil an egg",
        "what is a vibration in physics",
    ],
}


def _call(name: str, **arguments: object) -> dict[str, object]:
    return {"name": name, "arguments": arguments}


EXAMPLE_EVAL_SET = [
    {
        "query": "ugh the buzz is way too weak crank it all the way up",
        "answers": [_call("set_vibration", level="high")],
    },
    {"query": "kill the haptics entirely", "answers": [_call("set_vibration", level="off")]},
    {"query": "put the vibration motor on gentle mode", "answers": [_call("set_vibration", level="low")]},
    {"query": "medium buzzing is fine", "answers": [_call("set_vibration", level="medium")]},
    {"query": "give me ten minutes on the clock", "answers": [_call("start_timer", minutes=10)]},
    {
        "query": "i need a 25 minute countdown but keep it quiet",
        "answers": [_call("start_timer", minutes=25, vibrate=False)],
    },
    {"query": "pasta goes in now so nine minutes", "answers": [_call("start_timer", minutes=9)]},
    {
        "query": "forty five minute timer and make it buzz",
        "answers": [_call("start_timer", minutes=45, vibrate=True)],
    },
    {"query": "what percentage am i at", "answers": [_call("get_battery")]},
    {"query": "will i make it through the day without charging", "answers": [_call("get_battery")]},
    {
        "query": "turn off the buzzing and start a 5 minute timer",
        "answers": [_call("set_vibration", level="off"), _call("start_timer", minutes=5)],
    },
    {
        "query": "how's the battery doing then set a twenty minute timer",
        "answers": [_call("get_battery"), _call("start_timer", minutes=20)],
    },
    {"query": "wake me up at six thirty tomorrow", "answers": []},
    {"query": "what's the capital of peru", "answers": []},
    {"query": "how much charge does my laptop have", "answers": []},
]

EXAMPLE_SIMULATOR = Template('''\
"""A simulated $display_name: vibration strength, timers and battery, with fixed fake data."""

from __future__ import annotations

from typing import Any

from bijou_core import DeviceSimulator


class $class_name(DeviceSimulator):
    """$display_name, deterministic (no clock, no randomness): one method per tool."""

    # Tools the user must confirm before they run (sending, buying, deleting...): none here.
    confirm = frozenset()

    def initial_state(self) -> dict[str, Any]:
        return {"vibration": "medium", "timers": [], "battery": 80}

    def set_vibration(self, level: str) -> dict[str, Any]:
        """Set how strongly the device vibrates for notifications."""
        self.state["vibration"] = level
        return {"vibration": level}

    def start_timer(self, minutes: int, vibrate: bool = True) -> dict[str, Any]:
        """Start a countdown timer; timers are kept in start order."""
        timer = {"id": len(self.state["timers"]) + 1, "minutes": minutes, "vibrate": vibrate}
        self.state["timers"].append(timer)
        return {"started": timer}

    def get_battery(self) -> dict[str, Any]:
        """Report the battery level in percent."""
        return {"battery": self.state["battery"]}
''')

EXAMPLE_SIMULATOR_TESTS = """

def test_vibration_and_timers_keep_state(device):
    runtime = device.runtime()

    def run(name, **arguments):
        return runtime.execute({"name": name, "arguments": arguments}, device.tools_by_name[name])

    run("set_vibration", level="high")
    run("start_timer", minutes=10)
    run("start_timer", minutes=3, vibrate=False)
    assert runtime.state["vibration"] == "high"
    assert runtime.state["timers"] == [
        {"id": 1, "minutes": 10, "vibrate": True},  # the default applies when omitted
        {"id": 2, "minutes": 3, "vibrate": False},
    ]
    assert run("get_battery") == {"battery": 80}
"""
