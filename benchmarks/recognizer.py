"""The recognizer's own levers, side by side in one run: the encoder's window (Whisper's 30 s
against 10 s), greedy against beam 5, with and without the device's words as its prompt; word
error rate over each plugin's eval set spoken by espeak-ng, and the recognizer's time on the 2-4 s
commands.

    python benchmarks/recognizer.py [--voice en-us:160 ...] [--output benchmarks/recognizer.md]

The searches of one clip run one after the other, clip by clip, so drift hits them alike.
No language model is loaded: this measures what the recognizer hands the model.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import date
from pathlib import Path
from typing import Any

from bijou_core.bench import machine
from bijou_core.devices import load_registry
from bijou_core.errors import BijouError
from bijou_core.evaluate.metrics import percentile
from bijou_core.evaluate.spoken import DEFAULT_VOICES
from bijou_core.files import atomic_writer, write_json
from bijou_core.models import cache_dir
from bijou_core.speech import (
    SAMPLE_RATE,
    Recognizer,
    Transcript,
    device_vocabulary,
    read_audio,
    speak,
    word_error_rate,
)

HERE = Path(__file__).parent
DEVICES = ("airpods-pro", "omi", "rayban-stories")
# (beam, device words as the prompt, window s): the old default, then each lever on the new one.
SEARCHES = ((5, False, 30), (5, False, 10), (5, True, 10), (1, False, 10))


def hear(recognizer: Recognizer, clip: Path, samples: Any, prompt: str | None) -> Transcript:
    """What the recognizer heard; nothing recognized counts as an empty transcript."""
    start = time.perf_counter()
    try:
        return recognizer.transcribe(clip, samples, prompt)
    except BijouError:
        return Transcript("", samples.size / SAMPLE_RATE, time.perf_counter() - start)


def measure(voices: tuple[str, ...]) -> list[dict]:
    """One row per device, voice and search: word error rate and recognizer times."""
    recognizer = Recognizer()
    recognizer.warm_up()
    registry = load_registry()
    rows = []
    for name in DEVICES:
        device = registry.get(name)
        words = device_vocabulary(device)
        said = [record.query for record in device.eval_set]
        for voice in voices:
            clips = [speak(query, voice, cache_dir() / "spoken-commands") for query in said]
            heard: dict[tuple[int, bool, int], list[Transcript]] = {}
            for clip in clips:
                samples = read_audio(clip)
                for beam, prompt, window in SEARCHES:
                    recognizer.beam_size, recognizer.window_s = beam, window
                    heard.setdefault((beam, prompt, window), []).append(
                        hear(recognizer, clip, samples, words if prompt else None)
                    )
            for (beam, prompt, window), transcripts in heard.items():
                short = [1000 * t.speech_s for t in transcripts if 2 <= t.audio_s <= 4]
                rows.append(
                    {
                        "device": name,
                        "voice": voice,
                        "beam": beam,
                        "prompt": prompt,
                        "window_s": window,
                        "wer": round(word_error_rate(said, [t.text for t in transcripts]), 1),
                        "commands_2_4_s": len(short),
                        "speech_ms_p50": round(percentile(short, 50), 1),
                        "speech_ms_p95": round(percentile(short, 95), 1),
                    }
                )
    return rows


def table(rows: list[dict]) -> str:
    lines = [
        "# The recognizer's levers: window, beam and prompt",
        "",
        f"`python benchmarks/recognizer.py` on {date.today()}, {machine()['cpu']}, 2 cores, nothing "
        "else running.",
        "Each plugin's eval set spoken by espeak-ng and recognized by the embedded Whisper base",
        "(faster-whisper, int8, VAD trimming, warm model), the searches of a clip one after the",
        "other. Window: the seconds of audio the encoder takes for speech up to half as long (30:",
        "Whisper's own). WER: word error rate % on the words the model is given (numbers as digits,",
        "lowercase, no punctuation). Times: the recognizer alone, over the commands whose audio is",
        "2-4 s long.",
        "",
        "| device | voice | window | search | prompt | WER | 2-4 s commands | recognizer p50 / p95 ms |",
        "| --- | --- | ---: | --- | --- | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['device']} | {r['voice']} | {r['window_s']} s | {_search(r['beam'])} "
            f"| {'device words' if r['prompt'] else 'none'} | {r['wer']:.1f} | {r['commands_2_4_s']} "
            f"| {r['speech_ms_p50']:.0f} / {r['speech_ms_p95']:.0f} |"
        )
    lines += ["", "Pooled over the devices and voices (mean of the rows):", ""]
    lines += ["| window | search | prompt | WER | recognizer p50 ms |", "| ---: | --- | --- | ---: | ---: |"]
    for beam, prompt, window in SEARCHES:
        group = [r for r in rows if (r["beam"], r["prompt"], r["window_s"]) == (beam, prompt, window)]
        wer = sum(r["wer"] for r in group) / len(group)
        p50 = sum(r["speech_ms_p50"] for r in group) / len(group)
        words = "device words" if prompt else "none"
        lines.append(f"| {window} s | {_search(beam)} | {words} | {wer:.1f} | {p50:.0f} |")
    return "\n".join(lines) + "\n"


def _search(beam: int) -> str:
    return "greedy" if beam == 1 else f"beam {beam}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--voice", action="append", help="espeak-ng voice[:wpm] (repeatable)")
    parser.add_argument("--output", type=Path, default=HERE / "recognizer.md")
    args = parser.parse_args()
    rows = measure(tuple(args.voice or DEFAULT_VOICES))
    write_json(args.output.with_suffix(".json"), {"machine": machine(), "rows": rows})
    with atomic_writer(args.output) as out:
        out.write(table(rows))
    print(json.dumps(rows[-1]))


if __name__ == "__main__":
    main()
