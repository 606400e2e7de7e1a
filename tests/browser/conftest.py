"""Browser harness: Debian Chromium via Playwright, test archives built on disk, a local server."""

from __future__ import annotations

import contextlib
import email.utils
import functools
import http.server
import json
import random
import socket
import threading
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile
from PIL import Image

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
EPOCH = "2026-01-01T00:00:00Z"
EPOCH_MS = 1_767_225_600_000  # EPOCH in ms since 1970
SUB_PATH = "gallery/show"  # where the default archive sits under the served folder
ROLES = {
    "scientist": {"label": "scientist", "side": "left", "color": "green"},
    "artist": {"label": "artist", "side": "right", "color": "cyan"},
}
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21aa", "best-practice"]
# What a render writes: the optional settings left out, so the pages get Python's own defaults.
PLAYER = {"max_messages": 100, "sync": "clock", "epoch": EPOCH}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test under tests/browser as `browser`; skip them all without Chromium."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)
            if not CHROMIUM.exists():
                item.add_marker(
                    pytest.mark.skip(reason="browser: /usr/bin/chromium missing (make chromium)")
                )


# --------------------------------------------------------------------------- test archives


def synthetic_messages(
    n: int, *, seed: int = 0, selfie_every: int = 7, slow: int = 1
) -> list[dict[str, Any]]:
    """Return n paced messages (senders mostly alternate); every `selfie_every`-th has a selfie."""
    rng = random.Random(seed)
    words = ["ghost", "data", "past", "signal", "static", "echo", "window", "light", "noise"]
    messages: list[dict[str, Any]] = []
    sender, at = "scientist", 0
    for i in range(n):
        if i and rng.random() < 0.75:
            sender = "artist" if sender == "scientist" else "scientist"
        text = " ".join(rng.choice(words) for _ in range(rng.randint(2, 12)))
        # ms; `slow` stretches the pace (slow=2 is about the original's 20 s per message)
        writing_at = 0 if i == 0 else at + slow * rng.randint(1000, 4000)
        at = writing_at + slow * rng.randint(2000, 8000)
        msg: dict[str, Any] = {
            "id": f"m{i:05d}",
            "run": i // 20,
            "sender": sender,
            "text": f"{text} #{i}",
            "writing_at": writing_at,
            "at": at,
            "sound": {"src": f"media/sounds/tone{i % 2}.mp3"},
        }
        if selfie_every and i % selfie_every == selfie_every - 1:
            seed_no = 5000 + i
            msg["selfie"] = {
                "seed": seed_no,
                "src": f"media/selfies/{sender}-{seed_no}.jpg",
                "webp": f"media/selfies/{sender}-{seed_no}.webp",
                "width": 256,
                "height": 256,
                "alt": f"AI-generated selfie of the {sender}",
            }
        messages.append(msg)
    return messages


def conversation(messages: list[dict[str, Any]], **player: Any) -> dict[str, Any]:
    """Wrap messages into a conversation.json document (duration = last `at` + 5 s)."""
    return {
        "format": "ghosts-render/conversation",
        "version": 1,
        "title": "ghosts of data past",
        "roles": ROLES,
        "duration": messages[-1]["at"] + 5000,
        "player": {**PLAYER, **player},
        "messages": messages,
    }


def _write_media(archive: Path, doc: dict[str, Any]) -> None:
    """Write a real small JPEG + WebP for every selfie and a real short MP3 for every sound."""
    for msg in doc["messages"]:
        selfie = msg.get("selfie")
        if selfie and not (archive / selfie["src"]).exists():
            hue = selfie["seed"] % 255
            img = Image.new("RGB", (selfie["width"], selfie["height"]), (hue, 40, 255 - hue))
            for key, fmt in (("src", "JPEG"), ("webp", "WEBP")):
                path = archive / selfie[key]
                path.parent.mkdir(parents=True, exist_ok=True)
                img.save(path, fmt, quality=70)
        sound = msg.get("sound")
        if sound and not (archive / sound["src"]).exists():
            path = archive / sound["src"]
            path.parent.mkdir(parents=True, exist_ok=True)
            t = np.arange(int(44100 * 0.25)) / 44100
            wave = 0.3 * np.sin(2 * np.pi * (440 + 220 * len(path.name) % 3) * t)
            soundfile.write(path, wave.astype(np.float32), 44100, format="MP3")


