"""``bijou plugin``: tools for plugin authors (``bijou plugin new``)."""

from __future__ import annotations

from pathlib import Path

import click

from ..scaffold import create_plugin


@click.group()
def plugin() -> None:
    """Write a device plugin: scaffold a package with everything `bijou devices check` wants."""


@plugin.command()
@click.argument("name")
@click.option(
    "--tools",
    "tools_file",
    type=click.Path(path_type=Path),
    help="Seed the device from a tools JSON file (bijou or OpenAI style).",
)
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Where to create bijou-NAME/.",
)
@click.option("--display-name", help="The device's human name (default: from NAME, e.g. 'My Ring').")
@click.option("--description", help="One line describing the device.")
def new(
    name: str, tools_file: Path | None, output_dir: Path, display_name: str | None, description: str | None
) -> None:
    """Create bijou-NAME/: an installable device plugin package that passes `bijou devices check`.

    NAME is the device name (lowercase letters, digits, dashes). Without --tools the package holds
    a small example device to adapt; with --tools its templates, eval set and simulator are
    derived from the tools.
    """
    target = create_plugin(name, output_dir, tools_file, display_name, description)
    click.echo(f"created {target}")
    click.echo("next:")
    click.echo(f"  pip install -e {target}")
    click.echo(f"  bijou devices check {name}")
    click.echo(f"  python -m pytest {target / 'tests'}")
    click.echo(f"  then edit the tools, templates and eval set: see {target / 'README.md'}")
