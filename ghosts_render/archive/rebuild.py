"""Rebuild an archive's player from its (possibly curated) conversation.json; no models needed.

``site`` first times the messages from their current texts, with the seed and pacing the
manifest recorded and the render's own planner (``timeline.plan_times``), so an untouched archive
keeps its times to the millisecond and a curated one is paced by what it now says. ``--keep-times``
keeps the times conversation.json holds instead (archives timed by hand); the manifest records it.

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
from typing import Any

from ghosts_render.archive.folder import (
    check_links,
    list_edited_files,
    read_conversation,
    read_manifest,
    write_manifest,
)
from ghosts_render.archive.model import Conversation, Manifest
from ghosts_render.archive.paths import resolve_write_target
from ghosts_render.archive.schema import check_conversation
from ghosts_render.archive.site import write_site
from ghosts_render.config import read_recorded_config
from ghosts_render.errors import ArchiveError, ConfigError
from ghosts_render.files import write_json
from ghosts_render.timeline import plan_times

log = logging.getLogger(__name__)
CONVERSATION = "conversation.json"


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


def rebuild_site(archive_dir: Path, *, keep_times: bool | None = None, notes: bool = True) -> None:
    """Re-plan the timing from the current texts, then rewrite the player and the manifest's
    file list from conversation.json.

    ``keep_times``: True keeps the times conversation.json holds, now and in later rebuilds
    (the manifest records it); False re-plans them (and forgets an earlier True); None does
    what the manifest says (re-plan, unless it records ``keep_times``). ``notes``: as
    ``write_site``'s.
    """
    if not archive_dir.is_dir():
        raise ArchiveError(f"{archive_dir} is not a folder: give the archive folder (e.g. output)")
    data = read_conversation(archive_dir)
    check_links(archive_dir)
    keep: frozenset[str] = frozenset()
    curated = False
    manifest: dict[str, Any] | None = None
    if (archive_dir / "manifest.json").is_file():
        manifest = read_manifest(archive_dir)
        provenance, keep, curated = read_edits(archive_dir, manifest)
        curated = curated and not manifest.get("edited")  # said once, when it becomes true
    else:
        provenance = Manifest(edited=True)
    timing = plan_timing(archive_dir, data, manifest, keep_times)
    provenance = dataclasses.replace(provenance, keep_times=timing.sticky or None)
    try:
        if timing.conversation is not None:
            write_json(resolve_write_target(archive_dir, CONVERSATION), timing.conversation)
        write_site(archive_dir, keep=keep, notes=notes)
        write_manifest(archive_dir, provenance)
    except OSError as e:  # a read-only folder, a full disk: what is written is whole (atomic)
        raise ArchiveError(
            f"cannot write {e.filename or archive_dir} ({e.strerror or e}): make the archive "
            "folder writable or free some disk space, then run `ghosts-render site` again"
        ) from None
    _report(archive_dir, timing, curated, keep)
    _report_stale_voices(archive_dir, data["messages"], manifest)


def _report(archive_dir: Path, timing: Timing, curated: bool, keep: frozenset[str]) -> None:
    """Say what the rebuild did that a person should know (only once it has all been written)."""
    if timing.note:
        (log.warning if timing.warn else log.info)("%s", timing.note)
    if curated:
        log.info("conversation.json was edited after the render; the manifest now says so")
    kept = sorted(rel for rel in keep if is_generated(rel))
    if kept:
        log.warning(
            "kept %s as changed by hand (site did not overwrite them); delete a file and run "
            "`ghosts-render site` again to have it regenerated",
            ", ".join(kept),
        )


def _report_stale_voices(
    archive_dir: Path, messages: list[dict[str, Any]], manifest: dict[str, Any] | None
) -> None:
    """Warn about voice clips that still say a text changed by hand in conversation.json."""
    from ghosts_render.curate.media import list_stale_voices

    stale = list_stale_voices(archive_dir, messages, manifest)
    if stale:
        log.warning(
            "the voice of %s still says the text it had before conversation.json was edited "
            'by hand: run `ghosts-render edit %s ID "TEXT"` with its text as it is now to read '
            'it aloud again (or delete its "voice" to leave it silent)',
            ", ".join(stale),
            archive_dir,
        )


@dataclasses.dataclass(frozen=True)
class Timing:
    """What `site` does with the times: the re-timed conversation.json (None: leave the file as
    it is), whether the manifest keeps ``keep_times``, and a line for the person."""

    conversation: dict[str, Any] | None
    sticky: bool = False
    note: str = ""
    warn: bool = False


def plan_timing(
    archive_dir: Path, data: dict[str, Any], manifest: dict[str, Any] | None, keep: bool | None
) -> Timing:
    """Decide whether the times are re-planned or kept (see ``rebuild_site``), and re-plan them."""
    replan = (
        f"`ghosts-render site {archive_dir} --replan` times the messages from their texts again"
    )
    if keep:
        note = f"kept the times in conversation.json, and later rebuilds keep them too; {replan}"
        return Timing(None, sticky=True, note=note)
    if keep is None and manifest is not None and manifest.get("keep_times") is True:
        note = f"kept the times in conversation.json (it was rebuilt with --keep-times); {replan}"
        return Timing(None, sticky=True, note=note)
    where = archive_dir / "manifest.json"
    if manifest is None or not isinstance(manifest.get("config"), dict):
        why = (
            f"{archive_dir} has no manifest.json (the one written now records no render)"
            if manifest is None
            else f"{where} records no render configuration"
        )
        if keep is False:
            raise ArchiveError(
                f"cannot re-plan the times: {why}, so there is no seed and pacing to plan them "
                "with; run `ghosts-render site` without --replan to keep them"
            )
        note = f"kept the times in conversation.json: {why}, so there is no seed and pacing "
        return Timing(None, note=note + "to re-plan them with", warn=True)
    check_conversation(data, archive_dir)
    try:
        cfg = read_recorded_config(manifest["config"], str(where))
    except ConfigError as e:
        raise ArchiveError(
            f"cannot re-plan the times: {e}. Restore manifest.json, or keep the times with "
            f"`ghosts-render site {archive_dir} --keep-times` (nothing was written)"
        ) from None
    before = Conversation.from_json(data)
    after = plan_times(before, cfg.pacing, cfg.seed, cfg.voices)  # speech keeps its room
    if after == before:
        return Timing(None)
    moved = sum(a.at != b.at for a, b in zip(after.messages, before.messages, strict=True))
    note = f"re-planned the times from the texts: {moved} of {len(before.messages)} messages moved"
    return Timing(after.to_json(), note=note)


def read_edits(
    archive_dir: Path, manifest: dict[str, Any]
) -> tuple[Manifest, frozenset[str], bool]:
    """Return the new manifest's provenance, the files a person changed (to keep), and whether
    conversation.json is one of them (``manifest``: what the archive's manifest.json holds)."""
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
        edited=True if manifest.get("edited") or present else None,
        hand_edited=sorted(hand) if hand else None,
    )
    return provenance, frozenset(hand), "conversation.json" in present
