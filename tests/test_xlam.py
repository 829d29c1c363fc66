"""Preparing xLAM for the base model: faithful tool conversion, counted skips, split, loading."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from bijou_core.cli import main
from bijou_core.data.xlam import (
    Skip,
    convert_row,
    convert_tool,
    convert_type,
    dataset_stem,
    load_xlam,
    prepare_rows,
    sample_order,
)
from bijou_core.errors import BijouError
from bijou_core.schema import CallValidator, check_format, check_tools

SAMPLE = Path(__file__).parent / "data" / "xlam_sample.json"
ROWS = json.loads(SAMPLE.read_text())
# What each bad row of the fixture is there to exercise.
EXPECTED_SKIPS = {
    "unknown type 'Callable'": 2,
    "invalid JSON in tools": 1,
    "invalid JSON in answers": 1,
    "answer calls an undeclared tool": 1,
    "answer argument not in the tool's parameters": 1,
    "answer value does not match its type": 1,
    "answer omits a required argument": 1,
    "empty query": 1,
    "default does not match its type": 1,
}


@pytest.fixture
def hf_cache(tmp_path, monkeypatch):
    """datasets caches into the test's folder, never the user's."""
    datasets = pytest.importorskip("datasets")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    return tmp_path


def run(*args: str):
    return CliRunner().invoke(main, ["base", "prepare", *args], catch_exceptions=False)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# -- types ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("xlam", "schema", "optional"),
    [
        ("str", {"type": "string"}, False),
        ("int", {"type": "integer"}, False),
        ("float", {"type": "number"}, False),
        ("bool", {"type": "boolean"}, False),
        ("string", {"type": "string"}, False),
        ("List[int]", {"type": "array", "items": {"type": "integer"}}, False),
        ("List[str]", {"type": "array", "items": {"type": "string"}}, False),
        ("list", {"type": "array"}, False),
        ("Dict[str, Any]", {"type": "object"}, False),
        ("dict", {"type": "object"}, False),
        ("Dict[str, int]", {"type": "object", "additionalProperties": {"type": "integer"}}, False),
        ("str, optional", {"type": "string"}, True),
        ("int, optional", {"type": "integer"}, True),
        ("Optional[float]", {"type": "number"}, True),
        ("str | None", {"type": "string"}, True),
        (
            "List[Dict[str, str]]",
            {"type": "array", "items": {"type": "object", "additionalProperties": {"type": "string"}}},
            False,
        ),
        (
            "List[List[int]], optional, default: []",
            {"type": "array", "items": {"type": "array", "items": {"type": "integer"}}},
            True,
        ),
        ("Tuple", {"type": "array"}, False),
        (
            "Tuple[float, float]",
            {
                "type": "array",
                "prefixItems": [{"type": "number"}, {"type": "number"}],
                "minItems": 2,
                "maxItems": 2,
            },
            False,
        ),
        ("Tuple[int, ...]", {"type": "array", "items": {"type": "integer"}}, False),
        ("set", {"type": "array", "uniqueItems": True}, False),
        ("Set[str]", {"type": "array", "items": {"type": "string"}, "uniqueItems": True}, False),
        ("Union[int, float]", {"type": "number"}, False),
        ("int or float", {"type": "number"}, False),
        (
            "List[Union[str, int]]",
            {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
            False,
        ),
    ],
)
def test_python_types_become_json_schema(xlam, schema, optional):
    assert convert_type(xlam) == (schema, optional)


@pytest.mark.parametrize(
    ("xlam", "reason"),
    [
        ("Callable", "unknown type 'Callable'"),
        ("Callable[[float], float]", "unknown type 'Callable'"),
        ("datetime.date", "unknown type 'datetime.date'"),
        ("List[int, str]", "unknown type 'List[int, str]'"),
        ("str, comma separated", "unknown type 'str, comma separated'"),
        ("Any", "type 'Any' has no single JSON type"),
        ("Union[str, int]", "type 'Union[str, int]' has no single JSON type"),
    ],
)
def test_types_without_a_json_type_are_reasons_to_skip(xlam, reason):
    with pytest.raises(Skip, match=f"^{re.escape(reason)}$"):
        convert_type(xlam)


def tool_with(spec: dict) -> dict:
    return convert_tool({"name": "f", "description": "A tool.", "parameters": {"p": spec}})


@pytest.mark.parametrize(
    ("spec", "default", "required"),
    [
        ({"type": "int, optional", "default": 1}, 1, False),
        ({"type": "int, optional", "default": "10"}, 10, False),  # JSON text of the value
        ({"type": "int", "default": "0"}, 0, False),  # a default makes it optional
        ({"type": "str", "default": "en"}, "en", False),
        ({"type": "str", "default": 10}, "10", False),
        ({"type": "bool, optional", "default": "True"}, True, False),
        ({"type": "List[int], optional", "default": "[1, 2]"}, [1, 2], False),
        ({"type": "bool, optional", "default": ""}, None, False),  # xLAM's "defaults to None"
        ({"type": "float, optional", "default": None}, None, False),
        ({"type": "int, optional"}, None, False),
        ({"type": "int"}, None, True),
    ],
)
def test_defaults_are_kept_as_values_of_the_type(spec, default, required):
    tool = tool_with({"description": "The p.", **spec})
    param = tool["parameters"]["properties"]["p"]
    assert param.get("default") == default and ("default" in param) == (default is not None)
    assert param["description"] == "The p."
    assert ("p" in tool["parameters"].get("required", [])) == required
    check_tools([tool], "converted")


def test_a_default_that_contradicts_its_type_skips_the_row():
    with pytest.raises(Skip, match="^default does not match its type$"):
        tool_with({"type": "int, optional", "default": 0.7})


# -- rows ---------------------------------------------------------------------------------------


def test_sample_rows_are_converted_or_counted_by_reason():
    prepared = prepare_rows(ROWS, val_fraction=0)
    assert prepared.skipped == Counter(EXPECTED_SKIPS)
    assert len(prepared.train) == len(ROWS) - sum(EXPECTED_SKIPS.values())
    by_query = {row["query"]: row for row in ROWS}
    for record in prepared.train:
        check_format(record, "record", "prepared")
        assert set(record) == {"query", "answers", "tools"}
        assert CallValidator(record["tools"]).check_calls(record["answers"]) == []
        source = by_query[record["query"]]
        # every call of a parallel answer and every parameter of every tool is kept
        assert record["answers"] == json.loads(source["answers"])
        xlam_tools = json.loads(source["tools"])
        assert [t["name"] for t in record["tools"]] == [t["name"] for t in xlam_tools]
        for tool, xlam_tool in zip(record["tools"], xlam_tools, strict=True):
            assert list(tool["parameters"]["properties"]) == list(xlam_tool["parameters"])
            assert tool["description"] == xlam_tool["description"]
    parallel = [r["answers"] for r in prepared.train if len(r["answers"]) > 1]
    assert len(parallel) == 2 and {c["name"] for c in parallel[1]} == {"is_prime"}


def test_int_answers_are_valid_numbers_but_strings_are_not_integers():
    tool = {
        "name": "scale",
        "description": "Scale a value.",
        "parameters": {"factor": {"type": "float"}, "times": {"type": "int"}},
    }
    row = {"query": "scale by 2 three times", "tools": json.dumps([tool])}
    row["answers"] = json.dumps([{"name": "scale", "arguments": {"factor": 2, "times": 3}}])
    assert convert_row(row)["answers"][0]["arguments"] == {"factor": 2, "times": 3}
    row["answers"] = json.dumps([{"name": "scale", "arguments": {"factor": 2, "times": "3"}}])
    with pytest.raises(Skip, match="^answer value does not match its type$"):
        convert_row(row)


def test_non_json_numbers_are_invalid_json():
    row = {"query": "q", "tools": json.dumps([{"name": "f", "description": "F.", "parameters": {}}])}
    row["answers"] = '[{"name": "f", "arguments": {"x": NaN}}]'
    with pytest.raises(Skip, match="^invalid JSON in answers$"):
        convert_row(row)


def test_split_sizes_and_summary_line():
    prepared = prepare_rows(ROWS, val_fraction=0.34)
    assert (len(prepared.train), len(prepared.val)) == (4, 2)
    line = prepared.summary()
    assert line.startswith("prepared 6 of 16 rows (train 4, val 2); skipped 10: unknown type 'Callable' 2, ")
    for reason, count in EXPECTED_SKIPS.items():
        assert f"{reason} {count}" in line
    assert prepare_rows(ROWS[:6], val_fraction=0.05).summary() == (
        "prepared 6 of 6 rows (train 5, val 1); skipped 0"
    )


def test_sample_order_is_seeded_and_max_samples_takes_its_prefix():
    assert sample_order(100, seed=1) == sample_order(100, seed=1)
    assert sample_order(100, seed=1) != sample_order(100, seed=2)
    assert sorted(sample_order(100, seed=1)) == list(range(100))
    assert sample_order(100, seed=1, max_samples=10) == sample_order(100, seed=1)[:10]


def test_dataset_stem():
    assert dataset_stem("Salesforce/xlam-function-calling-60k") == "xlam_function_calling_60k"
    assert dataset_stem(str(SAMPLE)) == "xlam_sample"
    assert dataset_stem(str(SAMPLE.parent) + "/") == "data"


# -- the command ----------------------------------------------------------------------------------


def test_prepare_writes_named_split_files_deterministically(hf_cache):
    out = hf_cache / "training"
    result = run("--dataset", str(SAMPLE), "--output_dir", str(out), "--val-fraction", "0.34", "--seed", "3")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("prepared 6 of 16 rows (train 4, val 2); skipped 10: ")
    assert sorted(p.name for p in out.iterdir()) == ["xlam_sample_train.jsonl", "xlam_sample_val.jsonl"]
    train, val = read_jsonl(out / "xlam_sample_train.jsonl"), read_jsonl(out / "xlam_sample_val.jsonl")
    assert (len(train), len(val)) == (4, 2)
    expected = prepare_rows(ROWS, val_fraction=0).train
    assert sorted(json.dumps(r) for r in train + val) == sorted(json.dumps(r) for r in expected)

    first = {p.name: p.read_bytes() for p in out.iterdir()}
    for seed, same in (("3", True), ("4", False)):
        args = ("--dataset", str(SAMPLE), "--output-dir", str(out), "--val-fraction", "0.34", "--seed", seed)
        assert run(*args).exit_code == 0
        assert ({p.name: p.read_bytes() for p in out.iterdir()} == first) is same


def test_max_samples_takes_a_seeded_sample(hf_cache):
    out = hf_cache / "small"
    result = run("--dataset", str(SAMPLE), "--output-dir", str(out), "--max_samples", "8", "--seed", "5")
    assert result.exit_code == 0, result.output
    picked = [ROWS[i] for i in sample_order(len(ROWS), seed=5, max_samples=8)]
    expected = prepare_rows(picked, val_fraction=0.05)
    assert result.stdout.strip() == expected.summary()
    assert " of 8 rows " in result.stdout
    assert read_jsonl(out / "xlam_sample_train.jsonl") == expected.train
    assert read_jsonl(out / "xlam_sample_val.jsonl") == expected.val


@pytest.mark.parametrize("kind", ["jsonl", "parquet", "folder"])
def test_local_jsonl_parquet_and_folder_inputs(hf_cache, kind):
    datasets = pytest.importorskip("datasets")
    folder = hf_cache / "xlam-local"
    folder.mkdir()
    if kind == "parquet":
        source = folder / "My-XLAM.parquet"
        datasets.Dataset.from_list(ROWS).to_parquet(str(source))
    else:
        source = folder / "My-XLAM.jsonl"
        source.write_text("".join(json.dumps(row) + "\n" for row in ROWS))
    if kind == "folder":
        source = folder
    out = hf_cache / "out"
    result = run("--dataset", str(source), "--output-dir", str(out), "--seed", "2")
    assert result.exit_code == 0, result.output
    stem = "xlam_local" if kind == "folder" else "my_xlam"
    records = read_jsonl(out / f"{stem}_train.jsonl") + read_jsonl(out / f"{stem}_val.jsonl")
    expected = prepare_rows([ROWS[i] for i in sample_order(len(ROWS), seed=2)], val_fraction=0).train
    assert records == expected


def test_bad_local_inputs_are_one_line(hf_cache):
    missing = run("--dataset", str(hf_cache / "nope.json"))
    assert missing.exit_code == 1 and missing.output == f"Error: {hf_cache / 'nope.json'}: file not found\n"
    wrong = hf_cache / "rows.jsonl"
    wrong.write_text('{"query": "q", "answers": "[]"}\n')
    result = run("--dataset", str(wrong), "--output-dir", str(hf_cache / "out"))
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == (
        f"Error: {wrong}: not xLAM rows: missing column 'tools' (columns: query, answers)"
    )
    broken = hf_cache / "broken.json"
    broken.write_text('[{"query": "q", "tools": "[]",')
    with pytest.raises(BijouError, match=r"broken.json: cannot read xLAM rows: "):
        load_xlam(str(broken))


def test_unreachable_hub_without_cache_is_one_quick_line(hf_cache, monkeypatch):
    datasets = pytest.importorskip("datasets")
    from huggingface_hub import HfApi
    from huggingface_hub.utils import httpx

    def unreachable(*args, **kwargs):
        raise httpx.ConnectError("Name or service not known")

    monkeypatch.setattr(HfApi, "dataset_info", unreachable)
    offline_before = datasets.config.HF_HUB_OFFLINE
    start = time.monotonic()
    with pytest.raises(BijouError) as err:
        load_xlam("bijou-tests/not-cached-xlam")
    assert time.monotonic() - start < 5
    assert str(err.value) == (
        "bijou-tests/not-cached-xlam: the dataset is not cached and the Hugging Face hub is unreachable; "
        "pass a local xLAM file (.json, .jsonl or .parquet) with --dataset"
    )
    offline_after = datasets.config.HF_HUB_OFFLINE
    assert offline_after == offline_before


def test_offline_hub_id_fails_fast_with_one_line(tmp_path):
    pytest.importorskip("datasets")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    env.pop("HF_DATASETS_CACHE", None)
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", "from bijou_core.cli import main; main()", "base", "prepare"]
        + ["--dataset", "bijou-tests/not-cached-xlam", "--output-dir", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert time.monotonic() - start < 15
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr == (
        "Error: bijou-tests/not-cached-xlam: the dataset is not cached and the Hugging Face hub is "
        "unreachable; pass a local xLAM file (.json, .jsonl or .parquet) with --dataset\n"
    )
    assert not (tmp_path / "out").exists()
