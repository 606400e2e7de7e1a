"""Build the player site of an archive from its conversation.json: pages, data script, icons, SW.

Gather everything first, then write (mkdocs's build order). No torch, no models: `ghosts-render
site DIR` rebuilds a curated archive with this module alone.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from importlib import resources
from pathlib import Path
from typing import Any, TypedDict
from urllib.parse import quote

import jinja2
from markupsafe import Markup

from ghosts_render import __version__
from ghosts_render.archive.about import (
    ABOUT_SOURCE,
    format_default_about,
    render_about,
    write_about_source,
)
from ghosts_render.archive.folder import hash_archive_file, read_conversation
from ghosts_render.archive.fonts import FONT_FORMATS, read_font_names
from ghosts_render.archive.media import FAVICON_COUNT, QrCode, render_icons, render_qr
from ghosts_render.archive.model import PlayerSettings
from ghosts_render.archive.paths import resolve_write_target
from ghosts_render.archive.schema import check_conversation
from ghosts_render.archive.strings import load_strings
from ghosts_render.errors import ArchiveError, ConfigError
from ghosts_render.files import dump_json, write_atomic, write_json

log = logging.getLogger(__name__)

# One policy for every page: nothing from other hosts, no inline script or style, no plugins.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'none'; worker-src 'self'; manifest-src 'self'"
)
TRANSCRIPT_PAGE_SIZE = 1000  # messages per transcript page (Telegram's export uses 1000)
FONT_FAMILIES = ("ghosts-body", "ghosts-display")  # in the order the artist lists the fonts
NAV = (
    {"href": "about.html", "label": "background"},
    {"href": "transcript.html", "label": "transcript"},
)
_NOT_PRECACHED = {"sw.js", "manifest.json"}  # the worker itself; the manifest is written later


class PageContext(TypedDict):
    """What every page template receives (index.html's contract with the player: see notes)."""

    title: str
    lang: str
    page: str
    csp: str
    fonts_css: bool
    favicons: list[str]
    nav: list[dict[str, str]]
    service_worker: bool
    webmanifest: str
    generator: str
    conversation: dict[str, Any]
    player: dict[str, Any]
    t: dict[str, str]  # the strings table in the archive's language: {{ t["chat.sound"] }}


def template_dir() -> Path:
    """Return site_template/: inside the installed package, else at the repository's top."""
    packaged = resources.files("ghosts_render").joinpath("site_template")
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[2] / "site_template"


@functools.lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    """The one jinja2 environment (compiled templates are reused across builds in a process)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(template_dir()),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    env.filters["clock"] = format_clock
    env.filters["iso_duration"] = format_iso_duration
    env.filters["voice_src"] = format_voice_src
    return env


def load_template(name: str) -> jinja2.Template:
    """Load one page template of site_template/, or say that the installation is incomplete."""
    try:
        return _environment().get_template(name)
    except jinja2.TemplateNotFound:
        raise ArchiveError(
            f"the player's template {name} is missing from {template_dir()}: "
            "reinstall ghosts-render"
        ) from None


def format_clock(ms: int) -> str:
    """Format a loop position as H:MM:SS (the transcript's timestamps)."""
    s = ms // 1000
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def format_iso_duration(ms: int) -> str:
    """Format a loop position as an ISO 8601 duration for <time datetime>."""
    s = ms // 1000
    return f"PT{s // 3600}H{s // 60 % 60}M{s % 60}S"


def format_voice_src(message: Mapping[str, Any]) -> str:
    """Return a message's voice clip as a relative path inside the archive, or "" (none, or unsafe).

    The transcript's play buttons use it; the chat player makes the same check (shared.js).
    """
    voice = message.get("voice")
    src = voice.get("src") if isinstance(voice, Mapping) else None
    if not isinstance(src, str) or not src or "\\" in src or src.startswith("/"):
        return ""
    return "" if re.match(r"[a-z][a-z0-9+.-]*:", src, re.IGNORECASE) else src


def format_js_global(name: str, value: Any) -> str:
    """Serialise JSON data as a classic script setting ``window.<name>``, safe inside HTML.

    Classic scripts load from file:// (fetch() does not), hence a script, not a .json file.
    """
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    # "</script>", "<!--" and U+2028/2029 must not survive as such: escape them as JSON does.
    for raw, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(raw, escaped)
    return f"window.{name} = {text};\n"


def format_conversation_js(conversation: dict[str, Any]) -> str:
    """Serialise the conversation as the classic script the player reads (conversation.js)."""
    return format_js_global("GHOSTS_CONVERSATION", conversation)


def load_conversation(archive_dir: Path) -> dict[str, Any]:
    """Read an archive's conversation.json and check all of it; raise ArchiveError if unplayable.

    Its ``player`` comes back resolved: every setting present, defaults filled in (see
    ``PlayerSettings.resolved``), which is what conversation.js and the pages carry.
    """
    if not archive_dir.is_dir():
        raise ArchiveError(f"{archive_dir} is not a folder: point at a rendered archive")
    data = read_conversation(archive_dir)
    check_conversation(data, archive_dir)
    data["player"] = PlayerSettings.from_json(data.get("player", {})).resolved()
    return data


def _copy_file(src: Path, dest: Path) -> None:
    if src.resolve() != dest.resolve():
        write_atomic(dest, src.read_bytes())


def write_fonts(archive_dir: Path, fonts: Sequence[Path]) -> list[str]:
    """Copy the artist's fonts to assets/fonts/ and return their file names, in order."""
    for font in fonts:
        if not font.is_file():
            raise ConfigError(f"font {font} does not exist (player.fonts): fix the path")
        if font.suffix.lower() not in FONT_FORMATS:
            raise ConfigError(f"font {font} is not a .woff2, .woff, .ttf or .otf (player.fonts)")
    targets = [resolve_write_target(archive_dir, f"assets/fonts/{f.name}") for f in fonts]
    for font, target in zip(fonts, targets, strict=True):
        _copy_file(font, target)
    if fonts:
        order = resolve_write_target(archive_dir, "assets/fonts/fonts.json")
        write_json(order, [f.name for f in fonts])
    return read_font_names(archive_dir)


def format_fonts_css(names: Sequence[str]) -> str:
    """Write @font-face rules: the first font is the body family, the second the display one."""
    rules = ["/* Fonts the artist supplied (written by ghosts-render site). */"]
    for family, name in zip(FONT_FAMILIES, names[: len(FONT_FAMILIES)], strict=False):
        fmt = FONT_FORMATS[Path(name).suffix.lower()]
        rules.append(
            f'@font-face {{ font-family: "{family}"; src: url("fonts/{quote(name)}") '
            f'format("{fmt}"); font-weight: 100 900; font-style: oblique 0deg 12deg; '
            "font-display: swap; }"
        )
    return "\n".join(rules) + "\n"


def render_qr_days(player: dict[str, Any]) -> list[tuple[str, QrCode]]:
    """Draw the link page's QR codes: one for public_url, or one per exhibition day (?day=)."""
    url = player["public_url"]
    if not url:
        return []
    if not player["day_key"]:
        return [("", render_qr(url))]
    first = date.fromisoformat(player["valid_from"])
    days = (date.fromisoformat(player["valid_until"]) - first).days + 1
    joiner = "&" if "?" in url else "?"
    return [
        (d, render_qr(f"{url}{joiner}day={d}"))
        for d in ((first + timedelta(days=i)).isoformat() for i in range(days))
    ]


def _transcript_pages(messages: list[dict[str, Any]]) -> list[tuple[str, int]]:
    """Return (file name, first index) for every transcript page."""
    return [
        ("transcript.html" if i == 0 else f"transcript-{i // TRANSCRIPT_PAGE_SIZE + 1}.html", i)
        for i in range(0, len(messages), TRANSCRIPT_PAGE_SIZE)
    ]


def _base_context(
    conversation: dict[str, Any], page: str, fonts: bool, strings: dict[str, str]
) -> PageContext:
    return PageContext(
        title=conversation["title"],
        lang=conversation["player"]["lang"],
        page=page,
        csp=CSP,
        fonts_css=fonts,
        favicons=[f"assets/icons/favicon-{i:02d}.png" for i in range(FAVICON_COUNT)],
        nav=[dict(n) for n in NAV],
        service_worker=True,
        webmanifest="site.webmanifest",
        generator=f"ghosts-render {__version__}",
        conversation=conversation,
        player=conversation["player"],
        t=strings,
    )


def render_pages(
    conversation: dict[str, Any], about_markdown: str, fonts: bool, strings: dict[str, str]
) -> dict[str, str]:
    """Render every HTML page of the site, by file name."""

    def render(template: str, page: str, **extra: Any) -> str:
        context: dict[str, Any] = dict(_base_context(conversation, page, fonts, strings))
        return load_template(template).render(**context, **extra)

    about = render_about(about_markdown)
    messages = conversation["messages"]
    pages_list = _transcript_pages(messages)
    pages = {
        "index.html": render("index.html", "index"),
        "about.html": render(
            "about.html",
            "about",
            about=about,
            heading=Markup(about.heading_html),
            body=Markup(about.body_html),
        ),
        "link.html": render("link.html", "link", qr_days=render_qr_days(conversation["player"])),
        "lost.html": render(
            "lost.html",
            "lost",
            lost_text=conversation["player"]["lost_text"],
        ),
    }
    for n, (name, first) in enumerate(pages_list):
        pages[name] = render(
            "transcript.html",
            "transcript",
            first=first,
            messages=messages[first : first + TRANSCRIPT_PAGE_SIZE],
            page_number=n + 1,
            page_files=[p for p, _ in pages_list],
            page_size=TRANSCRIPT_PAGE_SIZE,
        )
    return pages


def format_webmanifest(conversation: dict[str, Any]) -> str:
    """Write site.webmanifest: installable, kiosk start, scope = the archive folder."""
    title = conversation["title"]
    manifest = {
        "name": title,
        "short_name": title[:24],
        "start_url": "./index.html?kiosk=1",
        "scope": "./",
        "display": "fullscreen",
        "background_color": "#000000",
        "theme_color": "#000000",
        "icons": [
            {"src": f"assets/icons/icon-{px}.png", "sizes": f"{px}x{px}", "type": "image/png"}
            for px in (192, 512)
        ],
    }
    return dump_json(manifest)


@dataclass(frozen=True, slots=True)
class Precache:
    """What the service worker caches: at install (`eager`) or when first shown (`lazy`)."""

    eager: list[str]  # pages, scripts, styles, icons, fonts, sounds: what playback needs
    lazy: list[str]  # selfies, voices (media/voices/) and other large media: cached on first
    # fetch, so a phone scanning the QR code does not download the whole loop's media up front
    version: str  # hash of every file's path and content: a new build gives a new cache


def list_precache(archive_dir: Path) -> Precache:
    """List the archive's files as relative URLs for the service worker, with a version hash."""
    eager: list[str] = []
    lazy: list[str] = []
    digest = hashlib.sha256()
    for path in sorted(archive_dir.rglob("*")):
        rel = path.relative_to(archive_dir).as_posix()
        if (
            not (path.is_file() or path.is_symlink())
            or rel in _NOT_PRECACHED
            or any(part.startswith(".") for part in rel.split("/"))
        ):
            continue
        # Only the notification sounds of media/ are eager; voices are ~10x the rest together.
        is_lazy = rel == "conversation.json" or (
            rel.startswith("media/") and not rel.startswith("media/sounds/")
        )
        (lazy if is_lazy else eager).append(quote(rel))
        digest.update(f"{rel}\0{hash_archive_file(archive_dir, rel)['sha256']}\n".encode())
    return Precache(eager=eager, lazy=lazy, version=digest.hexdigest()[:16])


def _remove_stale_transcripts(archive_dir: Path, keep: set[str] | frozenset[str]) -> None:
    """Delete transcript pages a previous, longer build wrote (they are generated, not curated)."""
    for path in archive_dir.glob("transcript-*.html"):
        if re.fullmatch(r"transcript-\d+\.html", path.name) and path.name not in keep:
            path.unlink()


def write_site(
    archive_dir: Path,
    *,
    about: Path | None = None,
    fonts: Sequence[Path] = (),
    keep: frozenset[str] = frozenset(),
    notes: bool = True,
) -> list[Path]:
    """Build (or rebuild) the player in an archive from its conversation.json; return the files.

    Files named in ``keep`` (archive-relative paths a person changed) are left as they are.
    ``notes`` False leaves out the advice a render and ``site`` give (a curation step rebuilds
    after every change and would repeat it each time).
    """
    archive_dir = Path(archive_dir)
    conversation = load_conversation(archive_dir)
    about_source = write_about_source(archive_dir, about, keep=keep)
    font_names = write_fonts(archive_dir, [Path(f) for f in fonts])
    about_markdown = (
        about_source
        if about_source is not None
        else format_default_about(conversation, __version__)
    )
    if notes and not conversation["player"]["public_url"]:
        log.info("no player.public_url: the link page (link.html) shows no QR code")
    strings = load_strings(conversation["player"]["lang"])
    files: dict[str, str | bytes] = {}
    files.update(render_pages(conversation, about_markdown, bool(font_names), strings))
    files["conversation.js"] = format_conversation_js(conversation)
    files["assets/strings.js"] = format_js_global("GHOSTS_STRINGS", strings)
    files["site.webmanifest"] = format_webmanifest(conversation)
    if font_names:
        files["assets/fonts.css"] = format_fonts_css(font_names)
    colors = [r["color"] for r in conversation["roles"].values()]
    files.update({f"assets/icons/{n}": b for n, b in render_icons(tuple(colors)).items()})
    written = [archive_dir / ABOUT_SOURCE] if about_source is not None else []
    written += [archive_dir / "assets" / "fonts" / n for n in font_names]
    static = _list_static()
    # Every target is checked before the first write: a folder that links outside the archive
    # stops the build with nothing written through it.
    targets = {rel: resolve_write_target(archive_dir, rel) for rel in [*static, *files, "sw.js"]}
    _remove_stale_transcripts(archive_dir, set(files) | keep)
    for rel, source in static.items():
        if rel not in keep:
            _copy_file(source, targets[rel])
        written.append(archive_dir / rel)
    for rel, content in files.items():
        if rel not in keep:
            write_atomic(targets[rel], content)
        written.append(archive_dir / rel)
    if "sw.js" not in keep:
        _write_service_worker(archive_dir, targets["sw.js"])
    written.append(archive_dir / "sw.js")
    return written


def _list_static() -> dict[str, Path]:
    """site_template/assets/ (player.js, player.css, pages.js, pages.css...) by archive path."""
    source = template_dir() / "assets"
    if not source.is_dir():
        raise ArchiveError(f"the player's files are missing ({source}): reinstall ghosts-render")
    return {
        f"assets/{path.relative_to(source).as_posix()}": path
        for path in sorted(source.rglob("*"))
        if path.is_file() and not path.name.startswith(".")
    }


def _write_service_worker(archive_dir: Path, dest: Path) -> None:
    """Write sw.js last, with the precache list of every file now in the archive."""
    plan = list_precache(archive_dir)
    text = load_template("sw.js").render(precache=plan.eager, lazy=plan.lazy, version=plan.version)
    write_atomic(dest, text)