def build_archive(archive: Path, doc: dict[str, Any], fonts: tuple[Path, ...] = ()) -> Path:
    """Write conversation.json + media into `archive` and build the site; return index.html."""
    archive.mkdir(parents=True, exist_ok=True)
    _write_media(archive, doc)
    (archive / "conversation.json").write_text(
        json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    from ghosts_render.archive.site import write_site

    write_site(archive, fonts=fonts)
    return archive / "index.html"


@pytest.fixture(scope="session")
def site_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder the HTTP server serves; archives live in sub-folders of it."""
    return tmp_path_factory.mktemp("served")


@pytest.fixture(scope="session")
def archive(site_root: Path) -> Path:
    """The default test archive (300 messages, selfies, sounds) at site_root/gallery/show."""
    path = site_root / SUB_PATH
    build_archive(path, conversation(synthetic_messages(300)))
    return path


@pytest.fixture(scope="session")
def make_archive(site_root: Path) -> Callable[..., Path]:
    """Build another archive under site_root/<name>; returns its folder."""

    def make(name: str, doc: dict[str, Any], fonts: tuple[Path, ...] = ()) -> Path:
        path = site_root / name
        build_archive(path, doc, fonts)
        return path

    return make


def load_doc(archive_dir: Path) -> dict[str, Any]:
    """Read an archive's conversation.json."""
    return json.loads((archive_dir / "conversation.json").read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- the server


class _Handler(http.server.SimpleHTTPRequestHandler):
    server_version = "ghosts-test"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        self.server.log.append(format % args)  # type: ignore[attr-defined]

    def date_time_string(self, timestamp: float | None = None) -> str:
        fake = self.server.fake_now_ms  # type: ignore[attr-defined]
        if fake is not None and timestamp is None:
            timestamp = fake / 1000
        return email.utils.formatdate(timestamp, usegmt=True)

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()


@dataclass
class Server:
    """A running static server; `fake_now_ms` sets the Date header it sends (None = real time)."""

    base: str
    httpd: http.server.ThreadingHTTPServer
    log: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"{self.base}/{path.lstrip('/')}"

    def set_date(self, ms: int | None) -> None:
        self.httpd.fake_now_ms = ms  # type: ignore[attr-defined]


def find_free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def server(site_root: Path) -> Iterator[Server]:
    """Serve site_root over http://127.0.0.1:<free port> (archives sit under sub-paths)."""
    handler = functools.partial(_Handler, directory=str(site_root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", find_free_port()), handler)
    httpd.daemon_threads = True
    srv = Server(base=f"http://127.0.0.1:{httpd.server_address[1]}", httpd=httpd)
    httpd.log = srv.log  # type: ignore[attr-defined]
    httpd.fake_now_ms = None  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield srv
    httpd.shutdown()
    httpd.server_close()


# --------------------------------------------------------------------------- the browser


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """One headless Debian Chromium for the whole session."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class Watch:
    """What a page did: console errors, uncaught errors, every request URL."""

    errors: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


def watch(page: Any) -> Watch:
    """Record console messages, page errors and requests of `page`."""
    w = Watch()

    def on_console(msg: Any) -> None:
        w.console.append(f"{msg.type}: {msg.text}")
        if msg.type == "error":
            w.errors.append(msg.text)

    page.on("console", on_console)
    page.on("pageerror", lambda exc: w.errors.append(f"pageerror: {exc}"))
    page.on("request", lambda req: w.requests.append(req.url))
    return w


@pytest.fixture
def new_context(chromium: Any) -> Iterator[Callable[..., Any]]:
    """Factory for browser contexts (closed after the test); kwargs go to new_context."""
    made: list[Any] = []

    def make(**kwargs: Any) -> Any:
        kwargs.setdefault("viewport", {"width": 420, "height": 800})
        ctx = chromium.new_context(**kwargs)
        made.append(ctx)
        return ctx

    yield make
    for ctx in made:
        with contextlib.suppress(Exception):
            ctx.close()


@pytest.fixture
def page(new_context: Callable[..., Any]) -> Any:
    """A fresh page in a fresh context (420x800, UTC)."""
    return new_context(timezone_id="UTC").new_page()


def ms(iso: str) -> int:
    """Milliseconds since 1970 of an ISO 8601 instant."""
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def open_at(page: Any, url: str, now_ms: int) -> Watch:
    """Open url with the page clock paused at now_ms; wait until the player has settled."""
    w = watch(page)
    page.clock.install(time=datetime.fromtimestamp((now_ms - 1000) / 1000, tz=UTC))
    page.clock.pause_at(datetime.fromtimestamp(now_ms / 1000, tz=UTC))
    page.goto(url)
    # data-clock: the Date-header skew check (over http) has finished.
    page.wait_for_selector("html[data-player][data-clock]", state="attached")
    return w


def state(page: Any) -> dict[str, Any]:
    """The player's visible state, read from the DOM contract."""
    return page.evaluate(
        """() => {
          const ids = [...document.querySelectorAll('[role=log] [data-message-id]')]
            .map(e => e.dataset.messageId);
          const w = document.querySelector('[data-writing]');
          return {ids, last: ids.length ? ids[ids.length - 1] : null,
                  writing: w && !w.hidden ? w.dataset.writing : null};
        }"""
    )


def expected_at(doc: dict[str, Any], position: int) -> dict[str, Any]:
    """Python reference: last shown message id and writer at a loop position (ms)."""
    msgs = doc["messages"]
    shown = [m for m in msgs if m["at"] <= position]
    nxt = msgs[len(shown)] if len(shown) < len(msgs) else None
    writing = nxt["sender"] if nxt and nxt["writing_at"] <= position < nxt["at"] else None
    return {"last": shown[-1]["id"] if shown else None, "writing": writing, "count": len(shown)}


def axe_violations(page: Any, *, exclude: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Run the bundled axe-core (axe-playwright-python's axe.min.js) and return its violations.

    First it waits for every finite animation to end (the lightbox's fade-in, a page transition):
    axe measures colour contrast through opacity, so a half-faded element fails it. Animations
    run on the document timeline, in real time, whatever page.clock does. Endless ones (the
    writing dots) are left running: they never change what axe checks.

    axe schedules its work with setTimeout, which a paused page.clock never fires: when the page
    has a fake clock, it is stepped 50 ms at a time until axe is done.
    """
    import axe_playwright_python
    from playwright.sync_api import Error

    page.evaluate(
        """() => Promise.all(document.getAnimations()
          .filter(a => a.playState === 'running' && isFinite(a.effect.getComputedTiming().endTime))
          .map(a => a.finished.catch(() => null)))"""
    )

    axe_js = Path(axe_playwright_python.__file__).with_name("axe.min.js")
    # add_script_tag(content=) would be an inline script, blocked by the page's CSP; evaluate
    # the source instead (runs in the page's main world, outside CSP's script-src).
    page.evaluate(axe_js.read_text(encoding="utf-8") + "\n;undefined")
    page.evaluate(
        """([tags, exclude]) => {
          window.__axeDone = null;
          const ctx = exclude.length ? {exclude: exclude.map(s => [s])} : document;
          axe.run(ctx, {runOnly: {type: 'tag', values: tags}}).then(r => {
            window.__axeDone = r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
              nodes: v.nodes.map(n => n.html.slice(0, 200))}));
          }, e => { window.__axeDone = [{id: 'axe-error', help: String(e)}]; });
        }""",
        [AXE_TAGS, list(exclude)],
    )
    for _ in range(600):
        done = page.evaluate("window.__axeDone")
        if done is not None:
            return list(done)
        try:
            page.clock.run_for(50)
        except Error:  # no fake clock on this page: real timers run on their own
            page.wait_for_timeout(50)
    raise AssertionError("axe-core did not finish")


def cdp_metrics(page: Any) -> dict[str, float]:
    """Nodes, JSHeapUsedSize and JSEventListeners after a forced garbage collection (CDP)."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("HeapProfiler.collectGarbage")
    cdp.send("Performance.enable")
    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    cdp.detach()
    return {k: metrics[k] for k in ("Nodes", "JSHeapUsedSize", "JSEventListeners")}


@pytest.fixture(scope="session")
def harness() -> types.SimpleNamespace:
    """The helpers above, for test modules (conftest modules are not importable by name)."""
    return types.SimpleNamespace(
        EPOCH=EPOCH, EPOCH_MS=EPOCH_MS, SUB_PATH=SUB_PATH, ROLES=ROLES,
        synthetic_messages=synthetic_messages, conversation=conversation,
        build_archive=build_archive, load_doc=load_doc, watch=watch, ms=ms,
        open_at=open_at, state=state, expected_at=expected_at,
        axe_violations=axe_violations, cdp_metrics=cdp_metrics,
    )  # fmt: skip
