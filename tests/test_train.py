"""Training a device adapter and evaluating it, on a tiny model built in the test."""

from __future__ import annotations

import json
import os

import pytest
import torch
from click.testing import CliRunner
from datasets import Dataset
from trl import SFTConfig, SFTTrainer

from bijou_core.cli import main
from bijou_core.evaluate.metrics import summarize
from bijou_core.prompt import PromptFormat
from bijou_core.train import answer_only
from bijou_core.train.answer_only import AnswerOnlySFTTrainer
from bijou_core.train.device import device_examples
from bijou_core.train.sft import TrainResult


def run(*args: str):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    return result


def assert_usual_permissions(path) -> None:
    """``path`` can be read by whoever could read a file or folder made with open() or mkdir()."""
    mask = os.umask(0)
    os.umask(mask)
    usual = (0o777 if path.is_dir() else 0o666) & ~mask
    assert path.stat().st_mode & 0o777 == usual, f"{path}: {oct(path.stat().st_mode & 0o777)}"


def fp32_config(folder, batch_size: int) -> SFTConfig:
    """One fp32 CPU batch, so that two ways of computing the loss can be compared exactly."""
    return SFTConfig(
        output_dir=str(folder),
        per_device_train_batch_size=batch_size,
        report_to=[],
        use_cpu=True,
        bf16=False,
        gradient_checkpointing=False,
    )


def test_answer_only_loss_equals_trl_loss(tiny_model_dir, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    data = Dataset.from_dict(
        {
            "prompt": [
                "<|im_start|>user\nlights off<|im_end|>\n<|im_start|>assistant\n",
                "<|im_start|>user\nset the lamp to forty percent please<|im_end|>\n<|im_start|>assistant\n",
            ],
            "completion": ['[{"name": "set_light", "arguments": {"on": false}}]<|im_end|>', "[]<|im_end|>"],
        }
    )
    args = fp32_config(tmp_path, batch_size=2)
    trainer = AnswerOnlySFTTrainer(model=model, args=args, train_dataset=data, processing_class=tok)
    batch = next(iter(trainer.get_train_dataloader()))
    assert (batch["labels"] != -100).sum() < batch["attention_mask"].sum()  # the prompt is not scored
    ours = trainer.compute_loss(trainer.model, dict(batch))
    reference = SFTTrainer.compute_loss(trainer, trainer.model, dict(batch))
    torch.testing.assert_close(ours, reference, rtol=1e-4, atol=1e-5)
    ours.backward()
    assert trainer.model.model.layers[0].self_attn.q_proj.weight.grad.abs().sum() > 0


@pytest.mark.slow
def test_train_resume_and_evaluate_a_device_adapter(lamp_cli, tiny_model_dir, tmp_path, bijou_cache):
    out = tmp_path / "adapters" / "lamp"
    common = [
        "devices",
        "train",
        "lamp",
        "--base",
        tiny_model_dir,
        "--output-dir",
        out,
        "--num-examples",
        60,
        "--batch-size",
        8,
        "--save-steps",
        2,
        "--no-eval",
    ]
    result = run(*common, "--max-steps", 2)
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "bijou-manifest.json").read_text())
    assert manifest["device"] == "lamp" and manifest["device_version"] == "1.2.3"
    assert manifest["prompt_format"]["style"] == "compact"
    assert manifest["base_model"]["source"] == str(tiny_model_dir)
    assert manifest["training"]["steps"] == 2 and manifest["training"]["tokens"] > 0
    assert manifest["data"] == {
        "synthesized": 60,
        "seed": 0,
        "templates": "<lamp templates>",
        "no_tool_share": 0.25,
        "small_talk_share": 0.2,
        "multi_share": 0.1,
        "speech_share": 0.25,
    }
    assert (out / "adapter_model.safetensors").is_file() and (out / "train.jsonl").is_file()
    assert_usual_permissions(out / "adapter_model.safetensors")  # safetensors itself writes 0600

    result = run(*common, "--max-steps", 4, "--resume")
    assert result.exit_code == 0, result.output
    assert json.loads((out / "bijou-manifest.json").read_text())["training"]["steps"] == 4

    report = tmp_path / "eval.json"
    result = run(
        "devices",
        "eval",
        "lamp",
        "--adapter",
        out,
        "--compare",
        "--output",
        report,
        "--markdown",
        tmp_path / "eval.md",
        "--chart",
        tmp_path / "eval.png",
    )
    assert result.exit_code == 0, result.output
    results = json.loads(report.read_text())
    assert [r["name"] for r in results["runs"]] == ["base", "base+adapter"]
    for run_ in results["runs"]:
        assert len(run_["examples"]) == 3
        example = run_["examples"][0]
        assert {"query", "expected", "predicted", "text", "latency_ms", "valid_json", "exact_match"} <= set(
            example
        )
        recomputed = summarize(run_["examples"])
        assert recomputed == run_["summary"]
    assert "| exact_match % |" in (tmp_path / "eval.md").read_text()
    assert (tmp_path / "eval.png").read_bytes().startswith(b"\x89PNG")


