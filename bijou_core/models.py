"""Base models: the registry (``register_models`` hook), resolution of names, paths and hub ids."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import BijouError
from .files import temp_dir
from .plugins import Plugins, load_plugins

DEFAULT_MODEL = "smollm2-135m"


@dataclass(frozen=True)
class ModelEntry:
    name: str
    resolve: Callable[[], Path]
    description: str
    plugin: str


def cache_dir() -> Path:
    """Where bijou caches converted models and tools (``BIJOU_CACHE_DIR`` overrides)."""
    if "BIJOU_CACHE_DIR" in os.environ:
        return Path(os.environ["BIJOU_CACHE_DIR"])
    import platformdirs

    return Path(platformdirs.user_cache_dir("bijou"))


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


def cached_gguf_conversion(name: str, gguf: Path) -> Path:
    """Convert a GGUF checkpoint to a transformers folder once, cached under :func:`cache_dir`."""
    target = cache_dir() / "models" / name
    if (target / "config.json").is_file():
        return target
    from filelock import FileLock

    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(target.parent / f".{name}.lock"):  # one process converts, the others wait for it
        if not (target / "config.json").is_file():
            _convert_gguf(gguf, target, name)
    return target


def _convert_gguf(gguf: Path, target: Path, name: str) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    tmp = temp_dir(target.parent, name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(
            gguf.parent,
            gguf_file=gguf.name,
            quantization_config=GgufConfig(dequantize=True),
            dtype=torch.float32,
        )
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
