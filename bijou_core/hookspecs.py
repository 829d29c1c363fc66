"""The bijou plugin API: the hooks a device plugin implements.

A plugin is a module registered under the ``bijou`` entry-point group. It implements some of these
hooks with ``@bijou_core.hookimpl``. Hooks that take ``device`` are asked about every device; a
plugin answers for the devices it registered and returns ``None`` for the others.

Files may be returned as paths (``pathlib.Path`` or ``importlib.resources`` traversables), which
lets bijou name the file and line in its error messages, or as already-loaded Python data.
"""

from __future__ import annotations

from pluggy import HookimplMarker, HookspecMarker

hookspec = HookspecMarker("bijou")
hookimpl = HookimplMarker("bijou")

#: The version of this hook API. A plugin may declare ``BIJOU_HOOK_API = 1`` in its module;
#: a plugin declaring another major version is reported as incompatible and not used.
HOOK_API = 1


@hookspec
def register_devices(register):
    """Register the devices this plugin provides.

    Call ``register(name=..., display_name=..., version=..., description=...)`` once per device.
    ``name`` is the short id used on the command line (``airpods-pro``): lowercase letters, digits
    and dashes. ``version`` is the version of the device definition, usually the plugin's.
    """


@hookspec(firstresult=True)
def device_tools(device):
    """Return the tools of ``device``: a path to a tools JSON file or the list itself.

    Each tool is an OpenAI-style function ``{"name", "description", "parameters"}`` whose
    ``parameters`` is a JSON Schema object with ``properties``, ``required`` and, per property,
    ``type``, ``enum``, ``minimum``/``maximum`` and ``default``. See ``schemas/tools.schema.json``.
    """


@hookspec(firstresult=True)
def device_templates(device):
    """Return the synthetic-data templates of ``device``: a path to a YAML/JSON file or a dict.

    Templates are phrasings with typed slots: ``{param}`` is filled from the parameter's enum
    (spoken forms under ``values``), its numeric range (digits or words) or a plugin-supplied list
    (``lists``). ``no_tool`` holds commands that need no tool, near misses included. See
    ``schemas/templates.schema.json``.
    """


@hookspec(firstresult=True)
def device_eval_set(device):
    """Return the hand-written evaluation set of ``device``: a path to a JSONL file or a list.

    Each record is ``{"query": str, "answers": [calls]}`` (``[]`` when no tool applies). The set
    must be written by hand, never produced by the device's own templates, so that a score on it
    measures generalization.
    """


@hookspec(firstresult=True)
def device_eval_rules(device):
    """Return the ``bijou_core.EvalRules`` used to compare calls of ``device``.

    Rules say how arguments are normalized before comparison: whether a default equals omission,
    whether string case and punctuation matter, which string parameters are free text. Devices
    that return nothing get the default rules.
    """


@hookspec(firstresult=True)
def device_runtime(device):
    """Return the runtime of ``device``: a ``bijou_core.DeviceSimulator`` subclass or instance.

    The runtime executes validated calls, one method per tool, keeps device state (volume, noise
    mode, recordings...) and lists in ``confirm`` the tools that must be confirmed by the user
    before they run (sending a message, going live). A handler must not raise for a call that is
    valid against its tool's schema: when the device cannot do it in its current state (stopping a
    video that is not recording), it returns a result saying so, e.g. ``{"ok": False, "error": ...}``.
    """


@hookspec
def register_models(register):
    """Register base models under short names (``bijou models list``).

    Call ``register(name=..., resolve=..., description=...)``. ``resolve()`` returns a local folder
    that transformers can load; it may build and cache the folder on first use (the embedded
    ``smollm2-135m`` converts its GGUF file once). Names that no plugin registers are taken as a
    local path or a Hugging Face hub id.
    """