def test_resume_without_checkpoint_and_config_errors(lamp_cli, tiny_model_dir, tmp_path):
    result = run(
        "devices",
        "train",
        "lamp",
        "--base",
        tiny_model_dir,
        "--output-dir",
        tmp_path / "none",
        "--resume",
        "--no-eval",
    )
    assert result.exit_code == 1
    assert result.output.strip().endswith(
        f"--resume: no checkpoint under {tmp_path / 'none' / 'checkpoints'}"
    )
    config = tmp_path / "train.yaml"
    config.write_text("num_epochs: 3\nwarp_speed: 9\n")
    result = run("devices", "train", "lamp", "--config", config)
    assert result.exit_code == 1
    assert result.output == f"Error: {config}: unknown option 'warp_speed' for 'bijou devices train'\n"


def test_config_file_sets_options(lamp_cli, monkeypatch, tmp_path):
    seen = {}

    def fake_train_device(device, settings, data_path, num_examples, prompt_style, mix):
        seen.update(settings=settings, num_examples=num_examples, prompt_style=prompt_style, mix=mix)
        return TrainResult(settings.output_dir, 0, 0.0, 0.0, 1.0, 0, 1), None

    monkeypatch.setattr("bijou_core.train.device.train_device", fake_train_device)
    config = tmp_path / "train.toml"
    config.write_text(
        'num-epochs = 3\nlearning_rate = 2e-4\nprompt_style = "full"\nnum_examples = 500\ngroup_by_length = true\n'
        "pack_batches = false\nno_tool_share = 0.2\n"
    )
    result = run("devices", "train", "lamp", "--config", config, "--lora-r", 16)
    assert result.exit_code == 0, result.output
    assert seen["settings"].num_epochs == 3 and seen["settings"].learning_rate == 2e-4
    assert seen["settings"].lora_r == 16 and seen["num_examples"] == 500 and seen["prompt_style"] == "full"
    assert seen["settings"].group_by_length is True and seen["settings"].pack_batches is False
    assert seen["mix"] == {
        "no_tool_share": 0.2,
        "small_talk_share": 0.2,
        "multi_share": 0.1,
        "speech_share": 0.25,
    }
    result = run("devices", "train", "lamp")
    assert result.exit_code == 0 and seen["settings"].group_by_length is False  # random batches by default
    assert seen["settings"].lora_r == 32 and seen["settings"].lora_alpha is None  # alpha: 2 × r
    assert seen["settings"].pack_batches is True and seen["num_examples"] == 3960
    assert seen["mix"] == {
        "no_tool_share": 0.25,
        "small_talk_share": 0.2,
        "multi_share": 0.1,
        "speech_share": 0.25,
    }


