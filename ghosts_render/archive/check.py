"""``ghosts-render check``: validate an archive — schema, referenced files, and recorded hashes."""

from __future__ import annotations

from pathlib import Path

from ghosts_render.archive.folder import list_edited_files, read_conversation, read_manifest
from ghosts_render.archive.schema import list_conversation_problems
from ghosts_render.errors import ArchiveError


def check_archive(archive_dir: Path) -> list[str]:
    """Return notes about an archive that plays; raise ArchiveError listing what is broken."""
    if not archive_dir.is_dir():
        raise ArchiveError(f"{archive_dir} is not a folder: give the archive folder (e.g. output)")
    conversation = read_conversation(archive_dir)
    problems = list_conversation_problems(conversation, archive_dir)
    manifest = read_manifest(archive_dir)
    edited = list_edited_files(archive_dir)
    missing = [rel for rel in manifest.get("files", {}) if not (archive_dir / rel).is_file()]
    problems += [f"{rel} is listed in manifest.json but missing" for rel in missing]
    for page in ("index.html", "conversation.js"):
        if not (archive_dir / page).is_file():
            problems.append(f"{page} is missing: run `ghosts-render site {archive_dir}`")
    if problems:
        listed = "; ".join(problems[:12]) + (
            f"; and {len(problems) - 12} more" if len(problems) > 12 else ""
        )
        raise ArchiveError(f"{archive_dir} has {len(problems)} problem(s): {listed}")
    notes = [f"{len(conversation['messages'])} messages, {len(manifest.get('files', {}))} files"]
    changed = [rel for rel in edited if rel not in missing]
    if changed:
        notes.append(
            f"changed since the manifest was written: {', '.join(changed[:5])}"
            + (" …" if len(changed) > 5 else "")
            + f" (run `ghosts-render site {archive_dir}` to rebuild and record them)"
        )
    if conversation.get("demo"):
        notes.append("rendered with the bundled demo models")
    return notes
