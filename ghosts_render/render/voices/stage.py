"""The voices stage: every message with words read aloud in its sender's voice, resumably.

Each distinct voice file is loaded once. A message's clip depends only on the voice, the role's
settings, the clip settings, its text, the seed and its id (clip.py), so it is the same bytes in
any process and any order. Clips are content-addressed files under ``media/voices/``, written
atomically. After each clip one line goes into an append-only JSONL in the work folder's state
(``{key, id, name, duration_ms, figures}``, the key a hash of everything the clip depends on):
a render killed at any moment (even ``kill -9``, even halfway through writing that line) resumes
by reusing every recorded clip whose file checks out, and ends with the same archive.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ghosts_render.archive.model import Voice
from ghosts_render.config import RoleConfig, RunConfig
from ghosts_render.errors import StageError
from ghosts_render.files import write_atomic

if TYPE_CHECKING:
    from ghosts_render.render.voices.clip import Clip
    from ghosts_render.render.voices.piper_voice import PiperModel

log = logging.getLogger(__name__)

VOICES_DIR = "media/voices"
RECORDS = "voices.jsonl"  # in the stage's state folder
# More clips than this share held by the true-peak ceiling more than CEILING_WARN_DB below the
# target: a warning (a dB or two under it is common for speech and not heard as a change).
CEILING_WARN_SHARE, CEILING_WARN_DB = 0.1, 3.0


@dataclass(frozen=True, slots=True)
class VoiceJob:
    """One message to read aloud (the stage skips those with nothing to say)."""

    message_id: str
    sender: str
    text: str


@dataclass(frozen=True, slots=True)
class VoiceResult:
    """What the stage gives the pipeline: voices per spoken message, provenance, warnings."""

    by_message: dict[str, Voice]  # message id -> its voice (at = 0 until the timeline)
    provenance: dict[str, Any]  # JSON-able: the manifest's ``voices`` section
    warnings: list[str]  # human lines, already logged


def render_voices(
    jobs: Sequence[VoiceJob],
    cfg: RunConfig,
    archive_dir: Path,
    state_dir: Path,
    on_progress: Callable[[int], None] | None = None,
) -> VoiceResult:
    """Read every job's text aloud and write each clip once under media/voices/.

    ``on_progress`` receives the number of jobs done so far. Clips recorded in ``state_dir`` by
    an earlier, interrupted try are reused when their file is intact.
    """
    roles = _roles(cfg, {job.sender for job in jobs})
    models = load_role_voices(cfg, roles)
    records = _Records(Path(state_dir) / RECORDS)
    by_message: dict[str, Voice] = {}
    figures: dict[str, dict[str, Any]] = {}
    silent: list[str] = []

    def make(job: VoiceJob) -> tuple[str, Clip | None, bool]:  # in a worker thread
        role = roles[job.sender]
        return _make_job(job, role, models[role.voice.model], cfg, archive_dir, records)

    made = map_in_order(make, jobs, plan_workers(cfg.voices.threads))
    for done, (job, (key, clip, reused)) in enumerate(zip(jobs, made, strict=True), start=1):
        record = records.get(key) if reused else _keep(job, key, clip, archive_dir, records)
        assert record is not None
        if record["name"]:
            src = f"{VOICES_DIR}/{record['name']}"
            by_message[job.message_id] = Voice(src=src, at=0, duration_ms=record["duration_ms"])
            figures[src] = record["figures"]
        elif _has_words(job.text):
            silent.append(job.message_id)
        if on_progress is not None:
            on_progress(done)
    records.close()
    warnings = _warnings(figures, silent, cfg.voices.target_lufs)
    provenance = _provenance(cfg, roles, models, by_message, figures, warnings)
    return VoiceResult(by_message=by_message, provenance=provenance, warnings=warnings)


def render_message_voice(
    cfg: RunConfig, archive_dir: Path, message_id: str, sender: str, text: str
) -> tuple[Voice | None, dict[str, Any] | None]:
    """Read one message aloud for curation (an edited or re-rolled text): write its clip into
    the archive and return its voice (``at`` = 0, for the timeline to set) and figures, or
    (None, None) when the text has nothing to say. Loads the sender's voice for this call."""
    from ghosts_render.render.voices.clip import render_clip

    role = _roles(cfg, {sender})[sender]
    model = load_role_voices(cfg, {sender: role})[role.voice.model]
    clip = render_clip(
        model, text, role=role.voice, voices=cfg.voices, seed=cfg.seed, message_id=message_id
    )
    if clip is None:
        return None, None
    _write_clip(Path(archive_dir), clip.name, clip.data)
    return Voice(src=f"{VOICES_DIR}/{clip.name}", at=0, duration_ms=clip.duration_ms), clip.figures


