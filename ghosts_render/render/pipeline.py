"""The render: text, plan, selfies, sounds, voices, conversation, player, manifest — resumable.

``run(cfg, out)`` is the only owner of progress bars. Work happens in ``OUT.partial/``: the text
stage saves its progress as it goes (see ``_run_text``), selfies and sounds are written once
each, voices (with ``[voices] enabled``) record each finished clip in ``state/voices/``, and the
finished archive is moved to ``OUT`` with its manifest written last. Running the
same command again after a crash (even ``kill -9``) picks up where it stopped and ends with the
same archive.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from ghosts_render import __version__
from ghosts_render.archive.folder import (
    check_replaceable,
    partial_dir,
    read_manifest,
    write_finished,
    write_manifest,
)
from ghosts_render.archive.model import Manifest
from ghosts_render.config import RunConfig
from ghosts_render.curate.sidecar import lock_archive, write_render_sidecar
from ghosts_render.errors import ArchiveError, ConfigError, GhostsError
from ghosts_render.files import read_json, write_json
from ghosts_render.render.assemble import (
    assemble_conversation,
    message_id,
    plan_selfie_jobs,
    plan_sound_jobs,
    plan_voice_jobs,
)
from ghosts_render.render.fingerprint import hash_render
from ghosts_render.render.workdir import (
    LOCK,
    MARKER,
    TEXT_STATE,
    VOICES_STATE,
    WRITE_ERRNOS,
    check_work_dir,
    format_write_error,
    open_work_dir,
)

if TYPE_CHECKING:
    from ghosts_render.render.selfies.stage import SelfieJob, SelfieResult
    from ghosts_render.render.sounds.stage import SoundJob, SoundResult
    from ghosts_render.render.voices.stage import VoiceResult

log = logging.getLogger(__name__)


@dataclass(slots=True)
class RenderReport:
    """What a render did, for the command line and the benchmark."""

    out: Path
    messages: int = 0
    selfies: int = 0
    sounds: int = 0
    voices: int = 0  # spoken messages
    resumed: bool = False
    already_done: bool = False
    screening: dict[str, Any] | None = None  # the blocklist and its rejections (manifest)
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass(slots=True)
class Progress:
    """How stages report progress: one tqdm bar per stage, on stderr, off when quiet."""

    quiet: bool = False

    @contextmanager
    def bar(self, desc: str, total: int, unit: str) -> Iterator[Callable[[int], None]]:
        """Yield a callback that sets the bar to an absolute count."""
        with tqdm(total=total, desc=desc, unit=unit, disable=True if self.quiet else None) as bar:

            def update(done: int) -> None:
                bar.update(max(0, min(done, total) - bar.n))

            yield update


def resolve_device(device: str) -> str:
    """Turn "auto" into "cuda" or "cpu"; refuse cuda where there is none."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"device: {device!r} was asked for but this machine has no CUDA GPU that torch can "
            "use; pass --device cpu or install the CUDA build of torch (README, Installing)"
        )
    return device


def run(cfg: RunConfig, out: Path, *, fresh: bool = False, quiet: bool = False) -> RenderReport:
    """Render the archive described by ``cfg`` into ``out``; resume unless ``fresh``."""
    from ghosts_render.render.text import stage as text_stage

    out = out.resolve()
    progress = Progress(quiet=quiet)
    report = RenderReport(out=out)
    check_replaceable(out)
    check_work_dir(partial_dir(out))  # before loading models: a taken OUT.partial fails fast
    device = resolve_device(cfg.device)
    _preflight(cfg)
    t0 = time.perf_counter()
    tokenizer = Path(cfg.text.tokenizer) if cfg.text.tokenizer else None
    model = text_stage.load_text_model(Path(cfg.text.model), tokenizer, device)
    identity = {**model.identity(), "demo": "text.model" in cfg.demo}
    fingerprint = hash_render(cfg, identity)
    if not fresh and _already_rendered(out, fingerprint):
        log.info("%s already holds this render (same config, seed and models); nothing to do", out)
        report.already_done = True
        return report
    report.seconds["load"] = time.perf_counter() - t0
    try:
        with open_work_dir(out, fingerprint, fresh) as work:
            messages = _run_text(model, cfg, work, progress, report)
            del model
            archive = work / "archive"
            media = _render_media(cfg, messages, archive, work, device, progress, report)
            write_manifest(archive, _manifest(cfg, fingerprint, report, identity, *media))
            with lock_archive(out, "render"):  # not while the studio has the old one open
                write_finished(archive, out)
                write_render_sidecar(out, fingerprint, [m.raw for m in messages], message_id)
            shutil.rmtree(work, ignore_errors=True)
            return report
    except OSError as e:
        if e.errno not in WRITE_ERRNOS:
            raise
        raise ArchiveError(format_write_error(e, out)) from None


