"""Exports: GGUF files through llama.cpp's own tools, model cards and hub uploads."""

from __future__ import annotations

import hashlib
import json
import os
import shutil

import pytest
import yaml
from click.testing import CliRunner

from bijou_core.chat_template import chat_template, tools_template
from bijou_core.cli import main
from bijou_core.errors import BijouError
from bijou_core.evaluate.metrics import summarize
from bijou_core.export import gguf as gguf_export
from bijou_core.export.gguf import METHODS, check_methods, export_adapter_gguf, export_model_gguf
from bijou_core.export.hub import model_card, upload_folder
from bijou_core.manifest import Manifest, write_manifest
from bijou_core.prompt import PromptFormat


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def manifest_of(path) -> dict:
    return json.loads(path.with_name(path.name + ".manifest.json").read_text())


# ---------------------------------------------------------------- fast: input errors are one line


def test_methods_are_checked_before_any_work(tmp_path):
    assert check_methods("Q4_K_M, q8_0,q4_k_m") == ["q4_k_m", "q8_0"]
    result = run("export", "gguf", "--model", str(tmp_path / "nowhere"), "--methods", "q4_k_m,q9_9")
    assert result.exit_code == 1
    assert result.output == f"Error: unknown GGUF method 'q9_9'; valid: {', '.join(METHODS)}\n"
    assert run("export", "gguf", "--methods", "q8_0").output.endswith(
        "Error: give exactly one of --model, --adapter and --adapters-dir\n"
    )


def test_missing_or_wrong_folders_are_one_line(tmp_path):
    with pytest.raises(BijouError, match=r"nowhere: no such model folder$"):
        export_model_gguf(tmp_path / "nowhere", ["q8_0"], tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BijouError, match=r"empty: not a model folder \(no config.json\)$"):
        export_model_gguf(tmp_path / "empty", ["q8_0"], tmp_path / "out")
    with pytest.raises(BijouError, match=r"empty: not a PEFT adapter folder \(no adapter_config.json\)$"):
        export_adapter_gguf(tmp_path / "empty")
    (tmp_path / "empty" / "adapter_config.json").write_text("{}")
    with pytest.raises(BijouError, match=r"no bijou-manifest.json names its base model; pass --base"):
        export_adapter_gguf(tmp_path / "empty")
    assert not (tmp_path / "out").exists()
    result = run("export", "gguf", "--model", str(tmp_path / "models" / "bijou-base" / "final"))
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert result.output.startswith(f"Error: unknown model '{tmp_path / 'models' / 'bijou-base' / 'final'}'")


def test_offline_converter_fetch_is_one_line_and_leaves_nothing(tmp_path, monkeypatch):
    """No cached converters and PyPI unreachable: one line naming PyPI and the cache; nothing written."""
    monkeypatch.setenv("BIJOU_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_RETRIES", "0")
    for name in ("PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL", "PIP_NO_INDEX"):
        monkeypatch.delenv(name, raising=False)
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    with pytest.raises(BijouError) as err:
        export_model_gguf(model, ["q8_0"], tmp_path / "out")
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("cannot fetch llama.cpp's converters: pip download of the llama-cpp-python==")
    assert "No matching distribution found" in message
    assert message.endswith(f"fetched from PyPI once, then cached in {tmp_path / 'cache' / 'llama.cpp'}")
    assert not (tmp_path / "out").exists()
    assert list((tmp_path / "cache" / "llama.cpp").iterdir()) == []


# ---------------------------------------------------------------- fast: model cards and hub uploads


