"""Findings 9-15 of the hostile-input campaign (issue 19): synthesized data within the tools'
constraints, bounded YAML, resumable and non-destructive training, no temporary files left
behind, one conversion at a time, and one line (never a traceback) for every bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import toy_plugin
from click.testing import CliRunner

from bijou_core.cli import main
from bijou_core.devices import DeviceRegistry
from bijou_core.errors import BijouError
from bijou_core.plugins import Plugins
from bijou_core.schema import CallValidator


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_line_error(result, text: str) -> None:
    """The command failed with one ``Error:`` line holding ``text`` (notes and progress before it
    are stderr's), and no traceback."""
    assert result.exit_code != 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("Error: ") and text in last and "Traceback" not in result.output, result.output


def tool(name: str, **properties) -> dict:
    return {
        "name": name,
        "description": f"{name} something",
        "parameters": {"type": "object", "properties": properties, "required": list(properties)},
    }


CONSTRAINED = [
    tool("set_level", level={"type": "number", "minimum": 0.5, "maximum": 3}),
    tool("set_step", step={"type": "integer", "minimum": 0, "maximum": 100, "multipleOf": 5}),
    tool("set_gain", gain={"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1}),
    tool("set_ratio", ratio={"type": "number", "minimum": 0, "maximum": 2, "multipleOf": 0.25}),
    tool("set_tilt", tilt={"type": "integer", "exclusiveMinimum": -3, "exclusiveMaximum": 3}),
    tool(
        "set_code",
        code={"type": "string", "pattern": "^[A-Z]{3}$", "maxLength": 3, "examples": ["ABC", "XYZ", "QRS"]},
    ),
]


def test_finding_09_synthesized_records_keep_every_schema_constraint(tmp_path):
    tools_file = tmp_path / "tools.json"
    tools_file.write_text(json.dumps(CONSTRAINED))
    out = tmp_path / "data.jsonl"
    result = run("devices", "synth", "--schema", tools_file, "--num-examples", 120, "--output", out)
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in out.read_text().splitlines()]
    validator = CallValidator(CONSTRAINED)
    assert len(records) == 120 and all(validator.is_valid(r["answers"]) for r in records)
    said = {c["name"] for r in records for c in r["answers"]}
    assert said == {t["name"] for t in CONSTRAINED}

    no_examples = [tool("set_code", code={"type": "string", "pattern": "^[A-Z]{3}$"})]
    tools_file.write_text(json.dumps(no_examples))
    result = run("devices", "synth", "--schema", tools_file, "--num-examples", 10, "--output", out)
    one_line_error(result, "$.lists.set_code.code[0]: 'code one' does not match '^[A-Z]{3}$'")


def test_finding_10_a_yaml_alias_bomb_is_refused_at_once(tmp_path):
    tools_file = tmp_path / "tools.json"
    tools_file.write_text(json.dumps(toy_plugin.TOOLS))
    levels = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        levels.append(f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]")
    bomb = tmp_path / "templates.yaml"
    bomb.write_text("\n".join(["x_anchors:", *(f"  {line}" for line in levels), "no_tool: *i", ""]))
    assert bomb.stat().st_size < 1024
    started = time.perf_counter()
    result = run("devices", "synth", "--schema", tools_file, "--templates", bomb, "-o", tmp_path / "o.jsonl")
    assert time.perf_counter() - started < 5
    one_line_error(result, "invalid YAML: expands to more than 200,000 nodes")


@pytest.mark.slow
def test_finding_11_resume_falls_back_to_the_last_complete_checkpoint(lamp_cli, tiny_model_dir, tmp_path):
    out = tmp_path / "lamp"
    common = ["devices", "train", "lamp", "--base", tiny_model_dir, "--output-dir", out, "--num-examples", 40]
    common += ["--batch-size", 8, "--save-steps", 1, "--no-eval"]
    result = run(*common, "--max-steps", 2)
    assert result.exit_code == 0, result.output
    checkpoints = out / "checkpoints"
    assert sorted(p.name for p in checkpoints.glob("checkpoint-*")) == ["checkpoint-1", "checkpoint-2"]
    killed = checkpoints / "checkpoint-2"  # killed while it was being saved: weights half-written
    weights = killed / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    (killed / "trainer_state.json").unlink()
    fabricated = checkpoints / "checkpoint-3"  # killed at its very start
    fabricated.mkdir()
    (fabricated / "adapter_model.safetensors").write_bytes(b"\x00" * 10)

    result = run(*common, "--max-steps", 3, "--resume")
    assert result.exit_code == 0, result.output
    assert (
        f"warning: {fabricated} is incomplete (no readable trainer_state.json); removed it" in result.output
    )
    assert f"warning: {killed} is incomplete" in result.output
    assert json.loads((out / "bijou-manifest.json").read_text())["training"]["steps"] == 3


def test_finding_12_a_failed_run_leaves_existing_outputs_untouched(lamp_cli, tmp_path):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "train.jsonl").write_text("old\n")
    result = run("devices", "train", "lamp", "--output-dir", adapter, "--base", "./nope", "--no-eval")
    one_line_error(result, "unknown model './nope'")
    assert (adapter / "train.jsonl").read_text() == "old\n"

    folder = tmp_path / "folder"
    folder.mkdir()
    test_split = tmp_path / "test.jsonl"
    test_split.write_text("old\n")
    result = run(
        "devices", "synth", "lamp", "--output", folder, "--test-output", test_split, "--num-examples", 20
    )
    one_line_error(result, f"{folder}: expected a file path, found a directory")
    assert test_split.read_text() == "old\n" and list(folder.iterdir()) == []


SLOW_WRITER = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {tests!r})
    import toy_plugin
    from bijou_core import files
    from bijou_core.cli import devices
    from bijou_core.devices import DeviceRegistry
    from bijou_core.plugins import Plugins

    plugins = Plugins()
    plugins.register(toy_plugin, "lamp", package="toy-lamp", version="1")
    devices.load_registry = lambda: DeviceRegistry(plugins)
    dumps = files.dumps_record
    files.dumps_record = lambda record: (time.sleep(0.05), dumps(record))[1]
    from bijou_core.cli import main
    main(["devices", "synth", "lamp", "--num-examples", "200", "--output", {out!r}])
    """
)


def test_finding_13_sigterm_and_stale_temporary_files_leave_nothing_behind(tmp_path):
    out = tmp_path / "data.jsonl"
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    stale_file = tmp_path / f".data.jsonl.{int(dead.stdout)}.abcd1234.tmp"
    stale_file.write_text("half")
    script = SLOW_WRITER.format(tests=str(Path(__file__).parent), out=str(out))
    proc = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(f".data.jsonl.{proc.pid}.*.tmp")):
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
        time.sleep(0.05)
    assert not stale_file.exists()  # swept: its writer is dead
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 128 + signal.SIGTERM
    assert list(tmp_path.iterdir()) == [], proc.stderr.read()


CONVERTER = textwrap.dedent(
    """
    import time
    from pathlib import Path
    import transformers
    from bijou_core.model_cache import cached_gguf_conversion

    class Model:  # stands in for a slow conversion that writes a model folder
        def save_pretrained(self, folder):
            time.sleep(1)
            (Path(folder) / "config.json").write_text("{{}}")
            (Path(folder) / "model.safetensors").write_text("weights")

    transformers.AutoModelForCausalLM.from_pretrained = lambda *a, **k: Model()
    transformers.AutoTokenizer.from_pretrained = lambda *a, **k: Model()
    print(cached_gguf_conversion("tiny", Path({gguf!r})))
    """
)


def test_finding_14_two_processes_convert_a_model_once_and_both_succeed(tmp_path):
    gguf = tmp_path / "tiny.gguf"
    gguf.write_bytes(b"GGUF")
    env = {**os.environ, "BIJOU_CACHE_DIR": str(tmp_path / "cache")}
    script = CONVERTER.format(gguf=str(gguf))
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    target = tmp_path / "cache" / "models" / "tiny"
    assert {o.strip() for o, _ in outputs} == {str(target)}
    assert sorted(p.name for p in target.iterdir()) == ["config.json", "model.safetensors"]
    assert [p.name for p in target.parent.iterdir() if p.name.startswith(".tiny.") and p.is_dir()] == []


def _tools_file(tmp_path, data, raw: bytes | None = None) -> Path:
    path = tmp_path / "tools.json"
    path.write_bytes(raw if raw is not None else json.dumps(data).encode())
    return path


def _deep(levels: int):
    value: dict = {"type": "string"}
    for _ in range(levels):
        value = {"type": "array", "items": value}
    return value


BAD_TOOLS = {
    "minimum above maximum": (
        [tool("t", x={"type": "integer", "minimum": 10, "maximum": 1})],
        "$[0].parameters.properties.x: minimum 10 leaves no value under maximum 1",
    ),
    "infinite bound": (
        b'[{"name": "t", "description": "d", "parameters": {"type": "object", "properties": {"x": {"type": "number", "maximum": 1e999}}}}]',
        "$[0].parameters.properties.x: maximum: inf is not a finite number",
    ),
    "huge bound": (
        [tool("t", x={"type": "integer", "minimum": 0, "maximum": 1e300})],
        "$[0].parameters.properties.x: maximum: 1e+300 is beyond ±2**53",
    ),
    "unresolvable $ref": (
        [tool("t", x={"type": "string", "$ref": "#/$defs/nowhere"})],
        "$[0].parameters.properties.x.$ref: not supported; write the schema inline",
    ),
    "recursive $ref": (
        [tool("t", x={"type": "object", "properties": {"y": {"$ref": "#/properties/x"}}})],
        "$[0].parameters.properties.x.properties.y.$ref: not supported",
    ),
    "deep nesting": ([tool("t", x=_deep(40))], "tools.json: invalid JSON: nested more than 32 levels deep"),
    "4,300-digit integer": (
        b'[{"name": "t", "description": "d", "parameters": {"type": "object", "properties": {"x": {"type": "integer", "maximum": '
        + b"9" * 5000
        + b"}}}}]",
        "tools.json: invalid JSON: Exceeds the limit (4300 digits) for integer string conversion",
    ),
    "not UTF-8": (b'[{"name": "\xff\xfe"}]', "tools.json: not UTF-8 text (byte 11)"),
    "deeply nested JSON": (b"[" * 100_000, "tools.json: invalid JSON: nested more than 32 levels deep"),
    "NaN": (b'[{"x": NaN}]', "tools.json: invalid JSON: NaN is not a JSON number"),
}


@pytest.mark.parametrize("case", BAD_TOOLS)
def test_finding_15_bad_tools_files_are_one_line(tmp_path, case):
    data, expected = BAD_TOOLS[case]
    path = _tools_file(tmp_path, None, data) if isinstance(data, bytes) else _tools_file(tmp_path, data)
    one_line_error(run("devices", "synth", "--schema", path, "-o", tmp_path / "o.jsonl"), expected)


def test_finding_15_a_byte_order_mark_is_accepted(tmp_path):
    path = _tools_file(tmp_path, None, b"\xef\xbb\xbf" + json.dumps(toy_plugin.TOOLS).encode())
    result = run("devices", "synth", "--schema", path, "--num-examples", 10, "-o", tmp_path / "o.jsonl")
    assert result.exit_code == 0, result.output


def test_finding_15_bad_records_and_xlam_rows_are_one_line_or_skipped(lamp_cli, tmp_path):
    dataset = tmp_path / "eval.jsonl"
    dataset.write_text('{"query": "x", "answers": [' + "[" * 50 + "]" * 50 + "]}\n")
    one_line_error(
        run("devices", "eval", "lamp", "--dataset", dataset),
        f"{dataset}:1: invalid JSON: nested more than 32",
    )
    dataset.write_text('{"query": "x", "answers": [], "n": ' + "9" * 5000 + "}\n")
    one_line_error(
        run("devices", "eval", "lamp", "--dataset", dataset), f"{dataset}:1: invalid JSON: Exceeds the limit"
    )
    dataset.write_text("")
    one_line_error(run("devices", "eval", "lamp", "--dataset", dataset), f"{dataset}: no records to evaluate")

    good = {
        "query": "what is 2 plus 2",
        "tools": json.dumps(
            [
                {
                    "name": "add",
                    "description": "Add.",
                    "parameters": {"a": {"type": "int"}, "b": {"type": "int"}},
                }
            ]
        ),
        "answers": json.dumps([{"name": "add", "arguments": {"a": 2, "b": 2}}]),
    }
    deep = {**good, "tools": "[" * 10_000 + "]" * 10_000}
    deeper = {**good, "answers": json.dumps(_deep(200))}
    xlam = tmp_path / "xlam.json"
    xlam.write_text(json.dumps([good, deep, deeper, good | {"query": "and 3 plus 4"}]))
    result = run("base", "prepare", "--dataset", xlam, "--output-dir", tmp_path / "prepared")
    assert result.exit_code == 0, result.output
    assert "prepared 2 of 4 rows" in result.output and "invalid JSON in tools 1" in result.output


def _adapter(tmp_path, manifest, config: str | None = None, weights: bytes | None = None) -> Path:
    folder = tmp_path / "adapter"
    folder.mkdir(exist_ok=True)
    (folder / "bijou-manifest.json").write_text(json.dumps(manifest))
    (folder / "adapter_config.json").write_text(config if config is not None else "{}")
    if weights is not None:
        (folder / "adapter_model.safetensors").write_bytes(weights)
    return folder


def test_finding_15_broken_adapters_in_eval_are_one_line(lamp_cli, tiny_model_dir, tmp_path):
    folder = _adapter(tmp_path, ["not", "a", "manifest"])
    one_line_error(
        run("devices", "eval", "lamp", "--adapter", folder),
        "bijou-manifest.json: expected a JSON object, found list",
    )
    manifest = {
        "kind": "adapter",
        "device": "lamp",
        "base_model": {"name": str(tiny_model_dir)},
        "prompt_format": {"style": "compact", "device": "lamp", "version": 1},
    }
    _adapter(tmp_path, {**manifest, "prompt_format": "compact"})
    one_line_error(
        run("devices", "eval", "lamp", "--adapter", folder),
        "bijou-manifest.json: $.prompt_format: 'compact' is not of type 'object'",
    )
    _adapter(tmp_path, manifest, config="{not json", weights=b"\x00" * 8)
    one_line_error(
        run("devices", "eval", "lamp", "--adapter", folder), f"{folder}: cannot load the adapter: "
    )


def test_finding_15_options_and_output_paths_are_one_line(lamp_cli, tmp_path, monkeypatch):
    for args, expected in [
        (["-o", tmp_path], f"{tmp_path}: expected a file path, found a directory"),
        (["-o", ""], "Error: .: expected a file path, found a directory"),
        (["-o", "/proc/version/data.jsonl"], "/proc/version/data.jsonl: cannot create its folder"),
    ]:
        one_line_error(run("devices", "synth", "lamp", "--num-examples", 5, *args), expected)
    result = run("devices", "train", "lamp", "--max-steps", 0, "--output-dir", tmp_path / "a")
    assert result.exit_code == 2 and "0: expected -1 (the epochs decide) or at least 1 step" in result.output
    one_line_error(run("plugin", "new", "a" * 300, "--output-dir", tmp_path), "longer than 64 characters")

    config = tmp_path / "config.yaml"
    config.write_text("lora_targets: [q_proj, v_proj]\nmax_steps: 1\n")
    seen = {}

    def train_device(device, settings, *args):  # stands in for training: records what it was given
        seen["settings"] = settings
        raise BijouError("stop here")

    monkeypatch.setattr("bijou_core.train.device.train_device", train_device)
    result = run("devices", "train", "lamp", "--config", config, "--output-dir", tmp_path / "b")
    one_line_error(result, "stop here")
    assert seen["settings"].target_modules == ("q_proj", "v_proj")


def test_finding_15_device_names_are_matched_whole():
    plugins = Plugins()
    named = type(toy_plugin)("named")
    from bijou_core import hookimpl

    named.register_devices = hookimpl(lambda register: register(name="lamp\n"))
    plugins.register(named, "named")
    registry = DeviceRegistry(plugins)
    assert registry.devices == {}
    assert "device name 'lamp\\n' must be lowercase letters" in plugins.info["named"].error
    with pytest.raises(BijouError):
        registry.get("lamp\n")
