"""Re-roll a message: text candidates from the archive's own model, kept beside it, and a pick.

``generate_candidates`` writes N candidates for one message (or, with ``run``, N continuations
from it to the end of its run) and keeps them in ``ARCHIVE.curation/candidates/ID.json`` with
the model that wrote them, the settings, and the messages as they were; the same call gives the
same candidates. ``pick_candidate`` puts one in place through ``apply_change``: text, sender, raw
piece, selfie (kept when the same role already had one, a fresh seed when it gains one, gone
when it loses the image tag), sound (kept for the same sender, else one of the new sender's
sounds already in the archive, chosen by message id, else one the sound stage renders), and the
rebuild re-plans timing, player and manifest. docs/curating.md, Re-rolling a message.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ghosts_render.archive.folder import read_conversation, read_manifest
from ghosts_render.archive.schema import check_conversation
from ghosts_render.config import RunConfig, read_recorded_config
from ghosts_render.curate.history import Change, Step, apply_change, recover_interrupted
from ghosts_render.curate.journal import hash_content
from ghosts_render.curate.media import stage_picked
from ghosts_render.curate.sidecar import candidates_dir, raw_for, read_raw
from ghosts_render.curate.textgen import (
    Written,
    generate_continuations,
    load_archive_model,
    load_other_model,
    read_model_record,
)
from ghosts_render.errors import ArchiveError, ConfigError, CurationError
from ghosts_render.files import read_json, write_json

CANDIDATES_FORMAT = "ghosts-render/curation-candidates"
CANDIDATES_VERSION = 1
DEFAULT_CANDIDATES = 4
MAX_CANDIDATES = 64


@dataclass(frozen=True, slots=True)
class CandidateSet:
    """A message's text candidates, as ``candidates/ID.json`` keeps them."""

    message_id: str  # the message re-rolled
    run: bool  # each candidate continues the run to its end (``ids``), not one message
    ids: tuple[str, ...]  # the messages a candidate replaces, in order
    model: dict[str, Any]  # kind, path, files (name -> sha256), own (the archive's own model)
    settings: dict[str, Any]  # what decided them: count, seed, stream, sampling settings
    current: tuple[dict[str, Any], ...]  # the records of ``ids`` when they were made
    candidates: tuple[tuple[Written, ...], ...]  # one message per id in each candidate

    def to_json(self) -> dict[str, Any]:
        return {
            "format": CANDIDATES_FORMAT,
            "version": CANDIDATES_VERSION,
            "message_id": self.message_id,
            "run": self.run,
            "ids": list(self.ids),
            "model": self.model,
            "settings": self.settings,
            "current": list(self.current),
            "candidates": [[w.to_json() for w in c] for c in self.candidates],
        }

    @classmethod
    def from_json(cls, data: Any, where: Path) -> CandidateSet:
        """Read a candidate file back; a damaged or foreign one is one clear error."""
        try:
            if (data["format"], data["version"]) != (CANDIDATES_FORMAT, CANDIDATES_VERSION):
                raise ValueError("format")
            ids = tuple(str(i) for i in data["ids"])
            candidates = tuple(
                tuple(Written(w["sender"], w["text"], bool(w["selfie"]), w["raw"]) for w in c)
                for c in data["candidates"]
            )
            if not candidates or any(len(c) != len(ids) for c in candidates):
                raise ValueError("candidates")
            return cls(
                message_id=str(data["message_id"]),
                run=bool(data["run"]),
                ids=ids,
                model=dict(data["model"]),
                settings=dict(data["settings"]),
                current=tuple(dict(m) for m in data["current"]),
                candidates=candidates,
            )
        except (KeyError, TypeError, ValueError):
            raise CurationError(
                f"{where} is not a candidate list this ghosts-render wrote (damaged?): delete it "
                "and re-roll the message again"
            ) from None


def candidates_path(archive: Path, message_id: str) -> Path:
    """Return where a message's text candidates are kept (an id is never a path)."""
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", message_id):
        raise CurationError(f"{message_id!r} is not a message id: give one like m00012")
    return candidates_dir(archive) / f"{message_id}.json"


@dataclass(frozen=True, slots=True)
class RerollContext:
    """Where a re-roll writes, and what the model sees first: as the render had it."""

    manifest: dict[str, Any]
    cfg: RunConfig  # the configuration the archive was rendered with
    run: int  # the message's run
    place: int  # its place in the run (the run's prompt is 0)
    raws: tuple[str, ...]  # the raw pieces of the run's messages before it, oldest first
    replaced: tuple[dict[str, Any], ...]  # what a candidate replaces: it, or the rest of the run
    current_raw: str  # the message's own raw piece (a candidate must not repeat it)


