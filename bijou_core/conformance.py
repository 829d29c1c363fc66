"""Conformance checks for a device: the same checks for ``bijou devices check`` and plugin tests."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .data.synth import TemplateSet, normalize_query, phrasing_patterns
from .devices import Device
from .errors import BijouError

SAMPLES = 200
MIN_EVAL_RECORDS = 40
MIN_NO_TOOL_SHARE = 0.10


@dataclass(frozen=True)
class CheckResult:
    """One named check and its outcome (``detail`` says why it failed, or what it counted)."""

    name: str
    ok: bool
    detail: str = ""


def template_set(device: Device) -> TemplateSet:
    """The device's templates, compiled against its tools."""
    return TemplateSet(device.tools, device.templates, device.templates_source)


def _check_tools(device: Device) -> str:
    return f"{len(device.tools)} tools valid against schemas/tools.schema.json"


def _table_problems(templates: TemplateSet, table: str) -> Iterator[str]:
    """Keys of ``values`` or ``lists`` that name no parameter, or (``values``) no value of it: their
    spoken forms would be silently unused."""
    params = {
        (tool, name): schema
        for tool, spec in templates.tools.items()
        for name, schema in spec["parameters"]["properties"].items()
    }
    entries = templates.values if table == "values" else templates.lists
    for key, forms in entries.items():
        schemas = [schema for (tool, name), schema in params.items() if key in (name, f"{tool}.{name}")]
        if not schemas:
            yield f"$.{table}.{key}: no tool has a parameter {key!r}"
            continue
        if table == "lists":
            if not any(s.get("type") == "string" and "enum" not in s for s in schemas):
                yield f"$.{table}.{key}: {key} is not a free-text parameter (enum values go in values)"
            continue
        allowed = {str(v) for s in schemas for v in s.get("enum", [])}
        allowed |= {"true", "false"} if any(s.get("type") == "boolean" for s in schemas) else set()
        if not allowed:
            yield f"$.values.{key}: {key} is neither an enum nor a boolean (free text goes in lists)"
        for member in forms:
            if allowed and member not in allowed:
                yield f"$.values.{key}.{member}: not a value of {key} (values: {', '.join(sorted(allowed))})"


def template_problems(templates: TemplateSet) -> list[str]:
    """Mistakes in templates that generation would let through silently: spoken forms for no
    parameter or value, the same phrasing twice (up to case and spacing), and no-tool commands
    that a phrasing produces (the same command taught as ``[]`` and as a call)."""
    problems = [*_table_problems(templates, "values"), *_table_problems(templates, "lists")]
    seen: dict[str, str] = {}
    for tool, phrasings in templates.phrasings.items():
        for p in phrasings:
            key = " ".join(p.text.casefold().split()) + repr(sorted(p.args.items()))
            where = f"$.tools.{tool}[{p.index}]"
            if key in seen:
                problems.append(f"{where}: the same phrasing as {seen[key]}")
            seen.setdefault(key, where)
    patterns = phrasing_patterns(templates)
    no_tool: dict[str, int] = {}
    for i, query in enumerate(templates.no_tool):
        text = normalize_query(query)
        if text in no_tool:
            problems.append(f"$.no_tool[{i}]: the same command as no_tool[{no_tool[text]}]")
        no_tool.setdefault(text, i)
        producer = next((where for pattern, where in patterns if pattern.match(text)), None)
        if producer is not None:
            problems.append(f"$.no_tool[{i}]: {query!r} is also produced by phrasing $.tools.{producer}")
    return problems


def _check_templates(device: Device) -> str:
    templates = template_set(device)
    gaps = templates.coverage_gaps() + template_problems(templates)
    if gaps:
        raise BijouError(
            f"{device.templates_source}: {gaps[0]}"
            + (f" (and {len(gaps) - 1} more)" if len(gaps) > 1 else "")
        )
    count = sum(len(p) for p in templates.phrasings.values())
    return f"{count} phrasings cover every tool and enum value"


def _check_samples(device: Device) -> str:
    records = template_set(device).generate(SAMPLES, seed=0)
    runtime = device.runtime()
    missing = runtime.missing_handlers(device.tools)
    for record in records:
        errors = device.validator.check_calls(record["answers"])
        if errors:
            raise BijouError(f"generated sample {record['query']!r}: {errors[0]}")
        if missing:
            continue
        for call in record["answers"]:
            result = runtime.execute(call, device.tools_by_name[call["name"]])
            try:
                json.dumps(result)
            except (TypeError, ValueError) as exc:
                raise BijouError(
                    f"{type(runtime).__name__}.{call['name']} returned a result that is not JSON "
                    f"({exc}) for {record['query']!r}"
                ) from None
    return f"{len(records)} generated samples are schema-valid and run on the runtime"


def _check_eval_set(device: Device) -> str:
    records = device.eval_set
    none = sum(1 for r in records if not r.answers)
    templates = template_set(device)
    patterns = phrasing_patterns(templates)
    no_tool = {normalize_query(q): f"no_tool[{i}]" for i, q in enumerate(templates.no_tool)}
    copied, seen = [], {}
    for record in records:
        query = normalize_query(record.query)
        if query in seen:
            raise BijouError(
                f"{record.source}:{record.line}: {record.query!r} is the query of line {seen[query]} again; "
                "each eval query must be there once"
            )
        seen[query] = record.line
        where = no_tool.get(query) or next((w for pattern, w in patterns if pattern.match(query)), None)
        if where is not None:
            copied.append(f"{record.source}:{record.line}: {record.query!r} is produced by template {where}")
    if copied:
        more = f" (and {len(copied) - 1} more)" if len(copied) > 1 else ""
        raise BijouError(f"{copied[0]}{more}; an eval set must be written apart from the templates")
    summary = f"{len(records)} hand-written records ({none} no-tool) valid and apart from the templates"
    advice = []
    if len(records) < MIN_EVAL_RECORDS:
        advice.append(f"at least {MIN_EVAL_RECORDS} records")
    if not records or none / len(records) < MIN_NO_TOOL_SHARE:
        advice.append(f"at least {MIN_NO_TOOL_SHARE:.0%} no-tool records")
    return summary + (f"; warning: a useful eval set has {' and '.join(advice)}" if advice else "")


def _check_runtime(device: Device) -> str:
    runtime = device.runtime()
    missing = runtime.missing_handlers(device.tools)
    if missing:
        raise BijouError(f"{type(runtime).__name__} has no method for tools: {', '.join(missing)}")
    bad = [t["name"] for t in device.tools if not runtime.accepts(t)]
    if bad:
        raise BijouError(
            f"{type(runtime).__name__}: methods do not take the tool's parameters: {', '.join(bad)}"
        )
    return f"{type(runtime).__name__} handles every tool"


CHECKS: list[tuple[str, Callable[[Device], str]]] = [
    ("tools", _check_tools),
    ("templates", _check_templates),
    ("runtime", _check_runtime),
    ("samples", _check_samples),
    ("eval set", _check_eval_set),
]


def run_checks(device: Device) -> Iterator[CheckResult]:
    """Run every conformance check on ``device``; each failure is one precise line."""
    for name, check in CHECKS:
        try:
            yield CheckResult(name, True, check(device))
        except BijouError as exc:
            yield CheckResult(name, False, str(exc))
        except Exception as exc:  # plugin code raising is a conformance failure, not a crash
            yield CheckResult(name, False, f"{type(exc).__name__}: {exc}")


def failures(device: Device) -> list[CheckResult]:
    """The failed checks of ``device`` (empty when it conforms)."""
    return [r for r in run_checks(device) if not r.ok]