def _render_media(
    cfg: RunConfig,
    messages: Sequence[Any],
    archive: Path,
    work: Path,
    device: str,
    progress: Progress,
    report: RenderReport,
) -> tuple[SelfieResult, SoundResult, VoiceResult | None]:
    """Render selfies, sounds and voices (when on), then write the conversation and its player
    into ``archive``."""
    archive.mkdir(parents=True, exist_ok=True)
    with _timed(report, "selfies"):
        selfies = _render_selfies(cfg, plan_selfie_jobs(cfg, messages), archive, device, progress)
    with _timed(report, "sounds"):
        sounds = _render_sounds(cfg, plan_sound_jobs(messages), archive, progress)
    voices = None
    if cfg.voices.enabled:
        with _timed(report, "voices"):
            voices = _render_voices(cfg, messages, archive, work / VOICES_STATE, progress)
        report.voices = len(voices.by_message)
    with _timed(report, "site"):
        conversation = assemble_conversation(
            cfg,
            messages,
            selfies.by_message,
            sounds.by_message,
            voices.by_message if voices else None,
        )
        write_json(archive / "conversation.json", conversation.to_json())
        _write_site(cfg, archive)
    report.messages = len(conversation.messages)
    report.selfies = len(selfies.by_message)
    report.sounds = len({sound.src for sound in sounds.by_message.values()})
    for leftover in archive.rglob(".*.tmp"):  # a killed stage's half-written file (ours: work/)
        leftover.unlink()
    return selfies, sounds, voices


@contextmanager
def _timed(report: RenderReport, stage: str) -> Iterator[None]:
    """Record the wall time of a stage that finishes (a failed one leaves no figure)."""
    t = time.perf_counter()
    yield
    report.seconds[stage] = time.perf_counter() - t


def _preflight(cfg: RunConfig) -> None:
    """Fail before the text stage on what can be checked up front: MP3 support, every role's
    selfie network and its class label, every role's voice (loaded) and speaker."""
    from ghosts_render.render.selfies.stage import check_role_networks
    from ghosts_render.render.sounds import stage as sounds

    sounds.check_mp3_support()
    check_role_networks(cfg)
    if cfg.voices.enabled:
        from ghosts_render.render.voices.stage import check_role_voices

        check_role_voices(cfg)


def _already_rendered(out: Path, fingerprint: str) -> bool:
    if not (out / "manifest.json").is_file():
        return False
    return bool(read_manifest(out).get("fingerprint") == fingerprint)


def _run_text(model: Any, cfg: RunConfig, work: Path, progress: Progress, report: RenderReport):
    """Return the conversation's messages: generated, or reused from an earlier try.

    The text's files in ``work/state/text/`` are named by ``hash_text_render`` (text settings,
    seed, roles, turns, text model, tool version), not by the render's fingerprint, so a render
    that failed late and runs again with other selfie, sound, pacing or player settings reuses
    the finished text. ``KEY.progress.json`` is saved during the stage and ``KEY.json`` holds
    its result.
    """
    from ghosts_render.render.text.runs import hash_text_render

    key = hash_text_render(cfg, model.identity())
    done_path = work / TEXT_STATE / f"{key}.json"
    progress_path = done_path.with_name(f"{key}.progress.json")
    t = time.perf_counter()
    try:
        messages = _load_or_generate_text(model, cfg, done_path, progress_path, progress, report)
    except GhostsError:
        # The stage fails on what the model writes, the same on every try with this key, or on
        # a damaged file: either way its files are worth nothing, and a work folder left with
        # nothing else goes too.
        done_path.unlink(missing_ok=True)
        progress_path.unlink(missing_ok=True)
        bookkeeping = {work / MARKER, work / LOCK, work / "state" / "fingerprint"}
        if not any(p.is_file() and p not in bookkeeping for p in work.rglob("*")):
            shutil.rmtree(work, ignore_errors=True)
        raise
    report.seconds["text"] = time.perf_counter() - t
    return messages