def read_context(archive: Path, message_id: str, *, run: bool = False) -> RerollContext:
    """Return the context of a message's re-roll, read from the archive and its raw store."""
    messages, manifest, cfg = _read_archive(archive)
    target = _find(messages, message_id, archive)
    same_run = [m for m in messages if m.get("run", 0) == target.get("run", 0)]
    place = same_run.index(target)
    if place == 0:
        raise CurationError(
            f"{message_id} opens run {target.get('run', 0)} with a prompt from text.prompts, "
            "which the model did not write: change it with `ghosts-render edit`, or re-roll "
            "the message after it"
        )
    recorded = read_raw(archive, manifest.get("fingerprint"))
    return RerollContext(
        manifest=manifest,
        cfg=cfg,
        run=int(target.get("run", 0)),
        place=place,
        raws=tuple(raw_for(m, recorded.get(m["id"]), cfg) for m in same_run[:place]),
        replaced=tuple(same_run[place:] if run else [target]),
        current_raw=raw_for(target, recorded.get(message_id), cfg),
    )


def generate_candidates(
    archive: Path,
    message_id: str,
    n: int = DEFAULT_CANDIDATES,
    *,
    run: bool = False,
    model: Path | None = None,
    device: str = "auto",
) -> CandidateSet:
    """Write ``n`` candidates for a message (``run``: to the end of its run) and keep them."""
    archive = Path(archive)
    if not 1 <= n <= MAX_CANDIDATES:
        raise CurationError(f"--candidates must be 1 to {MAX_CANDIDATES}, got {n}")
    recover_interrupted(archive)
    ctx = read_context(archive, message_id, run=run)
    text_model, identity = load_archive_model(ctx.manifest, ctx.cfg, model, device)
    written = generate_continuations(
        text_model,
        ctx.cfg,
        ctx.run,
        ctx.raws,
        range(ctx.place, ctx.place + len(ctx.replaced)),
        n,
        rejects=_blocklist_rejects(ctx.cfg),
        avoid={ctx.current_raw},
    )
    found = CandidateSet(
        message_id=message_id,
        run=run,
        ids=tuple(m["id"] for m in ctx.replaced),
        model=identity,
        settings=_settings(ctx.cfg, n),
        current=ctx.replaced,
        candidates=tuple(tuple(c) for c in written),
    )
    _write_candidates(archive, found)
    return found


def read_candidates(archive: Path, message_id: str) -> CandidateSet:
    """Return a message's kept candidates; CurationError when it has none."""
    archive = Path(archive)
    path = candidates_path(archive, message_id)
    if not path.is_file():
        raise CurationError(
            f"{message_id} has no text candidates to pick from: make them first with "
            f"`ghosts-render reroll {archive} {message_id}`"
        )
    try:
        data = read_json(path, "candidate list", fix="delete it and re-roll the message again")
    except ArchiveError as e:
        raise CurationError(str(e)) from None
    found = CandidateSet.from_json(data, path)
    if found.message_id != message_id:
        raise CurationError(f"{path} holds the candidates of {found.message_id}, not {message_id}")
    return found


def pick_candidate(
    archive: Path,
    message_id: str,
    k: int,
    *,
    model: Path | None = None,
    run: bool | None = None,
    device: str = "auto",
) -> Step:
    """Put candidate ``k`` (1-based, as printed) of a message in place, as one recorded step.

    ``run`` (when given) must match how the candidates were made; ``model`` names the text model
    in use (None: the archive's own), which must be the one that wrote the candidates.
    """
    archive = Path(archive)
    recover_interrupted(archive)
    messages, manifest, cfg = _read_archive(archive)
    _find(messages, message_id, archive)
    found = read_candidates(archive, message_id)
    _check_pick(archive, found, k, run)
    _check_model(found, manifest, cfg, model)
    by_id = {m["id"]: m for m in messages}
    current = tuple(by_id[i] for i in found.ids if i in by_id)
    if len(current) != len(found.ids) or hash_content(current) != hash_content(found.current):
        raise CurationError(
            f"stale: {message_id}{' or its run' if found.run else ''} changed since its "
            f"candidates were made: run `ghosts-render reroll {archive} {message_id}"
            f"{' --run' if found.run else ''}` again"
        )
    chosen = found.candidates[k - 1]
    after, media = stage_picked(archive, cfg, messages, current, chosen, device)
    change = Change(
        action="pick-run" if found.run else "pick",
        before=current,
        after=tuple(after),
        media=media,
        raw={i: w.raw for i, w in zip(found.ids, chosen, strict=True)},
        note=f"picked candidate {k} of {len(found.candidates)} for {message_id}"
        + (f" and the {len(found.ids) - 1} after it in its run" if found.run else "")
        + ("" if found.model.get("own") else f", written by the text model at {model}"),
    )
    return apply_change(archive, change)


