"""``bijou serve`` driven by the real ``openai`` client on loopback.

The three shipped devices are served by a scripted model whose answers are known, so the tests
assert the exact ``tool_calls``; the concurrency test uses the tiny random models, whose answers
change with any state one request could leave behind for another.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from scripted_backend import scripted_engine
from tiny_adapters import write_random_adapters

from bijou_core.devices import DeviceRegistry, load_registry
from bijou_core.runtime.config import EngineConfig
from bijou_core.runtime.engine import Engine
from bijou_core.serve import Service, create_app
from bijou_core.serve.server import BackgroundServer

openai = pytest.importorskip("openai")

VOLUME = {"name": "set_volume", "arguments": {"level": 20}}
SEARCH = {"name": "search_conversations", "arguments": {"query": "sarah budget"}}
MESSAGE = {"name": "send_message", "arguments": {"contact": "mom", "message": "running late"}}
SCRIPT = {
    "airpods-pro": {"bring the volume down to like twenty": [VOLUME]},
    "omi": {"what did sarah say about the budget": [SEARCH]},
    "rayban-stories": {"text mom that i'm running late": [MESSAGE]},
}
COMMANDS = {device: next(iter(script)) for device, script in SCRIPT.items()}
NO_CONSTRAIN = EngineConfig(constrain=False)


@pytest.fixture(scope="module")
def registry() -> DeviceRegistry:
    return load_registry()


@pytest.fixture(scope="module")
def server(embedded_tokenizer_dir, registry):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(embedded_tokenizer_dir)
    devices = [registry.get(name) for name in SCRIPT]
    engine = scripted_engine(tokenizer, devices, SCRIPT)
    with BackgroundServer(create_app(Service(engine, execute=True))) as running:
        yield running


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0)


def calls_of(completion) -> list[dict]:
    message = completion.choices[0].message
    return [
        {"name": call.function.name, "arguments": json.loads(call.function.arguments)}
        for call in message.tool_calls or []
    ]


def ask(client, model: str, command: str, **options):
    return client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": command}], **options
    )


def test_the_grammar_of_each_tool_choice(embedded_tokenizer_dir, registry):
    from transformers import AutoTokenizer

    from bijou_core.calls import dumps
    from bijou_core.runtime.grammar import Choice, Vocabulary

    tokenizer = AutoTokenizer.from_pretrained(embedded_tokenizer_dir)
    vocabulary = Vocabulary.from_hf(tokenizer, len(tokenizer))
    tools = registry.get("airpods-pro").tools
    battery = {"name": "get_battery_level", "arguments": {}}
    candidates = [[], [VOLUME], [battery], [VOLUME, battery], [battery, battery]]
    cases = {
        Choice(): candidates,
        Choice(max_calls=0): [[]],
        Choice(min_calls=1): candidates[1:],
        Choice(("get_battery_level",), min_calls=1): [[battery], [battery, battery]],
        Choice(("set_volume", "get_battery_level"), max_calls=1): [[], [VOLUME], [battery]],
    }
    for choice, allowed in cases.items():
        grammar = vocabulary.grammar(tools, choice)
        for calls in candidates:
            matcher = grammar.matcher()
            try:
                matcher.accept_text(dumps(calls))
            except RuntimeError:
                assert calls not in allowed, (choice, calls)
            else:
                assert matcher.done == (calls in allowed), (choice, calls)


def test_each_device_answers_its_command_with_tool_calls(client):
    for device, command in COMMANDS.items():
        completion = ask(client, device, command)
        choice = completion.choices[0]
        assert calls_of(completion) == SCRIPT[device][command], device
        assert choice.finish_reason == "tool_calls" and choice.message.content is None
        call = choice.message.tool_calls[0]
        assert call.type == "function" and call.id.startswith("call_")
        assert completion.model == device
        usage = completion.usage
        assert usage.prompt_tokens > 0 and usage.completion_tokens > 0
        assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
        extra = completion.model_extra["x_bijou"]
        assert extra["device"] == device and extra["adapter"] == device and extra["valid"]
        assert set(extra["latency_ms"]) == {"queue", "swap", "prefill", "decode"}


def test_the_base_qualified_name_and_the_models_list(client, registry):
    assert calls_of(ask(client, "scripted:omi", COMMANDS["omi"])) == [SEARCH]
    models = {model.id: model for model in client.models.list().data}
    assert set(models) == set(SCRIPT)
    tools = models["omi"].model_extra["x_bijou"]["tools"]
    assert [tool["function"] for tool in tools] == registry.get("omi").tools


def test_a_command_no_tool_applies_to_is_answered_with_content(client):
    completion = ask(client, "omi", "what's the weather like")
    choice = completion.choices[0]
    assert choice.message.tool_calls is None and choice.message.content == "[]"
    assert choice.finish_reason == "stop"


def test_tool_choice_none_and_named_are_enforced(client):
    command = COMMANDS["airpods-pro"]
    none = ask(client, "airpods-pro", command, tool_choice="none")
    assert none.choices[0].message.tool_calls is None and none.choices[0].message.content == "[]"
    named = ask(
        client,
        "airpods-pro",
        command,
        tool_choice={"type": "function", "function": {"name": "get_battery_level"}},
    )
    calls = calls_of(named)
    assert calls and {call["name"] for call in calls} == {"get_battery_level"}  # not the model's set_volume
    required = ask(client, "omi", "what's the weather like", tool_choice="required")
    assert calls_of(required)  # the model wanted no call


def test_a_subset_of_the_tools_is_enforced(client, registry):
    tools = {t["name"]: {"type": "function", "function": t} for t in registry.get("airpods-pro").tools}
    command = COMMANDS["airpods-pro"]
    kept = ask(client, "airpods-pro", command, tools=[tools["set_volume"], tools["media_control"]])
    assert calls_of(kept) == [VOLUME]
    without = ask(client, "airpods-pro", command, tools=[tools["media_control"]])
    assert calls_of(without) == [] and without.choices[0].message.content == "[]"
    assert without.model_extra["x_bijou"]["declined"]  # the model was writing set_volume's level
    one = ask(
        client, "airpods-pro", command, tools=[{"type": "function", "function": {"name": "set_volume"}}]
    )
    assert calls_of(one) == [VOLUME]


def test_a_streamed_answer_reassembles_to_the_same_call(client):
    command = COMMANDS["omi"]
    chunks = list(ask(client, "omi", command, stream=True, stream_options={"include_usage": True}))
    calls: dict[int, dict] = {}
    finish = None
    for chunk in chunks:
        for choice in chunk.choices:
            for delta in choice.delta.tool_calls or []:
                call = calls.setdefault(delta.index, {"name": "", "arguments": ""})
                call["name"] += delta.function.name or ""
                call["arguments"] += delta.function.arguments or ""
            finish = choice.finish_reason or finish
    assert [{"name": c["name"], "arguments": json.loads(c["arguments"])} for c in calls.values()] == [SEARCH]
    assert finish == "tool_calls" and chunks[-1].usage.completion_tokens > 0
    assert calls_of(ask(client, "omi", command)) == [SEARCH]


def test_execute_runs_calls_and_refuses_unconfirmed_ones(client):
    volume = ask(client, "airpods-pro", COMMANDS["airpods-pro"]).model_extra["x_bijou"]
    assert [r["status"] for r in volume["results"]] == ["done"] and volume["state"]["volume"] == 20
    command = COMMANDS["rayban-stories"]
    refused = ask(client, "rayban-stories", command).model_extra["x_bijou"]
    assert [(r["status"], r["reason"]) for r in refused["results"]] == [("refused", "not confirmed")]
    assert refused["state"]["outbox"] == []
    confirmed = ask(client, "rayban-stories", command, extra_body={"confirm": True}).model_extra["x_bijou"]
    assert [r["status"] for r in confirmed["results"]] == ["done"] and len(confirmed["state"]["outbox"]) == 1


@pytest.mark.parametrize(
    ("body", "status", "param", "says"),
    [
        (
            {"model": "toaster", "messages": [{"role": "user", "content": "hi"}]},
            404,
            "model",
            "does not exist",
        ),
        (
            {"model": "other-base:omi", "messages": [{"role": "user", "content": "hi"}]},
            404,
            "model",
            "the base is",
        ),
        ({"model": "omi", "messages": []}, 400, "messages", "at least 1"),
        (
            {"model": "omi", "messages": [{"role": "system", "content": "hi"}]},
            400,
            "messages",
            "no user message",
        ),
        ({"messages": [{"role": "user", "content": "hi"}]}, 400, "model", "Field required"),
        (
            {"model": "omi", "messages": [{"role": "user", "content": "x" * 501}]},
            400,
            "messages.0.content",
            "at most 500",
        ),
        (
            {
                "model": "omi",
                "messages": [{"role": "user", "content": "hi"}],
                "tools": [{"type": "function", "function": {"name": "set_volume"}}],
            },
            400,
            "tools.0.function",
            "'set_volume' is not a tool of omi",
        ),
        (
            {
                "model": "omi",
                "messages": [{"role": "user", "content": "hi"}],
                "tools": [
                    {"type": "function", "function": {"name": "web_search", "parameters": {"type": "object"}}}
                ],
            },
            400,
            "tools.0.function.parameters",
            "differ from omi's",
        ),
        (
            {
                "model": "omi",
                "messages": [{"role": "user", "content": "hi"}],
                "tools": [{"type": "function", "function": {"name": "web_search"}}],
                "tool_choice": {"type": "function", "function": {"name": "create_memory"}},
            },
            400,
            "tool_choice",
            "not among the tools",
        ),
        (
            {"model": "omi", "messages": [{"role": "user", "content": "hi"}], "n": 2},
            400,
            "n",
            "Input should be 1",
        ),
    ],
)
def test_bad_requests_get_an_openai_error_body(server, body, status, param, says):
    response = httpx.post(f"{server.url}/v1/chat/completions", json=body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["param"] == param and says in error["message"] and error["type"] == "invalid_request_error"


def test_malformed_and_oversized_bodies_and_unknown_routes(server, client):
    url = f"{server.url}/v1/chat/completions"
    malformed = httpx.post(url, content=b'{"model": "omi",', headers={"content-type": "application/json"})
    assert malformed.status_code == 400 and "not valid JSON" in malformed.json()["error"]["message"]
    huge = httpx.post(url, content=b"x" * (2 << 20), headers={"content-type": "application/json"})
    assert huge.status_code == 413 and "at most" in huge.json()["error"]["message"]
    missing = httpx.get(f"{server.url}/v1/nothing")
    assert missing.status_code == 404 and missing.json()["error"]["message"] == "Not Found"
    with pytest.raises(openai.NotFoundError, match="does not exist"):
        ask(client, "toaster", "hi")
    assert httpx.get(f"{server.url}/health").json()["status"] == "ok"  # the server lives on


# ---------------------------------------------------------------- the tiny random models


@pytest.fixture(scope="module")
def tiny_adapters(tmp_path_factory, tiny_model_dir, home):
    return write_random_adapters(tmp_path_factory.mktemp("adapters"), tiny_model_dir, home, ["lamp", "fan"])


TINY = {"lamp": ["kill the lights", "brightness to seventy"], "fan": ["fan on two", "stop swinging"]}


def answer_of(completion) -> tuple:
    extra = completion.model_extra["x_bijou"]
    return (extra["device"], extra["text"], extra["declined"], json.dumps(calls_of(completion)))


def test_concurrent_clients_alternating_devices_get_the_sequential_answers(tiny_adapters, home):
    """Unconstrained, the random models write a different text per adapter: an adapter or a cached
    state left behind by one request would change another's text."""
    engine = Engine.load({name: tiny_adapters / name for name in TINY}, registry=home, config=NO_CONSTRAIN)
    with BackgroundServer(create_app(Service(engine))) as running:
        client = openai.OpenAI(base_url=f"{running.url}/v1", api_key="unused", max_retries=0)
        jobs = [(device, command) for device, commands in TINY.items() for command in commands]
        sequential = {job: answer_of(ask(client, *job, max_tokens=12)) for job in jobs}

        def session(index: int) -> list[tuple]:
            mine = jobs[index % 2 :: 2] + jobs[(index + 1) % 2 :: 2]  # alternate lamp and fan
            return [(job, answer_of(ask(client, *job, max_tokens=12))) for job in mine]

        with ThreadPoolExecutor(32) as pool:
            results = [pair for answers in pool.map(session, range(32)) for pair in answers]
        cut = ask(client, "lamp", "kill the lights", max_completion_tokens=12).choices[0]
    assert len(results) == 32 * len(jobs)
    assert all(answer == sequential[job] for job, answer in results)
    assert len({sequential[job][1] for job in jobs}) > 1 and cut.finish_reason == "length"
    alone = Engine.load({"lamp": tiny_adapters / "lamp"}, registry=home, config=NO_CONSTRAIN)
    assert alone.answer("kill the lights", max_tokens=12).text == sequential[("lamp", "kill the lights")][1]


