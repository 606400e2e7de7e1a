"""The render's work folder ``OUT.partial``: proven ours before anything in it is removed, locked.

A render keeps its resume state and the archive it builds in ``OUT.partial`` beside the output.
That name may already be taken by a person's own folder, so the folder gets a marker file (its
first line is ``WORK_FORMAT``) the moment it is made, and nothing is ever deleted from a folder
without one (an empty folder, which holds nothing to lose, is taken over). One render at a time
holds ``OUT.partial/lock`` with ``flock``; the kernel drops the lock when the process ends, even
on ``kill -9``. docs/archive-format.md, Safety.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ghosts_render.archive.folder import partial_dir
from ghosts_render.errors import ArchiveError
from ghosts_render.files import write_atomic

log = logging.getLogger(__name__)

WORK_FORMAT = "ghosts-render/work 1"
MARKER = "ghosts-render-work.txt"
LOCK = "lock"
_KEEP = {MARKER, LOCK}
TEXT_STATE = Path("state/text")  # the text stage's files, kept across configs (pipeline._run_text)
VOICES_STATE = Path("state/voices")  # the voices stage's record of finished clips (voices/stage.py)
# What running out of room or permission looks like: a message, not a traceback.
WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM}


def is_work_dir(work: Path) -> bool:
    """Whether ``work`` is a real folder that a render made (it holds the marker)."""
    marker = work / MARKER
    if work.is_symlink() or not work.is_dir() or marker.is_symlink() or not marker.is_file():
        return False
    with marker.open(encoding="utf-8", errors="replace") as fh:
        return fh.readline().rstrip("\n") == WORK_FORMAT


def check_work_dir(work: Path) -> None:
    """Refuse a work folder path that is taken by something a render did not make."""
    if work.is_symlink():
        raise ArchiveError(
            f"{work} is a symbolic link, and ghosts-render keeps its unfinished render there: "
            "remove the link or choose another --out (nothing was touched)"
        )
    if work.exists() and not work.is_dir():
        raise ArchiveError(
            f"{work} is a file, and ghosts-render keeps its unfinished render there: "
            "move it away or choose another --out (nothing was touched)"
        )
    if work.exists() and not is_work_dir(work) and any(work.iterdir()):
        raise ArchiveError(
            f"{work} exists but was not made by ghosts-render (it has no {MARKER}), and a render "
            "keeps its unfinished work there: move that folder away or choose another --out "
            "(nothing was touched)"
        )


def _write_marker(work: Path, out: Path) -> None:
    write_atomic(
        work / MARKER,
        f"{WORK_FORMAT}\nghosts-render's unfinished render of {out}: run the same command again "
        "to resume it, or delete this folder.\n",
    )


def _lock(work: Path, out: Path) -> int:
    fd = os.open(work / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise ArchiveError(
            f"another ghosts-render is rendering into {out} right now (it holds {work / LOCK}): "
            "wait for it to finish, or stop it first"
        ) from None
    return fd


def _clear(work: Path, *, keep_text: bool) -> None:
    """Empty a work folder that is ours, keeping its marker and lock, and with ``keep_text`` the
    text stage's files (``state/text/``, named by what decides the text, so they serve a render
    that changed only other settings)."""
    kept = {work / name for name in _KEEP}
    children = list(work.iterdir())
    if keep_text:
        kept |= {work / TEXT_STATE.parent, work / TEXT_STATE}
        children += work.glob(f"{TEXT_STATE.parent}/*")
    for child in children:
        if child in kept:
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


@contextmanager
def open_work_dir(out: Path, fingerprint: str, fresh: bool) -> Iterator[Path]:
    """Yield the locked work folder for a render, emptied when ``fresh`` or made for another.

    Raises ArchiveError, touching nothing, when ``OUT.partial`` is not ours or is locked.
    """
    work = partial_dir(out)
    check_work_dir(work)
    if not work.exists():
        try:
            work.mkdir()
        except FileExistsError:  # another render made it a moment ago
            check_work_dir(work)
    if not is_work_dir(work):  # just made, or left empty by a render killed at that moment
        _write_marker(work, out)
    fd = _lock(work, out)
    try:
        check_work_dir(work)
        stamp = work / "state" / "fingerprint"
        old = stamp.read_text().strip() if stamp.is_file() else ""
        if old and old != fingerprint and not fresh:
            log.warning(
                "%s holds an unfinished render with another config, seed or model; starting "
                "over (its text is kept for a render with the same text settings)",
                work,
            )
        if fresh or old != fingerprint:
            _clear(work, keep_text=not fresh)
        (work / "state").mkdir(exist_ok=True)
        if not stamp.is_file():
            write_atomic(stamp, fingerprint + "\n")
        yield work
    finally:
        os.close(fd)


def format_write_error(error: OSError, out: Path) -> str:
    """Say in one line which path could not be written, and that the render resumes."""
    # A copy names its source first and its destination second (shutil's sendfile path).
    where = error.filename2 or error.filename or partial_dir(out)
    return (
        f"cannot write {where} ({error.strerror or error}): free some disk space or make the "
        "folder writable, then run the same command again to resume where it stopped"
    )
