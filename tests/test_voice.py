"""Voice in: ``bijou run --audio`` recognizes a real WAV with the embedded Whisper base, then answers
its transcript like a typed command; bad audio is one clear line before any model loads."""

from __future__ import annotations

import base64
import json
import os
import shutil
import sys
import wave
from contextlib import suppress
from pathlib import Path

import httpx
import numpy as np
import pytest
from click.testing import CliRunner
from tiny_adapters import write_random_adapters

from bijou_core.cli import main
from bijou_core.errors import BijouError
from bijou_core.microphone import Microphone
from bijou_core.noise import Noise, add_noise
from bijou_core.runtime.engine import Engine
from bijou_core.serve import Service, create_app
from bijou_core.serve.server import BackgroundServer
from bijou_core.speech import Recognizer, comparable_words, device_vocabulary, read_audio, word_error_rate

pytest.importorskip("faster_whisper", reason="voice input needs the voice extra")

SPOKEN = Path(__file__).parent / "data" / "voice" / "fan-speed-two.wav"  # espeak-ng, 16 kHz mono


@pytest.fixture(scope="module")
def adapters_dir(tmp_path_factory, tiny_model_dir, home):
    return write_random_adapters(tmp_path_factory.mktemp("adapters"), tiny_model_dir, home, ["fan"])


@pytest.fixture
def run(monkeypatch, home, adapters_dir, bijou_cache):
    monkeypatch.setattr("bijou_core.cli.devices.load_registry", lambda: home)

    def invoke(*args: str, input: str | None = None):
        base = ["run", "--adapters-dir", str(adapters_dir), "--backend", "transformers", "--device", "fan"]
        return CliRunner().invoke(main, [*base, *args], input=input)

    return invoke


@pytest.mark.slow
def test_a_spoken_command_is_recognized_and_answered_like_typed_text(run, home, bijou_cache):
    result = run("--audio", str(SPOKEN), "--audio", str(SPOKEN))
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == 2
    for record in records:
        heard = record["transcript"].lower()
        assert "fan" in heard and "speed" in heard and ("2" in heard or "two" in heard), heard
        assert record["command"] == record["transcript"]  # the recognizer's text is the command
        assert record["device"] == "fan" and record["valid"]
        assert home.get("fan").validator.is_valid(record["calls"])
        assert record["latency_ms"]["speech"] > 0 and record["latency_ms"]["prefill"] > 0
        assert 2.0 < record["audio_s"] < 3.5
    assert (bijou_cache / "whisper-base" / "model.bin").stat().st_size == 145_217_532


class WavInputStream:
    """Stands in for ``sounddevice.InputStream``: while open, the callback gets the committed WAV's
    samples in 1024-frame blocks, as a microphone would hand them over."""

    def __init__(self, samplerate: int, channels: int, dtype: str, callback) -> None:
        with wave.open(str(SPOKEN)) as clip:
            assert (samplerate, channels, dtype) == (clip.getframerate(), 1, "int16")
            self.samples = np.frombuffer(clip.readframes(clip.getnframes()), dtype=np.int16).reshape(-1, 1)
        self.callback = callback

    def __enter__(self):
        for start in range(0, len(self.samples), 1024):
            block = self.samples[start : start + 1024].copy()
            self.callback(block, len(block), None, None)
            block[:] = 0  # PortAudio reuses its buffer: a recorder must have copied it
        return self

    def __exit__(self, *exc) -> None:
        return None