def test_concurrent_clients_get_each_device_s_calls(client):
    jobs = list(COMMANDS.items())

    def session(index: int) -> list[tuple[str, list]]:
        mine = jobs[index % 3 :] + jobs[: index % 3]  # each client goes round the devices
        return [(device, calls_of(ask(client, device, command))) for device, command in mine]

    with ThreadPoolExecutor(32) as pool:
        results = [pair for answers in pool.map(session, range(32)) for pair in answers]
    assert len(results) == 96
    assert all(calls == SCRIPT[device][COMMANDS[device]] for device, calls in results)


def test_adapters_load_and_unload_without_a_restart(tiny_adapters, home, tiny_model_dir):
    engine = Engine.load(
        {"lamp": tiny_adapters / "lamp"}, registry=home, devices=["fan"], config=NO_CONSTRAIN
    )
    with BackgroundServer(create_app(Service(engine))) as running:
        client = openai.OpenAI(base_url=f"{running.url}/v1", api_key="unused", max_retries=0)
        base_answer = answer_of(ask(client, "fan", "fan on two"))
        post = lambda path, body: httpx.post(f"{running.url}/v1/{path}", json=body)  # noqa: E731
        loaded = post("load_lora_adapter", {"lora_name": "fan", "lora_path": str(tiny_adapters / "fan")})
        assert loaded.status_code == 200 and loaded.json()["model"] == "fan"
        assert {m.id: m.model_extra["x_bijou"]["adapter"] for m in client.models.list().data} == {
            "lamp": "lamp",
            "fan": "fan",
        }
        adapted = ask(client, "fan", "fan on two")
        assert adapted.model_extra["x_bijou"]["adapter"] == "fan" and answer_of(adapted) != base_answer
        again = post("load_lora_adapter", {"lora_name": "fan2", "lora_path": str(tiny_adapters / "fan")})
        assert again.status_code == 400 and "already has an adapter" in again.json()["error"]["message"]
        assert post("unload_lora_adapter", {"lora_name": "fan"}).json()["status"] == "unloaded"
        assert answer_of(ask(client, "fan", "fan on two")) == base_answer
        unknown = post("unload_lora_adapter", {"lora_name": "fan"})
        assert unknown.status_code == 404 and unknown.json()["error"]["param"] == "lora_name"
        missing = post("load_lora_adapter", {"lora_name": "x", "lora_path": str(tiny_adapters / "nope")})
        assert missing.status_code == 400 and "bijou-manifest.json" in missing.json()["error"]["message"]
        assert post("unload_lora_adapter", {"lora_name": "lamp"}).status_code == 200  # the last one
        unadapted = answer_of(ask(client, "lamp", "kill the lights"))
    bare = Engine.load({}, str(tiny_model_dir), devices=["lamp"], registry=home, config=NO_CONSTRAIN)
    assert unadapted[1] == bare.answer("kill the lights").text