def _load_or_generate_text(model, cfg, done_path, progress_path, progress, report) -> list[Any]:
    from ghosts_render.render.text import stage as text_stage

    if done_path.is_file():
        data = read_json(done_path, "render state")
        messages = [text_stage.TextMessage(**m) for m in data["messages"]]
        report.screening = data["screening"]
        report.resumed = True
        log.info("text: %d messages from an earlier try of this render", len(messages))
        return messages
    report.resumed = progress_path.is_file()
    state = read_json(progress_path, "render state") if report.resumed else None
    with progress.bar("text", cfg.turns, "msg") as update:
        result = text_stage.generate_conversation(
            model, cfg, state=state, on_round=_saver(progress_path), on_progress=update
        )
    # Recorded with the text, so the manifest never reads the blocklist again hours later.
    report.screening = _screening(cfg, result.stats.blocked)
    write_json(
        done_path,
        {
            "messages": [_message_record(m) for m in result.messages],
            "screening": report.screening,
        },
    )
    progress_path.unlink(missing_ok=True)
    return result.messages


SAVE_SHARE = 0.05  # at most this share of the text stage's time goes into saving its progress


def _saver(path: Path) -> Callable[[Any], None]:
    """Return an ``on_round`` that saves the text progress after the first round, then whenever
    the time since the last save is at least 1/SAVE_SHARE times what that save took, so a long
    render's growing progress file costs it a steady share, not a square of its length."""
    last = {"end": 0.0, "took": 0.0}

    def save(text_progress: Any) -> None:
        start = time.perf_counter()
        if start - last["end"] < last["took"] / SAVE_SHARE:
            return
        write_json(path, text_progress.to_json())
        end = time.perf_counter()
        last.update(end=end, took=end - start)

    return save


def _message_record(m: Any) -> dict[str, Any]:
    return {
        "run": m.run,
        "sender": m.sender,
        "text": m.text,
        "raw": m.raw,
        "selfie": m.selfie,
        "new_run": m.new_run,
    }


def _render_selfies(
    cfg: RunConfig, jobs: list[SelfieJob], archive: Path, device: str, progress: Progress
) -> SelfieResult:
    from ghosts_render.render.selfies import stage as selfies

    with progress.bar("selfies", len(jobs), "img") as update:
        return selfies.render_selfies(jobs, cfg, archive, device, on_progress=update)


def _render_sounds(
    cfg: RunConfig, jobs: list[SoundJob], archive: Path, progress: Progress
) -> SoundResult:
    from ghosts_render.render.sounds import stage as sounds

    with progress.bar("sounds", len(jobs), "msg") as update:
        done = [0]

        def advance(n: int) -> None:  # render_sounds reports increments
            done[0] += n
            update(done[0])

        return sounds.render_sounds(jobs, cfg, archive, on_progress=advance)


def _render_voices(
    cfg: RunConfig, messages: Sequence[Any], archive: Path, state: Path, progress: Progress
) -> VoiceResult:
    from ghosts_render.render.voices import stage as voices

    jobs = plan_voice_jobs(messages)
    with progress.bar("voices", len(jobs), "msg") as update:
        return voices.render_voices(jobs, cfg, archive, state, on_progress=update)


def _write_site(cfg: RunConfig, archive: Path) -> None:
    from ghosts_render.archive.site import write_site

    about = Path(cfg.player.about) if cfg.player.about else None
    write_site(archive, about=about, fonts=tuple(Path(f) for f in cfg.player.fonts))


def _manifest(
    cfg: RunConfig,
    fingerprint: str,
    report: RenderReport,
    text_identity: dict[str, Any],
    selfies: SelfieResult,
    sounds: SoundResult,
    voices: VoiceResult | None,
) -> Manifest:
    """Return the render's provenance (the files are added when the manifest is written)."""
    return Manifest(
        tool={"name": "ghosts-render", "version": __version__},
        fingerprint=fingerprint,
        seed=cfg.seed,
        turns=cfg.turns,
        config=cfg.to_dict(),
        demo=list(cfg.demo),
        models={"text": text_identity, "selfies": selfies.networks},
        sounds={**sounds.provenance, "warnings": sounds.warnings},
        voices=voices.provenance if voices is not None else None,
        screening=report.screening,
        stage_seconds={k: round(v, 3) for k, v in report.seconds.items()},
    )


def _screening(cfg: RunConfig, rejected: int) -> dict[str, Any] | None:
    """Return the manifest's record of the blocklist (never its terms), or None without one."""
    if not cfg.text.blocklist:
        return None
    from ghosts_render.blocklist import load_blocklist

    blocklist = load_blocklist(Path(cfg.text.blocklist))
    return {
        "blocklist": cfg.text.blocklist,
        "sha256": blocklist.sha256,
        "terms": len(blocklist.entries),
        "rejected": rejected,
    }