@pytest.mark.slow
def test_push_to_talk_records_between_two_enters_and_answers_like_audio(run, monkeypatch, home):
    microphone = Microphone("test microphone", 16_000, WavInputStream)
    monkeypatch.setattr(Microphone, "default", staticmethod(lambda: microphone))
    result = run("--listen", "--stt-beam-size", "1", input="\n\nfan to two\n\n\n")  # greedy
    assert result.exit_code == 0, result.output
    spoken, typed, again = (json.loads(line) for line in result.stdout.splitlines())
    heard = comparable_words(spoken["transcript"])
    assert heard.startswith("turn the fan on at speed 2"), heard
    assert spoken["command"] == spoken["transcript"] and spoken["valid"]
    assert home.get("fan").validator.is_valid(spoken["calls"])
    assert 2.0 < spoken["audio_s"] < 3.5  # the whole clip was recorded
    assert all(spoken["latency_ms"][part] > 0 for part in ("speech", "prefill", "decode"))
    assert typed["command"] == "fan to two" and "transcript" not in typed
    assert again["transcript"] == spoken["transcript"]


def test_a_missing_microphone_is_one_line_before_any_model_loads(run, monkeypatch):
    monkeypatch.setattr(Engine, "load", lambda *a, **k: pytest.fail("a model loaded"))
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # not installed
    result = run("--listen")
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert result.output == "Error: push-to-talk needs sounddevice: pip install 'bijou-core[voice]'\n"
    monkeypatch.delitem(sys.modules, "sounddevice")
    try:
        import sounddevice
    except OSError:  # sounddevice without PortAudio
        expected = "Error: push-to-talk needs PortAudio: apt-get install libportaudio2"
    else:
        with suppress(sounddevice.PortAudioError, ValueError):
            pytest.skip(f"this machine has a microphone: {sounddevice.query_devices(kind='input')['name']}")
        expected = "Error: push-to-talk needs a microphone: no audio input device"
    result = run("--listen")
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert result.output.startswith(expected), result.output


class _Encodes:
    """A recognizer's CTranslate2 model, recording how many frames each encoder call took."""

    def __init__(self, model) -> None:
        self.model, self.frames = model, []

    def encode(self, features, **kwargs):
        self.frames.append(features.shape[-1])
        return self.model.encode(features, **kwargs)

    def __getattr__(self, name: str):
        return getattr(self.model, name)


@pytest.mark.slow
def test_a_short_command_is_encoded_in_a_10_s_window_and_heard_the_same(bijou_cache):
    recognizer = Recognizer()
    spy = recognizer._model.model = _Encodes(recognizer._model.model)
    short = recognizer.transcribe(SPOKEN).text
    recognizer.window_s = 0
    assert recognizer.transcribe(SPOKEN).text == short
    assert "fan" in short.lower(), short
    assert spy.frames == [1000, 3000]  # 10 s, then Whisper's own 30 s

    recognizer.window_s = 10
    spy.frames.clear()
    samples = read_audio(SPOKEN)
    longer = np.concatenate([samples, np.zeros(4_000, np.float32)] * 3)  # the command thrice: 8 s of speech
    assert "fan" in recognizer.transcribe(SPOKEN, longer).text.lower()
    assert spy.frames == [3000]  # more than half the short window: the full one


@pytest.mark.parametrize("window", ["5", "31", "-1"])
def test_a_bad_speech_window_is_refused_before_any_model_loads(run, monkeypatch, window):
    monkeypatch.setattr(Recognizer, "__init__", lambda *a, **k: pytest.fail("a recognizer loaded"))
    monkeypatch.setattr(Engine, "load", lambda *a, **k: pytest.fail("a model loaded"))
    result = run("--audio", str(SPOKEN), "--stt-window", window)
    assert result.exit_code == 2
    assert "Invalid value for '--stt-window'" in result.output


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _silence(path: Path) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16_000)
        out.writeframes(b"\0\0" * 16_000)
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: tmp / "absent.wav", "no such audio file"),
        (lambda tmp: shutil.copy(SPOKEN, tmp / "command.txt"), "unsupported audio format '.txt'"),
        (lambda tmp: _write(tmp / "broken.wav", b"RIFF\0\0\0\0WAVEjunk" * 64), "not readable as audio"),
        (lambda tmp: _silence(tmp / "quiet.wav"), "silence (no sound above -50 dBFS)"),
    ],
    ids=["missing", "unsupported", "corrupt", "silence"],
)
def test_bad_audio_is_one_clear_line_naming_the_file(run, tmp_path, make, message):
    path = Path(make(tmp_path))
    result = run("--audio", str(path))
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {path}: ") and result.output.count("\n") == 1
    assert message in result.output


