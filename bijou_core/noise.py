"""Background noise for spoken eval commands: white, pink or brown noise mixed in by sox at a
stated signal-to-noise ratio (clip RMS against noise RMS), cached by content like :func:`speak`."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .errors import BijouError
from .files import atomic_writer

KINDS = {"white": "whitenoise", "pink": "pinknoise", "brown": "brownnoise"}  # sox synth types
HEADROOM_DB = -1.0  # the mix's peak, so it never clips


@dataclass(frozen=True)
class Noise:
    """A background noise: its colour (white, pink, brown) and the SNR it is mixed at (dB)."""

    kind: str
    snr_db: float

    @classmethod
    def parse(cls, spec: str) -> Noise:
        """``KIND:SNR_DB`` (``white:15``, ``pink:10``, ``brown:-3``) as a noise; one line if not."""
        kind, _, snr = spec.partition(":")
        try:
            snr_db = float(snr)
        except ValueError:
            snr_db = float("nan")
        if kind not in KINDS or snr_db != snr_db or abs(snr_db) == float("inf"):
            raise BijouError(
                f"--noise {spec!r}: expected KIND:SNR_DB with KIND one of {', '.join(KINDS)} and "
                "SNR_DB a number of decibels (e.g. white:15)"
            )
        return cls(kind, snr_db)

    def __str__(self) -> str:
        return f"{self.kind}:{self.snr_db:g}"

    def describe(self) -> str:
        return f"{self.kind} noise at {self.snr_db:g} dB SNR"


def require_sox() -> None:
    """One line if sox, which mixes the noise, is not installed."""
    if shutil.which("sox") is None:
        raise BijouError("background noise needs sox: apt-get install sox")


def _levels(command: list[str]) -> tuple[float, float]:
    """Run sox ``command`` ending in its ``stats`` effect: the audio's RMS and peak level (dBFS)."""
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    found = dict(re.findall(r"^(RMS lev dB|Pk lev dB)\s+(\S+)", done.stderr, re.MULTILINE))
    if done.returncode or len(found) < 2:
        reason = done.stderr.strip().splitlines()[0] if done.stderr.strip() else f"exit {done.returncode}"
        raise BijouError(f"sox {' '.join(command[1:3])}: {reason}")
    return float(found["RMS lev dB"]), float(found["Pk lev dB"])


def add_noise(wav: Path, noise: Noise, folder: Path) -> Path:
    """``wav`` with ``noise`` mixed in by sox as a WAV in ``folder``, cached by content. The noise
    (repeatable: sox's fixed seed) is scaled so that the clip's RMS over the noise's RMS is the
    stated SNR; both are then scaled alike so the mix peaks at most at -1 dBFS."""
    key = hashlib.sha256(wav.read_bytes() + f"|{noise}".encode()).hexdigest()[:20]
    path = folder / f"{key}.wav"
    if path.is_file():
        return path
    require_sox()
    with tempfile.TemporaryDirectory(prefix="bijou-noise-") as tmp:
        noise_wav, mixed = Path(tmp) / "noise.wav", Path(tmp) / "mixed.wav"
        speech_rms, speech_peak = _levels(["sox", str(wav), "-n", "stats"])
        noise_rms, noise_peak = _levels(
            ["sox", "-R", str(wav), str(noise_wav), "synth", KINDS[noise.kind], "stats"]
        )
        noise_gain = 10 ** ((speech_rms - noise.snr_db - noise_rms) / 20)
        peak = 10 ** (speech_peak / 20) + noise_gain * 10 ** (noise_peak / 20)
        gain = min(1.0, 10 ** (HEADROOM_DB / 20) / peak)
        command = ["sox", "-D", "-m", "-v", f"{gain:.6g}", str(wav)]
        command += ["-v", f"{gain * noise_gain:.6g}", str(noise_wav), str(mixed)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode:
            raise BijouError(f"sox mixing {noise.describe()} into {wav}: {done.stderr.strip()}")
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_writer(path, "wb") as out:
            out.write(mixed.read_bytes())
    return path
