"""bijou device plugin: Ray-Ban Stories."""

from importlib.resources import files

from bijou_core import EvalRules, hookimpl

from .simulator import RayBanStoriesSimulator

__version__ = "0.1.0"
NAME = "rayban-stories"
DATA = files(__name__)
FREE_TEXT = frozenset(
    {
        "send_message.contact",
        "send_message.message",
        "make_call.contact",
        "share_last_capture.contact",
    }
)


@hookimpl
def register_devices(register):
    register(
        name=NAME,
        display_name="Ray-Ban Stories",
        version=__version__,
        description="Ray-Ban Stories smart glasses: camera, livestreams, music, messages, calls.",
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
    return EvalRules(free_text=FREE_TEXT) if device == NAME else None


@hookimpl
def device_runtime(device):
    return RayBanStoriesSimulator if device == NAME else None