def format_candidate_lines(found: CandidateSet) -> list[str]:
    """Return the candidates as printed: ``1. [artist] text``; a run's messages indented."""
    lines: list[str] = []
    for number, candidate in enumerate(found.candidates, 1):
        if not found.run:
            lines.append(f"{number}. {_format_written(candidate[0])}")
            continue
        lines.append(f"{number}.")
        lines += [f"   {i} {_format_written(w)}" for i, w in zip(found.ids, candidate, strict=True)]
    return lines


def _format_written(w: Written) -> str:
    return " ".join(p for p in (f"[{w.sender}]", w.text, "(selfie)" if w.selfie else "") if p)


def _read_archive(archive: Path) -> tuple[list[dict[str, Any]], dict[str, Any], RunConfig]:
    """Return the archive's messages, manifest and the configuration it was rendered with."""
    if not archive.is_dir():
        raise CurationError(f"{archive} is not a folder: give the archive folder (e.g. output)")
    conversation = read_conversation(archive)
    check_conversation(conversation, archive)  # an archive broken by hand: the check's line
    messages = list(conversation["messages"])
    manifest = read_manifest(archive)
    if not isinstance(manifest.get("config"), Mapping):
        raise CurationError(
            f"{archive / 'manifest.json'} records no render configuration, so the message "
            "cannot be re-rolled as the render wrote it (an archive made by hand?)"
        )
    return messages, manifest, read_recorded_config(manifest["config"], "manifest.json")


def _find(messages: Sequence[dict[str, Any]], message_id: str, archive: Path) -> dict[str, Any]:
    for m in messages:
        if m.get("id") == message_id:
            return m
    span = f" (its ids run {messages[0]['id']} to {messages[-1]['id']})" if messages else ""
    raise CurationError(
        f"{archive} has no message {message_id!r}{span}: give an id from conversation.json"
    )


def _settings(cfg: RunConfig, n: int) -> dict[str, Any]:
    t = cfg.text
    return {
        "candidates": n,
        "seed": cfg.seed,
        "stream": "reroll",
        "temperature": t.temperature,
        "top_k": t.top_k,
        "top_p": t.top_p,
        "memory": t.memory,
        "max_new_tokens": t.max_new_tokens,
        "max_attempts": t.max_attempts,
    }


def _blocklist_rejects(cfg: RunConfig) -> Callable[[Written], bool]:
    """Return what rejects a candidate: the render's blocklist (``text.blocklist``), as the
    file at its recorded path reads now, or nothing when the render had none."""
    if not cfg.text.blocklist:
        return lambda w: False
    from ghosts_render.blocklist import load_blocklist

    try:
        blocklist = load_blocklist(Path(cfg.text.blocklist))
    except ConfigError as e:
        raise CurationError(
            f"{e} (the blocklist this archive was rendered with screens its candidates too: "
            "restore it)"
        ) from None
    return lambda w: blocklist.find(w.text) is not None


def _write_candidates(archive: Path, found: CandidateSet) -> None:
    path = candidates_path(archive, found.message_id)
    try:
        write_json(path, found.to_json())
    except OSError as e:
        raise CurationError(
            f"cannot keep the candidates in {path}: {e.strerror or e}; check that the folder "
            "beside the archive is writable and the disk has free space"
        ) from None


def _check_pick(archive: Path, found: CandidateSet, k: int, run: bool | None) -> None:
    n = len(found.candidates)
    if not 1 <= k <= n:
        more = (
            f", or make more with `ghosts-render reroll {archive} {found.message_id}"
            f"{' --run' if found.run else ''} --candidates {k}`"
            if n < k <= MAX_CANDIDATES
            else ""  # more candidates would not help
        )
        raise CurationError(
            f"--pick {k}: {found.message_id} has candidates 1 to {n}: pick one of those{more}"
        )
    if run is not None and run != found.run:
        made = "with --run (the rest of its run)" if found.run else "without --run (the message)"
        raise CurationError(
            f"the candidates of {found.message_id} were made {made}: pick "
            f"{'with' if found.run else 'without'} --run, or re-roll it "
            f"{'without' if found.run else 'with'} --run first"
        )


def _check_model(
    found: CandidateSet, manifest: Mapping[str, Any], cfg: RunConfig, model: Path | None
) -> None:
    """Refuse candidates another model wrote than the one in use now (own, or ``model``)."""
    if model is None:
        in_use, what = read_model_record(manifest)["files"], "the archive's own text model"
    else:
        tokenizer = Path(cfg.text.tokenizer) if cfg.text.tokenizer else None
        in_use = load_other_model(Path(model), tokenizer, "cpu").identity()["files"]
        what = f"the one at {model}"
    if found.model.get("files") != dict(in_use):
        again = "" if found.model.get("own") else f" --model {found.model.get('path')}"
        raise CurationError(
            f"the candidates of {found.message_id} were written by the text model at "
            f"{found.model.get('path')}, not {what}: pick with the model that wrote them"
            f"{again and f' ({again.strip()})'}, or re-roll the message again"
        )
