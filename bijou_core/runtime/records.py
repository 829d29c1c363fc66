"""One answered command as a JSON-ready record: the line ``bijou run`` prints and the record
``bijou serve`` returns beside its OpenAI answer."""

from __future__ import annotations

from typing import Any

from ..speech import Transcript
from .engine import Answer, Outcome


def turn_record(
    answer: Answer, outcomes: list[Outcome], swap_s: float, state: Any, heard: Transcript | None = None
) -> dict[str, Any]:
    """One command's result as printed in JSON lines (and shown in the REPL). ``heard``: the
    recognizer's transcript when the command came from audio (then ``transcript``, ``audio_s`` and
    the ``speech`` latency are added)."""
    gen = answer.generation
    record = {
        "device": answer.device,
        "command": answer.query,
        "calls": answer.calls,
        "valid": answer.valid,
        "errors": answer.errors,
        "text": answer.text,
        "declined": gen.declined,
        "p_call": None if gen.p_call is None else round(gen.p_call, 4),
        "p_tool": None if gen.p_tool is None else round(gen.p_tool, 4),
        "unsure": gen.unsure,
        "results": [
            {"call": o.call, "status": o.status, "result": o.result, "reason": o.reason} for o in outcomes
        ],
        "state": state,
        "latency_ms": {
            "swap": round(1000 * swap_s, 3),
            "prefill": round(1000 * gen.prefill_s, 1),
            "decode": round(1000 * gen.decode_s, 1),
        },
    }
    if heard is not None:
        record["transcript"] = heard.text
        record["audio_s"] = round(heard.audio_s, 2)
        record["latency_ms"]["speech"] = round(1000 * heard.speech_s, 1)
    return record