def test_embedding_noise_and_lora_dropout_take_effect_and_are_recorded(lamp_cli, tiny_model_dir, tmp_path):
    def train_loss(*flags) -> tuple[float, dict]:
        """The mean loss of three steps: the first warms up at a zero learning rate, the third sees
        what dropout did to the second's update."""
        out = tmp_path / f"run{len(list(tmp_path.iterdir()))}"
        common = ["--base", tiny_model_dir, "--num-examples", 24, "--max-steps", 3, "--no-eval"]
        result = run("devices", "train", "lamp", "--output-dir", out, *common, *flags)
        assert result.exit_code == 0, result.output
        training = json.loads((out / "bijou-manifest.json").read_text())["training"]
        return training["train_loss"], training

    plain, training = train_loss()
    assert training["neftune_noise_alpha"] is None and training["lora_dropout"] == 0.0
    assert train_loss()[0] == plain  # same seed, same loss: the differences below are the options'
    noisy, training = train_loss("--neftune-noise-alpha", 50)
    assert noisy != plain and training["neftune_noise_alpha"] == 50
    dropped, training = train_loss("--lora-dropout", 0.5)
    assert dropped != plain and training["lora_dropout"] == 0.5
    weighted, training = train_loss("--decision-weight", 4)
    assert weighted > plain and training["decision_weight"] == 4
    result = run("devices", "train", "lamp", "--lora-dropout", 1)
    assert result.exit_code == 2 and "0<=x<1" in result.output


def test_lora_layers_adapts_only_the_last_layers_and_is_recorded(lamp_cli, tiny_model_dir, tmp_path):
    from safetensors.torch import load_file

    out = tmp_path / "adapter"
    common = [
        "--base",
        tiny_model_dir,
        "--output-dir",
        out,
        "--num-examples",
        16,
        "--max-steps",
        1,
        "--no-eval",
    ]
    result = run("devices", "train", "lamp", *common, "--lora-layers", 1)
    assert result.exit_code == 0, result.output
    layers = {
        name.split(".layers.")[1].split(".")[0] for name in load_file(out / "adapter_model.safetensors")
    }
    assert layers == {"1"}  # the tiny model's last of two
    manifest = json.loads((out / "bijou-manifest.json").read_text())
    assert manifest["training"]["lora_layers"] == 1
    result = run("devices", "train", "lamp", *common, "--lora-layers", 3)
    assert result.exit_code == 1
    assert result.output.splitlines()[-1] == "Error: --lora-layers 3: the model has 2 decoder layers"


def test_synthesized_data_records_its_mix_even_when_left_to_the_defaults(lamp):
    records, data = device_examples(lamp, None, 100, seed=0)
    assert data["no_tool_share"] == 0.25 and data["small_talk_share"] == 0.2 and data["multi_share"] == 0.1
    assert sum(r["answers"] == [] for r in records) == 45
    records, data = device_examples(lamp, None, 100, seed=0, mix={"no_tool_share": 0.1})
    assert data["no_tool_share"] == 0.1 and data["small_talk_share"] == 0.2 and data["speech_share"] == 0.25
    assert sum(r["answers"] == [] for r in records) == 30


