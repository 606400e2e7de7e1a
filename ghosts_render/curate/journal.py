"""The journal of a curation step in progress: begin, move media, finish, or roll back.

``pending.json`` in the sidecar holds the step's history record, the staged files, the content
hash of the messages before and after, and the player files that already differed from the
manifest. ``recover`` reads it after a crash: conversation.json holding the new messages means
the step passed its point of no return and is finished; holding the old ones means it is rolled
back (every moved file goes back where it was). See history.py for the order of the writes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ghosts_render.archive.folder import hash_archive_file, read_conversation, read_manifest
from ghosts_render.archive.rebuild import is_generated, rebuild_site
from ghosts_render.curate.sidecar import (
    history_path,
    read_raw,
    removed_dir,
    sidecar_dir,
    write_raw,
)
from ghosts_render.errors import CurationError, GhostsError
from ghosts_render.files import read_json, sha256_file, write_atomic, write_json

log = logging.getLogger(__name__)

TIMING = ("writing_at", "at")  # re-planned by every rebuild: not part of a message's content


def pending_path(archive: Path) -> Path:
    return sidecar_dir(archive) / "pending.json"


def _untimed(message: Mapping[str, Any]) -> dict[str, Any]:
    """A message without its times: its own and its voice's (which follows the message)."""
    out = {k: v for k, v in message.items() if k not in TIMING}
    voice = out.get("voice")
    if isinstance(voice, Mapping):
        out["voice"] = {k: v for k, v in voice.items() if k != "at"}
    return out


def hash_content(messages: Iterable[Mapping[str, Any]]) -> str:
    """Hash messages without their timing (which a rebuild may re-plan)."""
    content = [_untimed(m) for m in messages]
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def begin(
    archive: Path,
    record: dict[str, Any],
    staged: Mapping[str, Path],
    messages: list[dict[str, Any]],
    new_messages: list[dict[str, Any]],
) -> dict[str, Any]:
    """Write the journal of a step about to start; return it."""
    pending = {
        "record": record,
        "staged": {rel: str(Path(p).resolve()) for rel, p in staged.items()},
        "content_before": hash_content(messages),
        "content_after": hash_content(new_messages),
        "player_changed": list_changed_player_files(archive),
    }
    write_json(pending_path(archive), pending)
    return pending


def move_media(archive: Path, pending: Mapping[str, Any]) -> None:
    """Move the media the step takes out into removed/STEP/, then the staged media in."""
    record = pending["record"]
    where = removed_dir(archive, record["step"])
    for rel in record["media_out"]:
        if os.path.lexists(archive / rel):
            _move(archive / rel, where / rel)
    for rel in record["media_in"]:
        _move(Path(pending["staged"][rel]), archive / rel)


def write_conversation(archive: Path, text: str) -> None:
    """Write conversation.json atomically: the step's point of no return."""
    write_atomic(archive / "conversation.json", text)


def finish(archive: Path, pending: Mapping[str, Any]) -> None:
    """Record the moved media in the manifest, rebuild the player, store the raw pieces, append
    the history record, and close the journal. Safe to run again after a crash."""
    record = pending["record"]
    try:
        player = set(list_changed_player_files(archive)) - set(pending["player_changed"])
        _record_files(archive, [*record["media_in"], *record["media_out"], *sorted(player)])
        rebuild_site(archive, notes=False)
    except (OSError, GhostsError) as e:
        raise CurationError(
            f"step {record['step']} ({record['action']}) of {archive} is half done: {e}. Fix "
            f"that, then run `ghosts-render site {archive}` (or any curation command) to finish it"
        ) from None
    _warn_kept_pages(archive, record)
    _update_raw(archive, record["raw_after"])
    append_history(archive, record)
    for folder in ("removed", "staging"):  # an undo or a pick leaves empty folders there
        _prune(sidecar_dir(archive) / folder)
    pending_path(archive).unlink()


def _warn_kept_pages(archive: Path, record: Mapping[str, Any]) -> None:
    """Warn when the rebuild kept player pages changed by hand: a removed text may be in them."""
    kept = read_manifest(archive).get("hand_edited") or []
    pages = [rel for rel in kept if isinstance(rel, str) and is_generated(rel)]
    if pages and record["before"]:
        log.warning(
            "%s kept as changed by hand, so a text step %d removed may still be in them: "
            "delete them and run `ghosts-render site %s` to have them regenerated",
            ", ".join(pages),
            record["step"],
            archive,
        )


