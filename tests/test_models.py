"""Base-model names, folders and hub ids."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from bijou_core.cli import main
from bijou_core.errors import BijouError
from bijou_core.models import registered_models, resolve_model


def test_embedded_model_is_registered_by_the_builtin_plugin():
    models = registered_models()
    assert models["smollm2-135m"].plugin == "bijou-core"
    out = CliRunner().invoke(main, ["models", "list"]).output
    assert out.startswith("smollm2-135m: SmolLM2-135M-Instruct, embedded")


def test_local_folders_pass_through(tiny_model_dir, tmp_path):
    assert resolve_model(str(tiny_model_dir)) == str(tiny_model_dir)
    with pytest.raises(BijouError, match="not a model folder"):
        resolve_model(str(tmp_path))


def test_offline_hub_id_is_one_clear_line(monkeypatch):
    import huggingface_hub

    def unreachable(*args, **kwargs):
        raise ConnectionError("no route")

    monkeypatch.setattr(huggingface_hub, "model_info", unreachable)
    with pytest.raises(BijouError) as err:
        resolve_model("Qwen/Qwen2.5-1.5B-not-cached")
    assert str(err.value) == (
        "model 'Qwen/Qwen2.5-1.5B-not-cached' is not cached and the Hugging Face hub is unreachable "
        "(ConnectionError); use 'smollm2-135m' (embedded) or a local model folder"
    )
    with pytest.raises(BijouError, match="unknown model 'nonsense'"):
        resolve_model("nonsense")
