"""The archive on disk: conversation.json, manifest.json, and writing a folder all-or-nothing.

A render builds its archive in ``OUT.partial/archive`` beside the output, with the resume state in
``OUT.partial/state``; only a finished archive (manifest written last) is moved to ``OUT``. So an
archive folder is either complete or absent, and nothing uploaded carries work-in-progress state.
docs/archive-format.md documents the files.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ghosts_render.archive.model import (
    CONVERSATION_FORMAT,
    CONVERSATION_VERSION,
    MANIFEST_FORMAT,
    Manifest,
)
from ghosts_render.archive.paths import resolve_file_inside, resolve_inside
from ghosts_render.errors import ArchiveError
from ghosts_render.files import read_json, sha256_file, write_json


def read_archive_json(archive_dir: Path, name: str) -> Any:
    """Read a JSON file of an archive; a link to a file outside the archive is refused."""
    path = resolve_file_inside(archive_dir, name) or archive_dir / name
    try:
        return read_json(path, "archive")
    except RecursionError:
        raise ArchiveError(
            f"{archive_dir / name} is nested too deeply to be a ghosts-render archive file: "
            "restore it or render again"
        ) from None


def read_conversation(archive_dir: Path) -> dict[str, Any]:
    """Read and minimally check an archive's conversation.json."""
    data = read_archive_json(archive_dir, "conversation.json")
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
    """Yield every file and symlink of an archive except the manifest, sorted, as relative paths.

    Hidden files (``.htaccess``, ``.nojekyll``) are files like any other: a person put them there.
    Symbolic links are listed (never followed into folders) so that they count as changes too.
    """
    for path in sorted(archive_dir.rglob("*")):
        rel = path.relative_to(archive_dir)
        if (path.is_symlink() or path.is_file()) and rel.as_posix() != "manifest.json":
            yield rel


def hash_archive_file(archive_dir: Path, rel: str | Path) -> dict[str, Any]:
    """Return {"size", "sha256"} of one archive file; refuse a link that leads outside."""
    path = resolve_file_inside(archive_dir, Path(rel).as_posix())
    if path is None:
        raise ArchiveError(
            f"{archive_dir / rel} is a link to a folder or to nothing: replace it with the file "
            "itself or remove it"
        )
    return {"size": path.stat().st_size, "sha256": sha256_file(path)}


def check_links(archive_dir: Path) -> None:
    """Raise ArchiveError if a symbolic link in the archive leads outside it or to a folder."""
    for rel in iter_archive_files(archive_dir):
        if (archive_dir / rel).is_symlink():
            hash_archive_file(archive_dir, rel)


def hash_archive_files(archive_dir: Path) -> dict[str, dict[str, Any]]:
    """Return {relative path: {"size", "sha256"}} for every file of an archive."""
    return {
        rel.as_posix(): hash_archive_file(archive_dir, rel)
        for rel in iter_archive_files(archive_dir)
    }


def write_manifest(archive_dir: Path, manifest: Manifest) -> Manifest:
    """Write manifest.json last: the provenance plus every file with its size and sha256."""
    manifest = dataclasses.replace(manifest, files=hash_archive_files(archive_dir))
    write_json(resolve_inside(archive_dir, "manifest.json"), manifest.to_json(), sort_keys=True)
    return manifest


def read_manifest(archive_dir: Path) -> dict[str, Any]:
    """Read an archive's manifest.json; its ``files`` must map paths to size and sha256."""
    data = read_archive_json(archive_dir, "manifest.json")
    where = archive_dir / "manifest.json"
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
        raise ArchiveError(
            f"{where} is not a ghosts-render manifest: restore it, or delete it and run "
            "`ghosts-render site` on the archive to write a new one"
        )
    files = data.get("files", {})
    if not isinstance(files, dict) or not all(
        isinstance(m, dict) and isinstance(m.get("sha256"), str) for m in files.values()
    ):
        raise ArchiveError(
            f'{where} is damaged: its "files" should map each path to its size and sha256; '
            "restore it, or delete it and run `ghosts-render site` on the archive to write a new "
            "one (which regenerates every player page, hand edits included)"
        )
    return data


def list_edited_files(archive_dir: Path) -> list[str]:
    """Return the archive files whose content differs from what the manifest recorded.

    Files the manifest does not know (a hidden ``.htaccess`` too) and symlinks count as edited.
    """
    files = read_manifest(archive_dir).get("files", {})
    edited = []
    for rel, meta in files.items():
        path = resolve_inside(archive_dir, rel)
        link = (archive_dir / rel).is_symlink()
        if link or not path.is_file() or sha256_file(path) != meta["sha256"]:
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
            f"{out} holds a curated archive (a person changed it and rebuilt its player): "
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
