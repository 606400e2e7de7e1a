"""Curation steps: apply a change to an archive, record it, undo it — and survive a crash.

A step is journalled before it touches the archive: ``ARCHIVE.curation/pending.json`` holds the
history record and what decides how far the step got. Then the step moves media out (into
``removed/STEP/``, never deleted) and in (from staging), writes conversation.json atomically,
rebuilds the player, and appends its record to ``history.jsonl`` (flushed to disk) before the
journal goes. conversation.json is the point of no return: if a step stops before it is written
(an error, a crash, ``kill -9``), the next curation command (or ``ghosts-render site``) puts every
moved file back; once it is written, the next command finishes the step. So the folder is either a
valid archive or one the next command repairs. docs/curating.md describes the files.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from ghosts_render.archive.folder import read_conversation
from ghosts_render.archive.paths import list_url_path_problems
from ghosts_render.archive.schema import check_conversation
from ghosts_render.curate import journal
from ghosts_render.curate.sidecar import (
    check_archive_dir,
    history_path,
    lock_archive,
    now_iso,
    removed_dir,
)
from ghosts_render.errors import ArchiveError, CurationError, GhostsError
from ghosts_render.files import dump_json

ACTIONS = ("edit", "delete", "pick", "pick-run", "selfie", "undo")

_changing = threading.Lock()  # one change at a time within a process (the studio's threads)


class StaleChange(CurationError):
    """A message a change starts from is no longer in conversation.json as the change saw it."""

    def __init__(self, line: str, message_id: str) -> None:
        super().__init__(line)
        self.message_id = message_id


@dataclass(frozen=True)
class Change:
    """What a curation step replaces: ``before`` (the messages as conversation.json holds them
    now) by ``after`` (same ids; an id missing from ``after`` is deleted, a new one is inserted
    in id order), with staged media to move in and new raw pieces for ids of ``after``."""

    action: str
    before: tuple[dict[str, Any], ...]
    after: tuple[dict[str, Any], ...]
    media: Mapping[str, Path] = field(default_factory=dict)  # archive path -> staged file
    raw: Mapping[str, str] = field(default_factory=dict)
    note: str = ""


@dataclass(frozen=True)
class Step:
    """One line of the history, as the CLI and the studio show it."""

    n: int
    time: str
    action: str
    ids: tuple[str, ...]
    note: str
    undone: bool


def recover_interrupted(archive: Path) -> None:
    """Finish or roll back a step a crash interrupted (``site`` and every verb call this)."""
    archive = Path(archive)
    if journal.pending_path(archive).is_file():
        with lock_archive(archive, "repair"), _changing:
            journal.recover(archive)


def apply_change(archive: Path, change: Change) -> Step:
    """Make ``change`` to the archive as one recorded step, holding the archive's lock."""
    archive = Path(archive)
    if change.action not in ACTIONS:
        raise CurationError(f"unknown curation action {change.action!r}: one of {ACTIONS}")
    check_archive_dir(archive)
    with lock_archive(archive, change.action), _changing:
        journal.recover(archive)
        return _apply(archive, change, None)


def undo_step(archive: Path) -> Step | None:
    """Undo the latest step not undone yet (an undo is itself a step); None when none is left."""
    archive = Path(archive)
    check_archive_dir(archive)
    with lock_archive(archive, "undo"), _changing:
        journal.recover(archive)
        records = read_records(archive)
        undone = {r["undoes"] for r in records if r.get("undoes") is not None}
        todo = [r for r in records if r["action"] != "undo" and r["step"] not in undone]
        if not todo:
            return None
        last = todo[-1]
        where = removed_dir(archive, last["step"])
        change = Change(
            action="undo",
            before=tuple(last["after"]),
            after=tuple(last["before"]),
            media={rel: where / rel for rel in last["media_out"]},
            raw=last.get("raw_before", {}),
            note=f"undid step {last['step']} ({last['action']})",
        )
        try:
            return _apply(archive, change, last["step"])
        except StaleChange as e:  # running the undo again would not help: say what would
            raise CurationError(
                f"cannot undo step {last['step']} ({last['action']}): message {e.message_id} "
                "was changed by hand since, so conversation.json no longer holds what that step "
                f'left; put it back as the step\'s "after" in {history_path(archive)} shows '
                "(then undo again), or keep it as it is and go on with the verbs"
            ) from None


