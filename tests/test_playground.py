"""The playground page of ``bijou serve`` in a real browser: Playwright driving the system's Chromium.

The screenshot goes to ``$BIJOU_PLAYGROUND_SCREENSHOT`` when set (``docs/playground.png`` was taken
so), else to the test's temporary folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from scripted_backend import scripted_engine
from test_serve import COMMANDS, SCRIPT

from bijou_core.devices import load_registry
from bijou_core.serve import Service, create_app
from bijou_core.serve.server import BackgroundServer

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.is_file():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing in CI: .ci/run installs Debian's chromium")
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium (CI installs it and runs this test)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def server(embedded_tokenizer_dir):
    from transformers import AutoTokenizer

    registry = load_registry()
    tokenizer = AutoTokenizer.from_pretrained(embedded_tokenizer_dir)
    engine = scripted_engine(tokenizer, [registry.get(name) for name in SCRIPT], SCRIPT)
    with BackgroundServer(create_app(Service(engine, execute=True))) as running:
        yield running


def send(page, device: str, command: str, expected: str) -> str:
    page.select_option("#device", device)
    page.fill("#command", command)
    page.click("#send")
    calls = page.locator("#calls")
    calls.filter(has_text=expected).wait_for()
    return calls.inner_text().strip()


def test_the_playground_answers_a_command_with_calls_state_and_latency(browser, server, tmp_path):
    page = browser.new_page(viewport={"width": 900, "height": 480})
    page.goto(f"{server.url}/")
    page.wait_for_selector("#device option[value='omi']", state="attached")
    assert send(page, "omi", COMMANDS["omi"], "search_conversations").endswith("-> done")
    assert page.inner_text("#changed") == "unchanged"  # a search changes nothing
    # swap devices live; a call that needs confirmation is refused unless the box is ticked
    assert "refused (not confirmed)" in send(
        page, "rayban-stories", COMMANDS["rayban-stories"], "send_message"
    )
    assert page.inner_text("#changed") == "unchanged"
    page.check("#confirm")
    assert send(page, "rayban-stories", COMMANDS["rayban-stories"], "done").endswith("-> done")
    assert page.inner_text("#changed").startswith("outbox: [")
    page.uncheck("#confirm")
    assert send(page, "airpods-pro", COMMANDS["airpods-pro"], "level") == 'set_volume({"level": 20}) -> done'
    assert page.inner_text("#changed") == "volume: 20"
    assert "prefill" in page.inner_text("#latency") and "queue" in page.inner_text("#latency")
    shot = Path(os.environ.get("BIJOU_PLAYGROUND_SCREENSHOT", tmp_path / "playground.png"))
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000


@pytest.mark.slow
def test_hold_to_talk_sends_what_the_microphone_heard(browser, server, bijou_cache):
    """Chromium's fake microphone plays a spoken command; holding the button records it, the server
    transcribes it and the transcript is sent as the command."""
    pytest.importorskip("faster_whisper", reason="voice input needs the voice extra")
    spoken = Path(__file__).parent / "data" / "voice" / "fan-speed-two.wav"
    microphone = [
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={spoken}",
    ]
    talking = browser.browser_type.launch(executable_path=str(CHROMIUM), args=[*FLAGS, *microphone])
    try:
        page = talking.new_page()
        page.goto(f"{server.url}/")
        page.wait_for_selector("#device option[value='airpods-pro']", state="attached")
        page.select_option("#device", "airpods-pro")
        talk = page.locator("#talk")
        talk.wait_for(state="visible")
        box = talk.bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.mouse.down()
        page.wait_for_selector("#talk.listening")
        page.wait_for_timeout(3000)  # the fake microphone plays the 2.6 s command
        page.mouse.up()
        # the first audio assembles and loads Whisper base in the test's fresh cache: slow on a busy CI
        page.wait_for_function("document.getElementById('command').value !== ''", timeout=180_000)
        heard = page.input_value("#command").lower()
        assert "fan" in heard and "speed" in heard, heard
        page.locator("#calls").filter(has_text="no call").wait_for()  # answered: not an airpods command
    finally:
        talking.close()
