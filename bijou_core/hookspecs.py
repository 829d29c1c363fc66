"""The hooks of bijou's plugin API 2 (import them from :mod:`bijou_core.plugin_api`).

A plugin is a module registered under the ``bijou`` entry-point group. It implements these hooks
with ``@hookimpl``: ``register_devices`` registers one :class:`~bijou_core.plugin_api.DeviceSpec`
value per device, ``register_models`` names base models. Hook API 1's per-device hooks are in
:mod:`bijou_core.hookspecs_v1`.
"""

from __future__ import annotations

from pluggy import HookimplMarker, HookspecMarker

hookspec = HookspecMarker("bijou")
hookimpl = HookimplMarker("bijou")

#: The version of this hook API. A plugin may declare ``BIJOU_HOOK_API = 2`` in its module; one
#: declaring ``1`` (the six-hook form) still loads; another version is reported as incompatible.
HOOK_API = 2
SUPPORTED_HOOK_APIS = (1, 2)


@hookspec
def register_devices(register):
    """Register the devices this plugin provides.

    Call ``register(spec)`` once per device with a ``DeviceSpec``: its name, display name,
    version, description, tools, templates, evaluation set, evaluation rules and runtime. Files
    may be given as paths (``pathlib.Path`` or ``importlib.resources`` traversables), which lets
    bijou name the file and line in its error messages, or as already-loaded Python data.
    ``DeviceSpec.from_package(__name__, runtime=MySimulator)`` builds the spec from the files next
    to the plugin's ``__init__.py`` (``device.yaml``, ``tools.json``, ``templates.yaml``,
    ``eval.jsonl``). The device name is the short id used on the command line (``airpods-pro``):
    lowercase letters, digits and dashes.
    """


@hookspec
def register_models(register):
    """Register base models under short names (``bijou models list``).

    Call ``register(name=..., resolve=..., description=...)``. ``resolve()`` returns a local folder
    that transformers can load; it may build and cache the folder on first use (the embedded
    ``smollm2-135m`` converts its GGUF file once). Names that no plugin registers are taken as a
    local path or a Hugging Face hub id.
    """
