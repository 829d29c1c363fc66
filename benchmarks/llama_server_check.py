"""The llama-server bundle of ``bijou export llama-server``, run for real: llama.cpp's own server
answers every device's eval set through its OpenAI API, scored with bijou's eval rules.

    python benchmarks/llama_server_check.py --bundle deploy/llama-server --llama-server PATH
        [--reference DEVICE=RESULTS.json ...] [--port 8080] [--output benchmarks/llama-server.md]

The bundle's ``launch.sh`` is started as written (``llama-server`` is looked up in the folder of
``--llama-server`` first); each eval command is sent as the bundle's README says: the device named
in ``chat_template_kwargs``, its LoRA turned on with ``lora``, ``response_format`` with the device's
call schema, greedy. The command's spoken numbers are sent as digits, as bijou's prompt renderer
writes them (a chat template cannot). Every prompt the server's own Jinja engine renders
(``/apply-template``) is compared byte for byte with bijou's, for each command and for a request
that names no device (the base's prompt of the request's tools). With ``--reference``, each answer
is compared with the calls ``bijou devices eval --output`` predicted for the same command with the
same adapter. Writes a markdown table to ``--output`` and prints the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from bijou_core.bench import machine
from bijou_core.devices import load_registry
from bijou_core.eval_results import EvalResults
from bijou_core.evaluate.metrics import percentile, score_example, summarize
from bijou_core.files import atomic_writer, load_json
from bijou_core.manifest import read_manifest
from bijou_core.prompt import PromptFormat


def post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())


def wait_for(url: str, server: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"llama-server exited with code {server.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(0.5)
    raise SystemExit(f"llama-server did not answer {url} within {seconds:.0f} s")


def lora_files(bundle: Path) -> dict[str, Path]:
    """Each device's GGUF LoRA, in the order of the launch command's ``--lora`` files (their ids)."""
    words = (bundle / "launch.sh").read_text().split()
    files = [Path(words[i + 1]) for i, word in enumerate(words) if word == "--lora"]
    return {path.parent.name: path for path in files}


def ask(url: str, device: str, ids: list[str], schema: dict[str, Any], command: str) -> tuple[str, float]:
    body = {
        "model": device,
        "messages": [{"role": "user", "content": command}],
        "chat_template_kwargs": {"device": device},
        "lora": [{"id": i, "scale": float(name == device)} for i, name in enumerate(ids)],
        "response_format": {"type": "json_schema", "json_schema": {"schema": schema}},
        "temperature": 0,
        "max_tokens": 256,
    }
    started = time.perf_counter()
    answer = post(url, body)
    return answer["choices"][0]["message"]["content"] or "", (time.perf_counter() - started) * 1000


def rendered(base: str, command: str, **extra: Any) -> str:
    """The prompt llama-server's own Jinja engine renders for ``command`` (its ``/apply-template``)."""
    return post(f"{base}/apply-template", {"messages": [{"role": "user", "content": command}], **extra})[
        "prompt"
    ]


def check_device(
    base: str, bundle: Path, device_name: str, ids: list[str], adapter: Path, reference: Path | None
) -> dict:
    device = load_registry().get(device_name)
    fmt = PromptFormat.recorded(read_manifest(adapter).prompt_format)
    schema = load_json(bundle / "schemas" / f"{device_name}.json")
    bijou = {}
    if reference:
        run = EvalResults.from_json(load_json(reference)).last
        bijou = {e["query"]: e["predicted"] for e in run.examples}
    examples, same_prompt = [], 0
    for record in device.eval_set:
        command = fmt.user_text(record.query)
        kwargs = {"chat_template_kwargs": {"device": device_name}}
        same_prompt += rendered(base, command, **kwargs) == fmt.prompt(None, device.tools, record.query)
        text, ms = ask(f"{base}/v1/chat/completions", device_name, ids, schema, command)
        verdict = score_example(record.answers, text, device.validator, device.eval_rules)
        example = {"query": record.query, "expected": record.answers, "text": text, **verdict}
        example["latency_ms"] = round(ms, 1)
        if record.query in bijou:
            example["same_as_bijou"] = verdict["predicted"] == bijou[record.query]
        examples.append(example)
    summary = summarize(examples)
    same = [e["same_as_bijou"] for e in examples if "same_as_bijou" in e]
    # a request naming no device gets the base's full prompt of the tools it passes
    tools = [{"type": "function", "function": tool} for tool in device.tools]
    no_device = rendered(base, "hello", tools=tools)
    return {
        "device": device_name,
        "prompt_equal": f"{same_prompt}/{len(device.eval_set)}",
        "tools_prompt_equal": no_device
        == PromptFormat("full", digits=fmt.digits).prompt(None, device.tools, "hello"),
        "summary": {k: summary[k] for k in ("examples", "schema_valid", "function_match", "exact_match")}
        | {"irrelevance": summary.get("irrelevance")},
        "latency_ms": {"p50": percentile([e["latency_ms"] for e in examples], 50)},
        "same_as_bijou": f"{sum(same)}/{len(same)}" if same else None,
        "differing": [
            {"query": e["query"], "llama_server": e["predicted"], "bijou": bijou[e["query"]]}
            for e in examples
            if e.get("same_as_bijou") is False
        ],
    }


