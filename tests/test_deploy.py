"""Serving at scale: bijou's prompt as a chat template, and the vLLM and llama.cpp server bundles.

The engines themselves are not run here (vLLM needs a GPU, llama-server is not installed): the
template is rendered with ``apply_chat_template``, the answer parser is a pure function and the
launch commands are checked as text.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner
from tiny_adapters import write_random_adapters

from bijou_core.chat_template import chat_template, multi_device_template, tools_template
from bijou_core.cli import main
from bijou_core.data.xlam import prepare_rows
from bijou_core.devices import load_registry
from bijou_core.errors import BijouError
from bijou_core.export.deploy import (
    deployed_adapters,
    llama_server_command,
    tool_calls_of,
    write_llama_server_bundle,
)
from bijou_core.prompt import STYLES, TURNS, PromptFormat
from bijou_core.schema import calls_schema


@pytest.fixture(scope="module")
def tokenizer(embedded_tokenizer_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(embedded_tokenizer_dir)


@pytest.fixture(scope="module")
def registry():
    return load_registry()


def conversation(query: str) -> list[dict]:
    return [
        {"role": "system", "content": "ignored: the device's prompt is the system turn"},
        {"role": "user", "content": "an earlier command"},
        {"role": "assistant", "content": "[]"},
        {"role": "user", "content": query},
    ]


def test_the_chat_template_renders_bijou_s_prompt_for_every_device_and_style(tokenizer, registry):
    for style in STYLES:
        formats = {}
        for name in registry.devices:
            device = registry.get(name)
            fmt = PromptFormat.for_tokenizer(tokenizer, style, name)
            formats[name] = (fmt, device.tools)
            template = chat_template(fmt, device.tools)
            tools = [{"type": "function", "function": tool} for tool in device.tools]
            for record in device.eval_set[:8]:
                expected = fmt.prompt(tokenizer, device.tools, record.query)
                rendered = tokenizer.apply_chat_template(
                    # a template cannot read spoken numbers as digits: the request carries them so
                    conversation(fmt.user_text(record.query)),
                    tools=tools,
                    chat_template=template,
                    tokenize=False,
                    add_generation_prompt=True,
                )
                assert rendered == expected, (style, name, record.query)
        shared = multi_device_template(formats)
        for name, (fmt, tools) in formats.items():
            rendered = tokenizer.apply_chat_template(
                conversation("turn it off"),
                chat_template=shared,
                tokenize=False,
                add_generation_prompt=True,
                device=name,
            )
            assert rendered == fmt.prompt(tokenizer, tools, "turn it off")
        with pytest.raises(Exception, match="chat_template_kwargs device: one of airpods-pro, omi"):
            render = tokenizer.apply_chat_template
            render(conversation("x"), chat_template=shared, tokenize=False, device="nosuch")
        # no device named (llama.cpp's server renders so at start): the base's prompt of the tools
        given = registry.get("omi").tools
        rendered = tokenizer.apply_chat_template(
            conversation("x"), tools=given, chat_template=shared, tokenize=False, add_generation_prompt=True
        )
        assert rendered == PromptFormat("full").prompt(None, given, "x")


EDGE_TOOLS = [
    {"name": "none", "description": "No parameters.", "parameters": {"type": "object", "properties": {}}},
    {
        "name": "edge",
        "description": 'Every kind of parameter: "quoted" and {braces} {{ too }}.',
        "parameters": {
            "type": "object",
            "properties": {
                "mode": {"type": "string", "enum": ["on", "off"]},
                "level": {"type": "integer", "minimum": 0, "maximum": 100, "default": 50},
                "ratio": {"type": "number", "minimum": 0.5},
                "codes": {
                    "type": "array",
                    "items": {"type": "array", "items": {"enum": [1, 2.5, True, None]}},
                },
                "tags": {"type": "array", "items": {"type": "string"}, "default": ["a", "b"]},
                "loose": {},
                "flag": {"type": "boolean", "default": False},
                "note": {"type": "string", "default": 'it\'s "fine"'},
            },
            "required": ["mode", "codes"],
        },
    },
]


def test_a_model_without_adapter_renders_the_request_s_tools_as_bijou_s_full_prompt(tokenizer, registry):
    """The template a trained base carries (tokenizer files, GGUF metadata): bijou's full prompt of
    whatever tools the request passes, in OpenAI's form or bare."""
    rows = json.loads((Path(__file__).parent / "data" / "xlam_sample.json").read_text())
    toolsets = [registry.get(name).tools for name in registry.devices]
    toolsets += [record["tools"] for record in prepare_rows(rows, val_fraction=0).train]
    toolsets += [EDGE_TOOLS, []]
    for turns in TURNS:
        fmt = PromptFormat("full", turns=turns)
        template = tools_template(fmt)
        for tools in toolsets:
            for given in (tools, [{"type": "function", "function": tool} for tool in tools]):
                rendered = tokenizer.apply_chat_template(
                    conversation("set it to 40"),
                    tools=given or None,
                    chat_template=template,
                    tokenize=False,
                    add_generation_prompt=True,
                )
                assert rendered == fmt.prompt(None, tools, "set it to 40"), (turns, tools)
    with pytest.raises(BijouError, match="full prompt"):
        tools_template(PromptFormat("compact", "omi"))