@pytest.fixture(scope="module")
def device_adapters(tmp_path_factory, tiny_model_dir, registry):
    """Random adapters of two shipped devices on the tiny model."""
    return write_random_adapters(
        tmp_path_factory.mktemp("adapters"), tiny_model_dir, registry, ["omi", "airpods-pro"]
    )


def test_bijou_serve_serves_the_adapters_of_a_folder(device_adapters, registry):
    """The command itself: ``bijou serve --adapters-dir`` on a free port, driven until stopped."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "bijou_core.cli", "serve", "--adapters-dir", str(device_adapters)]
    process = subprocess.Popen(
        [*command, "--port", str(port), "--execute"], stderr=subprocess.PIPE, text=True, env=os.environ
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            assert process.poll() is None, process.stderr.read()
            try:
                health = httpx.get(f"{url}/health").json()
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "bijou serve did not start"
                time.sleep(0.5)
        assert health["devices"] == ["airpods-pro", "omi"] and health["adapters"] == ["airpods-pro", "omi"]
        assert health["execute"] and "bijou playground" in httpx.get(url).text
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
        forced = ask(client, "omi", "what's on my list", tool_choice="required")
        assert registry.get("omi").validator.is_valid(calls_of(forced)) and calls_of(forced)
        assert forced.model_extra["x_bijou"]["adapter"] == "omi"
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(30)


def test_the_serve_benchmark_runs_and_served_answers_equal_in_process_ones(device_adapters, tmp_path):
    import argparse
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "serve_bench.py"
    spec = importlib.util.spec_from_file_location("serve_bench", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    options = {"clients": 8, "rounds": 2, "commands": 2, "max_seconds": 120.0, "quant": "q8_0"}
    args = argparse.Namespace(adapters_dir=device_adapters, backend="transformers", **options)
    results = bench.run(args)
    served = results["served"]
    assert results["jobs"] == 4 and served["requests"] == 16
    assert served["answers_differing_from_in_process"] == 0 and served["p95_ms"] >= served["p50_ms"] > 0
    table = bench.markdown(results)
    assert "| `bijou serve`, 8 concurrent clients alternating devices | 16 |" in table
