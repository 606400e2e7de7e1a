"""The site builder: pages parse, URLs stay relative, hostile text stays text, errors read well."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import numpy as np
import pytest
import segno
import soundfile
from PIL import Image

from ghosts_render.archive.about import GUARD, format_markdown_text, render_about
from ghosts_render.archive.media import render_qr_matrix
from ghosts_render.archive.model import PlayerSettings
from ghosts_render.archive.site import (
    CSP,
    TRANSCRIPT_PAGE_SIZE,
    format_clock,
    format_conversation_js,
    format_voice_src,
    list_precache,
    write_site,
)
from ghosts_render.errors import ArchiveError, ConfigError

HOSTILE = [
    "<script>window.pwned = 1</script>",
    '<img src=x onerror="window.pwned = 2">',
    '[click](javascript:alert(1)) <a href="javascript:alert(1)">x</a>',
    "\u202eevil bidi override\u202c and \u2028 line \u2029 separators </script><!--",
    "long " + "x" * 9_995,  # exactly the longest text a message may hold (MAX_TEXT_CHARS)
    " \n\t ",
    "{{ 7 * 7 }} {% raw %} & &amp; \"quotes\" 'single'",
]
PAGES = ("index.html", "about.html", "transcript.html", "link.html", "lost.html")


# --------------------------------------------------------------------------- fixtures


def _message(i: int, sender: str, text: str, at: int, **extra: Any) -> dict[str, Any]:
    return {"id": f"m{i:05d}", "run": i // 4, "sender": sender, "text": text,
            "writing_at": at - 1500, "at": at, **extra}  # fmt: skip


def make_doc(texts: list[str], **player: Any) -> dict[str, Any]:
    """A conversation.json document: alternating senders, one selfie, one shared sound."""
    messages = []
    for i, text in enumerate(texts):
        extra: dict[str, Any] = {"sound": {"src": "media/sounds/tone.mp3"}}
        if i == 1:
            extra["selfie"] = {"seed": 7, "src": "media/selfies/artist-7.jpg",
                               "webp": "media/selfies/artist-7.webp", "width": 16,
                               "height": 16, "alt": "selfie of the artist"}  # fmt: skip
        messages.append(_message(i, ("scientist", "artist")[i % 2], text, 2000 + 3000 * i, **extra))
    return {
        "format": "ghosts-render/conversation", "version": 1, "title": "ghosts of data past",
        "roles": {"scientist": {"label": "scientist", "side": "left", "color": "green"},
                  "artist": {"label": "artist", "side": "right", "color": "cyan"}},
        "duration": messages[-1]["at"] + 5000,
        "player": {"max_messages": 100, "sync": "clock", "epoch": "2026-01-01T00:00:00Z", **player},
        "messages": messages,
    }  # fmt: skip


def write_archive(folder: Path, doc: dict[str, Any]) -> Path:
    """Write conversation.json and real tiny media files (JPEG, WebP, MP3) into `folder`."""
    (folder / "media" / "selfies").mkdir(parents=True, exist_ok=True)
    (folder / "media" / "sounds").mkdir(parents=True, exist_ok=True)
    img = Image.new("RGB", (16, 16), (40, 200, 220))
    img.save(folder / "media/selfies/artist-7.jpg", "JPEG", quality=70)
    img.save(folder / "media/selfies/artist-7.webp", "WEBP")
    tone = 0.2 * np.sin(np.arange(2205) * 2 * np.pi * 440 / 44100)
    soundfile.write(folder / "media/sounds/tone.mp3", tone.astype(np.float32), 44100, format="MP3")
    (folder / "conversation.json").write_text(json.dumps(doc, indent=2), encoding="utf-8")
    return folder


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    return write_archive(tmp_path / "show", make_doc(["Are you still there?", "here I am."]))


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An archive whose messages, title and labels are hostile, built once."""
    doc = make_doc(["hello", *HOSTILE], public_url="https://example.org/show/")
    doc["title"] = "<script>alert('title')</script> *ghosts* & [x](javascript:1)"
    doc["roles"]["artist"]["label"] = "<b onmouseover=alert(1)>artist</b>"
    folder = write_archive(tmp_path_factory.mktemp("hostile") / "show", doc)
    write_site(folder)
    return folder


