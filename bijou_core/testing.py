"""The conformance kit for plugin authors: bijou's device checks as assertions in a plugin's tests.

In ``tests/test_my_ring.py`` of a plugin (installed with ``pip install -e .``)::

    from bijou_core.testing import assert_conforms, assert_templates_cover, device_fixture

    device = device_fixture("my-ring")      # a pytest fixture named ``device``


    def test_conforms(device):
        assert_conforms(device)             # the checks of ``bijou devices check my-ring``


    def test_templates(device):
        assert_templates_cover(device)

Every helper takes a device name or a loaded ``Device`` (``bijou_core.devices.Device``: its
``spec``, ``tools``, ``tools_by_name``, ``templates``, ``eval_set`` records with ``query`` and
``answers``, ``eval_rules``, ``validator`` and ``runtime()``, a fresh simulator).
A failure is an ``AssertionError`` whose message names each failed check and why, as
``bijou devices check`` prints it. ``registered_specs(module)`` gives the ``DeviceSpec`` values a
plugin module registers.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable
from typing import Any

from .conformance import CHECKS, SAMPLES, failures, template_set
from .devices import Device, load_registry
from .errors import BijouError
from .plugin_api import DeviceSpec
from .plugins import LOAD_ENV

DeviceLike = str | Device
MAX_LISTED = 10


def load_device(name: str) -> Device:
    """The device ``name`` from the installed plugins (``bijou`` entry points).

    Fails with the installed devices, any broken plugin's error and the install hint when the
    device is not there.
    """
    __tracebackhide__ = True
    registry = load_registry()
    if name in registry.devices:
        return registry.devices[name]
    lines = [
        f"device {name!r} is not installed "
        f"(installed devices: {', '.join(sorted(registry.devices)) or 'none'}); "
        "install its plugin first, e.g. `pip install -e .` in the plugin's folder"
    ]
    lines += [
        f"  plugin {info.name} ({info.package or 'no package'}) is broken: {info.error}"
        for info in registry.plugins.info.values()
        if not info.ok
    ]
    if os.environ.get(LOAD_ENV) is not None:
        lines.append(f"  note: {LOAD_ENV}={os.environ[LOAD_ENV]!r} limits which plugins are loaded")
    raise AssertionError("\n".join(lines))


def registered_specs(plugin: Any) -> list[DeviceSpec]:
    """The ``DeviceSpec`` values that a plugin module's ``register_devices`` hook registers.

    Calls the hook directly, without bijou's plugin loading: ``(spec,) = registered_specs(my_ring)``
    then checks what the plugin declares (``spec.name``, ``spec.eval_rules``, ``spec.runtime``).
    """
    specs: list[DeviceSpec] = []
    plugin.register_devices(specs.append)
    return specs


def device_fixture(name: str, scope: str = "module") -> Any:
    """A pytest fixture giving the installed device ``name``, named after the variable it is bound to.

    ``device = device_fixture("my-ring")`` in a test module makes ``def test_x(device)`` work; the
    device (and its loaded files) is shared by the module's tests.
    """
    import pytest  # only plugin tests need pytest, not bijou itself

    @pytest.fixture(scope=scope)
    def device() -> Device:
        return load_device(name)

    return device


def _device(device: DeviceLike) -> Device:
    __tracebackhide__ = True
    return load_device(device) if isinstance(device, str) else device


def _check(device: Device, name: str) -> str:
    """Run one named conformance check; its detail on success, an AssertionError on failure."""
    __tracebackhide__ = True
    check: Callable[[Device], str] = dict(CHECKS)[name]
    try:
        return check(device)
    except BijouError as exc:
        detail = str(exc)
    except Exception as exc:  # plugin code raising fails the check, as in `bijou devices check`
        detail = f"{type(exc).__name__}: {exc}"
    raise AssertionError(f"{device.name}: {name} check failed: {detail}")


def _fail_with(device: Device, what: str, problems: list[str]) -> None:
    __tracebackhide__ = True
    if problems:
        shown = problems[:MAX_LISTED]
        if len(problems) > MAX_LISTED:
            shown.append(f"(and {len(problems) - MAX_LISTED} more)")
        listed = "\n".join(f"  {p}" for p in shown)
        raise AssertionError(f"{device.name}: {what}:\n{listed}")


def assert_conforms(device: DeviceLike) -> None:
    """Run the checks of ``bijou devices check`` on ``device``; fail listing every failed check."""
    __tracebackhide__ = True
    dev = _device(device)
    _fail_with(
        dev,
        "fails conformance checks of `bijou devices check`",
        [f"{r.name}: {r.detail}" for r in failures(dev)],
    )


def assert_templates_cover(device: DeviceLike, samples: int = SAMPLES, seed: int = 0) -> None:
    """Every tool, enum value, boolean value and parameter is produced by the templates.

    Checks the templates themselves (``TemplateSet.coverage_gaps``) and a generated sample of
    ``samples`` records, whose calls must also validate against the tools.
    """
    __tracebackhide__ = True
    dev = _device(device)
    try:
        templates = template_set(dev)
        gaps = templates.coverage_gaps()
        records = templates.generate(samples, seed=seed)
    except BijouError as exc:
        raise AssertionError(f"{dev.name}: templates: {exc}") from None
    _fail_with(dev, "templates do not cover the tools", gaps)
    calls = [call for record in records for call in record["answers"]]
    problems = [
        f"generated sample {r['query']!r}: {error}"
        for r in records
        for error in dev.validator.check_calls(r["answers"])
    ]
    for name, tool in dev.tools_by_name.items():
        made = [c["arguments"] for c in calls if c["name"] == name]
        if not made:
            problems.append(f"tool {name}: never in {samples} generated samples")
            continue
        for param, schema in tool["parameters"]["properties"].items():
            said = [args[param] for args in made if param in args]
            if not said:
                problems.append(f"tool {name}: parameter {param!r} is never stated in the generated samples")
            values = schema.get("enum") or ([True, False] if schema.get("type") == "boolean" else [])
            problems += [
                f"tool {name}: {param}={value!r} never in {samples} generated samples"
                for value in values
                if not any(s == value and type(s) is type(value) for s in said)
            ]
    _fail_with(dev, f"templates leave gaps in {samples} generated samples", problems)


def assert_eval_set_valid(
    device: DeviceLike, min_records: int = 0, min_no_tool_share: float = 0.0, min_per_tool: int = 0
) -> None:
    """The eval set's calls validate, no query is there twice or is one the templates could produce.

    ``bijou devices check`` only warns about a small eval set; give ``min_records`` (bijou advises
    40), ``min_no_tool_share`` (0.1) and ``min_per_tool`` (calls of every tool) to make it a failure.
    """
    __tracebackhide__ = True
    dev = _device(device)
    _check(dev, "eval set")
    records = dev.eval_set
    none = sum(1 for r in records if not r.answers)
    problems = []
    if len(records) < min_records:
        problems.append(f"{len(records)} records, at least {min_records} wanted")
    if records and none / len(records) < min_no_tool_share:
        problems.append(
            f"{none} of {len(records)} records need no tool ([]), at least {min_no_tool_share:.0%} wanted"
        )
    calls = Counter(call["name"] for r in records for call in r.answers)
    problems += [
        f"tool {name}: called in {calls[name]} records' answers, at least {min_per_tool} wanted"
        for name in dev.tools_by_name
        if calls[name] < min_per_tool
    ]
    _fail_with(dev, "eval set too small", problems)


def assert_runtime_handles(device: DeviceLike, samples: int = SAMPLES, seed: int = 0) -> None:
    """The runtime has a method per tool taking its parameters, and runs generated commands.

    Each call of ``samples`` generated records runs on one runtime (state carries over, as on a
    device) and must return a JSON-serializable result.
    """
    __tracebackhide__ = True
    dev = _device(device)
    _check(dev, "runtime")
    try:
        records = template_set(dev).generate(samples, seed=seed)
    except BijouError as exc:
        raise AssertionError(f"{dev.name}: templates: {exc}") from None
    runtime = dev.runtime()
    problems = []
    for record in records:
        for call in record["answers"]:
            where = f"{call['name']}({json.dumps(call['arguments'])}) from {record['query']!r}"
            try:
                result = runtime.execute(call, dev.tools_by_name[call["name"]])
            except Exception as exc:
                problems.append(f"{where}: raised {type(exc).__name__}: {exc}")
                continue
            try:
                json.dumps(result)
            except (TypeError, ValueError) as exc:
                problems.append(f"{where}: result is not JSON-serializable: {exc}")
    _fail_with(dev, f"{type(runtime).__name__} fails on generated commands", problems)