def recover(archive: Path) -> None:
    """Finish or roll back the step a crash left in the journal, if any."""
    path = pending_path(archive)
    if not path.is_file():
        return
    pending = read_json(path, "curation journal")
    record = pending["record"]
    for leftover in archive.rglob(".*.tmp"):  # a killed atomic write's temporary file
        leftover.unlink()
    now = hash_content(read_conversation(archive)["messages"])
    what = f"step {record['step']} ({record['action']} {', '.join(record['ids'])})"
    if now == pending["content_after"]:
        finish(archive, pending)
        log.warning("finished %s, which was interrupted", what)
    elif now == pending["content_before"]:
        roll_back(archive, pending)
        log.warning("rolled back %s, which was interrupted before it changed the archive", what)
    else:
        raise CurationError(
            f"{what} was interrupted and {archive / 'conversation.json'} has changed since: "
            f"restore it, or delete {path} once the archive is as you want it"
        )


def roll_back(archive: Path, pending: Mapping[str, Any]) -> None:
    """Put every file a step moved back where it was and close its journal."""
    record = pending["record"]
    where = removed_dir(archive, record["step"])
    for rel in record["media_in"]:
        staged = Path(pending["staged"][rel])
        moved_out = rel not in record["media_out"] or os.path.lexists(where / rel)
        if os.path.lexists(archive / rel) and moved_out and not os.path.lexists(staged):
            _move(archive / rel, staged)
    for rel in record["media_out"]:
        if os.path.lexists(where / rel) and not os.path.lexists(archive / rel):
            _move(where / rel, archive / rel)
    _prune(where)
    pending_path(archive).unlink()


def list_changed_player_files(archive: Path) -> list[str]:
    """Return the player files (what ``site`` writes) that differ from the manifest's record."""
    files = read_manifest(archive).get("files", {})
    return sorted(
        rel
        for rel, meta in files.items()
        if is_generated(rel)
        and (not (archive / rel).is_file() or sha256_file(archive / rel) != meta["sha256"])
    )


def _record_files(archive: Path, rels: Iterable[str]) -> None:
    """Record files a step moved (and player files it wrote) in the manifest, so the rebuild
    does not take them for a person's hand edits."""
    manifest = read_manifest(archive)
    files = dict(manifest.get("files", {}))
    for rel in rels:
        if (archive / rel).is_file():
            files[rel] = hash_archive_file(archive, rel)
        else:
            files.pop(rel, None)
    write_json(archive / "manifest.json", {**manifest, "files": files}, sort_keys=True)


def read_raw_pieces(archive: Path, ids: Iterable[str]) -> dict[str, str | None]:
    """Return the stored raw piece of each id (None where none is stored)."""
    store = read_raw(archive, _fingerprint(archive))
    return {i: store.get(i) for i in ids}


def _update_raw(archive: Path, pieces: Mapping[str, str | None]) -> None:
    if not pieces:
        return
    fingerprint = _fingerprint(archive)
    store = read_raw(archive, fingerprint)
    for mid, raw in pieces.items():
        if raw is None:
            store.pop(mid, None)
        else:
            store[mid] = raw
    write_raw(archive, fingerprint, store)


def _fingerprint(archive: Path) -> str | None:
    fp = read_manifest(archive).get("fingerprint")
    return fp if isinstance(fp, str) else None


def append_history(archive: Path, record: Mapping[str, Any]) -> None:
    """Append a step's record to history.jsonl and flush it to disk (once per step)."""
    path = history_path(archive)
    with open(path, "a+b") as fh:
        fh.seek(0)
        data = fh.read()
        if data and not data.endswith(b"\n"):  # a crash cut the last line: it is this step's
            fh.truncate(data.rfind(b"\n") + 1)
            data = data[: data.rfind(b"\n") + 1]
        for line in data.decode("utf-8").splitlines():
            if line.strip() and json.loads(line).get("step") == record["step"]:
                return  # a crash after the append, before the journal closed
        fh.write((json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8"))
        fh.flush()
        os.fsync(fh.fileno())


def _move(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(src, dest)


def _prune(folder: Path) -> None:
    """Remove empty folders under (and including) ``folder``."""
    if not folder.is_dir():
        return
    for sub in sorted(folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if sub.is_dir() and not any(sub.iterdir()):
            sub.rmdir()
    if not any(folder.iterdir()):
        folder.rmdir()
