"""``ghosts-render check``: validate an archive — schema, referenced files, and recorded hashes.

Every file must be the one the manifest recorded: a changed or unknown file is a failure, unless
the manifest says a person curated the archive (``edited``) and the file is one that curation
explains (conversation.json and what ``site`` regenerates). docs/archive-format.md, Safety.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote

from ghosts_render.archive.folder import (
    iter_archive_files,
    read_conversation,
    read_manifest,
    sha256_file,
)
from ghosts_render.archive.paths import resolve_inside
from ghosts_render.archive.rebuild import is_generated
from ghosts_render.archive.schema import list_conversation_problems
from ghosts_render.blocklist import BlockedMessage, list_blocked, load_blocklist
from ghosts_render.errors import ArchiveError

MAX_LISTED = 12


def check_archive(archive_dir: Path) -> list[str]:
    """Return notes about an archive that plays; raise ArchiveError listing what is broken."""
    if not archive_dir.is_dir():
        raise ArchiveError(f"{archive_dir} is not a folder: give the archive folder (e.g. output)")
    conversation = read_conversation(archive_dir)
    problems = list_conversation_problems(conversation, archive_dir)
    manifest = read_manifest(archive_dir)
    changed, file_problems = list_file_problems(archive_dir, manifest)
    problems += file_problems
    if not problems:  # every voice file is there, inside the archive and the one recorded
        problems += list_voice_length_problems(conversation, archive_dir)
    for page in ("index.html", "conversation.js"):
        if not (archive_dir / page).is_file():
            problems.append(f"{page} is missing: run `ghosts-render site {archive_dir}`")
    if problems:
        listed = "; ".join(problems[:MAX_LISTED]) + (
            f"; and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
        )
        raise ArchiveError(f"{archive_dir} has {len(problems)} problem(s): {listed}")
    notes = [f"{len(conversation['messages'])} messages, {len(manifest.get('files', {}))} files"]
    if changed:
        notes.append(
            f"curated: changed since the manifest was written: {', '.join(changed[:5])}"
            + (" …" if len(changed) > 5 else "")
            + f" (run `ghosts-render site {archive_dir}` to rebuild and record them)"
        )
    if conversation.get("demo"):
        notes.append("rendered with the bundled demo models")
    return notes


def list_voice_length_problems(conversation: dict[str, Any], archive_dir: Path) -> list[str]:
    """Decode every voice clip and compare its length with its ``duration_ms`` (to the ms)."""
    from ghosts_render.render.sounds.io import decode_audio

    problems = []
    for msg in conversation["messages"]:
        voice = msg.get("voice")
        if not isinstance(voice, dict):
            continue
        try:
            samples, rate, _ = decode_audio((archive_dir / unquote(voice["src"])).read_bytes())
        except Exception as e:  # any decoder failure: the file is not a playable clip
            problems.append(f"{voice['src']} (voice of {msg['id']}) cannot be decoded: {e}")
            continue
        seconds = len(samples) / rate
        if abs(1000 * seconds - voice["duration_ms"]) > 1:
            problems.append(
                f"{voice['src']} (voice of {msg['id']}) lasts {1000 * seconds:.0f} ms, not the "
                f"{voice['duration_ms']} ms conversation.json says"
            )
    return problems


def list_blocked_messages(archive_dir: Path, blocklist_path: Path) -> list[BlockedMessage]:
    """Return the archive's messages that match a blocklist file: (id, sender, term), in order."""
    blocklist = load_blocklist(blocklist_path)
    return list_blocked(read_conversation(archive_dir)["messages"], blocklist)


def list_file_problems(archive_dir: Path, manifest: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Compare the files on disk with the manifest: (changes curation explains, problems)."""
    files = manifest.get("files", {})
    curated = manifest.get("edited") is True
    changed: list[str] = []
    problems: list[str] = []
    hint = f"if you changed it on purpose, run `ghosts-render site {archive_dir}` to record it"

    def differs(rel: str, what: str) -> None:
        if curated and (rel == "conversation.json" or is_generated(rel)):
            changed.append(rel)
        else:
            problems.append(f"{rel} {what} ({hint})")

    for rel, meta in files.items():
        problem = _link_problem(archive_dir, rel)
        if problem:
            problems.append(problem)
        elif not (archive_dir / rel).is_file():
            problems.append(f"{rel} is listed in manifest.json but missing")
        elif sha256_file(archive_dir / rel) != meta["sha256"]:
            differs(rel, "differs from the sha256 manifest.json recorded")
    for rel in (r.as_posix() for r in iter_archive_files(archive_dir)):
        if rel not in files:
            problem = _link_problem(archive_dir, rel)
            if problem:
                problems.append(problem)
            else:
                differs(rel, "is not listed in manifest.json")
    return changed, problems


def _link_problem(archive_dir: Path, rel: str) -> str | None:
    """Say why a path is not a regular file inside the archive, if it is a link out of it."""
    try:
        path = resolve_inside(archive_dir, rel)
    except ArchiveError:
        return f"{rel} leads outside the archive (through a symbolic link or '..')"
    if (archive_dir / rel).is_symlink() and not path.is_file():
        return f"{rel} is a symbolic link to a folder or to nothing"
    return None
