"""The llama-server bundle run for real: llama.cpp's own server (built once from the llama.cpp sources
of the installed llama-cpp-python by ``scripts/build-llama-server.sh``) starts from the bundle's
``launch.sh``, renders bijou's prompts with its own Jinja engine and answers with a device's LoRA."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_deploy import EDGE_TOOLS
from tiny_adapters import write_random_adapters

from bijou_core.cli import main
from bijou_core.devices import load_registry
from bijou_core.manifest import read_manifest
from bijou_core.prompt import PromptFormat

ROOT = Path(__file__).parent.parent


@pytest.fixture(scope="module")
def llama_server_binary() -> Path:
    """Built into the user's cache on first use (a few minutes), then found there."""
    env = {k: v for k, v in os.environ.items() if k != "BIJOU_CACHE_DIR"}  # not the tests' own cache
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "build-llama-server.sh")], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return Path(done.stdout.strip().splitlines()[-1])


def post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(llama_server_binary, tmp_path_factory, tiny_model_dir, bijou_cache):
    registry = load_registry()
    folder = tmp_path_factory.mktemp("adapters")
    adapters = write_random_adapters(folder, tiny_model_dir, registry, ["omi", "airpods-pro"])
    bundle, port = folder / "bundle", free_port()
    args = ["export", "llama-server", "--adapters-dir", str(adapters), "--output", str(bundle)]
    result = CliRunner().invoke(main, [*args, "--quant", "f16", "--port", str(port)])
    assert result.exit_code == 0, result.output
    env = {**os.environ, "PATH": f"{llama_server_binary.parent}{os.pathsep}{os.environ['PATH']}"}
    log = (bundle / "server.log").open("w")
    process = subprocess.Popen(["bash", str(bundle / "launch.sh")], env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            assert process.poll() is None, (bundle / "server.log").read_text()[-2000:]
            try:
                urllib.request.urlopen(f"{base}/health", timeout=1)
                break
            except OSError:
                time.sleep(0.25)
        yield base, adapters, registry
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.mark.slow
def test_llama_server_renders_bijou_s_prompts_with_its_own_jinja(server):
    base, adapters, registry = server
    for name in ("omi", "airpods-pro"):
        device = registry.get(name)
        fmt = PromptFormat.recorded(read_manifest(adapters / name).prompt_format)
        for record in device.eval_set[:5]:
            messages = [{"role": "user", "content": fmt.user_text(record.query)}]
            body = {"messages": messages, "chat_template_kwargs": {"device": name}}
            assert post(f"{base}/apply-template", body)["prompt"] == fmt.prompt(
                None, device.tools, record.query
            )
    # a request that names no device: the base's full prompt of the tools it passes
    messages = [{"role": "user", "content": "set it to 40"}]
    tools = [{"type": "function", "function": tool} for tool in EDGE_TOOLS]
    rendered = post(f"{base}/apply-template", {"messages": messages, "tools": tools})["prompt"]
    assert rendered == PromptFormat("full", digits=False).prompt(None, EDGE_TOOLS, "set it to 40")


@pytest.mark.slow
def test_llama_server_answers_with_the_device_s_lora(server, tokenizer):
    base, adapters, registry = server
    fmt = PromptFormat.recorded(read_manifest(adapters / "omi").prompt_format)
    prompt = fmt.prompt(None, registry.get("omi").tools, "start recording")
    answers = {}
    for scales in ([1.0, 0.0], [0.0, 1.0]):  # ids in the launch command's order: airpods-pro, omi
        body = {
            "messages": [{"role": "user", "content": "start recording"}],
            "chat_template_kwargs": {"device": "omi"},
            "lora": [{"id": i, "scale": s} for i, s in enumerate(scales)],
            "temperature": 0,
            "max_tokens": 8,
        }
        answer = post(f"{base}/v1/chat/completions", body)
        assert answer["usage"]["prompt_tokens"] == len(tokenizer(prompt, add_special_tokens=False).input_ids)
        answers[tuple(scales)] = answer["choices"][0]["message"]["content"]
    assert answers[(1.0, 0.0)] != answers[(0.0, 1.0)]  # the LoRA chosen per request takes effect


@pytest.fixture(scope="module")
def tokenizer(embedded_tokenizer_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(embedded_tokenizer_dir)
