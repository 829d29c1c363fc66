"""Base models: the registry (``register_models`` hook), resolution of names, paths and hub ids."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import BijouError
from .model_cache import cache_dir  # noqa: F401 - speech and spoken evaluation import it from here
from .plugins import Plugins, load_plugins

DEFAULT_MODEL = "smollm2-135m"


@dataclass(frozen=True)
class ModelEntry:
    name: str
    resolve: Callable[[], Path]
    description: str
    plugin: str


def registered_models(plugins: Plugins | None = None) -> dict[str, ModelEntry]:
    """Every model registered by the loaded plugins, the built-in ones included."""
    plugins = plugins or load_plugins()
    models: dict[str, ModelEntry] = {}
    for plugin in list(plugins.info):

        def register(name: str, resolve: Callable[[], Path], description: str = "", _p=plugin) -> None:
            models.setdefault(name, ModelEntry(name, resolve, description, _p))

        plugins.call_guarded(plugin, "register_models", register=register)
    return models


def resolve_model(name: str, plugins: Plugins | None = None) -> str:
    """A registered name, a local folder or a hub id -> what transformers' ``from_pretrained`` takes.

    A hub id that is not cached fails with one line when the hub cannot be reached.
    """
    models = registered_models(plugins)
    if name in models:
        return str(models[name].resolve())
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise BijouError(f"{path}: not a model folder (no config.json)")
        return str(path)
    if name.count("/") != 1 or name.startswith((".", "/")):
        known = ", ".join(sorted(models))
        raise BijouError(f"unknown model {name!r}: not a registered name ({known}), a folder or a hub id")
    return _hub_model(name)


def _hub_model(repo_id: str) -> str:
    from huggingface_hub import model_info, try_to_load_from_cache

    if isinstance(try_to_load_from_cache(repo_id, "config.json"), str):
        return repo_id
    try:
        model_info(repo_id, timeout=10)
    except Exception as exc:
        raise BijouError(
            f"model {repo_id!r} is not cached and the Hugging Face hub is unreachable "
            f"({type(exc).__name__}); use {DEFAULT_MODEL!r} (embedded) or a local model folder"
        ) from None
    return repo_id