def table(results: list[dict], command: str) -> str:
    m = machine()
    lines = [
        "# bijou's llama-server bundle, run",
        "",
        f"Measured {m['date']} on {m['cpu']} ({m['cores']} cores), llama-cpp-python "
        f"{m['versions']['llama_cpp_python']}. Made by `{command}`.",
        "",
        "llama.cpp's server, built from the llama.cpp sources vendored in llama-cpp-python, started by",
        "the bundle's `launch.sh`, answered every device's eval set through its OpenAI API as the",
        "bundle's README says; answers scored with bijou's eval rules. `prompts equal`: the prompt the",
        "server's own Jinja engine rendered (`/apply-template`) is byte for byte bijou's. `same as",
        "bijou`: the answer's calls equal those `bijou devices eval` predicted with the same adapter",
        "(bijou adds its decline rule and call threshold, which llama-server has not).",
        "",
        "| device | prompts equal | examples | schema-valid % | function % | exact % | irrelevance % "
        "| same as bijou | p50 ms |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        s = r["summary"]
        cells = [r["device"], r["prompt_equal"], s["examples"], s["schema_valid"], s["function_match"]]
        cells += [s["exact_match"]]
        cells += [s["irrelevance"], r["same_as_bijou"] or "-", r["latency_ms"]["p50"]]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    tools_equal = all(r["tools_prompt_equal"] for r in results)
    lines += [
        "",
        f"A request naming no device, with a device's tools: the prompt is bijou's full prompt of "
        f"those tools: {'yes' if tools_equal else 'NO'}, for each device.",
    ]
    differing = [(r["device"], d) for r in results for d in r["differing"]]
    if differing:
        lines += ["", "Answers that differ from bijou's:", ""]
        for device, d in differing:
            lines.append(
                f'- {device}, "{d["query"]}": llama-server {json.dumps(d["llama_server"])}, '
                f"bijou {json.dumps(d['bijou'])}"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=Path("deploy/llama-server"))
    parser.add_argument("--llama-server", type=Path, required=True, help="the llama-server binary")
    parser.add_argument("--reference", action="append", default=[], help="DEVICE=RESULTS.json")
    parser.add_argument("--port", type=int, default=8080, help="the port launch.sh names")
    parser.add_argument("--output", type=Path, default=Path("benchmarks/llama-server.md"))
    args = parser.parse_args()
    references = dict(item.split("=", 1) for item in args.reference)
    loras = lora_files(args.bundle)
    ids = list(loras)
    env = {**os.environ, "PATH": f"{args.llama_server.resolve().parent}{os.pathsep}{os.environ['PATH']}"}
    log = (args.bundle / "llama-server.log").open("w")
    server = subprocess.Popen(["bash", str(args.bundle / "launch.sh")], env=env, stdout=log, stderr=log)
    try:
        base = f"http://127.0.0.1:{args.port}"
        wait_for(f"{base}/health", server)
        results = [
            check_device(base, args.bundle, name, ids, loras[name].parent, references.get(name))
            for name in ids
        ]
    finally:
        server.terminate()
        server.wait(timeout=30)
    command = "python benchmarks/llama_server_check.py --bundle BUNDLE --llama-server PATH" + "".join(
        f" --reference {k}=..." for k in references
    )
    with atomic_writer(args.output) as fh:
        fh.write(table(results, command))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
