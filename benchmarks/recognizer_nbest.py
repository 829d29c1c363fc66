"""How much of the spoken gap a better choice among the recognizer's own hypotheses could close:
each plugin's eval set spoken by espeak-ng, Whisper base's five beam hypotheses per clip, and
the spoken exact match a perfect choice among them would reach (an upper bound for any rescoring
of the recognizer's n-best: by the device's words, by the command model, ...).

    python benchmarks/recognizer_nbest.py [--voice en-us:160 ...] [--output benchmarks/recognizer-nbest.md]

The bound takes the committed end-to-end run (`benchmarks/voice/DEVICE.json`, the same voices):
a command any hypothesis heard word for word scores as it did typed; the others keep their spoken
result. No language model is loaded.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

import numpy as np

from bijou_core.bench import machine
from bijou_core.devices import load_registry
from bijou_core.evaluate.spoken import DEFAULT_VOICES
from bijou_core.files import atomic_writer, write_json
from bijou_core.models import cache_dir
from bijou_core.speech import (
    Recognizer,
    comparable_words,
    device_vocabulary,
    read_audio,
    speak,
    word_error_rate,
)

HERE = Path(__file__).parent
DEVICES = ("airpods-pro", "omi", "rayban-stories")
HYPOTHESES = 5


def hypotheses(recognizer: Recognizer, clip: Path) -> list[str]:
    """The recognizer's beam hypotheses for ``clip``, best first (its window, beam and model; the
    whole clip, without VAD trimming)."""
    from faster_whisper.tokenizer import Tokenizer

    model = recognizer._model
    tokenizer = Tokenizer(model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language="en")
    features = model.feature_extractor(read_audio(clip))
    frames = model.feature_extractor.nb_max_frames
    features = np.pad(features, ((0, 0), (0, max(0, frames - features.shape[1]))))[:, :frames]
    encoded = model.encode(features.astype(np.float32))  # the runtime's window, zeros padding to 30 s
    prompt = [tokenizer.sot, tokenizer.language, tokenizer.transcribe, tokenizer.no_timestamps]
    result = model.model.generate(
        encoded, [prompt], beam_size=max(HYPOTHESES, recognizer.beam_size), num_hypotheses=HYPOTHESES
    )[0]
    return [tokenizer.decode([t for t in ids if t < tokenizer.eot]).strip() for ids in result.sequences_ids]


def _end_to_end(device: str, voice: str) -> tuple[list[dict], list[dict]]:
    """The committed typed and spoken runs of ``device`` (examples in eval-set order)."""
    runs = json.loads((HERE / "voice" / f"{device}.json").read_text())["runs"]
    spoken = [r for r in runs if r["name"].endswith(f"({voice})")]
    if not spoken:
        raise SystemExit(f"benchmarks/voice/{device}.json: no spoken run in voice {voice}")
    return runs[0]["examples"], spoken[0]["examples"]


def decode(voices: tuple[str, ...]) -> list[dict]:
    """Every eval command's hypotheses, per device and voice."""
    recognizer = Recognizer()
    registry = load_registry()
    runs = []
    for name in DEVICES:
        said = [record.query for record in registry.get(name).eval_set]
        for voice in voices:
            clips = [speak(q, voice, cache_dir() / "spoken-commands") for q in said]
            heard = [
                {"query": q, "heard": hypotheses(recognizer, c)} for q, c in zip(said, clips, strict=True)
            ]
            runs.append({"device": name, "voice": voice, "hypotheses": heard})
    return runs


