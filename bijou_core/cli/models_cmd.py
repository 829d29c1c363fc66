"""``bijou models``: the base models bijou knows by name."""

from __future__ import annotations

import json

import click

from ..models import registered_models


@click.group()
def models() -> None:
    """Base models: registered names (plugins can add more), local folders or hub ids."""


@models.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
def list_models(as_json: bool) -> None:
    """List the registered base models."""
    entries = registered_models().values()
    if as_json:
        click.echo(
            json.dumps(
                [{"name": m.name, "description": m.description, "plugin": m.plugin} for m in entries],
                indent=2,
            )
        )
        return
    for m in entries:
        click.echo(f"{m.name}: {m.description} (plugin {m.plugin})")
