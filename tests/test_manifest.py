"""The adapter manifest as a typed, schema-checked value: old manifests load, bad ones are one line."""

from __future__ import annotations

import json
import re

import pytest

from bijou_core.errors import BijouError
from bijou_core.manifest import MANIFEST, BaseModel, Manifest, read_manifest, write_manifest

PROMPT = {"version": 2, "style": "compact", "device": "lamp", "chat_template": False, "digits": True}


def adapter(**changes) -> dict:
    """An adapter manifest as 'bijou devices train' writes it today."""
    return {
        "kind": "adapter",
        "bijou_version": "0.1.0",
        "device": "lamp",
        "device_version": "1.2.3",
        "plugin_package": "bijou-lamp",
        "tools_hash": "abc123",
        "base_model": {"name": "smollm2-135m", "source": "/cache/models/smollm2-135m", "fingerprint": "f00d"},
        "prompt_format": PROMPT | {"turns": "chatml"},
        "data": {"synthesized": 3000, "seed": 0},
        "training": {"learning_rate": 0.001, "steps": 10},
        "eval": {"dataset": "lamp eval set", "exact_match": 90.0},
    } | changes


def folder_with(tmp_path, data) -> object:
    (tmp_path / MANIFEST).write_text(json.dumps(data))
    return tmp_path


def test_a_manifest_round_trips_unchanged(tmp_path):
    manifest = read_manifest(folder_with(tmp_path, adapter()))
    assert manifest.trained_on == BaseModel("smollm2-135m", "/cache/models/smollm2-135m", "f00d")
    assert manifest.device == "lamp" and manifest.prompt_format["style"] == "compact"
    write_manifest(tmp_path, manifest)
    assert json.loads((tmp_path / MANIFEST).read_text()) == adapter()


def test_manifests_written_by_older_versions_still_load(tmp_path):
    oldest = {  # before fingerprints, digits, turns, tool hashes and training records
        "kind": "adapter",
        "device": "lamp",
        "base_model": {"name": "smollm2-135m"},
        "prompt_format": {"style": "compact", "device": "lamp", "version": 1},
    }
    manifest = read_manifest(folder_with(tmp_path, oldest))
    assert manifest.trained_on.name == "smollm2-135m" and manifest.tools_hash is None
    assert read_manifest(folder_with(tmp_path, adapter(eval=None))).eval is None  # before --eval ran


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (["not", "a", "manifest"], "expected a JSON object, found list"),
        (adapter(kind="lora"), "$.kind: 'lora' is not one of ['adapter', 'base']"),
        ({k: v for k, v in adapter().items() if k != "device"}, "$: 'device' is a required property"),
        (adapter(base_model={"name": 7}), "$.base_model.name: 7 is not of type 'string'"),
        (
            adapter(prompt_format=PROMPT | {"style": "chatty"}),
            "$.prompt_format.style: 'chatty' is not one of",
        ),
    ],
)
def test_a_bad_manifest_is_one_line_naming_the_file_and_field(tmp_path, data, message):
    with pytest.raises(BijouError) as error:
        read_manifest(folder_with(tmp_path, data))
    assert str(error.value).startswith(f"{tmp_path / MANIFEST}: {message}")
    assert "\n" not in str(error.value)


def test_a_missing_manifest_says_the_folder_is_no_training_output(tmp_path):
    with pytest.raises(BijouError, match="no bijou-manifest.json: not a finished bijou training output"):
        read_manifest(tmp_path)


def test_a_model_with_no_recorded_base_says_so_when_asked(tmp_path):
    manifest = read_manifest(folder_with(tmp_path, {"kind": "base", "prompt_format": PROMPT}))
    with pytest.raises(BijouError, match=f"^{re.escape(str(tmp_path / MANIFEST))}: base_model: missing"):
        assert manifest.trained_on
    assert Manifest(kind="base", prompt_format=PROMPT).to_json() == {"kind": "base", "prompt_format": PROMPT}
