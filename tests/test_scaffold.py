"""``bijou plugin new``: a complete plugin package that installs, conforms and passes its own tests."""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import toy_plugin
from click.testing import CliRunner

from bijou_core.cli import main
from bijou_core.conformance import failures
from bijou_core.devices import Device, DeviceRegistry
from bijou_core.files import iter_jsonl
from bijou_core.plugins import Plugins
from bijou_core.testing import assert_runtime_handles, assert_templates_cover

ROOT = Path(__file__).resolve().parent.parent
LAYOUT = {
    "pyproject.toml",
    "README.md",
    "src/bijou_{m}/__init__.py",
    "src/bijou_{m}/device.yaml",
    "src/bijou_{m}/tools.json",
    "src/bijou_{m}/templates.yaml",
    "src/bijou_{m}/eval.jsonl",
    "src/bijou_{m}/simulator.py",
    "tests/test_{m}.py",
}
OPENAI_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "set_mode",
            "description": "Set the ring's mode.",
            "parameters": {
                "type": "object",
                "properties": {"mode": {"type": "string", "enum": ["sleep", "active", "power_save"]}},
                "required": ["mode"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "set_alarm",
            "description": "Set the alarm.",
            "strict": True,
            "parameters": {
                "type": "object",
                "properties": {
                    "time": {"type": "string"},
                    "smart_wake": {"type": "boolean", "default": False},
                    "snooze_minutes": {"type": "integer", "minimum": 1, "maximum": 30},
                },
                "required": ["time"],
                "additionalProperties": False,
            },
        },
    },
    {"type": "function", "function": {"name": "find_ring"}},
]


def new(*args: str):
    return CliRunner().invoke(main, ["plugin", "new", *args], catch_exceptions=False)


def files_of(package: Path) -> set[str]:
    return {p.relative_to(package).as_posix() for p in package.rglob("*") if p.is_file()}


@pytest.fixture
def load_generated(monkeypatch):
    """Import a generated package from its ``src/`` and register it as the only plugin."""
    modules: list[str] = []

    def load(package: Path, name: str) -> Device:
        module_name = "bijou_" + name.replace("-", "_")
        monkeypatch.syspath_prepend(str(package / "src"))
        modules.append(module_name)
        plugins = Plugins()
        info = plugins.register(importlib.import_module(module_name), name)
        assert info.ok, info.error
        return DeviceRegistry(plugins).get(name)

    yield load
    for key in [k for k in sys.modules if k.split(".")[0] in modules]:
        del sys.modules[key]


