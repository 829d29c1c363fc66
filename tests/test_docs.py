"""The plugin author docs stay true: the hook reference is generated, format examples validate."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import yaml

from bijou_core.data.synth import TemplateSet
from bijou_core.schema import CallValidator, check_format, check_tools

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def test_hook_reference_is_generated_from_the_hookspecs():
    spec = importlib.util.spec_from_file_location("gen_hook_docs", ROOT / "scripts" / "gen_hook_docs.py")
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    text = generator.render()
    assert "## device_runtime" in text and "`device_tools(device)`" in text
    assert (DOCS / "hooks.md").read_text(encoding="utf-8") == text, (
        "docs/hooks.md is out of date: run python scripts/gen_hook_docs.py"
    )


def examples() -> dict[str, str]:
    """The code blocks of docs/file-formats.md marked ``<!-- example: NAME -->``."""
    text = (DOCS / "file-formats.md").read_text(encoding="utf-8")
    return dict(re.findall(r"<!-- example: (\w+) -->\n```\w+\n(.*?)```", text, re.S))


def test_file_format_examples_are_valid():
    found = examples()
    assert set(found) == {"tools", "templates", "records", "device"}
    device = yaml.safe_load(found["device"])
    check_format(device, "device", "device example")
    ring = ROOT / "examples/bijou-smart-ring/src/bijou_smart_ring/device.yaml"
    assert device == yaml.safe_load(ring.read_text())
    tools = check_tools(json.loads(found["tools"]), "tools example")
    templates = yaml.safe_load(found["templates"])
    check_format(templates, "templates", "templates example")
    assert TemplateSet(tools, templates, "templates example").coverage_gaps() == []

    records = [json.loads(line) for line in found["records"].splitlines()]
    ring_tools = json.loads((ROOT / "examples/bijou-smart-ring/src/bijou_smart_ring/tools.json").read_text())
    validator = CallValidator(ring_tools)
    for record in records:
        check_format(record, "record", "records example")
        assert validator.check_calls(record["answers"]) == [], record
