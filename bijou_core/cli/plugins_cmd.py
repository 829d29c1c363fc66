"""``bijou plugins``: the installed plugins as JSON, with their hooks, devices and errors."""

from __future__ import annotations

import json
from typing import Any

import click

from ..devices import DeviceRegistry
from ..plugins import load_plugins

BUILTIN_PACKAGE = "bijou-core"


def plugin_rows(show_all: bool = False) -> list[dict[str, Any]]:
    """One row per plugin that ``BIJOU_LOAD_PLUGINS`` allows (built-ins only with ``show_all``)."""
    plugins = load_plugins()
    registry = DeviceRegistry(plugins)  # registering devices can mark a plugin broken
    rows = []
    for info in plugins.info.values():
        if info.package == BUILTIN_PACKAGE and not show_all:
            continue
        rows.append(
            {
                "name": info.name,
                "package": info.package,
                "version": info.version,
                "hooks": info.hooks,
                "devices": [d.name for d in registry.devices.values() if d.plugin == info.name],
                "error": info.error,
            }
        )
    return rows


@click.command()
@click.option("--all", "show_all", is_flag=True, help="Include bijou's built-in plugin.")
def plugins(show_all: bool) -> None:
    """List installed plugins as JSON: name, package, version, hooks, devices, error.

    A broken plugin (failing import, a hook raising, an incompatible hook API) has its reason in
    "error" and is also named on stderr. BIJOU_LOAD_PLUGINS limits which plugins are loaded.
    """
    rows = plugin_rows(show_all)
    click.echo(json.dumps(rows, indent=2))
    for row in rows:
        if row["error"]:
            package = f" ({row['package']})" if row["package"] else ""
            click.echo(f"warning: plugin {row['name']}{package} is broken: {row['error']}", err=True)