def read_history(archive: Path) -> list[Step]:
    """Return every recorded step, oldest first, each marked undone or not."""
    check_archive_dir(archive)
    records = read_records(Path(archive))
    undone = {r["undoes"] for r in records if r.get("undoes") is not None}
    return [
        Step(r["step"], r["time"], r["action"], tuple(r["ids"]), r["note"], r["step"] in undone)
        for r in records
    ]


def read_records(archive: Path) -> list[dict[str, Any]]:
    """Return the full history records (before/after included) of an archive's steps."""
    path = history_path(archive)
    if not path.is_file():
        return []
    records = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            ok = isinstance(record, dict) and isinstance(record["step"], int)
        except (ValueError, KeyError):
            ok = False
        if not ok:
            raise CurationError(
                f"{path} line {i} is not a history record: restore the file from a backup "
                "(the archive itself is fine; only undo and the history need it)"
            )
        records.append(record)
    return records


def list_media(messages: Iterable[Mapping[str, Any]]) -> set[str]:
    """Return the archive paths of every file the messages play or show."""
    paths: set[str] = set()
    for m in messages:
        selfie, sound = m.get("selfie"), m.get("sound")
        if isinstance(selfie, dict):
            paths.update(
                unquote(selfie[k]) for k in ("src", "webp") if isinstance(selfie.get(k), str)
            )
        if isinstance(sound, dict) and isinstance(sound.get("src"), str):
            paths.add(unquote(sound["src"]))
        voice = m.get("voice")
        if isinstance(voice, dict) and isinstance(voice.get("src"), str):
            paths.add(unquote(voice["src"]))
    return paths


