"""The pages beside the chat, in real Chromium: about, lost, link, transcript, service worker."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import segno

from ghosts_render.archive.media import render_qr_matrix

PUBLIC_URL = "https://example.org/ghosts/"
HOSTILE = '<img src=x onerror="window.pwned = 1"><script>window.pwned = 2</script> echo'


@pytest.fixture(scope="module")
def pages_archive(make_archive: Any, harness: SimpleNamespace) -> Path:
    """An archive with a public URL and a hostile message, for the link and transcript pages."""
    messages = harness.synthetic_messages(40, seed=3)
    messages[5]["text"] = HOSTILE
    return make_archive("pages/show", harness.conversation(messages, public_url=PUBLIC_URL))


@pytest.fixture(scope="module")
def day_archive(make_archive: Any, harness: SimpleNamespace) -> Path:
    """An archive whose link page carries a day key for 2026-05-30 .. 2026-06-02."""
    doc = harness.conversation(
        harness.synthetic_messages(10, seed=4), public_url=PUBLIC_URL, day_key=True,
        valid_from="2026-05-30", valid_until="2026-06-02",
    )  # fmt: skip
    return make_archive("days/show", doc)


def _open(page: Any, url: str, harness: SimpleNamespace) -> Any:
    w = harness.watch(page)
    page.goto(url)
    page.wait_for_load_state("load")
    return w


def _segno(text: str) -> list[list[bool]]:
    return [[bool(v) for v in row] for row in segno.make(text, error="q", boost_error=False).matrix]


def _shown_qr(page: Any) -> tuple[str, list[list[bool]]]:
    """The caption and the module matrix of the QR code the link page shows."""
    found = page.evaluate(
        """() => {
          const fig = [...document.querySelectorAll('.link__code')].find(f => !f.hidden);
          const svg = fig.querySelector('svg');
          return {size: svg.viewBox.baseVal.width - 8,
                  d: svg.querySelector('path').getAttribute('d'),
                  text: fig.querySelector('figcaption').textContent,
                  width: svg.getBoundingClientRect().width};
        }"""
    )
    assert found["width"] > 100  # drawn at a scannable size
    return found["text"], render_qr_matrix(found["d"], int(found["size"]))


def test_about_sidenote_opens_by_click_and_keyboard(
    new_context: Any, server: Any, archive: Path, harness: SimpleNamespace
) -> None:
    page = new_context(viewport={"width": 420, "height": 800}).new_page()
    w = _open(page, server.url(f"{harness.SUB_PATH}/about.html"), harness)
    button, note = page.locator("#snref-1"), page.locator("#sn-1")
    assert button.get_attribute("aria-expanded") == "false" and not note.is_visible()
    button.click()
    assert button.get_attribute("aria-expanded") == "true" and note.is_visible()
    assert harness.axe_violations(page) == []
    button.focus()
    page.keyboard.press("Enter")
    assert button.get_attribute("aria-expanded") == "false" and not note.is_visible()
    page.keyboard.press("Space")
    assert note.is_visible()
    assert w.errors == []


def test_about_sidenotes_sit_in_the_margin_on_wide_screens(
    new_context: Any, server: Any, archive: Path, harness: SimpleNamespace
) -> None:
    page = new_context(viewport={"width": 1400, "height": 900}).new_page()
    _open(page, server.url(f"{harness.SUB_PATH}/about.html"), harness)
    note = page.locator("#sn-1").bounding_box()
    text = page.locator(".doc-body").bounding_box()
    assert note is not None and text is not None
    assert note["x"] >= text["x"] + text["width"]  # beside the text column, not inside it
    assert harness.axe_violations(page) == []


def test_lost_page_is_accessible(page: Any, server: Any, archive: Path, harness: Any) -> None:
    w = _open(page, server.url(f"{harness.SUB_PATH}/lost.html"), harness)
    assert "connection lost" in page.locator(".lost__bubble").inner_text()
    assert harness.axe_violations(page) == []
    assert w.errors == []


def test_link_page_qr_decodes_to_the_public_url_and_drifts(
    new_context: Any, server: Any, pages_archive: Path, harness: SimpleNamespace
) -> None:
    page = new_context(viewport={"width": 1280, "height": 800}).new_page()
    w = _open(page, server.url("pages/show/link.html"), harness)
    caption, matrix = _shown_qr(page)
    assert caption == PUBLIC_URL and matrix == _segno(PUBLIC_URL)
    animation = page.eval_on_selector(".link__drift", "e => getComputedStyle(e).animationName")
    assert "drift" in animation
    assert harness.axe_violations(page) == []
    assert w.errors == []
    still = new_context(reduced_motion="reduce").new_page()
    _open(still, server.url("pages/show/link.html"), harness)
    assert (
        still.eval_on_selector(".link__drift", "e => getComputedStyle(e).animationName") == "none"
    )


def test_link_page_shows_the_code_of_the_local_day(
    new_context: Any, server: Any, day_archive: Path, harness: SimpleNamespace
) -> None:
    page = new_context(timezone_id="Asia/Tokyo").new_page()
    # 2026-05-31 20:00 UTC is already June 1st in Tokyo.
    page.clock.install(time=datetime(2026, 5, 31, 20, 0, tzinfo=UTC))
    _open(page, server.url("days/show/link.html"), harness)
    caption, matrix = _shown_qr(page)
    assert caption == f"{PUBLIC_URL}?day=2026-06-01" and matrix == _segno(caption)


def test_transcript_search_finds_messages_as_text(
    page: Any, server: Any, pages_archive: Path, harness: SimpleNamespace
) -> None:
    w = _open(page, server.url("pages/show/transcript.html"), harness)
    doc = harness.load_doc(pages_archive)
    expected = [m["id"] for m in doc["messages"] if "echo" in m["text"].lower()]
    assert len(expected) > 1
    page.fill("#search-input", "ECHO")
    page.wait_for_function("() => document.getElementById('search-status').textContent !== ''")
    found = page.eval_on_selector_all(
        "#search-results li", "ls => ls.map(l => l.dataset.messageId)"
    )
    assert found == expected
    assert page.locator("#search-status").inner_text().startswith(f"{len(expected)} messages")
    hostile = page.locator(f"#search-results li[data-message-id='{doc['messages'][5]['id']}'] a")
    assert HOSTILE in hostile.inner_text()
    assert page.evaluate("window.pwned") is None
    hostile.click()
    page.wait_for_url("**/transcript.html#m00005")
    assert harness.axe_violations(page) == []
    assert w.errors == []


def test_pages_open_from_file_without_errors(page: Any, archive: Path, harness: Any) -> None:
    w = harness.watch(page)
    for name in ("about.html", "transcript.html", "link.html", "lost.html"):
        page.goto((archive / name).as_uri())
        page.wait_for_load_state("load")
        icon = page.eval_on_selector("link[rel=icon]", "l => l.getAttribute('href')")
        assert icon.startswith("assets/icons/favicon-") and (archive / icon).is_file()
    assert w.errors == []


def _requests_of(context: Any) -> list[str]:
    urls: list[str] = []
    context.on("request", lambda req: urls.append(req.url))
    return urls


def test_service_worker_keeps_playing_offline_and_answers_ranges(
    new_context: Any, server: Any, archive: Path, harness: SimpleNamespace
) -> None:
    context = new_context(timezone_id="UTC")
    requests = _requests_of(context)
    page = context.new_page()
    base = server.url(f"{harness.SUB_PATH}/")
    now = harness.EPOCH_MS + 30 * 60 * 1000
    server.set_date(now)  # the Date header agrees with the page's clock: no skew correction
    try:
        harness.open_at(page, base + "index.html", now)
        scope = page.evaluate("navigator.serviceWorker.ready.then(r => r.scope)")
        assert scope == base  # the archive folder, not the host's root
        page.wait_for_function("() => navigator.serviceWorker.controller !== null")
        context.set_offline(True)
        page.reload()
        page.wait_for_function("() => document.documentElement.dataset.player === 'ready'")
    finally:
        server.set_date(None)
    doc = harness.load_doc(archive)
    position = (page.evaluate("Date.now()") - harness.EPOCH_MS) % doc["duration"]
    shown = harness.state(page)
    assert shown["last"] == harness.expected_at(doc, position)["last"] is not None
    sound = harness.load_doc(archive)["messages"][0]["sound"]["src"]
    size = (archive / sound).stat().st_size
    answers = page.evaluate(
        """async (src) => Promise.all(['bytes=0-99', 'bytes=-10', 'bytes=100-'].map(async (r) => {
             const res = await fetch(src, {headers: {Range: r}});
             const body = await res.arrayBuffer();
             return [res.status, res.headers.get('Content-Range'), body.byteLength];
           }))""",
        sound,
    )
    assert answers == [
        [206, f"bytes 0-99/{size}", 100],
        [206, f"bytes {size - 10}-{size - 1}/{size}", 10],
        [206, f"bytes 100-{size - 1}/{size}", size - 100],
    ]
    foreign = [u for u in requests if not u.startswith(server.base)]
    assert foreign == []


# A file that is Markdown and JavaScript at once, which loads itself from the about page.
POLYGLOT = 'window.pwned = "about.md ran" // <script src="about.md"></script>\n\n// *about*\n'
PROBE = """<!doctype html><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<title>probe</title><script src="about.md"></script>
"""


def test_a_polyglot_about_page_never_runs(
    new_context: Any, server: Any, make_archive: Any, harness: SimpleNamespace, tmp_path: Path
) -> None:
    from ghosts_render.archive.site import CSP, write_site

    path = make_archive("polyglot", harness.conversation(harness.synthetic_messages(5)))
    source = tmp_path / "about.md"
    source.write_text(POLYGLOT, encoding="utf-8")
    write_site(path, about=source)
    # Were some other page ever to load about.md as a script (script-src 'self' allows it),
    # the archive's copy must still not run: this page does just that.
    (path / "probe.html").write_text(PROBE.format(csp=CSP), encoding="utf-8")
    for base in (path.as_uri() + "/", server.url("polyglot/")):
        for name in ("about.html", "probe.html"):
            page = new_context().new_page()
            _open(page, base + name, harness)
            assert page.evaluate("window.pwned") is None, base + name
            scripts = page.eval_on_selector_all("script[src]", "s => s.map(e => e.src)")
            if name == "about.html":
                names = [s.rsplit("/", 1)[1] for s in scripts]
                assert names == ["strings.js", "shared.js", "pages.js"]
