"""Hook API 1: the per-device hooks that plugins written before ``DeviceSpec`` implement.

A hook API 1 plugin calls ``register(name=..., display_name=..., version=..., description=...)``
in ``register_devices`` and answers each hook below for the devices it registered (``None`` for
the others). bijou still loads such plugins: their devices ask these hooks for each part when
first needed (:class:`bijou_core.devices.HookApi1Device`). New plugins register a ``DeviceSpec``.
"""

from __future__ import annotations

from .hookspecs import hookspec


@hookspec(firstresult=True)
def device_tools(device):
    """Return the tools of ``device``: a path to a tools JSON file or the list itself."""


@hookspec(firstresult=True)
def device_templates(device):
    """Return the synthetic-data templates of ``device``: a path to a YAML/JSON file or a dict."""


@hookspec(firstresult=True)
def device_eval_set(device):
    """Return the hand-written evaluation set of ``device``: a path to a JSONL file or a list."""


@hookspec(firstresult=True)
def device_eval_rules(device):
    """Return the ``EvalRules`` used to compare calls of ``device`` (nothing: the defaults)."""


@hookspec(firstresult=True)
def device_runtime(device):
    """Return the runtime of ``device``: a ``DeviceSimulator`` subclass or instance."""
