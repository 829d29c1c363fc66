"""``bijou serve`` under load: 32 concurrent clients alternating devices, against ``bijou run``'s
per-command latency on the same engine in-process.

    python benchmarks/serve_bench.py [--adapters-dir adapters] [--backend llama.cpp] [--quant q8_0]
        [--clients 32] [--rounds 4] [--commands 6] [--max-seconds 300] [--output benchmarks/serve.md]

One engine is loaded (every adapter of ``--adapters-dir`` resident) and warmed up. First each job
(a device and one of the first ``--commands`` commands of its eval set, the devices interleaved)
is answered in-process, one after another, as ``bijou run`` does: swap to the device, answer;
these answers are the reference. Then the same engine is served on loopback (uvicorn in a
thread) and ``--clients`` clients, each starting at a different job so that consecutive requests
alternate devices, send ``--rounds`` requests each through the ``openai`` client, none starting
after ``--max-seconds``. Every served answer must equal the in-process answer for its job.
Reported: p50/p95 latency (seen by the client for the server; swap + answer in-process) and
requests per second, and the mean time a request waited for the model (``queue``). Writes the
table to ``--output`` and prints the measurements as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any

from bijou_core.bench import machine
from bijou_core.cli.runtime_options import adapters_in
from bijou_core.evaluate.metrics import percentile
from bijou_core.export.prepare import prepare_llama_cpp
from bijou_core.files import atomic_writer
from bijou_core.runtime.config import EngineConfig
from bijou_core.runtime.engine import Answer, Engine
from bijou_core.serve import Service, create_app
from bijou_core.serve.server import BackgroundServer


def jobs_of(engine: Engine, per_device: int) -> list[tuple[str, str]]:
    """(device, command) pairs, the devices interleaved: the first commands of each eval set."""
    queries = {d: [r.query for r in engine.device(d).eval_set[:per_device]] for d in engine.devices}
    return [(d, queries[d][i]) for i in range(per_device) for d in engine.devices if i < len(queries[d])]


def key_of_answer(answer: Answer) -> str:
    """What a client sees of an answer: its calls, or its text when it has none."""
    return json.dumps(answer.calls) if answer.valid and answer.calls else answer.text


def in_process(engine: Engine, jobs: list[tuple[str, str]]) -> tuple[dict[tuple[str, str], str], list[float]]:
    """Each job answered in turn as ``bijou run`` does (swap, answer): the answers and seconds."""
    answers, seconds = {}, []
    for device, command in jobs:
        started = time.perf_counter()
        engine.use(device)
        answer = engine.answer(command)
        seconds.append(time.perf_counter() - started)
        answers[(device, command)] = key_of_answer(answer)
    return answers, seconds


async def served(
    url: str, jobs: list[tuple[str, str]], clients: int, rounds: int, max_seconds: float
) -> dict:
    """``clients`` concurrent clients, each sending ``rounds`` requests (jobs from its own offset)."""
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=600)
    deadline = time.perf_counter() + max_seconds
    results: list[dict[str, Any]] = []

    async def session(index: int) -> None:
        for step in range(rounds):
            if time.perf_counter() > deadline:
                return
            device, command = jobs[(index + step) % len(jobs)]
            started = time.perf_counter()
            completion = await client.chat.completions.create(
                model=device, messages=[{"role": "user", "content": command}]
            )
            seconds = time.perf_counter() - started
            message = completion.choices[0].message
            calls = [
                {"name": c.function.name, "arguments": json.loads(c.function.arguments)}
                for c in message.tool_calls or []
            ]
            key = json.dumps(calls) if calls else message.content
            extra = completion.model_extra["x_bijou"]
            results.append({"job": (device, command), "key": key, "seconds": seconds, "extra": extra})

    started = time.perf_counter()
    await asyncio.gather(*(session(i) for i in range(clients)))
    wall = time.perf_counter() - started
    await client.close()
    return {"results": results, "wall": wall}


def ms(values: list[float], q: float) -> float | None:
    value = percentile([1000 * v for v in values], q)
    return None if value is None else round(value, 1)


def run(args: argparse.Namespace) -> dict[str, Any]:
    adapters = adapters_in(args.adapters_dir)
    if args.backend == "llama.cpp":
        prepare_llama_cpp(adapters, None, [args.quant])
    engine = Engine.load(adapters, config=EngineConfig(backend=args.backend, quant=args.quant))
    engine.warm_up()
    jobs = jobs_of(engine, args.commands)
    reference, sequential = in_process(engine, jobs)
    with BackgroundServer(create_app(Service(engine))) as server:
        load = asyncio.run(served(server.url, jobs, args.clients, args.rounds, args.max_seconds))
    results = load["results"]
    wrong = [r for r in results if r["key"] != reference[r["job"]]]
    queue = [r["extra"]["latency_ms"]["queue"] for r in results]
    return {
        "machine": machine(),
        "backend": args.backend,
        "quant": args.quant if args.backend == "llama.cpp" else None,
        "devices": engine.devices,
        "jobs": len(jobs),
        "in_process": {
            "requests": len(sequential),
            "p50_ms": ms(sequential, 50),
            "p95_ms": ms(sequential, 95),
            "requests_per_s": round(len(sequential) / sum(sequential), 2),
        },
        "served": {
            "clients": args.clients,
            "requests": len(results),
            "p50_ms": ms([r["seconds"] for r in results], 50),
            "p95_ms": ms([r["seconds"] for r in results], 95),
            "requests_per_s": round(len(results) / load["wall"], 2),
            "queue_mean_ms": round(sum(queue) / len(queue), 1) if queue else None,
            "answers_differing_from_in_process": len(wrong),
        },
    }


def markdown(results: dict[str, Any]) -> str:
    m, one, many = results["machine"], results["in_process"], results["served"]
    backend = results["backend"] + (f" {results['quant']}" if results["quant"] else "")
    return "\n".join(
        [
            "# bijou serve under load",
            "",
            f"Measured {m['date']} on {m['cpu']} ({m['cores']} cores), backend {backend}, devices "
            f"{', '.join(results['devices'])}; {results['jobs']} commands (the first of each eval set, "
            "devices interleaved). Made by `python benchmarks/serve_bench.py`.",
            "",
            "| mode | requests | p50 ms | p95 ms | requests/s |",
            "| --- | --- | --- | --- | --- |",
            f"| in-process, one at a time (`bijou run`: swap + answer) | {one['requests']} | {one['p50_ms']} "
            f"| {one['p95_ms']} | {one['requests_per_s']} |",
            f"| `bijou serve`, {many['clients']} concurrent clients alternating devices | {many['requests']} "
            f"| {many['p50_ms']} | {many['p95_ms']} | {many['requests_per_s']} |",
            "",
            f"Served latency is seen by the client: it includes the wait for the model (mean queue "
            f"{many['queue_mean_ms']} ms), since one resident model answers one request at a time. "
            f"Served answers that differ from the in-process answer to the same command on the same "
            f"device: {many['answers_differing_from_in_process']} of {many['requests']}.",
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--adapters-dir", type=Path, default=Path("adapters"))
    parser.add_argument("--backend", default="llama.cpp", choices=("llama.cpp", "transformers"))
    parser.add_argument("--quant", default="q8_0")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=4, help="requests per client")
    parser.add_argument("--commands", type=int, default=6, help="commands per device")
    parser.add_argument("--max-seconds", type=float, default=300.0, help="no request starts after this")
    parser.add_argument("--output", type=Path, default=Path(__file__).parent / "serve.md")
    args = parser.parse_args()
    results = run(args)
    with atomic_writer(args.output) as fh:
        fh.write(markdown(results))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
