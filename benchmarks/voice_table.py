"""Summarize benchmarks/voice/DEVICE.json (``bijou devices eval --speech`` results) into
benchmarks/voice.md: typed against spoken accuracy, the recognizer's word error rate with and
without the device-vocabulary prompt, and its latency on 2-4 s commands against the whole
audio-to-call time; and where spoken accuracy is lost: on the commands the recognizer heard word
for word against the misheard ones."""

from __future__ import annotations

import json
import statistics
import sys
from datetime import date
from pathlib import Path

from bijou_core.bench import machine
from bijou_core.eval_results import EvalResults
from bijou_core.evaluate.metrics import percentile
from bijou_core.files import atomic_writer
from bijou_core.speech import comparable_words

HERE = Path(__file__).parent


def rows(device: str, results: EvalResults) -> list[str]:
    typed = next(r for r in results.runs if r.speech is None)
    out = []
    for run in (r for r in results.runs if r.speech is not None):
        s, t, sp = run.summary, typed.summary, run.speech
        short = [e for e in run.examples if e["audio_s"] and 2 <= e["audio_s"] <= 4]
        speech = [e["speech_ms"] for e in short]
        whole = [e["speech_ms"] + e["latency_ms"] for e in short]
        share = statistics.median(e["speech_ms"] / (e["speech_ms"] + e["latency_ms"]) for e in short)
        prompt = "device words" if sp["vocabulary_prompt"] else "none"
        noise = sp.get("noise") or "none"  # results from before --noise are clean
        window = sp.get("window_s", 30)  # results from before --stt-window encoded 30 s
        out.append(
            f"| {device} | {sp['voice']} | {noise} | {prompt} | {window or 30} s | "
            f"{t['function_match']:.1f} / {t['exact_match']:.1f} | "
            f"{s['function_match']:.1f} / {s['exact_match']:.1f} | "
            f"{s['exact_match'] - t['exact_match']:+.1f} | {s['schema_valid']:.1f} | "
            f"{sp['wer_without_vocabulary']:.1f} | {sp['wer_with_vocabulary']:.1f} | {len(short)} | "
            f"{percentile(speech, 50):.0f} / {percentile(speech, 95):.0f} | "
            f"{percentile(whole, 50):.0f} / {percentile(whole, 95):.0f} | {100 * share:.0f}% |"
        )
    return out


def losses(device: str, results: EvalResults) -> list[str]:
    """Per spoken run: how many commands were heard word for word, and exact match on those
    (spoken against typed, same commands) and on the misheard ones."""
    typed = next(r for r in results.runs if r.speech is None).examples
    out = []
    for run in (r for r in results.runs if r.speech is not None):
        pairs = list(zip(typed, run.examples, strict=True))
        heard = [comparable_words(s["transcript"]) == comparable_words(s["query"]) for _, s in pairs]
        right = [p for p, ok in zip(pairs, heard, strict=True) if ok]
        wrong = [p for p, ok in zip(pairs, heard, strict=True) if not ok]

        def exact(group: list, which: int) -> str:
            return f"{100 * sum(p[which]['exact_match'] for p in group) / len(group):.1f}" if group else "-"

        sp = run.speech
        out.append(
            f"| {device} | {sp['voice']} | {sp.get('noise') or 'none'} | "
            f"{len(right)} of {len(pairs)} ({100 * len(right) / len(pairs):.0f}%) | "
            f"{exact(right, 0)} | {exact(right, 1)} | {exact(wrong, 0)} | {exact(wrong, 1)} |"
        )
    return out


def main(folder: Path = HERE / "voice", target: Path = HERE / "voice.md") -> None:
    files = sorted(folder.glob("**/*.json"), key=lambda p: (p.stem, p.parent != folder))
    results = [(path.stem, EvalResults.from_json(json.loads(path.read_text()))) for path in files]
    backends = " and ".join(sorted({r.backend or "transformers" for _, r in results}))
    lines = [
        "# Voice in: spoken eval commands, recognized, answered",
        "",
        f"`benchmarks/voice.sh ADAPTERS_DIR` on {date.today()}, {machine()['cpu']}, 2 cores, "
        "nothing else running;",
        f"the default adapters (`bijou devices train DEVICE`, this round's recipe), {backends} backend,",
        "constrained decoding. Each plugin's eval set typed, then spoken by espeak-ng in two voices",
        "(`en-us` at 160 words/min, `en-gb+f3` at 140) and recognized by the embedded Whisper base",
        "(faster-whisper, int8, beam 5, VAD trimming, warm model; window: the seconds of audio it",
        "encodes for speech up to half as long, `--stt-window`), with no prompt and with the device's",
        "words (tool names, enum values) as its prompt (`--stt-vocabulary`); noise: background noise",
        "mixed in by sox at that signal-to-noise ratio (`--noise KIND:SNR_DB`; none: clean).",
        "Function / exact match %;",
        "WER: the recognizer's word error rate % on the words the model is given (numbers as digits,",
        "lowercase, no punctuation), measured both ways in every run. Latency over",
        "the commands whose audio is 2-4 s long: recognizer, whole audio to call (recognizer + model),",
        "and the recognizer's median share of it. Per-example transcripts: "
        f"`{folder.resolve().relative_to(HERE.parent)}/*.json`.",
        "",
        "| device | voice | noise | recognizer prompt | window | typed | spoken | exact Δ | schema-valid % "
        "| WER | WER, vocabulary prompt | 2-4 s commands | recognizer p50 / p95 ms "
        "| audio to call p50 / p95 ms | recognizer share |",
        "| --- | --- | --- | --- |" + " ---: |" * 11,
    ]
    for device, result in results:
        lines += rows(device, result)
    lines += [
        "",
        "## Where spoken accuracy is lost",
        "",
        "The same runs, split by whether the recognizer heard the command word for word (its",
        "transcript's comparable words equal the command's). Exact match % on each group, typed",
        "and spoken, over the same commands.",
        "",
        "| device | voice | noise | heard word for word | exact, typed | exact, spoken "
        "| misheard: exact, typed | misheard: exact, spoken |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for device, result in results:
        lines += losses(device, result)
    with atomic_writer(target) as out:
        out.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(*(Path(a) for a in sys.argv[1:]))
