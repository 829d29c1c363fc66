"""Push-to-talk in the terminal: the default microphone, recorded between two Enter presses with
sounddevice (PortAudio; the voice extra), written as a WAV that then goes the way of an audio file."""

from __future__ import annotations

import wave
from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Any

from .errors import BijouError
from .files import atomic_writer


@dataclass(frozen=True)
class Microphone:
    """An input device: its name, its own sample rate, and how to open a stream on it
    (``sounddevice.InputStream``: ``samplerate``, ``channels``, ``dtype`` and ``callback``)."""

    name: str
    samplerate: int
    open_stream: Callable[..., Any]

    @classmethod
    def default(cls) -> Microphone:
        """The system's default input device; one line if sounddevice, PortAudio or a microphone
        is missing."""
        try:
            sounddevice = import_module("sounddevice")
        except ImportError:
            raise BijouError("push-to-talk needs sounddevice: pip install 'bijou-core[voice]'") from None
        except OSError:  # sounddevice loads PortAudio when imported
            raise BijouError("push-to-talk needs PortAudio: apt-get install libportaudio2") from None
        try:
            info = sounddevice.query_devices(kind="input")
        except (sounddevice.PortAudioError, ValueError) as exc:
            raise BijouError(f"push-to-talk needs a microphone: no audio input device ({exc})") from None
        return cls(info["name"], int(info["default_samplerate"]), sounddevice.InputStream)

    def record(self, path: Path, until: Callable[[], object]) -> Path:
        """Record from the microphone until ``until()`` returns (the second Enter), into ``path`` as
        a 16-bit mono WAV at the device's own rate (the recognizer resamples it)."""
        blocks: list[Any] = []

        def keep(indata: Any, frames: int, time: Any, status: Any) -> None:
            blocks.append(indata.copy())  # PortAudio reuses its buffer

        try:
            stream = self.open_stream(samplerate=self.samplerate, channels=1, dtype="int16", callback=keep)
        except Exception as exc:  # sounddevice.PortAudioError (a busy or vanished device), ValueError
            raise BijouError(f"microphone {self.name!r}: cannot record ({exc})") from None
        with stream:
            until()
        with atomic_writer(path, "wb") as out, wave.open(out, "wb") as clip:
            clip.setnchannels(1)
            clip.setsampwidth(2)
            clip.setframerate(self.samplerate)
            for block in blocks:
                clip.writeframes(block.tobytes())
        return path
