"""The bijou plugin API (hook API 2): everything a device plugin imports, from one module.

A plugin is a package registered under the ``bijou`` entry-point group whose ``register_devices``
hook registers one :class:`DeviceSpec` value per device::

    from bijou_core.plugin_api import DeviceSpec, hookimpl

    from .simulator import RingSimulator

    BIJOU_HOOK_API = 2


    @hookimpl
    def register_devices(register):
        register(DeviceSpec.from_package(__name__, runtime=RingSimulator))

- :class:`DeviceSpec`: one device (name, tools, templates, eval set, eval rules, runtime);
- :class:`DeviceSimulator`: the base class of a device's runtime;
- :class:`EvalRules`: how the device's calls are compared in evaluation;
- :class:`BijouError`: the one error type users see;
- ``hookimpl``, ``hookspec``, ``HOOK_API``: the pluggy markers and this API's version.

The conformance kit for a plugin's own tests is :mod:`bijou_core.testing`. Plugins written for
hook API 1 (``register(name=...)`` and five ``device_*`` hooks) still load.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from importlib.resources import files
from typing import Any

from .errors import BijouError
from .files import load_document
from .hookspecs import HOOK_API, hookimpl, hookspec
from .rules import EvalRules
from .schema import check_format
from .simulator import DeviceSimulator

__all__ = ["HOOK_API", "BijouError", "DeviceSimulator", "DeviceSpec", "EvalRules", "hookimpl", "hookspec"]

MANIFEST = "device.yaml"
TOOLS = "tools.json"
TEMPLATES = "templates.yaml"
EVAL_SET = "eval.jsonl"


@dataclass(frozen=True)
class DeviceSpec:
    """One device, as a plugin registers it. Files are paths or already-loaded data.

    - ``name``: the short id used on the command line (``airpods-pro``): lowercase letters, digits
      and dashes, at most 64 characters.
    - ``tools``: a tools JSON file or the list itself. Each tool is an OpenAI-style function
      ``{"name", "description", "parameters"}`` whose ``parameters`` is a JSON Schema object with
      ``properties``, ``required`` and, per property, ``type``, ``enum``, ``minimum``/``maximum``
      and ``default`` (``schemas/tools.schema.json``).
    - ``templates``: a YAML/JSON file or a dict of phrasings with typed slots, from which training
      data is generated; ``no_tool`` holds commands that need no tool, near misses included
      (``schemas/templates.schema.json``).
    - ``eval_set``: a JSONL file or a list of ``{"query", "answers"}`` records written by hand, never
      by the device's own templates, so that a score on it measures generalization.
    - ``runtime``: a :class:`DeviceSimulator` subclass (or instance) that executes validated calls.
    - ``display_name`` (the name when empty), ``version`` (the plugin package's when empty),
      ``description``: how the device is listed.
    - ``eval_rules``: how arguments are normalized before calls are compared.
    """

    name: str
    tools: Any
    templates: Any
    eval_set: Any
    runtime: type[DeviceSimulator] | DeviceSimulator | None
    display_name: str = ""
    version: str = ""
    description: str = ""
    eval_rules: EvalRules = field(default_factory=EvalRules)

    @classmethod
    def from_package(
        cls, package: str, runtime: type[DeviceSimulator] | DeviceSimulator, **fields: Any
    ) -> DeviceSpec:
        """The device described by the data files of ``package`` (pass ``__name__``).

        Reads ``device.yaml`` (see :meth:`from_manifest`) and points at ``tools.json``,
        ``templates.yaml`` and ``eval.jsonl`` in the same folder, which must be package data of the
        plugin's distribution. Keyword ``fields`` replace what the files give.
        """
        data = files(package)
        spec = cls.from_manifest(
            load_document(data / MANIFEST),
            str(data / MANIFEST),
            tools=data / TOOLS,
            templates=data / TEMPLATES,
            eval_set=data / EVAL_SET,
            runtime=runtime,
        )
        return replace(spec, **fields)

    @classmethod
    def from_manifest(cls, manifest: Any, source: str, **parts: Any) -> DeviceSpec:
        """The device of a ``device.yaml`` document (``schemas/device.schema.json``) and its parts.

        The manifest gives ``name`` and optionally ``display_name``, ``description``, ``version``
        and ``eval_rules`` (the fields of :class:`EvalRules`, lists for sets); ``parts`` give
        ``tools``, ``templates``, ``eval_set`` and ``runtime``. A manifest that does not match the
        schema is one :class:`BijouError` line naming ``source`` and the field.
        """
        check_format(manifest, "device", source)
        fields = dict(manifest)
        rules = {
            key: frozenset(value) if isinstance(value, list) else value
            for key, value in fields.pop("eval_rules", {}).items()
        }
        return cls(**fields, **parts, eval_rules=EvalRules(**rules))
