"""Rebuild an archive's player from its (possibly curated) conversation.json; no models needed."""

from __future__ import annotations

import logging
from pathlib import Path

from ghosts_render.archive.folder import (
    read_conversation,
    read_manifest,
    write_manifest,
)
from ghosts_render.archive.site import write_site
from ghosts_render.errors import ArchiveError
from ghosts_render.files import sha256_file

log = logging.getLogger(__name__)


def rebuild_site(archive_dir: Path) -> None:
    """Rewrite the player and the manifest's file list from conversation.json."""
    if not archive_dir.is_dir():
        raise ArchiveError(f"{archive_dir} is not a folder: give the archive folder (e.g. output)")
    read_conversation(archive_dir)
    provenance: dict = {}
    if (archive_dir / "manifest.json").is_file():
        manifest = read_manifest(archive_dir)
        recorded = manifest.get("files", {}).get("conversation.json", {}).get("sha256")
        edited = manifest.get("edited", False) or recorded != sha256_file(
            archive_dir / "conversation.json"
        )
        provenance = {k: v for k, v in manifest.items() if k not in ("files", "format", "version")}
        # Sticky: once a person has curated the conversation, a later render must never
        # replace this folder silently (archive.check_replaceable refuses it).
        provenance["edited"] = bool(edited)
        if edited:
            log.info("conversation.json was edited after the render; the manifest now says so")
    else:
        log.warning("%s has no manifest.json; writing one with no render provenance", archive_dir)
        provenance = {"edited": True}
    write_site(archive_dir)
    write_manifest(archive_dir, provenance)