def _same(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return journal.hash_content([a]) == journal.hash_content([b])


def _apply(archive: Path, change: Change, undoes: int | None) -> Step:
    conversation = read_conversation(archive)
    check_conversation(conversation, archive)  # an archive broken by hand: the check's line
    messages = conversation["messages"]
    new_messages = merge_messages(messages, change, archive)
    _check_media(change)
    out = list_media(messages) - list_media(new_messages)
    out |= {rel for rel in change.media if os.path.lexists(archive / rel)}  # displaced files
    ids = sorted({m["id"] for m in (*change.before, *change.after)})
    n = max((r["step"] for r in read_records(archive)), default=0) + 1
    raw_before = journal.read_raw_pieces(archive, change.raw)
    stamp = now_iso()
    record = {
        "step": n,
        "time": stamp,
        "action": change.action,
        "ids": ids,
        "note": change.note,
        "before": list(change.before),
        "after": list(change.after),
        "media_in": sorted(change.media),
        "media_out": sorted(out),
        "undoes": undoes,
        "raw_before": raw_before,
        "raw_after": dict(change.raw),
    }
    new_messages = fit_times(new_messages, {a["id"] for a in change.after}, conversation)
    new = {**conversation, "messages": new_messages}
    pending = journal.begin(archive, record, change.media, messages, new_messages)
    try:
        journal.move_media(archive, pending)
        check_conversation(new, archive)
        journal.write_conversation(archive, dump_json(new))
    except (OSError, GhostsError) as e:
        journal.recover(archive)  # before conversation.json: every moved file goes back
        if isinstance(e, ArchiveError):
            raise CurationError(f"{e} (nothing was changed)") from None
        raise CurationError(
            f"cannot {change.action} in {archive} ({e}); nothing was changed: fix that and run "
            "this again"
        ) from None
    journal.finish(archive, pending)
    return Step(n, stamp, change.action, tuple(ids), change.note, False)


def merge_messages(
    messages: list[dict[str, Any]], change: Change, archive: Path
) -> list[dict[str, Any]]:
    """Return the conversation's messages with ``change`` made: checked against the current
    ones (stale → CurationError), ids unique and in order."""
    by_id = {m.get("id"): m for m in messages}
    for b in change.before:
        if b.get("id") not in by_id or not _same(by_id[b["id"]], b):
            raise StaleChange(
                f"message {b.get('id')} of {archive} changed since this {change.action} was "
                "prepared: run it again",
                str(b.get("id")),
            )
    after_ids = [a.get("id") for a in change.after]
    if len(set(after_ids)) != len(after_ids):
        raise CurationError(f"{change.action}: the new messages repeat an id ({after_ids})")
    before_ids = {b["id"] for b in change.before}
    reused = [i for i in after_ids if i in by_id and i not in before_ids]
    if reused:
        raise CurationError(f"{change.action}: id {reused[0]} is already used by another message")
    if not _in_order([m.get("id") for m in messages]):
        raise CurationError(
            f"{archive / 'conversation.json'}: message ids are out of order; put the messages "
            "back in id order (or restore the file) and run this again"
        )
    after = {a["id"]: a for a in change.after}
    kept = [
        after.get(m["id"], m) for m in messages if m["id"] not in before_ids or m["id"] in after
    ]
    merged = sorted([*kept, *(a for a in change.after if a["id"] not in by_id)], key=_id_key)
    if not merged:
        raise CurationError(f"{change.action} would leave {archive} with no message; keep one")
    return merged


def fit_times(
    messages: list[dict[str, Any]], ids: set[str], conversation: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Give the messages ``ids`` names times that fit between their neighbours' where theirs do
    not: a message an undo puts back into an archive whose times were re-planned without it.
    They are provisional: the rebuild re-plans every time from the texts (unless the archive
    keeps its times, and then a message put back finds its old place free)."""
    out = list(messages)
    i = 0
    while i < len(out):
        if out[i]["id"] not in ids:
            i += 1
            continue
        j = i
        while j < len(out) and out[j]["id"] in ids:
            j += 1
        lo = out[i - 1]["at"] if i else -1
        hi = out[j]["at"] if j < len(out) else conversation["duration"]
        ats = [m.get("at") for m in out[i:j]]
        if not _fits(ats, lo, hi):
            if hi - lo <= j - i:
                raise CurationError(
                    f"no room in the timeline for {out[i]['id']} between {lo} and {hi} ms: "
                    "move its neighbours' times apart in conversation.json, run `ghosts-render "
                    "site`, then this again"
                )
            for k in range(i, j):
                at = lo + (hi - lo) * (k - i + 1) // (j - i + 1)
                writing = out[k].get("writing_at")
                writing = min(max(0, writing if isinstance(writing, int) else at), at)
                out[k] = _shift_voice({**out[k], "writing_at": writing, "at": at}, out[k])
        i = j
    return out


def _shift_voice(moved: dict[str, Any], was: Mapping[str, Any]) -> dict[str, Any]:
    """Move a message's voice with the message (it plays the same time after its sound)."""
    voice, at = was.get("voice"), was.get("at")
    if not (isinstance(voice, dict) and isinstance(voice.get("at"), int) and isinstance(at, int)):
        return moved
    return {**moved, "voice": {**voice, "at": voice["at"] + moved["at"] - at}}


def _fits(ats: list[Any], lo: int, hi: int) -> bool:
    if not all(isinstance(a, int) and not isinstance(a, bool) for a in ats):
        return False
    return _in_order([lo, *ats, hi])


def _id_key(message: Mapping[str, Any]) -> str:
    return str(message["id"])


def _in_order(ids: list[Any]) -> bool:
    return all(a < b for a, b in zip(ids, ids[1:], strict=False))


def _check_media(change: Change) -> None:
    for rel, staged in change.media.items():
        if list_url_path_problems(rel) or rel.startswith("/"):
            raise CurationError(f"{change.action}: {rel!r} is not a path inside the archive")
        if not Path(staged).is_file():
            raise CurationError(
                f"{change.action}: the new file {staged} for {rel} is missing: prepare the "
                "change again (nothing was changed)"
            )
