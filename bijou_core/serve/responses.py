"""Answers as OpenAI writes them: a ``chat.completion``, or ``chat.completion.chunk`` SSE events.

The calls are OpenAI ``tool_calls`` (``finish_reason: "tool_calls"``); an answer without calls is
the model's own text as ``content`` (``[]`` when no tool applies, ``finish_reason: "stop"``, or
``"length"`` when the token budget ran out first). bijou's record of the turn is the ``x_bijou``
field of the completion, and of the last chunk of a stream: the JSON line ``bijou run`` prints
(text, calls, validation errors, declined text, latency split, and with ``--execute`` each call's
result and the device state), plus ``adapter``, the ``queue`` latency and the state the calls
``changed``. When the command was spoken (an ``input_audio`` part), ``x_bijou`` also carries the
recognizer's ``transcript`` (the ``command`` answered), ``audio_s`` and the ``speech`` latency.

A stream is sent once the answer is decoded and validated, so a client never acts on part of a call
that validation would refuse: each call's name, then its arguments, then the finish reason.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

from .service import Turn


def _tool_calls(turn: Turn) -> list[dict[str, Any]]:
    answer = turn.answer
    if not answer.valid:
        return []
    return [
        {
            "id": f"call_{uuid.uuid4().hex[:24]}",
            "type": "function",
            "function": {
                "name": call["name"],
                "arguments": json.dumps(call["arguments"], ensure_ascii=False),
            },
        }
        for call in answer.calls or []
    ]


def usage(turn: Turn) -> dict[str, Any]:
    gen = turn.answer.generation
    return {
        "prompt_tokens": gen.prompt_tokens,
        "completion_tokens": gen.new_tokens,
        "total_tokens": gen.prompt_tokens + gen.new_tokens,
        "prompt_tokens_details": {"cached_tokens": gen.cached_tokens},
    }


def _finish(turn: Turn, calls: list[dict[str, Any]]) -> str:
    return "tool_calls" if calls else "length" if turn.cut_short else "stop"


def completion(turn: Turn, created: int) -> dict[str, Any]:
    """The ``chat.completion`` object of ``turn``."""
    calls = _tool_calls(turn)
    message: dict[str, Any] = {"role": "assistant", "content": None if calls else turn.answer.text}
    if calls:
        message["tool_calls"] = calls
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": created,
        "model": turn.model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": _finish(turn, calls),
                "logprobs": None,
            }
        ],
        "usage": usage(turn),
        "x_bijou": turn.record,
    }


def stream(turn: Turn, created: int, include_usage: bool = False) -> Iterator[str]:
    """The SSE events of ``turn`` as a stream of ``chat.completion.chunk`` objects, then ``[DONE]``."""
    head = {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion.chunk", "created": created}
    head["model"] = turn.model

    def event(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        chunk = {**head, "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]}
        return f"data: {json.dumps({**chunk, **extra}, ensure_ascii=False)}\n\n"

    calls = _tool_calls(turn)
    if calls:
        yield event({"role": "assistant", "content": None})
        for index, call in enumerate(calls):
            function = call["function"]
            opening = {**call, "function": {"name": function["name"], "arguments": ""}}
            yield event({"tool_calls": [{"index": index, **opening}]})
            yield event({"tool_calls": [{"index": index, "function": {"arguments": function["arguments"]}}]})
    else:
        yield event({"role": "assistant", "content": ""})
        yield event({"content": turn.answer.text})
    yield event({}, _finish(turn, calls), x_bijou=turn.record)
    if include_usage:
        yield f"data: {json.dumps({**head, 'choices': [], 'usage': usage(turn)})}\n\n"
    yield "data: [DONE]\n\n"
