"""Spoken messages in real Chromium: ping then voice, offsets, backlog, mute, pause, transcript.

One archive for the module: a copy of the session's demo render, with real short MP3 clips (a
tone each, at its own pitch) added as `voice` entries to a few messages, then rebuilt with
`site --keep-times`. The player only reads the JSON, so nothing else is shifted. The page's
audio element is real: an init script only records its events (src and currentTime).
"""

from __future__ import annotations

import functools
import http.server
import io
import json
import math
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import numpy as np
import pytest
import soundfile

VOICED = (3, 10, 11, 20)  # message indices that get a voice
CLIP_MS = 1500
RATE = 22050  # a Piper voice's own rate
TOLERANCE_S = 0.3
SPEAKING = "[role=log] .speaking"

# Records what the page's audio elements do; playback itself is untouched.
AUDIO_LOG = """
window.__audio = [];
for (const type of ['play', 'playing', 'pause', 'ended']) {
  document.addEventListener(type, (e) => {
    const a = e.target;
    window.__audio.push({type, src: a.getAttribute('src') || '', t: a.currentTime});
  }, true);   // media events do not bubble, but capture passes the document
}
"""
STORED_SOUND_ON = "localStorage.setItem('ghosts:muted', '0');"


def write_tone(path: Path, hz: float) -> int:
    """Write a CLIP_MS tone as MP3 (as the render writes voices); return its length in ms."""
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(RATE * CLIP_MS // 1000) / RATE
    soundfile.write(path, (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32), RATE, format="MP3")
    return round(soundfile.info(path).frames * 1000 / RATE)


@pytest.fixture(scope="module")
def voiced(demo_render: Path, site_root: Path) -> Path:
    """The demo render, voices on VOICED messages, rebuilt with --keep-times (under site_root)."""
    from ghosts_render.archive.rebuild import rebuild_site
    from ghosts_render.curate.sidecar import sidecar_dir

    out = site_root / "voiced"
    shutil.copytree(demo_render, out)
    if sidecar_dir(demo_render).is_dir():
        shutil.copytree(sidecar_dir(demo_render), sidecar_dir(out))
    doc = json.loads((out / "conversation.json").read_text(encoding="utf-8"))
    for n, i in enumerate(VOICED):
        m = doc["messages"][i]
        src = f"media/voices/{m['id']}.mp3"
        duration = write_tone(out / src, 330 + 110 * n)
        m["voice"] = {"src": src, "at": m["at"] + m["sound"]["duration_ms"] + 150,
                      "duration_ms": duration}  # fmt: skip
    (out / "conversation.json").write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    rebuild_site(out, keep_times=True, notes=False)
    return out


@pytest.fixture(scope="module")
def autoplay_browser(chromium: Any) -> Iterator[Any]:
    """A second Chromium that lets pages play without a gesture (as the kiosk's command line)."""
    browser = chromium.browser_type.launch(
        executable_path="/usr/bin/chromium",
        args=["--no-sandbox", "--disable-gpu", "--autoplay-policy=no-user-gesture-required"],
    )
    yield browser
    browser.close()


def msgs(archive: Path) -> list[dict[str, Any]]:
    return json.loads((archive / "conversation.json").read_text(encoding="utf-8"))["messages"]


def when(h: Any, archive: Path, pos: int) -> int:
    """Wall-clock ms at which clock sync shows loop position pos (in loop 2)."""
    duration = json.loads((archive / "conversation.json").read_text())["duration"]
    return h.EPOCH_MS + 2 * duration + pos


def open_voiced(page: Any, archive: Path, h: Any, pos: int, query: str = "") -> Any:
    page.add_init_script(AUDIO_LOG)
    return h.open_at(page, (archive / "index.html").as_uri() + query, when(h, archive, pos))


def events(page: Any, kind: str = "play") -> list[dict[str, Any]]:
    """The audio events of `kind` so far, without the silent primer clip."""
    log = page.evaluate("window.__audio")
    return [e for e in log if e["type"] == kind and not e["src"].startswith("data:")]


def wait_playing(page: Any, src: str, count: int = 1) -> dict[str, Any]:
    """Wait until `src` has really started playing `count` times (media events run in real
    time, not on the page's fake clock); return the last such event."""
    page.wait_for_function(
        """([src, n]) => window.__audio
             .filter(e => e.type === 'playing' && e.src === src).length >= n""",
        arg=[src, count],
    )
    return [e for e in events(page, "playing") if e["src"] == src][-1]


def unmute(page: Any) -> None:
    page.click("#mute")
    page.wait_for_function("() => GhostsPlayer.state.unlocked")


# --------------------------------------------------------------------------- the chat


def test_site_keeps_the_voices_and_lists_them_lazy(voiced: Path) -> None:
    js = (voiced / "conversation.js").read_text(encoding="utf-8")
    data = json.loads(js.removeprefix("window.GHOSTS_CONVERSATION = ").rstrip().rstrip(";"))
    assert [m["voice"] for m in data["messages"] if "voice" in m] == [
        msgs(voiced)[i]["voice"] for i in VOICED
    ]
    sw = (voiced / "sw.js").read_text()
    eager = json.loads(re.search(r"const PRECACHE = (\[.*?\]);", sw).group(1))
    lazy = json.loads(re.search(r"const LAZY = new Set\((\[.*?\])\.map", sw).group(1))
    voices = sorted(p.relative_to(voiced).as_posix() for p in (voiced / "media/voices").iterdir())
    assert len(voices) == len(VOICED)
    assert sorted(unquote(u) for u in lazy if u.startswith("media/voices/")) == voices
    assert not [u for u in eager if u.startswith("media/voices/")]
    assert any(u.startswith("media/sounds/") for u in eager)  # the pings stay precached


def test_ping_then_voice_at_the_messages_time(page, voiced, harness):
    m = msgs(voiced)[VOICED[0]]
    w = open_voiced(page, voiced, harness, m["at"] - 1000)
    unmute(page)
    page.clock.run_for(1000)  # the message appears live: its ping
    assert harness.state(page)["last"] == m["id"]
    assert [e["src"] for e in events(page)] == [m["sound"]["src"]]
    assert page.locator(SPEAKING).count() == 0  # the ping is not speech
    page.clock.run_for(m["voice"]["at"] - m["at"] - 1)
    assert len(events(page)) == 1
    page.clock.run_for(1)  # = voice.at: the voice, on the same element
    assert [e["src"] for e in events(page)] == [m["sound"]["src"], m["voice"]["src"]]
    assert wait_playing(page, m["voice"]["src"])["t"] < TOLERANCE_S
    assert page.evaluate("document.querySelectorAll('audio').length") == 1
    assert page.get_attribute(SPEAKING, "data-message-id") == m["id"]
    page.clock.run_for(m["voice"]["duration_ms"])  # the clip's end, on the page's clock
    assert page.locator(SPEAKING).count() == 0
    assert w.errors == [] and all(u.startswith(("file:", "data:")) for u in w.requests)


@pytest.mark.parametrize("how", ["clock", "t"])
def test_arriving_mid_clip_hears_the_rest_from_the_offset(autoplay_browser, voiced, harness, how):
    page = autoplay_browser.new_context(timezone_id="UTC").new_page()
    page.add_init_script(STORED_SOUND_ON)
    m = msgs(voiced)[VOICED[1]]
    voice = m["voice"]
    if how == "t":  # ?t= has whole seconds: the first one at least 200 ms into the clip
        pos = math.ceil((voice["at"] + 200) / 1000) * 1000
        open_voiced(page, voiced, harness, 0, f"?t={pos // 1000}")
    else:
        pos = voice["at"] + 700
        open_voiced(page, voiced, harness, pos)
    assert pos < voice["at"] + voice["duration_ms"] - 300
    played = wait_playing(page, voice["src"])
    assert played["t"] == pytest.approx((pos - voice["at"]) / 1000, abs=TOLERANCE_S)
    assert [e["src"] for e in events(page)] == [voice["src"]]  # no ping: that was backlog
    assert page.get_attribute(SPEAKING, "data-message-id") == m["id"]
    page.context.close()


def test_backlog_never_speaks(autoplay_browser, voiced, harness):
    page = autoplay_browser.new_context(timezone_id="UTC").new_page()
    page.add_init_script(STORED_SOUND_ON)
    all_msgs = msgs(voiced)
    after = all_msgs[VOICED[2]]  # every earlier clip has ended; the next message is not due
    pos = after["voice"]["at"] + after["voice"]["duration_ms"] + 50
    assert pos < all_msgs[VOICED[2] + 1]["at"]
    open_voiced(page, voiced, harness, pos)
    page.wait_for_function("() => GhostsPlayer.state.unlocked")
    page.clock.run_for(100)
    assert events(page) == []
    assert page.locator(SPEAKING).count() == 0
    # A two-hour sleep lands after more clips: still nothing.
    page.clock.fast_forward(2 * 3600 * 1000)
    page.clock.run_for(100)
    assert events(page) == []
    page.context.close()


def test_muted_the_voice_stays_silent_but_the_speaker_is_marked(page, voiced, harness):
    m = msgs(voiced)[VOICED[0]]
    open_voiced(page, voiced, harness, m["at"] - 500)
    page.clock.run_for(m["voice"]["at"] - m["at"] + 600)
    assert page.evaluate("window.__audio") == []
    assert page.get_attribute(SPEAKING, "data-message-id") == m["id"]


def test_pause_and_mute_stop_the_voice_and_resume_it_mid_clip(page, voiced, harness):
    m = msgs(voiced)[VOICED[3]]
    src = m["voice"]["src"]
    open_voiced(page, voiced, harness, m["voice"]["at"] + 200)
    unmute(page)  # sound on mid-clip: from the offset
    assert wait_playing(page, src)["t"] == pytest.approx(0.2, abs=TOLERANCE_S)

    page.click("#pause")
    assert page.evaluate("document.getElementById('sound').paused")
    assert page.locator(SPEAKING).count() == 0
    page.clock.run_for(400)
    page.click("#pause")  # un-paused 0.6 s into the clip: on from there
    assert wait_playing(page, src, 2)["t"] == pytest.approx(0.6, abs=TOLERANCE_S)
    assert page.get_attribute(SPEAKING, "data-message-id") == m["id"]

    page.click("#mute")
    assert page.evaluate("document.getElementById('sound').paused")
    page.clock.run_for(300)
    unmute(page)  # 0.9 s in
    assert wait_playing(page, src, 3)["t"] == pytest.approx(0.9, abs=TOLERANCE_S)

    page.click("#mute")
    page.clock.run_for(m["voice"]["duration_ms"])  # past the clip: nothing to resume
    plays = len(events(page))
    unmute(page)
    page.clock.run_for(10)
    assert len(events(page)) == plays


def test_a_refused_voice_plays_from_its_offset_after_a_tap(page, voiced, harness):
    m = msgs(voiced)[VOICED[0]]
    src = m["voice"]["src"]
    # The browser refuses the voice once (as iOS does when the element lost its unlock).
    page.add_init_script(
        "const realPlay = HTMLMediaElement.prototype.play; let refused = false;"
        "HTMLMediaElement.prototype.play = function () {"
        "  if (!refused && this.getAttribute('src').includes('/voices/')) { refused = true;"
        "    return Promise.reject(new DOMException('blocked', 'NotAllowedError')); }"
        "  return realPlay.call(this); };"
    )
    open_voiced(page, voiced, harness, m["voice"]["at"] - 100)
    unmute(page)
    page.clock.run_for(100)
    page.wait_for_selector("#hint", state="visible")
    page.clock.run_for(500)
    page.click("#hint")
    assert wait_playing(page, src)["t"] == pytest.approx(0.5, abs=TOLERANCE_S)


def test_the_speaking_state_is_visible_and_described(page, new_context, voiced, harness):
    m = msgs(voiced)[VOICED[0]]
    open_voiced(page, voiced, harness, m["voice"]["at"] + 100, "?debug=1")
    node = page.locator(SPEAKING)
    assert node.get_attribute("data-message-id") == m["id"]
    label = node.get_attribute("aria-describedby")
    assert page.text_content(f"#{label}") == "speaking"
    bubble = page.locator(f"{SPEAKING} .msg__bubble")
    assert bubble.evaluate("b => getComputedStyle(b).boxShadow") != "none"
    assert bubble.evaluate("b => getComputedStyle(b).animationName") == "ghosts-speak"
    page.clock.run_for(1000)  # the overlay redraws every second
    assert f"voice     {m['id']} 1." in page.text_content("#debug")
    assert harness.axe_violations(page, exclude=("#debug",)) == []

    calm = new_context(timezone_id="UTC", reduced_motion="reduce").new_page()
    open_voiced(calm, voiced, harness, m["voice"]["at"] + 100)
    still = calm.locator(f"{SPEAKING} .msg__bubble")
    assert still.evaluate("b => getComputedStyle(b).animationName") == "none"
    assert still.evaluate("b => getComputedStyle(b).boxShadow") != "none"


# --------------------------------------------------------------------------- the transcript


def test_transcript_play_buttons_share_one_audio_element(page, voiced, harness):
    all_msgs = msgs(voiced)
    w = harness.watch(page)
    page.add_init_script(AUDIO_LOG)
    page.goto((voiced / "transcript.html").as_uri())
    buttons = page.locator("button.t-msg__play")
    assert buttons.count() == len(VOICED)
    first, second = (all_msgs[i] for i in VOICED[:2])
    # The accessible name says what a press does: "play ..." until it plays, then "stop ...".
    page.get_by_role("button", name=f"play {first['id']}'s voice").click()
    one = page.get_by_role("button", name=f"stop {first['id']}'s voice")
    # No aria-pressed besides the name: "stop …, pressed" would say the state twice, wrongly.
    assert one.get_attribute("aria-pressed") is None
    wait_playing(page, first["voice"]["src"])
    page.get_by_role("button", name=f"play {second['id']}'s voice").click()
    two = page.get_by_role("button", name=f"stop {second['id']}'s voice")
    # The first stops: one element, one voice at a time.
    assert page.get_by_role("button", name=f"play {first['id']}'s voice").count() == 1
    wait_playing(page, second["voice"]["src"])
    assert page.evaluate("document.querySelectorAll('audio').length") == 1
    two.click()
    assert page.evaluate("document.getElementById('voice').paused")
    assert page.get_by_role("button", name=f"play {second['id']}'s voice").count() == 1
    assert w.errors == []
    assert harness.axe_violations(page) == []  # (axe itself cannot read styles from file://)


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Static files with byte ranges (206), as real static hosts answer a media element."""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def send_head(self) -> Any:
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        path = Path(self.translate_path(self.path))
        if not match or not path.is_file():
            return super().send_head()
        body = path.read_bytes()
        start, end = int(match[1]), min(int(match[2] or len(body) - 1), len(body) - 1)
        self.send_response(206)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Content-Range", f"bytes {start}-{end}/{len(body)}")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        return io.BytesIO(body[start : end + 1])


@pytest.fixture(scope="module")
def range_server(voiced: Path) -> Iterator[str]:
    """Serve the voiced archive with byte ranges; yield its base URL."""
    handler = functools.partial(RangeHandler, directory=str(voiced))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


def test_service_worker_keeps_a_voice_on_first_play(new_context, range_server, voiced):
    context = new_context(timezone_id="UTC")
    page = context.new_page()
    page.add_init_script(AUDIO_LOG)
    base = range_server
    page.goto(base + "transcript.html")
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")
    m = msgs(voiced)[VOICED[0]]
    # Whether the archive's cache holds src, polled in the page (the worker writes on its own).
    cached = """async ([src, tries]) => {
      const url = new URL(src, location.href).href;
      for (let i = 0; i < tries; i++) {
        for (const key of await caches.keys()) {
          if (await (await caches.open(key)).match(url)) return true;
        }
        await new Promise((done) => setTimeout(done, 50));
      }
      return false;
    }"""
    assert page.evaluate(cached, [m["voice"]["src"], 1]) is False  # not at install
    page.get_by_role("button", name=f"play {m['id']}'s voice").click()
    wait_playing(page, m["voice"]["src"])
    assert page.evaluate(cached, [m["voice"]["src"], 200]) is True