@pytest.fixture
def adapter_manifest() -> Manifest:
    """An adapter manifest as 'bijou devices train' writes it, with scores from the real summarizer."""
    examples = [
        {"expected": [{"name": "turn_on", "arguments": {}}], "valid_json": True, "schema_valid": True}
        | {"function_match": True, "exact_match": True, "latency_ms": 40.0},
        {"expected": [{"name": "set_brightness", "arguments": {"percent": 30}}], "valid_json": True}
        | {"schema_valid": True, "function_match": True, "exact_match": False, "latency_ms": 60.0},
        {"expected": [], "valid_json": False, "schema_valid": False}
        | {"function_match": False, "exact_match": False, "latency_ms": 20.0},
    ]
    return Manifest.from_json(
        {
            "kind": "adapter",
            "bijou_version": "0.1.0",
            "device": "lamp",
            "device_version": "1.2.3",
            "plugin_package": "bijou-lamp",
            "tools_hash": "abc123",
            "base_model": {
                "name": "smollm2-135m",
                "source": "/cache/models/smollm2-135m",
                "fingerprint": "f00d",
            },
            "prompt_format": {"version": 1, "style": "compact", "device": "lamp", "chat_template": False},
            "data": {
                "synthesized": 3000,
                "seed": 0,
                "templates": "bijou_lamp/templates.yaml",
                "no_tool_share": 0.3,
                "multi_share": 0.1,
            },
            "training": {"output_dir": "adapters/lamp", "num_epochs": 2.0, "learning_rate": 0.001}
            | {"target_modules": ["q_proj", "v_proj"], "train_loss": 0.123, "tokens_per_second": 812.5},
            "eval": {"dataset": "lamp eval set", **summarize(examples)},
        }
    )


def front_matter(card: str) -> dict:
    assert card.startswith("---\n")
    return yaml.safe_load(card.split("---\n")[1])


def test_adapter_card_has_base_data_settings_scores_and_usage(adapter_manifest):
    card = model_card(adapter_manifest, "me/bijou-lamp")
    meta = front_matter(card)
    assert meta["library_name"] == "peft"
    assert {"bijou", "function-calling", "lora", "lamp"} <= set(meta["tags"])
    assert "base_model" not in meta  # a bijou name, not a hub id: the hub would reject it
    assert "- name: `smollm2-135m`" in card and "bijou `compact` style, version 1" in card
    assert "3000 examples synthesized" in card and "30% of them needing no tool and 10% two commands" in card
    assert "| learning_rate | 0.001 |" in card and "| target_modules | q_proj, v_proj |" in card
    assert "adapters/lamp" not in card.split("## Usage")[0]  # local paths stay out of the settings
    assert "## Scores" in card
    assert "| exact_match % | 33.3 (6.1–79.2) |" in card and "| valid_json % | 66.7 (20.8–93.9) |" in card
    assert "| set_brightness | 100.0 / 0.0 |" in card
    assert "pip install bijou-core bijou-lamp" in card
    assert "bijou devices eval lamp --adapter adapters/lamp" in card
    code = card.split("```python\n")[1].split("```")[0]
    compile(code, "model card", "exec")
    assert 'PeftModel.from_pretrained(base, "me/bijou-lamp")' in code
    assert 'resolve_model("smollm2-135m")' in code
    assert "device: lamp" in code  # the literal compact prompt the adapter was trained on


def test_merged_model_card(adapter_manifest):
    manifest = {
        k: v for k, v in adapter_manifest.to_json().items() if k not in ("device", "eval", "plugin_package")
    }
    manifest |= {"kind": "base", "base_model": {"name": "Qwen/Qwen2.5-0.5B", "source": "Qwen/Qwen2.5-0.5B"}}
    manifest["data"] = {"path": "data/training/xlam_function_calling_60k_train.jsonl", "records": 5000}
    card = model_card(Manifest.from_json(manifest))
    meta = front_matter(card)
    assert meta["library_name"] == "transformers" and meta["base_model"] == "Qwen/Qwen2.5-0.5B"
    assert "lora" not in meta["tags"]
    assert "5000 records from `xlam_function_calling_60k_train.jsonl`" in card
    assert "## Scores" not in card
    compile(card.split("```python\n")[1].split("```")[0], "model card", "exec")