def test_example_plugin_is_complete_and_conforms(tmp_path, load_generated):
    result = new("demo-band", "--output-dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    package = tmp_path / "bijou-demo-band"
    assert result.output.startswith(f"created {package}\n")
    assert f"pip install -e {package}" in result.output
    assert [p.name for p in tmp_path.iterdir()] == ["bijou-demo-band"]  # no staging folder left
    assert files_of(package) == {f.format(m="demo_band") for f in LAYOUT}

    project = tomllib.loads((package / "pyproject.toml").read_text())
    assert project["project"]["name"] == "bijou-demo-band"
    assert project["project"]["entry-points"]["bijou"] == {"demo-band": "bijou_demo_band"}
    assert project["tool"]["setuptools"]["package-data"]["bijou_demo_band"] == ["*.json", "*.yaml", "*.jsonl"]

    device = load_generated(package, "demo-band")
    assert device.display_name == "Demo Band"
    assert failures(device) == []
    assert_templates_cover(device)
    assert_runtime_handles(device)
    assert all(len(p) >= 10 for p in device.templates["tools"].values())
    assert sum(not r.answers for r in device.eval_set) >= 0.1 * len(device.eval_set)
    assert "from bijou_core.testing import" in (package / "tests/test_demo_band.py").read_text()
    assert "**Extend it by hand** to at least 40 commands" in (package / "README.md").read_text()


def test_openai_style_tools_seed_the_plugin(tmp_path, load_generated):
    tools_file = tmp_path / "openai-tools.json"
    tools_file.write_text(json.dumps(OPENAI_TOOLS))
    result = new("oa-ring", "--tools", str(tools_file), "--output-dir", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    package = tmp_path / "out" / "bijou-oa-ring"
    tools = json.loads((package / "src/bijou_oa_ring/tools.json").read_text())
    assert tools[0] == OPENAI_TOOLS[0]["function"]
    assert "strict" not in tools[1] and tools[1]["parameters"] == OPENAI_TOOLS[1]["function"]["parameters"]
    assert tools[2] == {
        "name": "find_ring",
        "description": "Find ring.",
        "parameters": {"type": "object", "properties": {}},
    }

    device = load_generated(package, "oa-ring")
    assert failures(device) == []
    assert_templates_cover(device)  # every tool, enum value, boolean value and parameter
    assert all(len(p) >= 10 for p in device.templates["tools"].values())
    assert device.eval_rules.free_text == frozenset({"set_alarm.time"})
    eval_set = device.eval_set
    assert {c["name"] for r in eval_set for c in r.answers} == {"set_mode", "set_alarm", "find_ring"}
    assert sum(not r.answers for r in eval_set) >= 0.1 * len(eval_set)
    assert "derived from the tool and parameter names" in (package / "README.md").read_text()


def test_bijou_format_tools_are_kept_as_they_are(tmp_path, load_generated):
    tools_file = tmp_path / "tools.json"
    tools_file.write_text(json.dumps(toy_plugin.TOOLS))
    assert new("desk-lamp", "--tools", str(tools_file), "--output-dir", str(tmp_path)).exit_code == 0
    package = tmp_path / "bijou-desk-lamp"
    assert json.loads((package / "src/bijou_desk_lamp/tools.json").read_text()) == toy_plugin.TOOLS
    device = load_generated(package, "desk-lamp")
    assert failures(device) == []
    runtime = device.runtime()
    runtime.execute({"name": "set_color", "arguments": {"color": "red"}}, device.tools_by_name["set_color"])
    assert runtime.state["color"] == "red" and runtime.state["fade"] is False  # default filled in


@pytest.mark.parametrize("name", ["My-Ring", "my_ring", "ring!", "bijou ring"])
def test_bad_name_is_one_clear_line(tmp_path, name):
    result = new(name, "--output-dir", str(tmp_path))
    assert result.exit_code == 1
    assert result.output == (
        f"Error: plugin name {name!r}: expected lowercase letters, digits and dashes, e.g. my-ring\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_display_name_that_would_break_the_files_is_refused(tmp_path):
    result = new("ring", "--display-name", 'The "Ring"', "--output-dir", str(tmp_path))
    assert result.output == (
        "Error: --display-name 'The \"Ring\"': double quotes, backslashes and line breaks are not allowed\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_existing_directory_is_never_overwritten(tmp_path):
    target = tmp_path / "bijou-ring"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    result = new("ring", "--output-dir", str(tmp_path))
    assert result.exit_code == 1
    assert result.output == f"Error: {target}: already exists; choose another --output-dir or remove it\n"
    assert files_of(target) == {"notes.txt"} and (target / "notes.txt").read_text() == "mine"
    assert [p.name for p in tmp_path.iterdir()] == ["bijou-ring"]


def test_malformed_tools_file_names_file_and_line(tmp_path):
    tools_file = tmp_path / "tools.json"
    tools_file.write_text('[\n  {"type": "function",\n   "function": {"name": "x",}}\n]\n')
    result = new("ring", "--tools", str(tools_file), "--output-dir", str(tmp_path))
    assert result.exit_code == 1
    assert result.output == (
        f"Error: {tools_file}:3:29: invalid JSON: Expecting property name enclosed in double quotes\n"
    )
    assert [p.name for p in tmp_path.iterdir()] == ["tools.json"]


def test_invalid_tools_name_the_field(tmp_path):
    tools_file = tmp_path / "tools.json"
    bad_default = {"type": "integer", "default": "loud"}
    tools_file.write_text(
        json.dumps(
            [
                {
                    "type": "function",
                    "function": {"name": "set_level", "parameters": {"properties": {"level": bad_default}}},
                }
            ]
        )
    )
    result = new("ring", "--tools", str(tools_file), "--output-dir", str(tmp_path))
    assert result.output == (
        f"Error: {tools_file}: $[0].parameters.properties.level.default: 'loud' is not of type 'integer'\n"
    )
    tools_file.write_text(
        json.dumps(
            [{"name": "execute", "description": "x", "parameters": {"type": "object", "properties": {}}}]
        )
    )
    result = new("ring", "--tools", str(tools_file), "--output-dir", str(tmp_path))
    assert result.output == (
        f"Error: {tools_file}: $[0].name: 'execute' cannot be a simulator method name; rename the tool\n"
    )
    assert [p.name for p in tmp_path.iterdir()] == ["tools.json"]


def test_a_failed_write_leaves_nothing(tmp_path, monkeypatch):
    written = []

    def failing_write_text(self, *args, **kwargs):
        written.append(self)
        if len(written) == 4:
            raise OSError("disk full")
        return original(self, *args, **kwargs)

    original = Path.write_text
    monkeypatch.setattr(Path, "write_text", failing_write_text)
    with pytest.raises(OSError, match="disk full"):
        new("ring", "--output-dir", str(tmp_path))
    assert list(tmp_path.iterdir()) == []


# -- end to end: pip install into a target folder, then bijou and pytest in subprocesses -------------


def pip_install(package: Path, site: Path) -> None:
    """Install ``package`` into ``site`` only (never into the running environment)."""
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    command += ["--no-deps", "--no-build-isolation", "--no-index", "--target", str(site), str(package)]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def run_with(site: Path, command: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != "BIJOU_LOAD_PLUGINS"}
    environ.update(PYTHONPATH=str(site), **env)
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, env=environ)


def bijou(site: Path, cwd: Path, device: str, *args: str) -> subprocess.CompletedProcess:
    """The ``bijou`` CLI in a subprocess that sees only ``device``'s plugin."""
    command = [sys.executable, "-c", "from bijou_core.cli import main; main()", *args]
    return run_with(site, command, cwd, BIJOU_LOAD_PLUGINS=device)


def check_installed(package: Path, name: str, site: Path, cwd: Path, model_dir: Path) -> None:
    """The installed plugin is listed, conforms, synthesizes data, trains and evaluates an adapter
    (on a tiny model) and passes its own tests."""
    pip_install(package, site)
    listed = json.loads(bijou(site, cwd, name, "devices", "list", "--json").stdout)
    assert [(d["name"], d["package"], d["status"]) for d in listed] == [(name, f"bijou-{name}", "ok")]

    plugins = json.loads(bijou(site, cwd, name, "plugins").stdout)
    assert [(p["package"], p["version"], p["devices"], p["error"]) for p in plugins] == [
        (f"bijou-{name}", "0.1.0", [name], None)
    ]
    assert plugins[0]["hooks"] == ["register_devices"]

    checked = bijou(site, cwd, name, "devices", "check", name)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "FAIL" not in checked.stdout and checked.stdout.count("  ok   ") == 5

    out = cwd / "synthetic.jsonl"
    synth = bijou(site, cwd, name, "devices", "synth", name, "--num-examples", "300", "--output", str(out))
    assert synth.returncode == 0, synth.stderr
    assert len(list(iter_jsonl(out))) == 300

    adapter = cwd / "adapters" / name
    trained = bijou(
        site,
        cwd,
        name,
        "devices",
        "train",
        name,
        "--base",
        str(model_dir),
        "--data-path",
        str(out),
        "--max-steps",
        "2",
        "--batch-size",
        "8",
        "--output-dir",
        str(adapter),
        "--no-eval",
    )
    assert trained.returncode == 0, trained.stderr[-2000:]
    assert json.loads((adapter / "bijou-manifest.json").read_text())["device"] == name
    results = cwd / "eval.json"
    evaluated = bijou(
        site,
        cwd,
        name,
        "devices",
        "eval",
        name,
        "--adapter",
        str(adapter),
        "--compare",
        "--limit",
        "3",
        "--output",
        str(results),
    )
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    runs = json.loads(results.read_text())["runs"]
    assert [(r["name"], r["summary"]["examples"]) for r in runs] == [("base", 3), ("base+adapter", 3)]

    tests = run_with(site, [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], package)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert " passed" in tests.stdout and "failed" not in tests.stdout


@pytest.mark.slow
@pytest.mark.parametrize("seed", ["example", "openai-tools"])
def test_scaffolded_plugin_installs_and_passes_everything(tmp_path, seed, tiny_model_dir, bijou_cache):
    args = ["--output-dir", str(tmp_path)]
    if seed == "openai-tools":
        (tmp_path / "tools.json").write_text(json.dumps(OPENAI_TOOLS))
        args += ["--tools", str(tmp_path / "tools.json")]
    assert new("e2e-ring", *args).exit_code == 0
    check_installed(tmp_path / "bijou-e2e-ring", "e2e-ring", tmp_path / "site", tmp_path, tiny_model_dir)


@pytest.mark.slow
def test_smart_ring_example_installs_and_passes_everything(tmp_path, tiny_model_dir, bijou_cache):
    package = tmp_path / "bijou-smart-ring"
    shutil.copytree(  # a copy, so that building leaves nothing in the repository
        ROOT / "examples" / "bijou-smart-ring",
        package,
        ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", ".*_cache"),
    )
    check_installed(package, "smart-ring", tmp_path / "site", tmp_path, tiny_model_dir)


def test_plugin_init_files_are_a_few_lines_of_plugin_api_2(tmp_path):
    assert new("demo-band", "--output-dir", str(tmp_path)).exit_code == 0
    inits = [
        *ROOT.glob("plugins/*/src/*/__init__.py"),
        ROOT / "examples/bijou-smart-ring/src/bijou_smart_ring/__init__.py",
        tmp_path / "bijou-demo-band/src/bijou_demo_band/__init__.py",
    ]
    assert len(inits) == 5
    for init in inits:
        source = init.read_text()
        assert len(source.splitlines()) <= 15, init
        assert "DeviceSpec.from_package(__name__" in source and "device ==" not in source, init
