"""The about page from Markdown: footnotes become accessible sidenotes, headings a contents list.

The artist's Markdown may hold raw HTML, which Python-Markdown passes through; the rendered page
is sanitised with an allowlist (nh3), so it can add no script, frame, object, form or event
handler. The archive keeps the Markdown as about.md, guarded so that it cannot run as a script.
"""

from __future__ import annotations

import copy
import html
import logging
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import markdown
import nh3
from markdown.extensions import Extension
from markdown.treeprocessors import Treeprocessor

from ghosts_render.archive.paths import resolve_file_inside, resolve_write_target
from ghosts_render.errors import ArchiveError, ConfigError
from ghosts_render.files import write_atomic

log = logging.getLogger(__name__)

ABOUT_SOURCE = "about.md"  # the artist's Markdown, kept in the archive so rebuilds need no config
# The first line of the archive's about.md: a Markdown link definition, which renders nothing,
# and a syntax error as JavaScript ("[about.md]" then ":"), so the file never runs as a script.
# It has to be guarded: the pages' CSP (script-src 'self') allows any file of the archive as a
# script, and Chromium runs one served as text/markdown, or opened from disk, if it parses.
GUARD = (
    '[about.md]: # "The about page of this archive, in Markdown. '
    'Edit it, then run ghosts-render site on this folder."\n'
)
# What artist HTML may keep: nh3's default tags (text, lists, tables, images, links) plus the
# sidenote buttons; no script, style, iframe, object, embed, form, input or event handler.
_TAGS = nh3.ALLOWED_TAGS | {"button"}
_ATTRIBUTES = {
    **nh3.ALLOWED_ATTRIBUTES,
    "*": {"id", "class", "title", "lang", "dir", "role", "aria-hidden", "aria-label"},
    "button": {"type", "aria-expanded", "aria-controls"},
}
_DROP_WITH_CONTENT = {"script", "style", "iframe", "object", "embed", "template", "noscript"}

# Footnote content is moved inside a paragraph, where only phrasing content is valid HTML.
_BLOCK_TAGS = {
    "p",
    "div",
    "ul",
    "ol",
    "li",
    "blockquote",
    "pre",
    "table",
    "thead",
    "tbody",
    "tr",
    "td",
    "th",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "dl",
    "dt",
    "dd",
}
_LEADING_H1 = re.compile(r"\s*<h1[\s>].*?</h1>", re.DOTALL)
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~])")


@dataclass(frozen=True, slots=True)
class TocEntry:
    """One heading of the about page: its anchor, its text and the headings below it."""

    id: str
    text: str
    children: tuple[TocEntry, ...] = ()


@dataclass(frozen=True, slots=True)
class AboutPage:
    """The about page body as sanitised HTML and its table of contents."""

    heading_html: str  # the Markdown's leading h1, shown above the contents ("" if none)
    body_html: str
    toc: tuple[TocEntry, ...]


def _phrasing(elem: ET.Element) -> None:
    """Turn block elements into spans in place, so a note can live inside a paragraph."""
    for child in elem.iter():
        if child.tag in _BLOCK_TAGS:
            child.set("class", f"sidenote-block sidenote-{child.tag}")
            child.tag = "span"


def _is_blank(elem: ET.Element) -> bool:
    return len(elem) == 0 and not (elem.text or "").strip() and not (elem.tail or "").strip()


def _note_body(item: ET.Element, number: int) -> ET.Element:
    """Build the sidenote span from a footnote list item, without its back link."""
    note = ET.Element("span", {"class": "sidenote", "id": f"sn-{number}", "role": "note"})
    num = ET.SubElement(note, "span", {"class": "sidenote-num", "aria-hidden": "true"})
    num.text = str(number)
    num.tail = " "
    for child in item:
        note.append(copy.deepcopy(child))
    for parent in note.iter():
        for a in [c for c in parent if c.tag == "a" and "footnote-backref" in c.get("class", "")]:
            parent.remove(a)
    _phrasing(note)
    for parent in note.iter():  # a back link alone in its paragraph leaves an empty span
        for c in [c for c in parent if c.tag == "span" and _is_blank(c)]:
            parent.remove(c)
    for child in note.iter():  # the copied note must not repeat the footnote list's ids
        if child is not note and "id" in child.attrib:
            del child.attrib["id"]
    return note


def _sidenote_ref(number: int, note: ET.Element) -> ET.Element:
    """Build the numbered toggle button and its note, wrapped in one span."""
    wrap = ET.Element("span", {"class": "sidenote-wrap"})
    button = ET.SubElement(
        wrap,
        "button",
        {
            "type": "button",
            "class": "sidenote-ref",
            "id": f"snref-{number}",
            "aria-expanded": "false",
            "aria-controls": f"sn-{number}",
        },
    )
    hidden = ET.SubElement(button, "span", {"class": "visually-hidden"})
    hidden.text = "note "
    hidden.tail = str(number)
    wrap.append(note)
    return wrap


class _SidenoteProcessor(Treeprocessor):
    """Replace footnote references with sidenote buttons and drop the footnote list."""

    def run(self, root: ET.Element) -> None:
        """Rewrite the tree in place (runs after footnotes and inline processing)."""
        lists = [d for d in root.iter("div") if d.get("class") == "footnote"]
        items = {li.get("id"): li for d in lists for li in d.iter("li")}
        number = 0
        for parent in list(root.iter()):
            for i, sup in enumerate(list(parent)):
                link = sup.find("a") if sup.tag == "sup" else None
                if link is None or "footnote-ref" not in link.get("class", ""):
                    continue
                item = items.get(link.get("href", "").lstrip("#"))
                if item is None:
                    continue
                number += 1
                wrap = _sidenote_ref(number, _note_body(item, number))
                wrap.tail = sup.tail
                parent.remove(sup)
                parent.insert(i, wrap)
        for parent in list(root.iter()):
            for d in [c for c in parent if c in lists]:
                parent.remove(d)


