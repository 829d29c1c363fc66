"""The llama.cpp ``merged`` swap strategy: each adapter merged into its own resident copy of the base.

Models are the tiny two-layer Llama with random LoRA adapters (nonsense answers, good witnesses:
any state a swap leaves behind changes the text).
"""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner
from tiny_adapters import write_random_adapters

from bijou_core.cli import main
from bijou_core.errors import BijouError
from bijou_core.runtime.config import EngineConfig
from bijou_core.runtime.engine import Engine

QUERIES = {"lamp": ["kill the lights", "brightness to seventy"], "fan": ["fan on two", "stop swinging"]}


@pytest.fixture(scope="module")
def adapters_dir(tmp_path_factory, tiny_model_dir, home):
    return write_random_adapters(tmp_path_factory.mktemp("adapters"), tiny_model_dir, home, ["lamp", "fan"])


def load(adapters_dir, home, names=("lamp", "fan"), **kwargs) -> Engine:
    config = EngineConfig(backend="llama.cpp", **kwargs)
    return Engine.load({n: adapters_dir / n for n in names}, registry=home, config=config)


def export(adapters_dir, *options: str) -> None:
    args = ["export", "gguf", "--adapters-dir", str(adapters_dir), *options]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output


def test_a_bad_swap_strategy_is_one_line(adapters_dir):
    with pytest.raises(BijouError, match=r"^unknown swap strategy 'fused' \(expected one of lora, merged\)$"):
        EngineConfig(backend="llama.cpp", swap="fused")
    with pytest.raises(BijouError, match=r"^swap strategy 'merged' needs the llama.cpp backend"):
        EngineConfig(backend="transformers", swap="merged")
    result = CliRunner().invoke(main, ["run", "--adapters-dir", str(adapters_dir), "--swap", "fused"])
    assert result.exit_code == 2 and "Invalid value for '--swap': 'fused' is not one of 'lora', 'merged'" in (
        result.output
    )


def test_a_missing_merged_file_names_the_command_that_writes_it(adapters_dir, home, tmp_path):
    shutil.copytree(adapters_dir / "lamp", tmp_path / "lamp", ignore=shutil.ignore_patterns("*.gguf"))
    with pytest.raises(BijouError) as error:
        load(tmp_path, home, ["lamp"], quant="q8_0", swap="merged")
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"{tmp_path / 'lamp' / 'lamp-merged-q8_0.gguf'}: merged GGUF missing")
    assert f"convert it first: bijou export gguf --adapters-dir {tmp_path} --base " in message
    assert message.endswith("--methods q8_0 --merged")


@pytest.mark.slow
def test_merged_models_answer_as_the_loras_and_swap_without_state(adapters_dir, home, bijou_cache):
    export(adapters_dir, "--methods", "f32", "--merged")
    names = sorted(p.name for p in adapters_dir.glob("*/*.gguf"))
    assert names == ["fan-lora-f16.gguf", "fan-merged-f32.gguf", "lamp-lora-f16.gguf", "lamp-merged-f32.gguf"]
    assert all(p.with_name(p.name + ".manifest.json").is_file() for p in adapters_dir.glob("*/*.gguf"))
    record = json.loads((adapters_dir / "lamp" / "lamp-merged-f32.gguf.manifest.json").read_text())
    assert record["source"]["adapter"]["bijou_manifest"]["device"] == "lamp"  # what was merged
    mtimes = {p: p.stat().st_mtime for p in adapters_dir.glob("*/*merged*.gguf")}
    export(adapters_dir, "--methods", "f32", "--merged")
    assert {p: p.stat().st_mtime for p in adapters_dir.glob("*/*merged*.gguf")} == mtimes  # cached

    lora = load(adapters_dir, home, quant="f32", constrain=False)
    merged = load(adapters_dir, home, quant="f32", swap="merged", constrain=False)
    assert merged.backend.adapters == ["lamp", "fan"]
    texts = {}
    for device, queries in QUERIES.items():
        lora.use(device)
        assert merged.use(device) < 0.001  # a swap is choosing which resident model answers
        for query in queries:  # the same greedy tokens (the first 32: rounding differs, f16 LoRA)
            texts[query] = merged.answer(query).text
            assert merged.answer(query, max_tokens=32).text == lora.answer(query, max_tokens=32).text
    merged.use("lamp", adapter=False)  # the bare base, loaded on its first use
    lora.use("lamp", adapter=False)
    base = merged.answer("kill the lights").text
    assert base == lora.answer("kill the lights").text != texts["kill the lights"]
    for device, queries in reversed(QUERIES.items()):  # back again: nothing was left behind
        merged.use(device)
        assert [merged.answer(q).text for q in queries] == [texts[q] for q in queries]

    constrained = load(adapters_dir, home, quant="f32", swap="merged")
    lora_constrained = load(adapters_dir, home, quant="f32")
    for device, queries in QUERIES.items():
        constrained.use(device)
        lora_constrained.use(device)
        for query in queries:
            answer = constrained.answer(query)
            assert answer.valid and home.get(device).validator.is_valid(answer.calls), answer.text
            assert answer.text == lora_constrained.answer(query).text
    constrained.unload_adapter("fan")
    assert constrained.backend.adapters == ["lamp"] and constrained.adapters == ["lamp"]