def load_role_voices(cfg: RunConfig, roles: dict[str, RoleConfig]) -> dict[str, PiperModel]:
    """Load each distinct voice of ``roles`` once (by path) and check each role's speaker."""
    from ghosts_render.render.voices.piper_voice import load_voice

    models: dict[str, PiperModel] = {}
    for role in roles.values():
        path = role.voice.model
        if not path:
            raise StageError(
                f"roles.{role.name}.voice has no voice file: load the config with voices on "
                "(a bug if you see this after `ghosts-render --voices`, please report it)"
            )
        if path not in models:
            models[path] = load_voice(Path(path))
        models[path].speaker_id(role.voice.speaker)  # a ConfigError naming the speakers it has
    return models


def check_role_voices(cfg: RunConfig) -> None:
    """Load every role's voice before the text stage: a broken voice fails in minutes, not hours."""
    if cfg.voices.enabled:
        load_role_voices(cfg, {r.name: r for r in cfg.roles})


def _roles(cfg: RunConfig, senders: set[str]) -> dict[str, RoleConfig]:
    by_name = {r.name: r for r in cfg.roles}
    for sender in sorted(senders):
        if sender not in by_name:
            raise StageError(
                f"a message is from {sender!r}, which is not one of the roles "
                f"({', '.join(by_name)}): add [roles.{sender}] to the config"
            )
    return {name: by_name[name] for name in by_name if name in senders}


def _has_words(text: str) -> bool:
    from ghosts_render.render.voices.clip import plan_voice_text

    return bool(plan_voice_text(text))


def hash_clip_key(model: PiperModel, role: RoleConfig, cfg: RunConfig, job: VoiceJob) -> str:
    """Return the key of a job's clip: a hash of everything the clip's bytes depend on."""
    from ghosts_render import __version__

    voices = dataclasses.asdict(cfg.voices)
    for key in ("enabled", "model", "delay", "listen_pause", "threads"):  # timing and loading
        voices.pop(key)
    settings = {**dataclasses.asdict(role.voice), "model": ""}
    payload = json.dumps(
        [__version__, model.sha256, model.config_sha256, settings, voices, job.text, cfg.seed]
        + [job.message_id],
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _make_job(
    job: VoiceJob,
    role: RoleConfig,
    model: PiperModel,
    cfg: RunConfig,
    archive_dir: Path,
    records: _Records,
) -> tuple[str, Clip | None, bool]:
    """Return (key, clip, reused): reused when an earlier try recorded the clip and its file is
    intact, else the clip rendered (None when the text has nothing to say). Writes nothing."""
    from ghosts_render.render.voices.clip import render_clip

    key = hash_clip_key(model, role, cfg, job)
    record = records.get(key)
    if record is not None and _intact(archive_dir, record["name"]):
        return key, None, True
    clip = render_clip(
        model,
        job.text,
        role=role.voice,
        voices=cfg.voices,
        seed=cfg.seed,
        message_id=job.message_id,
    )
    return key, clip, False


def _keep(
    job: VoiceJob, key: str, clip: Clip | None, archive_dir: Path, records: _Records
) -> dict[str, Any]:
    """Write a rendered clip and record it (in job order, from the stage's own thread)."""
    if clip is not None:
        _write_clip(archive_dir, clip.name, clip.data)
    record = {
        "key": key,
        "id": job.message_id,
        "name": clip.name if clip else "",
        "duration_ms": clip.duration_ms if clip else 0,
        "figures": clip.figures if clip else {},
    }
    records.append(record)
    return record


def plan_workers(threads: int) -> int:
    """Return how many clips are rendered at once: ``voices.threads``, 0 = one per core."""
    return threads or os.cpu_count() or 1


_T = TypeVar("_T")
_R = TypeVar("_R")


def map_in_order(fn: Callable[[_T], _R], items: Iterable[_T], workers: int) -> Iterator[_R]:
    """Yield ``fn(item)`` for each item, in order, computed by up to ``workers`` threads.

    Each clip depends only on its own inputs (its noise is seeded by its message id, and every
    session runs on one onnxruntime thread), so the bytes are the same for any number of
    workers. onnxruntime releases the GIL while it runs, so threads scale over cores; at most
    two clips per worker wait in memory.
    """
    if workers <= 1:
        yield from map(fn, items)
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="voices") as pool:
        waiting: deque[Future[_R]] = deque()
        try:
            for item in items:
                waiting.append(pool.submit(fn, item))
                if len(waiting) >= 2 * workers:
                    yield waiting.popleft().result()
            while waiting:
                yield waiting.popleft().result()
        finally:  # an error or a closed generator: drop the clips not started yet
            for future in waiting:
                future.cancel()


