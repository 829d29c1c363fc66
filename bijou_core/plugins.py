"""Finding and loading plugins: the ``bijou`` entry-point group, isolated from each other."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy

from . import hookspecs, hookspecs_v1
from .default_plugins import DEFAULT_PLUGINS

ENTRY_POINT_GROUP = "bijou"
LOAD_ENV = "BIJOU_LOAD_PLUGINS"


@dataclass
class PluginInfo:
    """What is known of one plugin, loaded or broken."""

    name: str
    package: str | None = None
    version: str | None = None
    error: str | None = None
    hooks: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None


def describe_exception(exc: BaseException) -> str:
    """One line for an exception raised by plugin code."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def allowed_plugins(environ: Mapping[str, str]) -> set[str] | None:
    """The names in ``BIJOU_LOAD_PLUGINS`` (None when unset: load all; empty: load none)."""
    value = environ.get(LOAD_ENV)
    if value is None:
        return None
    return {part.strip() for part in value.split(",") if part.strip()}


class Plugins:
    """The plugin manager for bijou: pluggy plus a record of every plugin, broken ones included."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager("bijou")
        self.pm.add_hookspecs(hookspecs)
        self.pm.add_hookspecs(hookspecs_v1)
        self.info: dict[str, PluginInfo] = {}

    def register(
        self, module: Any, name: str, package: str | None = None, version: str | None = None
    ) -> PluginInfo:
        """Register a plugin object; an incompatible or invalid plugin is recorded as broken."""
        info = PluginInfo(name=name, package=package, version=version)
        self.info[name] = info
        api = getattr(module, "BIJOU_HOOK_API", hookspecs.HOOK_API)
        if api not in hookspecs.SUPPORTED_HOOK_APIS:
            info.error = (
                f"incompatible hook API: plugin targets bijou hook API {api}, "
                f"this bijou provides {hookspecs.HOOK_API} (and still loads 1)"
            )
            return info
        try:
            self.pm.register(module, name=name)
        except (pluggy.PluginValidationError, ValueError) as exc:
            info.error = f"incompatible hook implementation: {describe_exception(exc)}"
            return info
        info.hooks = sorted(impl.name for impl in self.pm.get_hookcallers(module) or [])
        return info

    def load_entry_points(self, environ: Mapping[str, str] | None = None) -> None:
        """Load every plugin of the ``bijou`` entry-point group that ``BIJOU_LOAD_PLUGINS`` allows.

        A plugin that fails to import is recorded as broken with its error; it never stops the
        others from loading.
        """
        allowed = allowed_plugins(os.environ if environ is None else environ)
        for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            dist = ep.dist
            package = dist.metadata["Name"] if dist else None
            version = dist.version if dist else None
            if allowed is not None and ep.name not in allowed and package not in allowed:
                continue
            try:
                module = ep.load()
            except (Exception, SystemExit, KeyboardInterrupt) as exc:  # a plugin cannot end bijou
                self.info[ep.name] = PluginInfo(
                    ep.name, package, version, error=f"failed to import: {describe_exception(exc)}"
                )
                continue
            self.register(module, ep.name, package, version)

    def call_guarded(self, plugin: str, hook_name: str, **kwargs: Any) -> Any:
        """Call a hook on one plugin; if it raises, the plugin is marked broken and None returned."""
        try:
            return self.call_one(plugin, hook_name, **kwargs)
        except (Exception, SystemExit) as exc:
            self.info[plugin].error = f"{hook_name} raised {describe_exception(exc)}"
            return None

    def call_one(self, plugin: str, hook_name: str, **kwargs: Any) -> Any:
        """Call a hook on one plugin only; None when the plugin does not implement it."""
        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
            if impl.plugin_name == plugin:
                return impl.function(*(kwargs[arg] for arg in impl.argnames))
        return None


def load_plugins(environ: Mapping[str, str] | None = None) -> Plugins:
    """A plugin manager with the built-in plugins and every allowed installed plugin loaded."""
    from . import __version__

    plugins = Plugins()
    for name, module in DEFAULT_PLUGINS.items():
        plugins.register(module, name, package="bijou-core", version=__version__)
    plugins.load_entry_points(environ)
    return plugins