@pytest.fixture
def trained_folder(tmp_path, adapter_manifest):
    folder = tmp_path / "adapters" / "lamp"
    folder.mkdir(parents=True)
    (folder / "adapter_model.safetensors").write_bytes(b"weights")
    write_manifest(folder, adapter_manifest)
    return folder


def test_offline_upload_is_one_line_and_keeps_the_folder(trained_folder, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(BijouError) as err:
        upload_folder(trained_folder, "me/bijou-lamp", private=True, card="# card\n")
    assert str(err.value) == (
        f"cannot upload {trained_folder} to the Hugging Face hub repo 'me/bijou-lamp': HF_HUB_OFFLINE is set; "
        f"the local copy is complete in {trained_folder}"
    )
    assert (trained_folder / "README.md").read_text() == "# card\n"
    assert (trained_folder / "adapter_model.safetensors").read_bytes() == b"weights"
    result = run("export", "hub", str(trained_folder), "--repo-id", "me/bijou-lamp")
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert "## Scores" in (trained_folder / "README.md").read_text()


def test_unreachable_hub_or_no_token_is_one_line(trained_folder, monkeypatch, tmp_path):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    with pytest.raises(BijouError, match=r"not logged in \(run 'hf auth login' or set HF_TOKEN\); the local"):
        upload_folder(trained_folder, "me/bijou-lamp", private=False, card="# card\n")
    monkeypatch.setenv("HF_TOKEN", "hf_not_a_real_token")
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")
    with pytest.raises(BijouError) as err:
        upload_folder(trained_folder, "me/bijou-lamp", private=False, card="# card\n")
    assert "\n" not in str(err.value)
    assert "ConnectError" in str(err.value) and str(err.value).endswith(f"complete in {trained_folder}")


# ---------------------------------------------------------------- slow: real conversions by llama.cpp


@pytest.fixture(scope="module")
def exported(bijou_cache, tiny_model_dir, tmp_path_factory):
    """The tiny Llama exported by the CLI to f16 and q8_0 (fetches llama.cpp's converters once)."""
    out = tmp_path_factory.mktemp("gguf")
    result = run(
        "export", "gguf", "--model", str(tiny_model_dir), "--methods", "f16,q8_0", "--output-dir", str(out)
    )
    return result, out


@pytest.mark.slow
def test_model_exports_to_loadable_gguf_files_with_manifests(exported, tiny_model_dir):
    import llama_cpp

    result, out = exported
    name = tiny_model_dir.name
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"wrote {out / f'{name}-f16.gguf'}",
        f"wrote {out / f'{name}-q8_0.gguf'}",
    ]
    f16_line, q8_line = result.stderr.splitlines()[-2:]  # progress: a line per file
    assert f16_line.startswith(f"f16: {name}-f16.gguf, ") and q8_line.startswith(f"q8_0: {name}-q8_0.gguf, ")
    assert sorted(os.listdir(out)) == sorted(
        f"{name}-{m}.gguf{suffix}" for m in ("f16", "q8_0") for suffix in ("", ".manifest.json")
    )
    for method, file_type in (("f16", "1"), ("q8_0", "7")):
        path = out / f"{name}-{method}.gguf"
        manifest = manifest_of(path)
        assert manifest["method"] == method and manifest["file"] == path.name
        assert manifest["sha256"] == sha256(path) and manifest["size_bytes"] == path.stat().st_size
        assert manifest["source"]["source"] == str(tiny_model_dir)
        llm = llama_cpp.Llama(model_path=str(path), vocab_only=False, n_ctx=64, verbose=False)
        assert llm.metadata["general.file_type"] == file_type
        llm.eval(llm.tokenize(b"turn the lamp on"))
        assert 0 <= llm.sample(temp=0) < llm.n_vocab()
    assert manifest_of(out / f"{name}-q8_0.gguf")["quantized_from"] == "f16"
    assert (out / f"{name}-q8_0.gguf").stat().st_size < (out / f"{name}-f16.gguf").stat().st_size


