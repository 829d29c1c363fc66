"""bijou device plugin: AirPods Pro."""

from importlib.resources import files

from bijou_core import EvalRules, hookimpl

from .simulator import AirPodsProSimulator

__version__ = "0.1.0"
NAME = "airpods-pro"
DATA = files(__name__)


@hookimpl
def register_devices(register):
    register(
        name=NAME,
        display_name="AirPods Pro",
        version=__version__,
        description="Apple AirPods Pro: volume, noise control, media, calls, battery, Find My.",
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
    # No free-text parameters: every argument is an enum, a boolean or an integer.
    return EvalRules(free_text=frozenset()) if device == NAME else None


@hookimpl
def device_runtime(device):
    return AirPodsProSimulator if device == NAME else None
