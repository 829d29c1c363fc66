"""Options shared by the training commands, with the guide's underscore spellings as aliases, and
``--config FILE`` (YAML or TOML) supplying defaults for any of them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import Field, fields
from pathlib import Path
from types import UnionType
from typing import Any, Literal, get_args, get_origin, get_type_hints

import click

from ..data.synth import MULTI_SHARE, NO_TOOL_SHARE, SMALL_TALK_SHARE, SPEECH_SHARE
from ..errors import BijouError
from ..files import load_document
from ..train.sft import TrainSettings


def _load_config(ctx: click.Context, _param: click.Parameter, value: Path | None) -> Path | None:
    if value is None:
        return value
    data = load_document(value)
    if not isinstance(data, dict):
        raise click.BadParameter(f"{value}: expected a mapping of option names to values")
    names = {p.name for p in ctx.command.params}
    defaults = {}
    for key, setting in data.items():
        name = str(key).lstrip("-").replace("-", "_")
        if name not in names or name == "config":
            raise BijouError(
                f"{value}: unknown option {key!r} for 'bijou {ctx.command_path.split(' ', 1)[-1]}'"
            )
        if isinstance(setting, list) and all(isinstance(item, str) for item in setting):
            setting = ",".join(setting)  # a YAML list for a comma-separated option (lora_targets)
        elif isinstance(setting, (list, dict)):
            raise BijouError(f"{value}: {key}: expected a single value, got {type(setting).__name__}")
        defaults[name] = setting
    ctx.default_map = {**(ctx.default_map or {}), **defaults}
    return value


def option(*names: str, **kwargs: Any) -> Callable:
    """A click option that also accepts the guide's underscore spelling (``--num_epochs``)."""
    aliases = [
        "--" + n[2:].replace("-", "_") for n in names if n.startswith("--") and "-" in n[2:] and "/" not in n
    ]
    return click.option(*names, *aliases, **kwargs)


def config_option(func: Callable) -> Callable:
    return click.option(
        "--config",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        is_eager=True,
        expose_value=False,
        callback=_load_config,
        help="YAML or TOML file whose keys set any option of this command.",
    )(func)


def mix_options(func: Callable) -> Callable:
    """The make-up of a synthesized set: shares of no-tool, small-talk, two-command and
    speech-transcript examples."""
    share = click.FloatRange(0, 0.5)
    func = option(
        "--speech-share",
        type=click.FloatRange(0, 1),
        default=SPEECH_SHARE,
        show_default=True,
        help="Share of examples rewritten as speech transcripts (fillers, restarts, no punctuation).",
    )(func)
    func = option(
        "--multi-share",
        type=share,
        default=MULTI_SHARE,
        show_default=True,
        help="Share of two-command examples.",
    )(func)
    func = option(
        "--small-talk-share",
        type=share,
        default=SMALL_TALK_SHARE,
        show_default=True,
        help="Share of small talk, hesitations and retractions from bijou's bank (answer: []).",
    )(func)
    return option(
        "--no-tool-share",
        type=share,
        default=NO_TOOL_SHARE,
        show_default=True,
        help="Share of the device's own commands it cannot do (answer: []).",
    )(func)


def _settings() -> list[Field]:
    """The TrainSettings fields that are flags of the training commands."""
    return [f for f in fields(TrainSettings) if f.metadata.get("cli", True)]


def _flag(setting: Field) -> str:
    return setting.metadata.get("flag") or "--" + setting.name.replace("_", "-")


def _param(setting: Field) -> str:
    """The click parameter (and --config key) name of a setting's flag."""
    return _flag(setting)[2:].replace("-", "_")


def _kind(hint: Any) -> Any:
    """The type of a setting's values (``int | None`` -> ``int``)."""
    return next(t for t in get_args(hint) if t is not type(None)) if get_origin(hint) is UnionType else hint


def _check(check: Callable[[Any], str | None]) -> Callable:
    def callback(_ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
        error = check(value)
        if error:
            raise click.BadParameter(error)
        return value

    return callback


def _setting_option(setting: Field, hint: Any, default: Any) -> Callable:
    """The click option of one TrainSettings field: type, range and help from its declaration."""
    meta = setting.metadata
    kind = _kind(hint)
    kwargs: dict[str, Any] = {"help": meta.get("help") or None}
    if "check" in meta:
        kwargs["callback"] = _check(meta["check"])
    if kind is bool and meta.get("negatable"):
        flag = _flag(setting)
        return option(f"{flag}/--no-{flag[2:]}", default=default, show_default=True, **kwargs)
    if kind is bool:
        return option(_flag(setting), is_flag=True, **kwargs)
    bounds = {k: meta[k] for k in ("min", "max", "min_open", "max_open") if k in meta}
    if get_origin(kind) is Literal:
        kwargs["type"] = click.Choice(list(get_args(kind)))
    elif get_origin(kind) is tuple:  # a comma-separated list of names
        default = ",".join(default)
    elif kind in (int, float):
        kwargs["type"] = (click.IntRange if kind is int else click.FloatRange)(**bounds) if bounds else kind
    show = meta.get("show_default", default is not None)
    return option(_flag(setting), default=default, show_default=show or None, **kwargs)


def training_options(**defaults: Any) -> Callable:
    """The fine-tuning flags of the guide (and a few more): one per TrainSettings field, with
    per-command ``defaults`` (by field name), and ``--config``."""
    hints = get_type_hints(TrainSettings)
    settings = _settings()
    unknown = set(defaults) - {f.name for f in settings}
    if unknown:
        raise TypeError(f"not training settings: {', '.join(sorted(unknown))}")
    decorators = [_setting_option(f, hints[f.name], defaults.get(f.name, f.default)) for f in settings] + [
        config_option
    ]

    def apply(func: Callable) -> Callable:
        for decorator in reversed(decorators):
            func = decorator(func)
        return func

    return apply


def settings_from(model_name: str, output_dir: Path, options: dict[str, Any]) -> TrainSettings:
    """TrainSettings from the parsed training options."""
    hints = get_type_hints(TrainSettings)
    values = {}
    for setting in _settings():
        value = options[_param(setting)]
        if get_origin(_kind(hints[setting.name])) is tuple:  # a comma-separated list of names
            value = tuple(name.strip() for name in value.split(",") if name.strip())
        values[setting.name] = value
    return TrainSettings(model_name=model_name, output_dir=output_dir, **values)