# --------------------------------------------------------------------------- parsing helpers


class Page(HTMLParser):
    """Every start tag with its attributes, and the text of each element id'd or classed."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.scripts: list[str] = []  # inline script bodies
        self.texts: list[str] = []
        self._in_script = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        (self.scripts if self._in_script else self.texts).append(data)

    def find(self, tag: str, **attrs: str) -> list[dict[str, str]]:
        return [
            a for t, a in self.tags if t == tag and all(a.get(k) == v for k, v in attrs.items())
        ]

    def urls(self) -> list[str]:
        return [a[k] for _, a in self.tags for k in ("src", "href", "data-variants") if k in a]


def parse(folder: Path, name: str) -> Page:
    return Page((folder / name).read_text(encoding="utf-8"))


def load_js_data(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    prefix, suffix = "window.GHOSTS_CONVERSATION = ", ";\n"
    assert text.startswith(prefix) and text.endswith(suffix)
    return json.loads(text[len(prefix) : -len(suffix)])


# --------------------------------------------------------------------------- the build


def test_write_site_writes_every_page_and_returns_them(archive: Path) -> None:
    written = write_site(archive)
    for name in (*PAGES, "conversation.js", "sw.js", "site.webmanifest", "assets/pages.js"):
        assert archive / name in written and (archive / name).is_file(), name
    assert all(p.is_file() for p in written)
    assert not (archive / "assets" / "fonts.css").exists()  # no fonts were given


def test_every_page_has_the_strict_csp_and_no_inline_code(archive: Path) -> None:
    write_site(archive)
    for name in PAGES:
        page = parse(archive, name)
        metas = page.find("meta", **{"http-equiv": "Content-Security-Policy"})
        assert len(metas) == 1 and "script-src 'self'" in metas[0]["content"], name
        assert "'unsafe-inline'" not in metas[0]["content"]
        assert not [s for s in page.scripts if s.strip()], f"inline script in {name}"
        assert not page.find("style"), name
        assert not [a for _, a in page.tags if "style" in a or any(k.startswith("on") for k in a)]
    assert parse(archive, "about.html").find("meta", content=CSP)


def test_every_url_is_relative_and_points_at_a_file(archive: Path) -> None:
    write_site(archive)
    for name in PAGES:
        for value in parse(archive, name).urls():
            for url in value.split(" ") if " " in value else [value]:
                parts = urlsplit(url)
                assert not parts.scheme and not parts.netloc and not url.startswith("/"), url
                if parts.path:
                    assert (archive / unquote(parts.path)).is_file(), f"{name}: {url}"
    for css in ("pages.css", "player.css"):
        assert not re.search(
            r"url\(\s*['\"]?(https?:|//|/)", (archive / "assets" / css).read_text()
        )
    manifest = json.loads((archive / "site.webmanifest").read_text())
    assert manifest["start_url"].startswith("./") and manifest["scope"] == "./"
    assert all((archive / icon["src"]).is_file() for icon in manifest["icons"])


def test_every_script_a_page_loads_ships_and_is_precached_at_install(archive: Path) -> None:
    write_site(archive)
    eager = set(list_precache(archive).eager)
    for name in PAGES:
        scripts = [a["src"] for t, a in parse(archive, name).tags if t == "script"]
        assert scripts and all(s in eager and (archive / s).is_file() for s in scripts), name
    index = [a["src"] for t, a in parse(archive, "index.html").tags if t == "script"]
    assert index[:3] == ["conversation.js", "assets/strings.js", "assets/shared.js"]
    assert index[-1] == "assets/player.js"


def test_precache_lists_every_file_and_its_version_follows_content(archive: Path) -> None:
    write_site(archive)
    sw = (archive / "sw.js").read_text()
    eager = json.loads(re.search(r"const PRECACHE = (\[.*?\]);", sw).group(1))
    lazy = json.loads(re.search(r"const LAZY = new Set\((\[.*?\])\.map", sw).group(1))
    files = sorted(p.relative_to(archive).as_posix() for p in archive.rglob("*") if p.is_file())
    assert sorted(unquote(u) for u in eager + lazy) == [f for f in files if f != "sw.js"]
    assert {"index.html", "conversation.js", "assets/player.js", "media/sounds/tone.mp3"} <= set(
        eager
    )
    assert sorted(lazy) == [
        "conversation.json",
        *(f"media/selfies/artist-7.{x}" for x in ("jpg", "webp")),
    ]
    plan = list_precache(archive)
    assert (plan.eager, plan.lazy) == (eager, lazy) and f'const VERSION = "{plan.version}"' in sw
    (archive / "media/sounds/tone.mp3").write_bytes(b"\xff\xfb" + bytes(64))
    assert list_precache(archive).version != plan.version


@pytest.mark.parametrize(
    "voice, src",
    [
        ({"src": "media/voices/ab.mp3", "at": 1, "duration_ms": 9}, "media/voices/ab.mp3"),
        ({"src": "https://example.com/x.mp3"}, ""),
        ({"src": "javascript:alert(1)"}, ""),
        ({"src": "/etc/x.mp3"}, ""),
        ({"src": "media\\x.mp3"}, ""),
        ({"src": 7}, ""),
        ("media/voices/ab.mp3", ""),
        (None, ""),
    ],
)
def test_transcript_voices_are_only_paths_inside_the_archive(voice: Any, src: str) -> None:
    assert format_voice_src({"id": "m00001", "voice": voice}) == src


def test_rebuild_is_byte_identical(archive: Path) -> None:
    first = {p: p.read_bytes() for p in write_site(archive)}
    second = {p: p.read_bytes() for p in write_site(archive)}
    assert first == second


# --------------------------------------------------------------------------- hostile text


def test_conversation_js_round_trips_and_cannot_break_out(hostile: Path) -> None:
    raw = (hostile / "conversation.js").read_text(encoding="utf-8")
    for bad in ("</", "<!--", "\u2028", "\u2029", "<script"):
        assert bad not in raw
    assert load_js_data(hostile / "conversation.js") == _js_data(hostile)


def _js_data(archive: Path) -> dict[str, Any]:
    """conversation.json as conversation.js carries it: the player settings resolved."""
    data = json.loads((archive / "conversation.json").read_text(encoding="utf-8"))
    data["player"] = PlayerSettings.from_json(data["player"]).resolved()
    return data


@pytest.mark.skipif(shutil.which("node") is None, reason="node not installed")
def test_conversation_js_evaluates_to_the_same_data_in_javascript(hostile: Path) -> None:
    script = (
        "const fs = require('fs'); const window = {};"
        f"eval(fs.readFileSync({json.dumps(str(hostile / 'conversation.js'))}, 'utf8'));"
        "process.stdout.write(JSON.stringify(window.GHOSTS_CONVERSATION));"
    )
    out = subprocess.run(["node", "-e", script], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == _js_data(hostile)


def test_hostile_text_is_text_on_every_page(hostile: Path) -> None:
    for name in PAGES:
        page = parse(hostile, name)
        assert all(a.get("src") for _, a in page.tags if _ == "script"), name
        assert not [t for t, _ in page.tags if t in ("img",) and "onerror" in _], name
        assert not [a for _, a in page.tags if any(k.startswith("on") for k in a)], name
        assert not [u for u in page.urls() if u.strip().lower().startswith("javascript:")], name
    transcript = parse(hostile, "transcript.html")
    text = "".join(transcript.texts)
    for message in HOSTILE:
        if message.strip():
            assert message in text
    assert "<script>alert('title')</script>" in "".join(parse(hostile, "about.html").texts)
    assert len(transcript.find("li", **{"data-sender": "artist"})) == 4


# --------------------------------------------------------------------------- schema errors


def _break(doc: dict[str, Any], how: str) -> None:
    msgs = doc["messages"]
    if how == "duplicate id":
        msgs[1]["id"] = msgs[0]["id"]
    elif how == "time goes back":
        msgs[1]["at"] = msgs[0]["at"]
    elif how == "writing after at":
        msgs[0]["writing_at"] = msgs[0]["at"] + 1
    elif how == "missing selfie":
        msgs[1]["selfie"]["src"] = "media/selfies/gone.jpg"
    elif how == "escaping path":
        msgs[0]["sound"]["src"] = "../outside.mp3"
    elif how == "unknown sender":
        msgs[0]["sender"] = "ghost"
    elif how == "short duration":
        doc["duration"] = msgs[-1]["at"]
    elif how == "bad day key":
        doc["player"]["day_key"] = True


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        ("duplicate id", "is used twice"),
        ("time goes back", "is not after the previous message"),
        ("writing after at", "'writing_at' 2001 is after 'at' 2000"),
        ("missing selfie", "'media/selfies/gone.jpg' is missing"),
        ("escaping path", "must be a path inside the archive"),
        ("unknown sender", "sender 'ghost' is not one of the roles"),
        ("short duration", "should be longer than the last 'at'"),
        ("bad day key", "'day_key' needs 'valid_from' and 'valid_until'"),
    ],
)
def test_schema_problems_are_named(tmp_path: Path, how: str, expected: str) -> None:
    doc = make_doc(["a", "b", "c"])
    _break(doc, how)
    folder = write_archive(tmp_path, doc)
    with pytest.raises(ArchiveError, match=re.escape(expected)) as err:
        write_site(folder)
    assert "conversation.json" in str(err.value) and "ghosts-render site" in str(err.value)
    assert not (folder / "index.html").exists()  # nothing is written from a broken archive


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    doc = make_doc(["a", "b", "c"])
    for how in ("duplicate id", "unknown sender", "short duration"):
        _break(doc, how)
    with pytest.raises(ArchiveError, match=r"has 3 problem\(s\)"):
        write_site(write_archive(tmp_path, doc))


def test_missing_or_unreadable_conversation_is_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match="does not exist"):
        write_site(tmp_path)
    (tmp_path / "conversation.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ArchiveError, match="not readable JSON"):
        write_site(tmp_path)
    with pytest.raises(ArchiveError, match="is not a folder"):
        write_site(tmp_path / "nowhere")


# --------------------------------------------------------------------------- about page


ABOUT = """# the piece