def debian_tool(name: str) -> None:
    """Skip without Debian's ``name``, except in CI, whose .ci/run installs it: there, fail."""
    if shutil.which(name) is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is missing in CI: .ci/run installs Debian's {name}")
        pytest.skip(f"{name} is missing: apt-get install {name} (CI installs it and runs this test)")


@pytest.fixture
def espeak_ng() -> None:
    debian_tool("espeak-ng")


@pytest.fixture
def sox() -> None:
    debian_tool("sox")


@pytest.mark.slow
def test_eval_speech_scores_spoken_commands_and_keeps_every_transcript(
    espeak_ng, sox, monkeypatch, home, adapters_dir, bijou_cache, tmp_path
):
    monkeypatch.setattr("bijou_core.cli.devices.load_registry", lambda: home)
    output = tmp_path / "results.json"
    args = ["devices", "eval", "fan", "--adapter", str(adapters_dir / "fan"), "--speech"]
    args += ["--voice", "en-us:150", "--noise", "none", "--noise", "pink:20", "--output", str(output)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    typed, spoken, noisy = json.loads(output.read_text())["runs"]
    assert typed["name"] == "base+adapter" and spoken["name"] == "base+adapter, spoken (en-us:150)"
    assert noisy["name"] == "base+adapter, spoken (en-us:150, pink noise at 20 dB SNR)"
    assert (spoken["speech"]["noise"], noisy["speech"]["noise"]) == (None, "pink:20")
    said = [e["query"] for e in typed["examples"]]
    assert [e["query"] for e in spoken["examples"]] == said == ["fan to two", "is it raining"]
    heard = [comparable_words(e["transcript"]) for e in spoken["examples"]]
    assert heard[0].endswith("2") and heard[1].endswith("raining"), heard  # espeak: "fanta 2"
    assert all(e["transcript_without_vocabulary"] for e in spoken["examples"])  # measured both ways
    assert spoken["speech"]["vocabulary_prompt"] is True  # the device's words, by default
    assert spoken["speech"]["wer_with_vocabulary"] == round(
        word_error_rate(said, [e["transcript"] for e in spoken["examples"]]), 1
    )
    assert spoken["speech"]["speech_ms"]["p50"] > 0 and spoken["summary"]["examples"] == 2
    assert noisy["summary"]["examples"] == 2 and noisy["speech"]["speech_ms"]["p50"] > 0
    assert "word error rate %, no prompt" in result.output
    assert "spoken (en-us:150, pink noise at 20 dB SNR)" in result.output


def _samples(path: Path) -> np.ndarray:
    with wave.open(str(path)) as clip:
        return np.frombuffer(clip.readframes(clip.getnframes()), dtype=np.int16).astype(np.float64)


@pytest.mark.parametrize("spec", ["white:15", "pink:10", "brown:20", "white:0"])
def test_noise_is_mixed_in_at_the_stated_signal_to_noise_ratio(sox, tmp_path, spec):
    noisy = add_noise(SPOKEN, Noise.parse(spec), tmp_path)
    clean, mixed = _samples(SPOKEN), _samples(noisy)
    assert mixed.shape == clean.shape
    scale = mixed @ clean / (clean @ clean)  # the mix is scale * (speech + noise), noise uncorrelated
    noise = mixed / scale - clean
    snr = 20 * np.log10(np.sqrt(np.mean(clean**2)) / np.sqrt(np.mean(noise**2)))
    assert snr == pytest.approx(Noise.parse(spec).snr_db, abs=0.5)
    assert np.abs(mixed).max() < 32_767  # never clipped


def test_noisy_clips_are_cached_by_content(sox, tmp_path, monkeypatch):
    first = add_noise(SPOKEN, Noise.parse("brown:10"), tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))  # sox cannot run again: the cache answers
    assert add_noise(SPOKEN, Noise.parse("brown:10.0"), tmp_path) == first
    other = shutil.copy(SPOKEN, tmp_path / "other.wav")
    with pytest.raises(BijouError, match="background noise needs sox"):  # same name, new content
        add_noise(Path(other), Noise.parse("white:10"), tmp_path)