def _intact(archive_dir: Path, name: str) -> bool:
    """Whether a recorded clip is there with the content its name says ("" = no clip)."""
    if not name:
        return True
    path = archive_dir / VOICES_DIR / name
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()[:16] == name.removesuffix(".mp3")
    except OSError:
        return False


def _write_clip(archive_dir: Path, name: str, data: bytes) -> None:
    path = archive_dir / VOICES_DIR / name
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not (path.is_file() and _intact(archive_dir, name)):
            write_atomic(path, data)
    except OSError as e:
        raise StageError(
            f"cannot write {path}: {e.strerror} (is the disk full, or the folder read-only?)"
        ) from None


class _Records:
    """The stage's append-only JSONL of finished clips; a torn last line is dropped."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.by_key: dict[str, dict[str, Any]] = {}
        path.parent.mkdir(parents=True, exist_ok=True)
        raw = path.read_bytes() if path.is_file() else b""
        whole = raw[: raw.rfind(b"\n") + 1]  # a line cut by a kill has no newline yet
        for line in whole.splitlines():
            try:
                record = json.loads(line)
                self.by_key[record["key"]] = record
            except (ValueError, KeyError, TypeError):
                continue  # a damaged line: that clip is rendered again
        if len(whole) != len(raw):
            with path.open("r+b") as fh:
                fh.truncate(len(whole))
        self.fh = path.open("ab")

    def get(self, key: str) -> dict[str, Any] | None:
        return self.by_key.get(key)

    def append(self, record: dict[str, Any]) -> None:
        self.fh.write(json.dumps(record, sort_keys=True).encode("utf-8") + b"\n")
        self.fh.flush()
        os.fsync(self.fh.fileno())
        self.by_key[record["key"]] = record

    def close(self) -> None:
        self.fh.close()


def _warnings(figures: dict[str, dict[str, Any]], silent: list[str], target: float) -> list[str]:
    warnings = []
    quiet = sum(
        1
        for f in figures.values()
        if f.get("ceiling_limited") and f["lufs"] < target - CEILING_WARN_DB
    )
    if figures and quiet > CEILING_WARN_SHARE * len(figures):
        warnings.append(
            f"voices: {quiet} of {len(figures)} clips stay more than {CEILING_WARN_DB:g} dB below "
            "voices.target_lufs because of the true-peak ceiling (a peaky voice or effect): "
            "lower voices.target_lufs"
        )
    if silent:
        listed = ", ".join(silent[:5]) + (" …" if len(silent) > 5 else "")
        warnings.append(
            f"voices: the voice said nothing for {len(silent)} message(s) with words ({listed}); "
            "they have no voice"
        )
    for line in warnings:
        log.warning("%s", line)
    return warnings


def _provenance(
    cfg: RunConfig,
    roles: dict[str, RoleConfig],
    models: dict[str, PiperModel],
    by_message: dict[str, Voice],
    figures: dict[str, dict[str, Any]],
    warnings: list[str],
) -> dict[str, Any]:
    """Return the manifest's ``voices`` section."""
    lufs = [f["lufs"] for f in figures.values()]
    peaks = [f["true_peak_dbtp"] for f in figures.values()]
    rates = sorted({models[r.voice.model].sample_rate for r in roles.values()})
    return {
        "models": {
            name: {
                **models[role.voice.model].identity(),
                "settings": {**dataclasses.asdict(role.voice)},
                "demo": f"roles.{name}.voice" in cfg.demo,
            }
            for name, role in roles.items()
        },
        "format": {
            "codec": "mp3",
            "sample_rate_hz": rates,
            "channels": 1,
            "vbr_quality": f"LAME V{cfg.voices.mp3_quality}",
        },
        "normalisation": {
            "measure": "BS.1770 momentary-max loudness",
            "target_lufs": cfg.voices.target_lufs,
            "true_peak_ceiling_dbtp": cfg.voices.true_peak_dbtp,
        },
        "clips": len(by_message),
        "seconds": round(sum(v.duration_ms for v in by_message.values()) / 1000, 3),
        "loudness": {
            "lufs_min": min(lufs, default=None),
            "lufs_max": max(lufs, default=None),
            "true_peak_dbtp_max": max(peaks, default=None),
            "ceiling_limited": sum(1 for f in figures.values() if f.get("ceiling_limited")),
        },
        "clips_by_file": dict(sorted(figures.items())),
        "warnings": list(warnings),
    }