A quote.[^q] More text.[^long]

## Machine learning

Text.

### Eeriness

## Choices

[^q]: Mark Fisher, *The Weird and the Eerie*.
[^long]: First paragraph.

    Second paragraph with a [link](https://example.org).
"""


def test_about_markdown_becomes_sidenotes_and_a_contents_list(
    archive: Path, tmp_path: Path
) -> None:
    source = tmp_path / "about-source.md"
    source.write_text(ABOUT, encoding="utf-8")
    write_site(archive, about=source)
    page = parse(archive, "about.html")
    buttons = page.find("button", **{"class": "sidenote-ref"})
    assert [b["aria-controls"] for b in buttons] == ["sn-1", "sn-2"]
    assert all(b["aria-expanded"] == "false" for b in buttons)
    assert len(page.find("span", role="note")) == 2 and page.find("span", id="sn-2")
    assert not page.find("div", **{"class": "footnote"})
    toc_links = [
        a["href"] for a in page.find("a") if a["href"].startswith("#") and a["href"] != "#main"
    ]
    assert toc_links[:3] == ["#machine-learning", "#eeriness", "#choices"]
    assert (archive / "about.md").read_text(encoding="utf-8") == GUARD + ABOUT
    source.unlink()  # a rebuild needs no config: the copy in the archive is used
    write_site(archive)
    assert parse(archive, "about.html").find("span", id="sn-2")


def test_default_about_describes_the_render(archive: Path) -> None:
    write_site(archive)
    text = " ".join("".join(parse(archive, "about.html").texts).split())
    assert "2 messages" in text and "scientist and artist" in text
    assert "ghosts of data past" in text


def test_markdown_text_is_escaped_literally() -> None:
    value = "*a* _b_ [c](javascript:d) <e> # f"
    html = render_about(f"para {format_markdown_text(value)}").body_html
    assert "<em>" not in html and "<a" not in html and "&lt;e&gt;" in html


def test_fonts_are_copied_and_declared(archive: Path, tmp_path: Path) -> None:
    body, display = tmp_path / "Body Var.woff2", tmp_path / "Display.ttf"
    body.write_bytes(b"wOF2 not really a font")
    display.write_bytes(b"\x00\x01\x00\x00 not really a font")
    write_site(archive, fonts=[body, display])
    css = (archive / "assets" / "fonts.css").read_text()
    assert 'font-family: "ghosts-body"; src: url("fonts/Body%20Var.woff2") format("woff2")' in css
    assert '"ghosts-display"' in css and 'format("truetype")' in css
    assert parse(archive, "index.html").find("link", href="assets/fonts.css")
    write_site(archive)  # rebuild without config keeps them
    assert (archive / "assets" / "fonts.css").read_text() == css
    with pytest.raises(ConfigError, match="does not exist"):
        write_site(archive, fonts=[tmp_path / "missing.woff2"])


# --------------------------------------------------------------------------- link, transcript


def _qr_paths(page: Page) -> list[tuple[str, int, str]]:
    """(day, size, path data) for every QR code on the link page."""
    figures = page.find("figure")
    boxes = [a["viewbox"] for a in page.find("svg") if "viewbox" in a]  # html.parser lowercases
    paths = [a["d"] for a in page.find("path", **{"class": "link__qr-dark"})]
    sizes = [int(box.split()[2]) - 8 for box in boxes]
    return [(f["data-day"], s, p) for f, s, p in zip(figures, sizes, paths, strict=True)]


def _segno(url: str) -> list[list[bool]]:
    return [[bool(v) for v in row] for row in segno.make(url, error="q", boost_error=False).matrix]


def test_link_page_qr_encodes_the_public_url(hostile: Path) -> None:
    [(day, size, path)] = _qr_paths(parse(hostile, "link.html"))
    assert day == "" and render_qr_matrix(path, size) == _segno("https://example.org/show/")


def test_link_page_draws_one_qr_per_exhibition_day(tmp_path: Path) -> None:
    doc = make_doc(["a", "b"], public_url="https://ex.org/s/?lang=en", day_key=True,
                   valid_from="2026-05-30", valid_until="2026-06-02")  # fmt: skip
    folder = write_archive(tmp_path, doc)
    write_site(folder)
    codes = _qr_paths(parse(folder, "link.html"))
    assert [d for d, _, _ in codes] == ["2026-05-30", "2026-05-31", "2026-06-01", "2026-06-02"]
    for day, size, path in codes:
        assert render_qr_matrix(path, size) == _segno(f"https://ex.org/s/?lang=en&day={day}")


def test_link_page_without_url_says_what_to_do(archive: Path) -> None:
    write_site(archive)
    page = parse(archive, "link.html")
    assert not page.find("svg") and "public_url" in "".join(page.texts)


def test_transcript_pages_hold_every_message_with_permalinks(tmp_path: Path) -> None:
    n = 2 * TRANSCRIPT_PAGE_SIZE + 3
    folder = write_archive(tmp_path, make_doc([f"line {i}" for i in range(n)]))
    write_site(folder)
    names = ["transcript.html", "transcript-2.html", "transcript-3.html"]
    items = [li for name in names for li in parse(folder, name).find("li")]
    messages = [li for li in items if li.get("class", "").startswith("t-msg")]
    assert [li["id"] for li in messages] == [f"m{i:05d}" for i in range(n)]
    third = parse(folder, "transcript-3.html")
    assert third.find("a", href="index.html#m02002")
    assert [t["datetime"] for t in third.find("time")][-1] == "PT1H40M8S"
    assert format_clock(6_008_000) == "1:40:08"
    (folder / "conversation.json").write_text(json.dumps(make_doc(["one", "two"])))
    write_site(folder)
    assert (
        not (folder / "transcript-2.html").exists() and not (folder / "transcript-3.html").exists()
    )


def test_format_conversation_js_escapes_only_what_html_needs() -> None:
    js = format_conversation_js({"text": "a</script>\u2028b & <!-- é"})
    body = '{"text":"a\\u003c/script\\u003e\\u2028b \\u0026 \\u003c!-- é"}'
    assert js == f"window.GHOSTS_CONVERSATION = {body};\n"