def test_four_bit_refused_on_cpu(lamp_cli, tiny_model_dir, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    result = run(
        "devices",
        "train",
        "lamp",
        "--base",
        tiny_model_dir,
        "--output-dir",
        tmp_path / "a",
        "--load-in-4bit",
        "--no-eval",
    )
    assert result.output == "Error: --load-in-4bit needs a CUDA GPU (bitsandbytes); this machine has none\n"


def test_bf16_base_holds_an_adapters_frozen_base_in_bf16_and_saves_fp32_lora_weights(
    lamp_cli, tiny_model_dir, tmp_path, monkeypatch
):
    from safetensors.torch import load_file

    from bijou_core.train import device, sft

    loaded = []

    def spy(*args, **kwargs):
        tokenizer, model, source = sft.load_base(*args, **kwargs)
        loaded.append(model.model.layers[0].self_attn.q_proj.weight.dtype)
        return tokenizer, model, source

    monkeypatch.setattr(device, "load_base", spy)
    out = tmp_path / "adapter"
    for precision in ("bf16-base", "bf16", "auto"):
        args = ["devices", "train", "lamp", "--base", tiny_model_dir, "--output-dir", out]
        result = run(*args, "--num-examples", 16, "--max-steps", 1, "--precision", precision, "--no-eval")
        assert result.exit_code == 0, result.output
        weights = load_file(out / "adapter_model.safetensors")
        assert weights and {w.dtype for w in weights.values()} == {torch.float32}
    auto = torch.bfloat16 if sft.use_bf16("auto") else torch.float32  # the default: bf16-base where bf16 runs
    assert loaded == [torch.bfloat16, torch.float32, auto]


@pytest.mark.slow
def test_base_prepare_train_then_adapter_on_the_merged_base(lamp_cli, tiny_model_dir, tmp_path):
    from pathlib import Path

    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    data = tmp_path / "data"
    sample = Path(__file__).parent / "data" / "xlam_sample.json"
    assert run("base", "prepare", "--dataset", sample, "--output-dir", data).exit_code == 0
    models = tmp_path / "models" / "bijou-base"
    result = run(
        "base",
        "train",
        "--model_name",
        tiny_model_dir,
        "--data_path",
        data,
        "--output_dir",
        models,
        "--max-steps",
        2,
        "--batch-size",
        2,
        "--max-seq-length",
        512,
        "--precision",
        "bf16-base",
    )
    assert result.exit_code == 0, result.output
    final = models / "final"
    # trained under bf16, the merged base is still saved at full precision
    assert {w.dtype for w in load_file(final / "model.safetensors").values()} == {torch.float32}
    assert_usual_permissions(final)
    assert_usual_permissions(final / "model.safetensors")
    manifest = json.loads((final / "bijou-manifest.json").read_text())
    assert manifest["kind"] == "base" and manifest["training"]["steps"] == 2
    assert manifest["training"]["lora_r"] == 16  # the base's default rank; adapters default to 32
    assert manifest["prompt_format"]["style"] == "full"
    merged = AutoModelForCausalLM.from_pretrained(final)
    assert not any("lora" in name for name, _ in merged.named_parameters())

    adapter = tmp_path / "adapters" / "lamp"
    result = run(
        "devices",
        "train",
        "lamp",
        "--base",
        final,
        "--output-dir",
        adapter,
        "--num-examples",
        30,
        "--max-steps",
        1,
        "--no-eval",
    )
    assert result.exit_code == 0, result.output
    manifest = json.loads((adapter / "bijou-manifest.json").read_text())
    assert manifest["base_model"]["source"] == str(final)
    assert manifest["training"]["lora_r"] == 32
    assert json.loads((adapter / "adapter_config.json").read_text())["r"] == 32

    # both carry their prompt as a chat template, for engines that render prompts themselves
    tools = lamp_cli.get("lamp").tools
    messages = [{"role": "user", "content": "dim the lamp"}]
    for folder, given in ((final, tools), (adapter, None)):
        fmt = PromptFormat.recorded(json.loads((folder / "bijou-manifest.json").read_text())["prompt_format"])
        rendered = AutoTokenizer.from_pretrained(folder).apply_chat_template(
            messages, tools=given, tokenize=False, add_generation_prompt=True
        )
        assert rendered == fmt.prompt(None, tools, "dim the lamp"), folder


def test_base_train_data_errors(tmp_path):
    result = run("base", "train", "--data-path", tmp_path / "missing")
    assert (
        result.output
        == f"Error: {tmp_path / 'missing'}: no such file or folder (run 'bijou base prepare' first)\n"
    )
    bad = tmp_path / "bad_train.jsonl"
    bad.write_text('{"query": "hi", "answers": []}\n')
    result = run("base", "train", "--data-path", bad)
    assert (
        result.output == f"Error: {bad}:1: $: 'tools' is a required property for base-model training data\n"
    )


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_shared_prefix_and_packing_give_the_same_loss_and_gradients(
    tiny_model_dir, tmp_path, attention, monkeypatch
):
    from toy_plugin import TOOLS
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from bijou_core.prompt import PromptFormat

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    fmt = PromptFormat.for_tokenizer(tok, "full")
    queries = ["lights off", "set the lamp to forty percent please", "what's the weather"]
    answers = [
        [{"name": "set_light", "arguments": {"on": False}}],
        [{"name": "set_brightness", "arguments": {"percent": 40}}],
        [],
    ]
    data = Dataset.from_dict(
        {
            "prompt": [fmt.prompt(tok, TOOLS, q) for q in queries],
            "completion": [fmt.answer(a) for a in answers],
        }
    )
    args = fp32_config(tmp_path, batch_size=3)
    prefix = tok(fmt.shared_prefix(TOOLS), add_special_tokens=False).input_ids
    results = {}
    for shared in (None, prefix):
        for pack, row_tokens in ((False, 1024), (True, 1024), (True, 40)):  # 40: rows with padding
            monkeypatch.setattr(answer_only, "ROW_TOKENS", row_tokens)
            torch.manual_seed(0)
            model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, attn_implementation=attention)
            trainer = AnswerOnlySFTTrainer(
                model=model,
                args=args,
                train_dataset=data,
                processing_class=tok,
                shared_prefix=shared,
                pack=pack,
            )
            batch = next(iter(trainer.get_train_dataloader()))
            assert (batch["attention_mask"] == 0).any()  # examples of different lengths: padding to drop
            assert trainer._prefix_applies(batch["input_ids"]) == (shared is not None)
            assert trainer._packs(trainer.model, batch["attention_mask"]) == pack
            start = len(prefix) if shared else 0
            rows = answer_only._rows((batch["attention_mask"].sum(1) - start).tolist())
            assert (len(rows) > 1) == (row_tokens == 40)
            loss = trainer.compute_loss(trainer.model, dict(batch))
            loss.backward()
            grad = trainer.model.model.layers[0].self_attn.k_proj.weight.grad.clone()
            results[shared is not None, pack, row_tokens] = (loss.detach(), grad)
    plain_loss, plain_grad = results[False, False, 1024]
    for loss, grad in results.values():
        torch.testing.assert_close(loss, plain_loss, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(grad, plain_grad, rtol=1e-3, atol=1e-6)


@pytest.mark.parametrize("pack", [False, True])
def test_the_decision_weight_counts_each_answers_first_two_tokens_that_many_times(
    tiny_model_dir, tmp_path, pack
):
    import torch.nn.functional as F
    from toy_plugin import TOOLS
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    fmt = PromptFormat.for_tokenizer(tok, "compact", "lamp")
    queries = ["lights off", "set the lamp to forty percent please", "what's the weather"]
    answers = [[{"name": "set_light", "arguments": {"on": False}}], [], []]
    data = Dataset.from_dict(
        {
            "prompt": [fmt.prompt(tok, TOOLS, q) for q in queries],
            "completion": [fmt.answer(a) for a in answers],
        }
    )
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    trainer = AnswerOnlySFTTrainer(
        model=model,
        args=fp32_config(tmp_path, batch_size=3),
        train_dataset=data,
        processing_class=tok,
        pack=pack,
        decision_weight=5.0,
    )
    batch = next(iter(trainer.get_train_dataloader()))
    assert trainer._packs(trainer.model, batch["attention_mask"]) == pack
    with torch.no_grad():
        logits = trainer.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    targets = batch["labels"][:, 1:]
    losses = F.cross_entropy(logits[:, :-1].flatten(0, 1), targets.flatten(), reduction="none").view_as(
        targets
    )
    weights = torch.ones_like(losses)
    for row, scored in enumerate(targets != -100):
        first_two = scored.nonzero().squeeze(-1)[:2]
        assert tok.decode(targets[row, first_two]).startswith("[")  # "[", then "]" or '{"'
        weights[row, first_two] = 5.0
    expected = (losses * weights).sum() / (targets != -100).sum()
    torch.testing.assert_close(
        trainer.compute_loss(trainer.model, dict(batch)), expected, rtol=1e-4, atol=1e-5
    )