def summarize(run: dict, vocabulary: set[str]) -> dict:
    """One table row from one device and voice's hypotheses and its committed end-to-end run."""
    typed, spoken = _end_to_end(run["device"], run["voice"])
    said = [h["query"] for h in run["hypotheses"]]
    heard = [h["heard"] for h in run["hypotheses"]]
    if [e["query"] for e in spoken] != said:
        raise SystemExit(f"benchmarks/voice/{run['device']}.json: not this eval set; run benchmarks/voice.sh")
    right = [
        any(comparable_words(h) == comparable_words(q) for h in hyps)
        for q, hyps in zip(said, heard, strict=True)
    ]
    at_runtime = [comparable_words(e["transcript"] or "") == comparable_words(e["query"]) for e in spoken]
    oracle = [
        min(hyps, key=lambda h, q=q: word_error_rate([q], [h])) for q, hyps in zip(said, heard, strict=True)
    ]
    by_words = [
        max(hyps, key=lambda h: sum(w in vocabulary for w in comparable_words(h).split())) for hyps in heard
    ]
    return {
        "device": run["device"],
        "voice": run["voice"],
        "commands": len(said),
        "wer_first": round(word_error_rate(said, [h[0] for h in heard]), 1),
        "wer_device_words": round(word_error_rate(said, by_words), 1),
        "wer_oracle": round(word_error_rate(said, oracle), 1),
        "heard_first": sum(
            comparable_words(h[0]) == comparable_words(q) for q, h in zip(said, heard, strict=True)
        ),
        "heard_any": sum(right),
        "exact_typed": sum(e["exact_match"] for e in typed),
        "exact_spoken": sum(e["exact_match"] for e in spoken),
        # a command the runtime misheard and some hypothesis heard right counts as answered right
        "exact_bound": sum(
            e["exact_match"] or (r and not rt) for e, r, rt in zip(spoken, right, at_runtime, strict=True)
        ),
    }


def _pct(n: int, total: int) -> str:
    return f"{100 * n / total:.1f}"


def table(rows: list[dict]) -> str:
    lines = [
        "# The recognizer's n-best: how much a better choice among its hypotheses could recover",
        "",
        f"`{' '.join(['python', *sys.argv])}` on {date.today()}, {machine()['cpu']}, 2 cores.",
        "Each plugin's eval set spoken by espeak-ng and decoded by the embedded Whisper base (int8, the",
        f"runtime's 10 s window, beam {HYPOTHESES}, whole clip) into its {HYPOTHESES} best hypotheses.",
        "WER %: of the first hypothesis, of the one with the most device words (tool names, enum",
        "values), and of the best one for each clip (the oracle). Heard: commands heard word for word",
        "(comparable words) by the first hypothesis, by any. Exact match %: typed and spoken from the",
        "committed end-to-end run (`voice.md`), and the bound: that run with every command the runtime",
        "misheard and some hypothesis heard word for word counted as answered right.",
        "",
        "| device | voice | WER first | WER device words | WER oracle | heard, first | heard, any "
        "| exact typed | exact spoken | exact bound | gap left |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        n = r["commands"]
        gap = 100 * (r["exact_typed"] - r["exact_bound"]) / n
        lines.append(
            f"| {r['device']} | {r['voice']} | {r['wer_first']:.1f} | {r['wer_device_words']:.1f} "
            f"| {r['wer_oracle']:.1f} | {r['heard_first']} of {n} | {r['heard_any']} of {n} "
            f"| {_pct(r['exact_typed'], n)} | {_pct(r['exact_spoken'], n)} | {_pct(r['exact_bound'], n)} "
            f"| {gap:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--voice", action="append", help="espeak-ng voice[:wpm] (repeatable)")
    parser.add_argument("--output", type=Path, default=HERE / "recognizer-nbest.md")
    parser.add_argument("--hypotheses", type=Path, help="re-score the hypotheses of an earlier run's .json")
    args = parser.parse_args()
    if args.hypotheses:
        try:
            runs = json.loads(args.hypotheses.read_text())["runs"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SystemExit(f"{args.hypotheses}: not an earlier run's hypotheses ({exc})") from None
    else:
        runs = decode(tuple(args.voice or DEFAULT_VOICES))
        write_json(args.output.with_suffix(".json"), {"machine": machine(), "runs": runs})
    registry = load_registry()
    words = {name: set(comparable_words(device_vocabulary(registry.get(name))).split()) for name in DEVICES}
    rows = [summarize(run, words[run["device"]]) for run in runs]
    with atomic_writer(args.output) as out:
        out.write(table(rows))
    print(table(rows))


if __name__ == "__main__":
    main()
