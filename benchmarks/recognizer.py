"""The recognizer's own levers, side by side in one run: greedy against beam 5, with and without
the device's words as its prompt; word error rate over each plugin's eval set spoken by espeak-ng,
and the recognizer's time on the 2-4 s commands.

    python benchmarks/recognizer.py [--voice en-us:160 ...] [--output benchmarks/recognizer.md]

The four searches of one clip run one after the other, clip by clip, so drift hits them alike.
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
BEAMS = (1, 5)


def hear(recognizer: Recognizer, clip: Path, samples: Any, prompt: str | None) -> Transcript:
    """What the recognizer heard; nothing recognized counts as an empty transcript."""
    start = time.perf_counter()
    try:
        return recognizer.transcribe(clip, samples, prompt)
    except BijouError:
        return Transcript("", samples.size / SAMPLE_RATE, time.perf_counter() - start)


def measure(voices: tuple[str, ...]) -> list[dict]:
    """One row per device, voice, beam and prompt: word error rate and recognizer times."""
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
            heard: dict[tuple[int, bool], list[Transcript]] = {}
            for clip in clips:
                samples = read_audio(clip)
                for beam in BEAMS:
                    recognizer.beam_size = beam
                    for prompt in (False, True):
                        heard.setdefault((beam, prompt), []).append(
                            hear(recognizer, clip, samples, words if prompt else None)
                        )
            for (beam, prompt), transcripts in heard.items():
                short = [1000 * t.speech_s for t in transcripts if 2 <= t.audio_s <= 4]
                rows.append(
                    {
                        "device": name,
                        "voice": voice,
                        "beam": beam,
                        "prompt": prompt,
                        "wer": round(word_error_rate(said, [t.text for t in transcripts]), 1),
                        "commands_2_4_s": len(short),
                        "speech_ms_p50": round(percentile(short, 50), 1),
                        "speech_ms_p95": round(percentile(short, 95), 1),
                    }
                )
    return rows


def table(rows: list[dict]) -> str:
    lines = [
        "# The recognizer's levers: beam and prompt",
        "",
        f"`python benchmarks/recognizer.py` on {date.today()}, {machine()['cpu']}, 2 cores, nothing "
        "else running.",
        "Each plugin's eval set spoken by espeak-ng and recognized by the embedded Whisper base",
        "(faster-whisper, int8, VAD trimming, warm model), the four searches of a clip one after the",
        "other. WER: word error rate % on the words the model is given (numbers as digits, lowercase,",
        "no punctuation). Times: the recognizer alone, over the commands whose audio is 2-4 s long.",
        "",
        "| device | voice | search | prompt | WER | 2-4 s commands | recognizer p50 / p95 ms |",
        "| --- | --- | --- | --- | ---: | ---: | ---: |",
    ]
    for r in rows:
        search = "greedy" if r["beam"] == 1 else f"beam {r['beam']}"
        lines.append(
            f"| {r['device']} | {r['voice']} | {search} | {'device words' if r['prompt'] else 'none'} "
            f"| {r['wer']:.1f} | {r['commands_2_4_s']} "
            f"| {r['speech_ms_p50']:.0f} / {r['speech_ms_p95']:.0f} |"
        )
    lines += ["", "Pooled over the devices and voices (mean of the rows):", ""]
    lines += ["| search | prompt | WER | recognizer p50 ms |", "| --- | --- | ---: | ---: |"]
    for beam in BEAMS:
        for prompt in (False, True):
            group = [r for r in rows if r["beam"] == beam and r["prompt"] == prompt]
            wer = sum(r["wer"] for r in group) / len(group)
            p50 = sum(r["speech_ms_p50"] for r in group) / len(group)
            search = "greedy" if beam == 1 else f"beam {beam}"
            lines.append(f"| {search} | {'device words' if prompt else 'none'} | {wer:.1f} | {p50:.0f} |")
    return "\n".join(lines) + "\n"


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
