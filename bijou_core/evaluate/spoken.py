"""Scoring spoken commands: each command said by espeak-ng in each voice, recognized, then answered
like typed text (optionally over background noise); the recognizer's word error rate with and
without the device-vocabulary prompt."""

from __future__ import annotations

import statistics
import sys
from dataclasses import dataclass, field
from typing import Any

from rich.progress import Progress

from ..devices import Device, Record
from ..errors import BijouError
from ..eval_results import Run
from ..models import cache_dir
from ..noise import Noise, add_noise
from ..speech import VOCABULARY_PROMPT, Recognizer, SpeechModel, device_vocabulary, speak, word_error_rate
from .metrics import percentile

DEFAULT_VOICES = ("en-us:160", "en-gb+f3:140")


@dataclass(frozen=True)
class SpeechSetup:
    """How eval commands are spoken and heard."""

    voices: tuple[str, ...] = DEFAULT_VOICES
    noises: tuple[Noise | None, ...] = (None,)  # each voice heard over each (None: clean)
    stt: SpeechModel = field(default_factory=SpeechModel)
    vocabulary: bool = VOCABULARY_PROMPT  # the device's words as the recognizer's prompt


def heard_as(voice: str, noise: Noise | None) -> str:
    """How a spoken run's commands were heard, as its name shows it: the voice, and any noise."""
    return voice if noise is None else f"{voice}, {noise.describe()}"


def hear(
    recognizer: Recognizer,
    device: Device,
    records: list[Record],
    voice: str,
    vocabulary: bool,
    noise: Noise | None = None,
) -> list[dict[str, Any]]:
    """Per record: its transcript when spoken in ``voice`` (over ``noise``), the one without the
    vocabulary prompt (for the word error rate), and the recognizer's time."""
    prompt = device_vocabulary(device)
    folder = cache_dir() / "spoken-commands"
    heard = []
    with Progress(transient=True, disable=not sys.stderr.isatty()) as progress:
        task = progress.add_task(f"{device.name} speaking ({heard_as(voice, noise)})", total=len(records))
        for record in records:
            wav = speak(record.query, voice, folder)
            wav = add_noise(wav, noise, folder) if noise else wav
            results = {}
            for with_prompt in (True, False):
                try:
                    results[with_prompt] = recognizer.transcribe(
                        wav, vocabulary=prompt if with_prompt else None
                    )
                except BijouError:  # nothing recognized: an empty command, scored as such
                    results[with_prompt] = None
            used = results[vocabulary]
            heard.append(
                {
                    "transcript": used.text if used else "",
                    "transcript_without_vocabulary" if vocabulary else "transcript_with_vocabulary": (
                        results[not vocabulary].text if results[not vocabulary] else ""
                    ),
                    "audio_s": round(used.audio_s, 2) if used else None,
                    "speech_ms": round(1000 * used.speech_s, 1) if used else None,
                }
            )
            progress.advance(task)
    return heard


def speech_summary(
    recognizer: Recognizer,
    records: list[Record],
    heard: list[dict[str, Any]],
    run: Run,
    voice: str,
    noise: Noise | None,
    setup: SpeechSetup,
) -> dict[str, Any]:
    """A spoken run's recognizer figures: word error rates with and without the vocabulary prompt,
    its latency, and audio to call (recognizer plus model)."""
    said = [r.query for r in records]
    other = "transcript_without_vocabulary" if setup.vocabulary else "transcript_with_vocabulary"
    transcripts = {
        setup.vocabulary: [h["transcript"] for h in heard],
        not setup.vocabulary: [h[other] for h in heard],
    }
    speech_ms = [h["speech_ms"] for h in heard if h["speech_ms"] is not None]
    total_ms = [e["speech_ms"] + e["latency_ms"] for e in run.examples if e["speech_ms"] is not None]
    return {
        "voice": voice,
        "noise": None if noise is None else str(noise),
        "stt_model": recognizer.model_name,
        "beam_size": recognizer.beam_size,
        "window_s": recognizer.window_s,
        "vocabulary_prompt": setup.vocabulary,
        "wer_with_vocabulary": round(word_error_rate(said, transcripts[True]), 1),
        "wer_without_vocabulary": round(word_error_rate(said, transcripts[False]), 1),
        "audio_s_p50": statistics.median(h["audio_s"] for h in heard if h["audio_s"]),
        "speech_ms": {"p50": _ms(speech_ms, 50), "p95": _ms(speech_ms, 95)},
        "audio_to_call_ms": {"p50": _ms(total_ms, 50), "p95": _ms(total_ms, 95)},
    }


def _ms(values: list[float], q: float) -> float | None:
    value = percentile(values, q)
    return None if value is None else round(value, 1)