@pytest.mark.parametrize(
    ("noise", "message"),
    [
        ("purple:10", "--noise 'purple:10': expected KIND:SNR_DB with KIND one of white, pink, brown"),
        ("white", "--noise 'white': expected KIND:SNR_DB"),
        ("pink:loud", "--noise 'pink:loud': expected KIND:SNR_DB"),
        ("brown:nan", "--noise 'brown:nan': expected KIND:SNR_DB"),
        ("white:15", "background noise needs sox: apt-get install sox"),
    ],
    ids=["kind", "no-snr", "snr-word", "snr-nan", "no-sox"],
)
def test_bad_noise_or_no_sox_is_one_line_before_any_model_loads(monkeypatch, home, tmp_path, noise, message):
    monkeypatch.setattr("bijou_core.cli.devices.load_registry", lambda: home)
    monkeypatch.setenv("PATH", str(tmp_path))  # no sox
    monkeypatch.setattr(Engine, "load", lambda *a, **k: pytest.fail("a model loaded"))
    result = CliRunner().invoke(main, ["devices", "eval", "fan", "--speech", "--noise", noise])
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {message}") and result.output.count("\n") == 1


def test_transcripts_are_compared_on_the_words_the_model_is_given():
    assert comparable_words("Set it to 65%, please!") == comparable_words(
        "set it to sixty five percent please"
    )
    assert word_error_rate(["turn it up"], ["Turn it up."]) == 0
    assert word_error_rate(["turn it up"], ["burn it up"]) == pytest.approx(100 / 3)


@pytest.fixture
def served_fan(adapters_dir, home, bijou_cache):
    """``bijou serve`` on the fan adapter, in the background: the server and an OpenAI client."""
    openai = pytest.importorskip("openai")
    engine = Engine.load({"fan": adapters_dir / "fan"}, registry=home)
    with BackgroundServer(create_app(Service(engine))) as running:
        yield running, openai.OpenAI(base_url=f"{running.url}/v1", api_key="unused", max_retries=0)


@pytest.mark.slow
def test_serve_transcribes_audio_for_the_openai_client(served_fan, tmp_path):
    import openai

    _, client = served_fan
    with SPOKEN.open("rb") as audio:
        heard = client.audio.transcriptions.create(model="whisper-base", file=audio).text
    assert comparable_words(heard).startswith("turn the fan on at speed 2"), heard
    with SPOKEN.open("rb") as audio:
        text = client.audio.transcriptions.create(model="whisper-base", file=audio, response_format="text")
    assert text.strip() == heard
    quiet = _silence(tmp_path / "quiet.wav").open("rb")
    with quiet, pytest.raises(openai.BadRequestError, match=r"quiet.wav: silence \(no sound above"):
        client.audio.transcriptions.create(model="whisper-base", file=quiet)
    with pytest.raises(openai.BadRequestError, match="expected a multipart form"):
        client.post("/audio/transcriptions", body={"file": "x"}, cast_to=object)