class _SidenoteExtension(Extension):
    def extendMarkdown(self, md: markdown.Markdown) -> None:  # noqa: N802 - Markdown's API name
        md.treeprocessors.register(_SidenoteProcessor(md), "ghosts-sidenotes", 5)


def _toc(tokens: list[dict[str, Any]]) -> tuple[TocEntry, ...]:
    return tuple(
        TocEntry(id=t["id"], text=html.unescape(t["name"]), children=_toc(t["children"]))
        for t in tokens
    )


def render_about(markdown_text: str) -> AboutPage:
    """Render the artist's Markdown: footnotes as sidenotes, a TOC of the h2/h3 headings."""
    md = markdown.Markdown(
        extensions=["footnotes", "toc", "tables", "sane_lists", _SidenoteExtension()],
        extension_configs={"toc": {"toc_depth": "2-3"}, "footnotes": {"UNIQUE_IDS": True}},
        output_format="html",
    )
    body = sanitise_html(md.convert(markdown_text))
    tokens = getattr(md, "toc_tokens", [])
    lead = _LEADING_H1.match(body)
    heading = lead.group(0) if lead else ""
    return AboutPage(heading_html=heading, body_html=body[len(heading) :], toc=_toc(tokens))


def sanitise_html(body: str) -> str:
    """Keep only allowlisted tags, attributes and URL schemes (no script, frame, form, on*)."""
    return nh3.clean(
        body,
        tags=_TAGS,
        clean_content_tags=_DROP_WITH_CONTENT,
        attributes=_ATTRIBUTES,
        link_rel=None,
        strip_comments=True,
    )


def _read_markdown(path: Path, error: type[ArchiveError] | type[ConfigError], hint: str) -> str:
    """Read a Markdown file as UTF-8 (a byte order mark is dropped), or raise one clear line."""
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise error(
            f"about page {path} is not UTF-8 text (invalid byte at offset {exc.start}): {hint}"
        ) from None
    except OSError as exc:
        raise error(f"about page {path} cannot be read ({exc.strerror}): {hint}") from None


def write_about_source(
    archive_dir: Path, about: Path | None, *, keep: frozenset[str] = frozenset()
) -> str | None:
    """Keep the artist's about Markdown in the archive as about.md; return its text (None: none).

    `about` (from the config) replaces the archive's copy; without it the copy is reused, so a
    rebuild needs no config. The copy starts with GUARD, which is not part of the text returned;
    a copy without it gets it back, unless a person changed the file (it is in `keep`): then it
    stays as it is and a warning says what to add.
    """
    if about is not None:
        if not about.is_file():
            raise ConfigError(f"about page {about} does not exist (player.about): fix the path")
        text = _read_markdown(about, ConfigError, "save it as UTF-8 (player.about)")
    else:
        existing = resolve_file_inside(archive_dir, ABOUT_SOURCE)
        if existing is None:
            return None
        text = _read_markdown(existing, ArchiveError, "save it as UTF-8 and run ghosts-render site")
        if not text.startswith(GUARD) and ABOUT_SOURCE in keep:
            log.warning(
                "%s does not start with its guard line, so it could run as a script; "
                "put this line back at its top: %s",
                archive_dir / ABOUT_SOURCE,
                GUARD.strip(),
            )
            return text
    text = text.removeprefix(GUARD)
    dest = resolve_write_target(archive_dir, ABOUT_SOURCE)
    if not dest.is_file() or dest.read_bytes() != (GUARD + text).encode("utf-8"):
        write_atomic(dest, GUARD + text)
    return text


def format_markdown_text(value: str) -> str:
    """Escape a plain text (a title, a role label) so Markdown shows it literally."""
    return _MD_SPECIAL.sub(r"\\\1", html.escape(value, quote=False))


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _duration_words(ms: int) -> str:
    minutes = round(ms / 60000)
    hours, minutes = divmod(minutes, 60)
    if hours and minutes:
        return f"{hours} h {minutes} min"
    return f"{hours} h" if hours else f"{max(minutes, 1)} min"


def format_default_about(conversation: dict[str, Any], version: str) -> str:
    """Write the about Markdown used when the artist supplies none: the piece and its provenance."""
    title = format_markdown_text(conversation["title"])
    labels = [format_markdown_text(r["label"]) for r in conversation["roles"].values()]
    who = " and ".join([", ".join(labels[:-1]), labels[-1]]) if len(labels) > 1 else labels[0]
    messages = conversation["messages"]
    selfies = sum(1 for m in messages if "selfie" in m)
    runs = len({m.get("run", 0) for m in messages})
    demo = (
        "\n\nThis archive was rendered with the bundled **demo models**, not an artist's own."
        if conversation.get("demo")
        else ""
    )
    return f"""# {title}

## The piece

A conversation between {who}, written by a language model, with AI-generated selfies and a
notification sound for every message.[^chat] It plays as a live chat: every visitor, on every
device, sees the same moment of it.{demo}

## This archive

- {_count(len(messages), "message")} in {_count(runs, "conversation run")}, \
{_count(selfies, "selfie")}
- one loop lasts {_duration_words(conversation["duration"])}, then it starts again
- rendered once, offline, by ghosts-render {format_markdown_text(version)}[^render]

[^chat]: Text: GPT-2. Selfies: StyleGAN. Sounds: synthesised or chosen from a sound folder.
[^render]: Nothing here needs a server: the page only reads the files beside it, so it runs from a
    disk, a USB stick or any static web host, offline too.
"""
