"""bijou device plugin: Omi."""

from importlib.resources import files

from bijou_core import EvalRules, hookimpl

from .simulator import OmiSimulator

__version__ = "0.1.0"
NAME = "omi"
DATA = files(__name__)

#: String parameters whose values are free text (filler words are ignored when comparing).
FREE_TEXT = frozenset(
    {
        "search_conversations.query",
        "get_memories.topic",
        "create_memory.content",
        "create_action_item.description",
        "create_action_item.due",
        "complete_action_item.description",
        "web_search.query",
        "ask_omi_product.question",
    }
)


@hookimpl
def register_devices(register):
    register(
        name=NAME,
        display_name="Omi",
        version=__version__,
        description="AI pendant that records the wearer's conversations.",
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
    return OmiSimulator if device == NAME else None
