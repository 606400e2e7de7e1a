"""About page: artist HTML is sanitised, about.md never runs as a script, bad bytes fail well."""

from __future__ import annotations

import json
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from ghosts_render.archive.about import GUARD, render_about
from ghosts_render.archive.site import write_site
from ghosts_render.errors import ArchiveError, ConfigError

# Each line tries another way for Markdown's raw HTML to run code, frame, embed or submit.
HOSTILE_MARKDOWN = """# about

<script>window.pwned = 1</script>
<script src="about.md"></script>
<iframe src="https://example.org/"></iframe>
<iframe srcdoc="<script>parent.pwned = 2</script>"></iframe>
<object data="about.md" type="text/html"></object>
<embed src="about.md">
<img src="x" onerror="window.pwned = 3" alt="x">
<div onclick="window.pwned = 4" onmouseover="window.pwned = 5">hover</div>
<svg onload="window.pwned = 6"><script>window.pwned = 7</script></svg>
<form action="https://example.org/"><input name="q">
<button formaction="javascript:alert(1)">go</button></form>
<a href="javascript:window.pwned = 8">link</a> <a href="JaVaScRiPt:alert(9)">link</a>
<a href="data:text/html,<script>alert(10)</script>">data</a>
<style>body { display: none }</style>
<link rel="stylesheet" href="https://example.org/x.css">
<meta http-equiv="refresh" content="0; url=https://example.org/">
<base href="https://example.org/">
<details open ontoggle="window.pwned = 11"><summary>more</summary>kept</details>

Plain *text* with [a link](https://example.org/) and <abbr title="Generative">GPT</abbr>.[^n]

[^n]: A note with <em>emphasis</em>.
"""
FORBIDDEN_TAGS = {
    "script", "iframe", "object", "embed", "form", "input", "style", "link", "meta", "base",
    "svg", "frame", "frameset", "template",
}  # fmt: skip


class Tags(HTMLParser):
    """Every start tag with its attributes, and the text."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_artist_html_cannot_add_scripts_frames_objects_handlers_or_forms() -> None:
    page = render_about(HOSTILE_MARKDOWN)
    tags = Tags(page.heading_html + page.body_html).tags
    names = {t for t, _ in tags}
    assert names.isdisjoint(FORBIDDEN_TAGS), names & FORBIDDEN_TAGS
    attributes = [(t, k, v) for t, a in tags for k, v in a.items()]
    assert [x for x in attributes if x[1].startswith("on") or x[1] in ("style", "srcdoc")] == []
    urls = [v.lower() for _, k, v in attributes if k in ("href", "src", "data", "action")]
    assert all(not u.startswith(("javascript:", "data:")) for u in urls), urls
    assert "window.pwned" not in page.body_html


def test_sanitising_keeps_the_artists_markup_and_the_sidenotes() -> None:
    page = render_about(HOSTILE_MARKDOWN)
    parsed = Tags(page.body_html)
    names = [t for t, _ in parsed.tags]
    for kept in ("em", "a", "abbr", "details", "summary", "img"):
        assert kept in names, kept
    assert ("a", {"href": "https://example.org/"}) in parsed.tags
    assert ("abbr", {"title": "Generative"}) in parsed.tags
    button = next(a for t, a in parsed.tags if t == "button" and a.get("id") == "snref-1")
    assert button == {
        "type": "button", "class": "sidenote-ref", "id": "snref-1", "aria-expanded": "false",
        "aria-controls": "sn-1",
    }  # fmt: skip
    assert ("span", {"class": "sidenote", "id": "sn-1", "role": "note"}) in parsed.tags
    assert page.heading_html.startswith("<h1")
    assert "kept" in "".join(parsed.text) and "hover" in "".join(parsed.text)


def _archive(folder: Path) -> Path:
    """A two-message archive without media."""
    messages = [
        {"id": f"m{i:05d}", "run": 0, "sender": s, "text": "hello", "writing_at": 1000 * i,
         "at": 1000 * i + 500}
        for i, s in enumerate(("scientist", "artist"))
    ]  # fmt: skip
    doc: dict[str, Any] = {
        "format": "ghosts-render/conversation", "version": 1, "title": "ghosts of data past",
        "roles": {"scientist": {"label": "scientist", "side": "left", "color": "green"},
                  "artist": {"label": "artist", "side": "right", "color": "cyan"}},
        "duration": 5000, "player": {}, "messages": messages,
    }  # fmt: skip
    folder.mkdir(parents=True)
    (folder / "conversation.json").write_text(json.dumps(doc), encoding="utf-8")
    return folder


def test_the_archive_keeps_the_markdown_guarded_and_rebuilds_from_it(tmp_path: Path) -> None:
    source = tmp_path / "about-source.md"
    source.write_bytes("\ufeff# the piece\r\n\r\nText, *kept* as written.\r\n".encode())
    archive = _archive(tmp_path / "show")
    write_site(archive, about=source)
    copy = (archive / "about.md").read_bytes()
    assert copy == (GUARD + "# the piece\r\n\r\nText, *kept* as written.\r\n").encode()
    html = (archive / "about.html").read_text(encoding="utf-8")
    assert "about.md" not in html  # the guard line renders nothing
    source.unlink()
    (archive / "about.md").write_text("# edited\n\nNew text.\n", encoding="utf-8")  # guard gone
    write_site(archive)
    assert (archive / "about.md").read_text(encoding="utf-8") == GUARD + "# edited\n\nNew text.\n"
    assert "New text." in (archive / "about.html").read_text(encoding="utf-8")


def test_a_hand_edited_about_page_without_its_guard_is_kept_and_named(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    archive = _archive(tmp_path / "show")
    (archive / "about.md").write_text("# mine\n", encoding="utf-8")
    write_site(archive, keep=frozenset({"about.md"}))  # a person changed it: site keeps it
    assert (archive / "about.md").read_text(encoding="utf-8") == "# mine\n"
    assert "does not start with its guard line" in caplog.text


def test_a_non_utf8_about_page_is_one_clear_line(tmp_path: Path) -> None:
    source = tmp_path / "about.md"
    source.write_bytes("# über uns\n\nCafé.\n".encode("latin-1"))
    archive = _archive(tmp_path / "show")
    with pytest.raises(ConfigError, match=r"is not UTF-8 text .*save it as UTF-8 \(player.about\)"):
        write_site(archive, about=source)
    assert not (archive / "about.md").exists()  # nothing half-written
    assert not (archive / "index.html").exists()
    (archive / "about.md").write_bytes(source.read_bytes())  # edited in the archive, in Latin-1
    with pytest.raises(ArchiveError, match="is not UTF-8 text"):
        write_site(archive)
    run = subprocess.run(
        [sys.executable, "-m", "ghosts_render", "site", str(archive)],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    errors = [line for line in run.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and "is not UTF-8 text" in errors[0], run.stderr
    assert (archive / "about.md").read_bytes() == source.read_bytes()  # the user's file, untouched
