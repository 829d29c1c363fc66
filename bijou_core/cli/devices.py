"""``bijou devices``: list, inspect, check and synthesize data for device plugins."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from ..conformance import run_checks, template_set
from ..data.synth import TemplateSet, generic_templates, holdout_split
from ..devices import DeviceRegistry, load_registry, tools_from_file
from ..errors import BijouError
from ..files import load_document, writable_target, write_jsonl
from ..schema import check_format
from .options import mix_options


def _registry(ctx: click.Context) -> DeviceRegistry:
    ctx.ensure_object(dict)
    if "registry" not in ctx.obj:
        ctx.obj["registry"] = load_registry()
    return ctx.obj["registry"]


@click.group()
def devices() -> None:
    """Device plugins: list, info, check, synth, train and eval."""


@devices.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@click.pass_context
def list_devices(ctx: click.Context, as_json: bool) -> None:
    """List installed devices and broken plugins."""
    registry = _registry(ctx)
    rows = []
    for device in registry.devices.values():
        status = device.status()
        rows.append(
            {
                "name": device.name,
                "display_name": device.display_name,
                "version": device.version,
                "package": device.package,
                "plugin": device.plugin,
                "tools": len(device.tools) if status == "ok" else None,
                "status": status,
            }
        )
    for name, owners in registry.conflicts.items():
        rows.append(
            {
                "name": name,
                "display_name": None,
                "version": None,
                "package": ", ".join(registry.plugins.info[p].package or p for p in owners),
                "plugin": ", ".join(owners),
                "tools": None,
                "status": f"broken: {registry.conflict(name)}",
            }
        )
    for info in registry.plugins.info.values():
        if not info.ok:
            rows.append(
                {
                    "name": None,
                    "display_name": None,
                    "version": info.version,
                    "package": info.package,
                    "plugin": info.name,
                    "tools": None,
                    "status": f"broken: {info.error}",
                }
            )
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table("device", "version", "package", "tools", "status")
    for row in rows:
        name = row["name"] or f"(plugin {row['plugin']})"
        table.add_row(
            name, row["version"] or "", row["package"] or "", str(row["tools"] or ""), row["status"]
        )
    Console(width=200).print(table)


@devices.command()
@click.argument("device")
@click.option("--json", "as_json", is_flag=True, help="Print the tools as a JSON list.")
@click.pass_context
def info(ctx: click.Context, device: str, as_json: bool) -> None:
    """Show a device's tools and parameters."""
    dev = _registry(ctx).get(device)
    if as_json:
        click.echo(json.dumps(dev.tools, indent=2))
        return
    click.echo(f"{dev.display_name} ({dev.name} {dev.version}, package {dev.package})")
    if dev.description:
        click.echo(dev.description)
    for tool in dev.tools:
        click.echo(f"\n{tool['name']}: {tool['description']}")
        required = tool["parameters"].get("required", [])
        for pname, schema in tool["parameters"]["properties"].items():
            facts = [schema["type"], "required" if pname in required else "optional"]
            if "enum" in schema:
                facts.append("one of " + "|".join(map(str, schema["enum"])))
            if "minimum" in schema or "maximum" in schema:
                facts.append(f"{schema.get('minimum', '')}..{schema.get('maximum', '')}")
            if "default" in schema:
                facts.append(f"default {json.dumps(schema['default'])}")
            click.echo(f"  {pname}: {', '.join(facts)}")


@devices.command()
@click.argument("names", nargs=-1)
@click.pass_context
def check(ctx: click.Context, names: tuple[str, ...]) -> None:
    """Check that devices conform (all installed devices and plugins when none is named)."""
    registry = _registry(ctx)
    targets = [registry.get(n) for n in names] or list(registry.devices.values())
    problems = [] if names else [*registry.broken_plugins(), *map(registry.conflict, registry.conflicts)]
    if not targets and not problems:
        raise BijouError("no devices installed")
    for problem in problems:
        click.echo(f"FAIL {problem}")
    failed = len(problems)
    for device in targets:
        click.echo(f"{device.name} ({device.package} {device.version})")
        for result in run_checks(device):
            mark = "ok  " if result.ok else "FAIL"
            click.echo(f"  {mark} {result.name}: {result.detail}")
            failed += not result.ok
    if failed:
        raise click.ClickException(f"{failed} check(s) failed")


def _templates_for_schema(schema: Path, templates: Path | None) -> TemplateSet:
    tools = tools_from_file(schema)
    beside = schema.with_name("templates.yaml")
    path = templates or (beside if beside.exists() else None)
    if path is None:
        click.echo(f"note: no templates beside {schema}; using generic phrasings from tool names", err=True)
        return TemplateSet(tools, generic_templates(tools), f"<generic templates for {schema}>")
    data = load_document(path)
    check_format(data, "templates", str(path))
    return TemplateSet(tools, data, str(path))


@devices.command()
@click.argument("device", required=False)
@click.option("--schema", type=click.Path(path_type=Path), help="A tools JSON file outside any plugin.")
@click.option(
    "--templates", type=click.Path(path_type=Path), help="Templates for --schema (default: beside it)."
)
@click.option("--num-examples", "--num_examples", type=click.IntRange(1), default=1000, show_default=True)
@click.option("--output", "-o", type=click.Path(path_type=Path), required=True, help="JSONL to write.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--test-output",
    type=click.Path(path_type=Path),
    help="Also write a test split made only from held-out phrasings.",
)
@click.option("--test-examples", type=click.IntRange(1), default=200, show_default=True)
@click.option(
    "--holdout",
    type=click.FloatRange(0.05, 0.5),
    default=0.2,
    show_default=True,
    help="Share of each tool's phrasings held out for --test-output.",
)
@mix_options
@click.pass_context
def synth(
    ctx: click.Context,
    device: str | None,
    schema: Path | None,
    templates: Path | None,
    num_examples: int,
    output: Path,
    seed: int,
    test_output: Path | None,
    test_examples: int,
    holdout: float,
    **mix: float,
) -> None:
    """Generate synthetic training data for DEVICE (or for the tools file given with --schema)."""
    if (device is None) == (schema is None):
        raise click.UsageError("give either a DEVICE or --schema PATH")
    for target in (output, test_output):  # checked before anything is generated or written
        if target is not None:
            writable_target(target)
    if test_output is not None and test_output.resolve() == output.resolve():
        raise BijouError(f"{output}: --output and --test-output are the same file")
    if device is not None:
        tset = template_set(_registry(ctx).get(device))
    else:
        tset = _templates_for_schema(schema, templates)
    if test_output is None:
        records = tset.generate(num_examples, seed=seed, **mix)
    else:
        train_set, test_set = holdout_split(tset, holdout, seed)
        records = train_set.generate(num_examples, seed=seed, **mix)
        test = test_set.generate(test_examples, seed=seed + 1, exclude=(r["query"] for r in records), **mix)
    write_jsonl(output, records)
    if test_output is not None:
        write_jsonl(test_output, test)
        click.echo(f"wrote {len(test)} held-out examples to {test_output}", err=True)
    click.echo(f"wrote {len(records)} examples to {output}", err=True)