@pytest.mark.slow
def test_adapter_exports_to_a_gguf_lora_llama_cpp_loads(exported, tiny_model_dir, tmp_path):
    import llama_cpp
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    peft_model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(tiny_model_dir),
        LoraConfig(r=4, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"),
    )
    adapter = tmp_path / "adapters" / "lamp"
    peft_model.save_pretrained(adapter)
    recorded = {"version": 2, "style": "compact", "device": "lamp", "chat_template": False, "digits": True}
    write_manifest(
        adapter,
        Manifest.from_json(
            {
                "kind": "adapter",
                "device": "lamp",
                "base_model": {"name": "x", "source": str(tiny_model_dir)},
                "prompt_format": recorded,
            }
        ),
    )

    path = export_adapter_gguf(adapter)
    assert path == adapter / "lamp-lora-f16.gguf"
    manifest = manifest_of(path)
    assert manifest["sha256"] == sha256(path) and manifest["base_model"]["source"] == str(tiny_model_dir)
    assert manifest["source"]["bijou_manifest"]["device"] == "lamp"

    llm = llama_cpp.Llama(
        model_path=str(exported[1] / f"{tiny_model_dir.name}-f16.gguf"), n_ctx=64, verbose=False
    )
    assert llama_cpp.llama_adapter_lora_init(llm.model, str(path).encode())
    assert not llama_cpp.llama_adapter_lora_init(llm.model, str(tmp_path / "missing.gguf").encode())
    # the adapter's prompt travels with it, for engines that render prompts themselves
    assert gguf_metadata(path)["tokenizer.chat_template"] == chat_template(
        PromptFormat.recorded(recorded), []
    )


@pytest.mark.slow
def test_a_base_trained_by_bijou_carries_its_prompt_in_every_gguf(bijou_cache, tiny_model_dir, tmp_path):
    model = tmp_path / "bijou-base"
    shutil.copytree(tiny_model_dir, model)
    recorded = {"version": 2, "style": "full", "device": None, "chat_template": False, "digits": True}
    write_manifest(model, Manifest(kind="base", prompt_format=recorded))
    paths = export_model_gguf(model, "f16,q8_0", tmp_path / "out")
    for path in paths:
        assert gguf_metadata(path)["tokenizer.chat_template"] == tools_template(
            PromptFormat.recorded(recorded)
        )
    # a model bijou did not train keeps its own template
    plain = export_model_gguf(tiny_model_dir, "f16", tmp_path / "plain")[0]
    assert gguf_metadata(plain).get("tokenizer.chat_template") != tools_template(PromptFormat("full"))


def gguf_metadata(path) -> dict:
    """A GGUF file's string metadata, read with gguf-py."""
    from gguf import GGUFReader, GGUFValueType

    fields = GGUFReader(path).fields.values()
    return {f.name: f.contents() for f in fields if f.types == [GGUFValueType.STRING]}


@pytest.mark.slow
def test_failed_conversion_leaves_no_output(exported, tiny_model_dir, tmp_path, monkeypatch):
    unsupported = tmp_path / "unsupported"
    unsupported.mkdir()
    config = json.loads((tiny_model_dir / "config.json").read_text()) | {"architectures": ["NopeForCausalLM"]}
    (unsupported / "config.json").write_text(json.dumps(config))
    out = tmp_path / "out"
    result = run("export", "gguf", "--model", str(unsupported), "--methods", "q8_0", "--output-dir", str(out))
    assert result.exit_code == 1
    assert (
        result.stderr
        == "Error: converting unsupported to f16 failed: Model NopeForCausalLM is not supported\n"
    )
    assert os.listdir(out) == []

    def broken_quantize(source, target, method):
        shutil.copy(source, target)
        raise BijouError("quantization interrupted")

    monkeypatch.setattr(gguf_export, "quantize", broken_quantize)
    with pytest.raises(BijouError, match="quantization interrupted"):
        export_model_gguf(tiny_model_dir, ["f16", "q8_0"], out)
    assert os.listdir(out) == []  # the finished f16 is not published alone
