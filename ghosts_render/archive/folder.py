"""The archive on disk: conversation.json, manifest.json, and writing a folder all-or-nothing.

A render builds its archive in ``OUT.partial/archive`` beside the output, with the resume state in
``OUT.partial/state``; only a finished archive (manifest written last) is moved to ``OUT``. So an
archive folder is either complete or absent, and nothing uploaded carries work-in-progress state.
docs/archive-format.md documents the files.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ghosts_render.errors import ArchiveError
from ghosts_render.files import read_json, sha256_file, write_json

CONVERSATION_FORMAT = "ghosts-render/conversation"
CONVERSATION_VERSION = 1
MANIFEST_FORMAT = "ghosts-render/manifest"
MANIFEST_VERSION = 1


def read_conversation(archive_dir: Path) -> dict[str, Any]:
    """Read and minimally check an archive's conversation.json."""
    data = read_json(archive_dir / "conversation.json", "archive")
    if not isinstance(data, dict) or data.get("format") != CONVERSATION_FORMAT:
        raise ArchiveError(
            f"{archive_dir / 'conversation.json'} is not a ghosts-render conversation "
            f'(its "format" should be "{CONVERSATION_FORMAT}")'
        )
    if data.get("version") != CONVERSATION_VERSION:
        raise ArchiveError(
            f"{archive_dir / 'conversation.json'} has schema version {data.get('version')!r}; "
            f"this ghosts-render reads version {CONVERSATION_VERSION}"
        )
    return data


def iter_archive_files(archive_dir: Path) -> Iterator[Path]:
    """Yield every file of an archive except the manifest, sorted, as relative paths."""
    for path in sorted(archive_dir.rglob("*")):
        rel = path.relative_to(archive_dir)
        if path.is_file() and rel.as_posix() != "manifest.json" and not rel.name.startswith("."):
            yield rel


def hash_archive_files(archive_dir: Path) -> dict[str, dict[str, Any]]:
    """Return {relative path: {"size", "sha256"}} for every file of an archive."""
    return {
        rel.as_posix(): {
            "size": (archive_dir / rel).stat().st_size,
            "sha256": sha256_file(archive_dir / rel),
        }
        for rel in iter_archive_files(archive_dir)
    }


def write_manifest(archive_dir: Path, provenance: dict[str, Any]) -> dict[str, Any]:
    """Write manifest.json last: provenance plus every file with its size and sha256."""
    manifest = {
        "format": MANIFEST_FORMAT,
        "version": MANIFEST_VERSION,
        **provenance,
        "files": hash_archive_files(archive_dir),
    }
    write_json(archive_dir / "manifest.json", manifest, sort_keys=True)
    return manifest


def read_manifest(archive_dir: Path) -> dict[str, Any]:
    """Read an archive's manifest.json."""
    data = read_json(archive_dir / "manifest.json", "archive")
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
        raise ArchiveError(f"{archive_dir / 'manifest.json'} is not a ghosts-render manifest")
    return data


def list_edited_files(archive_dir: Path) -> list[str]:
    """Return the archive files whose content differs from what the manifest recorded."""
    manifest = read_manifest(archive_dir)
    files = manifest.get("files", {})
    edited = []
    for rel, meta in files.items():
        path = archive_dir / rel
        if not path.is_file() or sha256_file(path) != meta.get("sha256"):
            edited.append(rel)
    on_disk = {rel.as_posix() for rel in iter_archive_files(archive_dir)}
    edited.extend(sorted(on_disk - set(files)))
    return edited


def partial_dir(out: Path) -> Path:
    """Return the work folder beside an output folder (``output`` -> ``output.partial``)."""
    return out.with_name(out.name + ".partial")


def check_replaceable(out: Path) -> None:
    """Refuse to replace a folder that holds anything a person made or changed."""
    if not out.exists():
        return
    if not out.is_dir():
        raise ArchiveError(f"{out} exists and is not a folder: choose another --out")
    if not any(out.iterdir()):
        return
    if not (out / "manifest.json").is_file():
        raise ArchiveError(
            f"{out} already exists and is not a ghosts-render archive: choose another --out "
            "or move that folder away (nothing was written)"
        )
    if read_manifest(out).get("edited"):
        raise ArchiveError(
            f"{out} holds a curated archive (its conversation.json was edited and rebuilt): "
            "move it away or choose another --out to render anew (nothing was written)"
        )
    edited = list_edited_files(out)
    if edited:
        listed = ", ".join(edited[:3]) + (" …" if len(edited) > 3 else "")
        raise ArchiveError(
            f"{out} holds an archive with changes made after it was rendered ({listed}); "
            "rebuild its player with `ghosts-render site`, or move it away or choose another "
            "--out to render anew (nothing was written)"
        )


def write_finished(built: Path, out: Path) -> None:
    """Move a finished archive into place, replacing an older unedited one."""
    check_replaceable(out)
    old = built.parent / "previous"
    if old.exists():
        shutil.rmtree(old)
    if out.exists():
        os.replace(out, old)
    os.replace(built, out)
    if old.exists():
        shutil.rmtree(old)
