"""The sidecar folder beside an archive: its lock, curation history, raw texts and candidates.

For an archive ``output/`` it is ``output.curation/``. Nothing in it is ever published: the
history holds texts that were removed from the archive on purpose (docs/curating.md).
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ghosts_render.errors import ArchiveError, CurationError
from ghosts_render.files import read_json, write_json

if TYPE_CHECKING:
    from ghosts_render.config import RunConfig

log = logging.getLogger(__name__)

RAW_FORMAT = "ghosts-render/curation-raw"
RAW_VERSION = 1
STUDIO = "studio"  # the lock holder that keeps an archive for its whole life


def sidecar_dir(archive: Path) -> Path:
    """Return the curation folder of an archive (``output`` -> ``output.curation``)."""
    archive = Path(archive).resolve()
    return archive.parent / (archive.name + ".curation")


def check_archive_dir(archive: Path) -> None:
    """Raise CurationError unless ``archive`` is a folder holding conversation.json."""
    if not (Path(archive) / "conversation.json").is_file():
        raise CurationError(
            f"{archive} is not an archive folder (it has no conversation.json): give the "
            "folder a render wrote (e.g. output)"
        )
    if not (Path(archive) / "manifest.json").is_file():
        raise CurationError(
            f"{archive} has no manifest.json, which curation records its steps against: run "
            f"`ghosts-render site {archive}` once to write one"
        )


def history_path(archive: Path) -> Path:
    return sidecar_dir(archive) / "history.jsonl"


def raw_path(archive: Path) -> Path:
    return sidecar_dir(archive) / "raw.json"


def candidates_dir(archive: Path) -> Path:
    return sidecar_dir(archive) / "candidates"


def staging_dir(archive: Path) -> Path:
    return sidecar_dir(archive) / "staging"


def removed_dir(archive: Path, step: int) -> Path:
    """Return where step ``step`` keeps the media it took out of the archive."""
    return sidecar_dir(archive) / "removed" / str(step)


# The flock is per open file, so a process that already holds an archive (the studio) must not
# open the lock file again for a change it makes: it counts its holds instead.
_held: dict[Path, list[Any]] = {}  # lock path -> [open file, hold count]
_held_guard = threading.Lock()


@contextmanager
def lock_archive(archive: Path, holder: str) -> Iterator[None]:
    """Hold the archive's curation lock (``holder``: "studio", "edit", …) or raise CurationError.

    The lock is an ``fcntl.flock`` on ``ARCHIVE.curation/lock``, taken without waiting; the
    system releases it when the holder exits or crashes, so a stale lock cannot block anyone.
    The lock file records the holder's pid and name for the message another process gets.
    """
    path = sidecar_dir(archive) / "lock"
    with _held_guard:
        if path in _held:
            _held[path][1] += 1
        else:
            _held[path] = [_take_lock(path, holder), 1]
    try:
        yield
    finally:
        with _held_guard:
            _held[path][1] -= 1
            if _held[path][1] == 0:
                _held.pop(path)[0].close()  # closing the file releases the flock


def _take_lock(path: Path, holder: str) -> Any:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(path, "a+", encoding="utf-8")  # noqa: SIM115 (held open until released)
    except OSError as e:
        raise CurationError(
            f"cannot create the curation folder {path.parent} ({e.strerror or e}): make the "
            "folder that holds the archive writable"
        ) from None
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        if e.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            fh.close()
            raise
        fh.seek(0)
        text = fh.read()
        fh.close()
        raise CurationError(format_lock_taken(path.parent, text)) from None
    fh.seek(0)
    fh.truncate()
    fh.write(json.dumps({"pid": os.getpid(), "holder": holder, "since": now_iso()}) + "\n")
    fh.flush()
    return fh


def format_lock_taken(sidecar: Path, text: str) -> str:
    """Say who holds an archive's lock, from what the holder wrote into the lock file."""
    try:
        info = json.loads(text)
        pid, holder = int(info["pid"]), str(info["holder"])
    except (ValueError, KeyError, TypeError):
        pid, holder = 0, "another ghosts-render"
    archive = sidecar.with_name(sidecar.name.removesuffix(".curation"))
    who = f"pid {pid}" if pid else "pid unknown"
    if holder == STUDIO:
        return (
            f"{archive} is open in the studio ({who}): make the change there, or stop that "
            "studio (Ctrl-C) and run this again"
        )
    return (
        f"{archive} is being changed by another ghosts-render {holder} ({who}): wait for it to "
        "finish and run this again"
    )


def now_iso() -> str:
    """Return the time now in UTC, ISO 8601 to the second (``2026-12-01T05:10:00Z``)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def read_raw(archive: Path, fingerprint: str | None) -> dict[str, str]:
    """Return the raw pieces the render (and later picks) recorded, by message id.

    A store written for another render (another fingerprint) or none at all gives ``{}``:
    ``raw_for`` then rebuilds every piece from the message itself.
    """
    path = raw_path(archive)
    if not path.is_file():
        return {}
    try:
        data = read_json(
            path,
            "curation raw store",
            fix="restore it, or delete it to rebuild the raw texts from the archive",
        )
    except ArchiveError as e:
        raise CurationError(str(e)) from None
    ok = (
        isinstance(data, dict)
        and data.get("format") == RAW_FORMAT
        and isinstance(data.get("raw"), dict)
    )
    if not ok or data.get("fingerprint") != fingerprint:
        return {}
    return {k: v for k, v in data["raw"].items() if isinstance(v, str)}


def write_raw(archive: Path, fingerprint: str | None, raw: Mapping[str, str]) -> None:
    """Write the raw store (atomically) for the render ``fingerprint`` names."""
    write_json(
        raw_path(archive),
        {
            "format": RAW_FORMAT,
            "version": RAW_VERSION,
            "fingerprint": fingerprint,
            "raw": dict(raw),
        },
    )


def write_render_sidecar(
    out: Path, fingerprint: str, raws: Sequence[str], message_id: Callable[[int], str]
) -> None:
    """Start the sidecar of a freshly rendered archive: its raw store (message ``i``'s id is
    ``message_id(i)``). A sidecar left by an earlier archive of that name (deleted or moved away
    by hand) keeps its history: it is moved aside to ``OUT.curation.N``, never overwritten."""
    side = sidecar_dir(out)
    if side.is_dir() and any(p.name not in ("lock", "raw.json") for p in side.iterdir()):
        k = 1
        while side.with_name(f"{side.name}.{k}").exists():
            k += 1
        side.rename(side.with_name(f"{side.name}.{k}"))
        log.warning(
            "%s held the curation history of an earlier archive; moved it to %s.%d",
            side,
            side.name,
            k,
        )
    write_raw(out, fingerprint, {message_id(i): raw for i, raw in enumerate(raws)})


def raw_for(message: Mapping[str, Any], recorded_raw: str | None, cfg: RunConfig) -> str:
    """Return the model-facing piece of a message: the recorded one while it still parses to the
    message's sender, text and selfie flag, else one rebuilt from them (role tag, text, image tag).
    """
    from ghosts_render.render.text.parse import compile_patterns, parse_piece

    selfie = "selfie" in message
    if recorded_raw is not None:
        patterns = compile_patterns(cfg.text.role_format, cfg.text.image_tag)
        piece = parse_piece(recorded_raw, patterns)
        if (piece.sender, piece.text, piece.selfie) == (message["sender"], message["text"], selfie):
            return recorded_raw
    parts = (cfg.text.role_format.format(role=message["sender"]), message["text"].strip())
    return " ".join(p for p in (*parts, cfg.text.image_tag if selfie else "") if p)