def test_the_tool_parser_reads_bijou_answers():
    calls, content = tool_calls_of(
        '[{"name": "set_volume", "arguments": {"level": 20}}, {"name": "take_photo", "arguments": {}}]'
    )
    assert calls == [
        {"name": "set_volume", "arguments": '{"level": 20}'},
        {"name": "take_photo", "arguments": "{}"},
    ]
    assert content is None
    assert tool_calls_of("[]") == ([], "[]")
    assert tool_calls_of("the weather is fine") == ([], "the weather is fine")


@pytest.fixture(scope="module")
def adapters(tmp_path_factory, tiny_model_dir, registry):
    return write_random_adapters(
        tmp_path_factory.mktemp("adapters"), tiny_model_dir, registry, ["omi", "airpods-pro"]
    )


def test_export_vllm_writes_a_launch_bundle(adapters, tmp_path, tokenizer, registry, tiny_model_dir):
    output = tmp_path / "vllm"
    result = CliRunner().invoke(
        main, ["export", "vllm", "--adapters-dir", str(adapters), "--output", str(output)]
    )
    assert result.exit_code == 0, result.output
    command = shlex.split(result.output.splitlines()[-1])
    launch = shlex.split((output / "launch.sh").read_text().splitlines()[-1])
    assert launch == ["exec", *command]
    assert command[:3] == ["vllm", "serve", str(tiny_model_dir)]
    modules = command[command.index("--lora-modules") + 1 : command.index("--chat-template")]
    assert modules == [
        f"airpods-pro={(adapters / 'airpods-pro').resolve()}",
        f"omi={(adapters / 'omi').resolve()}",
    ]
    assert command[command.index("--max-lora-rank") + 1] == "8"  # rank 4, as vLLM takes it
    assert command[command.index("--max-loras") + 1] == "2"
    assert command[-2:] == ["--tool-call-parser", "bijou"]
    assert 'register_module("bijou")' in (output / "bijou_tool_parser.py").read_text()
    for name in ("omi", "airpods-pro"):
        device = registry.get(name)
        assert json.loads((output / "schemas" / f"{name}.json").read_text()) == calls_schema(device.tools)
        fmt = PromptFormat.for_tokenizer(tokenizer, "compact", name)
        rendered = tokenizer.apply_chat_template(
            conversation("hi"),
            chat_template=(output / "bijou.jinja").read_text(),
            tokenize=False,
            add_generation_prompt=True,
            device=name,
        )
        assert rendered == fmt.prompt(tokenizer, device.tools, "hi")
    assert '"chat_template_kwargs"' in (output / "README.md").read_text()


def test_the_llama_server_bundle(adapters, tmp_path, registry):
    deployed = deployed_adapters({"omi": adapters / "omi", "airpods-pro": adapters / "airpods-pro"}, registry)
    loras = [tmp_path / "airpods-pro-lora-f16.gguf", tmp_path / "omi-lora-f16.gguf"]
    command = write_llama_server_bundle(tmp_path / "out", tmp_path / "base.gguf", deployed, loras)
    assert command == llama_server_command(
        tmp_path / "base.gguf", loras, (tmp_path / "out" / "bijou.jinja").resolve()
    )
    assert command[:3] == ["llama-server", "-m", str(tmp_path / "base.gguf")]
    assert command[3:7] == ["--lora", str(loras[0]), "--lora", str(loras[1])]
    assert {"--lora-init-without-apply", "--jinja", "--chat-template-file"} <= set(command)
    readme = (tmp_path / "out" / "README.md").read_text()
    assert "ids: 0 = airpods-pro, 1 = omi" in readme and '"scale": 1.0' in readme
