"""Paths inside an archive: every read and write stays inside the archive folder's real path.

An archive is a folder a person may have edited, and its JSON names files by relative path. So a
path is only used after it is checked against the archive's real (symlink-resolved) location: a
symlink inside the archive that points elsewhere (``assets -> ~/Documents``, ``about.md ->
/etc/passwd``) and a name that decodes to a dot segment (``media/%2e%2e/x.jpg``, which a browser
reads as ``media/../x.jpg``) are refused, never followed. docs/archive-format.md, Safety.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from urllib.parse import unquote

from ghosts_render.errors import ArchiveError


def list_url_path_problems(src: str) -> list[str]:
    """Return why a relative URL path (as the player uses it) could leave its folder, if it can.

    The path is checked after percent-decoding, as a browser resolves it: no absolute path, no
    ``.`` or ``..`` segment, no empty segment, no backslash, drive, query or fragment.
    """
    decoded = unquote(src)
    parts = decoded.split("/")
    if (
        decoded.startswith("/")
        or any(part in ("", ".", "..") for part in parts)
        or any(c in src for c in "?#")
        or any(c in decoded for c in ":\\\0")
    ):
        return [f"{src!r} must be a plain path inside the archive (no '..', '.', drive or URL)"]
    return []


def resolve_inside(archive_dir: Path, rel: str | PurePosixPath) -> Path:
    """Return ``archive_dir/rel`` with symlinks resolved, or raise if that leaves the archive."""
    root = archive_dir.resolve()
    path = (root / rel).resolve()
    if not path.is_relative_to(root):
        raise ArchiveError(
            f"{archive_dir / rel} leads outside the archive (to {path}) through a symbolic link: "
            "replace the link with the file or folder itself (nothing was read or written)"
        )
    return path


def resolve_file_inside(archive_dir: Path, rel: str | PurePosixPath) -> Path | None:
    """Return the real path of a regular file inside the archive, None if there is none.

    Raises ArchiveError when the name leads outside the archive.
    """
    path = resolve_inside(archive_dir, rel)
    return path if path.is_file() else None


def resolve_write_target(archive_dir: Path, rel: str | PurePosixPath) -> Path:
    """Return where writing ``archive_dir/rel`` really lands: its folder must be inside.

    The file name itself is kept (``os.replace`` replaces a symlink, never writes through it).
    """
    rel = PurePosixPath(rel)
    folder = resolve_inside(archive_dir, rel.parent)
    if folder.exists() and not folder.is_dir():
        raise ArchiveError(
            f"{archive_dir / rel.parent} is a file where ghosts-render writes a folder: "
            "move it away and run again (nothing was written)"
        )
    return folder / rel.name
