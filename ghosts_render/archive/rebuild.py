"""Rebuild an archive's player from its (possibly curated) conversation.json; no models needed.

``site`` never overwrites what a person changed: a file whose hash differs from the manifest's
record (or that the manifest does not know) is kept as it is, named in a warning, and listed in
the manifest's ``hand_edited`` so later rebuilds keep it too. docs/archive-format.md, Safety.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from pathlib import Path

from ghosts_render.archive.folder import (
    check_links,
    list_edited_files,
    read_conversation,
    read_manifest,
    write_manifest,
)
from ghosts_render.archive.model import Manifest
from ghosts_render.archive.site import write_site
from ghosts_render.errors import ArchiveError

log = logging.getLogger(__name__)


def is_generated(rel: str) -> bool:
    """Whether ``site`` writes this archive file (pages, player data, assets), by its path."""
    return (
        rel in GENERATED
        or rel.startswith("assets/")
        or bool(re.fullmatch(r"transcript(-\d+)?\.html", rel))
    )


# What `site` writes besides assets/ and the transcript pages.
GENERATED = frozenset(
    ("index.html", "about.html", "link.html", "lost.html", "conversation.js", "sw.js")
    + ("site.webmanifest",)
)


def rebuild_site(archive_dir: Path) -> None:
    """Rewrite the player and the manifest's file list from conversation.json."""
    if not archive_dir.is_dir():
        raise ArchiveError(f"{archive_dir} is not a folder: give the archive folder (e.g. output)")
    read_conversation(archive_dir)
    check_links(archive_dir)
    keep: frozenset[str] = frozenset()
    curated = False
    if (archive_dir / "manifest.json").is_file():
        provenance, keep, curated = read_edits(archive_dir)
    else:
        log.warning("%s has no manifest.json; writing one with no render provenance", archive_dir)
        provenance = Manifest(edited=True)
    try:
        write_site(archive_dir, keep=keep)
        write_manifest(archive_dir, provenance)
    except OSError as e:  # a read-only folder, a full disk: what is written is whole (atomic)
        raise ArchiveError(
            f"cannot write {e.filename or archive_dir} ({e.strerror or e}): make the archive "
            "folder writable or free some disk space, then run `ghosts-render site` again"
        ) from None
    if curated:
        log.info("conversation.json was edited after the render; the manifest now says so")
    kept = sorted(rel for rel in keep if is_generated(rel))
    if kept:
        log.warning(
            "kept %s as changed by hand (site did not overwrite them); delete a file and run "
            "`ghosts-render site` again to have it regenerated",
            ", ".join(kept),
        )


def read_edits(archive_dir: Path) -> tuple[Manifest, frozenset[str], bool]:
    """Return the new manifest's provenance, the files a person changed (to keep), and whether
    conversation.json is one of them."""
    manifest = read_manifest(archive_dir)
    present = [r for r in list_edited_files(archive_dir) if os.path.lexists(archive_dir / r)]
    recorded = manifest.get("hand_edited", [])
    hand = {
        r
        for r in [*present, *(recorded if isinstance(recorded, list) else [])]
        if isinstance(r, str) and r != "conversation.json" and os.path.lexists(archive_dir / r)
    }
    # Sticky: once a person has changed the archive (curated the conversation, edited or added
    # a file), a later render must never replace this folder silently (check_replaceable).
    provenance = dataclasses.replace(
        Manifest.from_json(manifest),
        edited=bool(manifest.get("edited")) or bool(present),
        hand_edited=sorted(hand) if hand else None,
    )
    return provenance, frozenset(hand), "conversation.json" in present