@pytest.mark.slow
def test_serve_hears_audio_for_a_device_with_that_devices_words(adapters_dir, home, bijou_cache, monkeypatch):
    prompts = []
    transcribe = Recognizer.transcribe

    def spy(self, path, samples=None, vocabulary=None):
        prompts.append(vocabulary)
        return transcribe(self, path, samples, vocabulary)

    monkeypatch.setattr(Recognizer, "transcribe", spy)
    engine = Engine.load({"fan": adapters_dir / "fan"}, registry=home)
    words = device_vocabulary(home.get("fan"))
    chat = {"model": "fan", "messages": [{"role": "user", "content": [_spoken(SPOKEN)]}]}
    for vocabulary in (True, False):
        prompts.clear()
        with BackgroundServer(create_app(Service(engine, vocabulary=vocabulary))) as running:
            for fields in ({"model": "fan"}, {"model": "whisper-1"}, {"model": "fan", "prompt": "fan speed"}):
                files = {"file": ("command.wav", SPOKEN.read_bytes())}
                response = httpx.post(
                    f"{running.url}/v1/audio/transcriptions", files=files, data=fields, timeout=60
                )
                assert comparable_words(response.json()["text"]).startswith("turn the fan on"), response.text
            response = httpx.post(f"{running.url}/v1/chat/completions", json=chat, timeout=60)
            assert response.json()["x_bijou"]["valid"], response.text
            as_file = {"file": ("command.wav", SPOKEN.read_bytes()), "prompt": ("prompt.txt", b"fan")}
            response = httpx.post(f"{running.url}/v1/audio/transcriptions", files=as_file, timeout=60)
            assert response.status_code == 400 and response.json()["error"]["param"] == "prompt"
        own = words if vocabulary else None  # --no-stt-vocabulary: none of the device's words
        assert prompts == [own, None, "fan speed", own]


def _spoken(path: Path, audio_format: str = "wav") -> dict:
    data = base64.b64encode(path.read_bytes()).decode()
    return {"type": "input_audio", "input_audio": {"data": data, "format": audio_format}}


@pytest.mark.slow
def test_serve_answers_a_chat_request_spoken_as_input_audio(served_fan, home, tmp_path):
    running, client = served_fan

    def ask(content, **options):
        messages = [{"role": "user", "content": content}]
        return client.chat.completions.create(model="fan", messages=messages, **options)

    said = ask([_spoken(SPOKEN)])
    heard = said.model_extra["x_bijou"]
    assert comparable_words(heard["transcript"]).startswith("turn the fan on at speed 2"), heard
    assert heard["command"] == heard["transcript"]  # the recognizer's text is the command
    assert heard["latency_ms"]["speech"] > 0 and 2.0 < heard["audio_s"] < 3.5
    assert heard["valid"] and home.get("fan").validator.is_valid(heard["calls"])
    typed = ask(heard["transcript"]).model_extra["x_bijou"]
    assert "transcript" not in typed and "speech" not in typed["latency_ms"]
    same = ("command", "text", "calls", "valid", "declined", "p_call")
    assert {k: heard[k] for k in same} == {k: typed[k] for k in same}  # answered like typed
    chunks = list(ask([{"type": "text", "text": ""}, _spoken(SPOKEN)], stream=True))
    assert chunks[-1].model_extra["x_bijou"]["transcript"] == heard["transcript"]

    bad = {
        "silence": (_spoken(_silence(tmp_path / "quiet.wav")), "", "input_audio.wav: silence (no sound"),
        "corrupt": (
            _spoken(_write(tmp_path / "junk.wav", b"RIFF\0\0\0\0WAVEjunk" * 64)),
            "",
            "input_audio.wav: not readable as audio",
        ),
        "format": (_spoken(SPOKEN, "flac"), ".format", "Input should be 'wav' or 'mp3'"),
        "base64": (
            {"type": "input_audio", "input_audio": {"data": "RIFF!!not base64", "format": "wav"}},
            ".data",
            "not base64",
        ),
    }
    for name, (part, field, says) in bad.items():
        body = {"model": "fan", "messages": [{"role": "user", "content": [part]}]}
        response = httpx.post(f"{running.url}/v1/chat/completions", json=body, timeout=60)
        assert response.status_code == 400, (name, response.text)
        error = response.json()["error"]
        assert error["param"] == f"messages.0.content.0.input_audio{field}", (name, error)
        assert says in error["message"] and error["type"] == "invalid_request_error", (name, error)
    assert httpx.get(f"{running.url}/health").json()["status"] == "ok"  # the server lives on
