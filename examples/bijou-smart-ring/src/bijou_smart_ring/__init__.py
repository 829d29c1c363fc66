"""bijou device plugin: a smart ring, written only against bijou's public hooks."""

from importlib.resources import files

from bijou_core import EvalRules, hookimpl

from .simulator import SmartRingSimulator

__version__ = "0.1.0"
NAME = "smart-ring"
DATA = files(__name__)


@hookimpl
def register_devices(register):
    register(
        name=NAME,
        display_name="Smart Ring",
        version=__version__,
        description="A smart ring: sleep, heart rate, readiness, workouts, alarm, find my ring.",
    )


@hookimpl
def device_tools(device):
    return DATA / "tools.json" if device == NAME else None


@hookimpl
def device_templates(device):
    return DATA / "templates.yaml" if device == NAME else None


@hookimpl
def device_eval_set(device):
    return DATA / "eval.jsonl" if device == NAME else None


@hookimpl
def device_eval_rules(device):
    # The alarm time is free text as the user said it ("six thirty", "6:30 am").
    return EvalRules(free_text=frozenset({"set_alarm.time"})) if device == NAME else None


@hookimpl
def device_runtime(device):
    return SmartRingSimulator if device == NAME else None
