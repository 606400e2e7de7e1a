"""The sound stage: a notification sound for every message, written once per distinct sound.

Modes (``[sounds] mode``): "folder" deals the artist's files as the original did (a shuffled
deck, no repeat until every file was dealt, now seeded; roles sharing a folder share one deck),
"abstractions" renders seeded spectral blends of those files, "procedural" synthesises a palette
per role. Every sound is faded, loudness-normalised and written as mono 44.1 kHz MP3 named by
its content hash; a role with fewer than two usable files falls back to procedural, loudly.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ghosts_render.archive.model import Sound
from ghosts_render.config import RoleConfig, RunConfig
from ghosts_render.errors import StageError
from ghosts_render.render.sounds import abstractions, synth
from ghosts_render.render.sounds.deck import plan_deck, seeded_rng
from ghosts_render.render.sounds.dsp import SAMPLE_RATE_HZ
from ghosts_render.render.sounds.finish import EncodedSound, finish_samples, render_mp3
from ghosts_render.render.sounds.io import (
    MP3_COMPRESSION,
    Source,
    check_mp3_support,
    list_source_files,
    load_source,
    write_sound,
)
from ghosts_render.render.sounds.loudness import measure_momentary_max_lufs

__all__ = ["SoundJob", "SoundResult", "check_mp3_support", "render_sounds"]

log = logging.getLogger(__name__)

SOUNDS_DIR = "media/sounds"
AUTO_COUNT = {"procedural": 24, "abstractions": 12}  # distinct sounds per role when count = 0
MIN_SOURCES = 2  # fewer usable files than this: the role falls back to procedural
QUIET_BLEND_LUFS = -50.0  # a blend quieter than this before gain is drawn again
BLEND_TRIES = 5


@dataclass(frozen=True, slots=True)
class SoundJob:
    """One message that needs a sound, in conversation order."""

    message_id: str
    sender: str


@dataclass(frozen=True, slots=True)
class SoundResult:
    """What the stage gives the pipeline: sounds per message, provenance, warnings."""

    by_message: dict[str, Sound]  # message id -> its sound (media/sounds/<hash>.mp3)
    provenance: dict  # JSON-able: mode, pools, sources with hashes, loudness figures, fallbacks
    warnings: list[str]  # human lines, already logged


@dataclass(frozen=True, slots=True)
class _Pool:
    """A bank of sounds dealt as one deck to the roles that share it."""

    name: str  # a role name, or role names joined by "+" for a shared folder; the deck's seed key
    mode: str  # what it really does: "folder", "abstractions" or "procedural"
    roles: tuple[str, ...]
    size: int
    render: Callable[[int], np.ndarray] = field(compare=False)
    info: dict[str, Any] = field(default_factory=dict, compare=False)


def render_sounds(
    jobs: Sequence[SoundJob],
    cfg: RunConfig,
    archive_dir: Path,
    on_progress: Callable[[int], None] | None = None,
) -> SoundResult:
    """Give every message a sound and write each distinct one once under media/sounds/.

    Deterministic from cfg.seed; calling it again on the same archive gives the same result and
    rewrites only files whose content does not check out. `on_progress` receives increments of
    messages done (they add up to len(jobs)).
    """
    check_mp3_support()
    if cfg.sounds.count < 0:
        raise StageError(f"sounds.count must be 0 (automatic) or more, got {cfg.sounds.count}")
    warnings: list[str] = []
    _check_senders(jobs, cfg)
    folders: dict[str, list[Source]] = {}
    pools = _load_pools(cfg, folders, warnings)
    dealt = _deal(jobs, pools, cfg.seed)
    encoded = _render_used(dealt, pools, cfg, Path(archive_dir), on_progress)
    by_message = {
        job.message_id: Sound(
            src=f"{SOUNDS_DIR}/{encoded[key].name}", duration_ms=encoded[key].duration_ms
        )
        for job, key in zip(jobs, dealt, strict=True)
    }
    provenance = _provenance(cfg, pools, folders, encoded, warnings)
    return SoundResult(by_message=by_message, provenance=provenance, warnings=warnings)


def _warn(warnings: list[str], line: str) -> None:
    log.warning("%s", line)
    warnings.append(line)


def _check_senders(jobs: Sequence[SoundJob], cfg: RunConfig) -> None:
    names = cfg.role_names()
    for job in jobs:
        if job.sender not in names:
            raise StageError(
                f"message {job.message_id} is from {job.sender!r}, which is not one of the "
                f"roles ({', '.join(names)}): add [roles.{job.sender}] to the config"
            )


def _role_folder(cfg: RunConfig, role: RoleConfig) -> tuple[str, str]:
    """Return (folder, the config key that named it) for a role's sources."""
    if role.sounds:
        return role.sounds, f"roles.{role.name}.sounds"
    return cfg.sounds.folder, "sounds.folder"


def _load_folder(folder: str, key: str, warnings: list[str]) -> list[Source]:
    """Load every file of a folder; report each rejection and repair."""
    path = Path(folder)
    try:
        entries = list_source_files(path)
    except (FileNotFoundError, NotADirectoryError):
        raise StageError(
            f"the sound folder {path} ({key} in the config) does not exist or is not a "
            f'folder: fix {key}, or use sounds.mode = "procedural"'
        ) from None
    except OSError as e:
        raise StageError(f"cannot read the sound folder {path} ({key}): {e.strerror}") from None
    sources = [load_source(p) for p in entries]
    for source in sources:
        for line in source.warnings:
            _warn(warnings, f"sound file {path / source.name}: {line}")
        if not source.usable:
            _warn(warnings, f"sound file {path / source.name} {source.reason}; skipped")
    return sources


def _load_pools(
    cfg: RunConfig, folders: dict[str, list[Source]], warnings: list[str]
) -> dict[str, _Pool]:
    """Return the pool each role draws from."""
    if cfg.sounds.mode == "procedural":
        return {r.name: _procedural_pool(cfg, r.name) for r in cfg.roles}
    for role in cfg.roles:
        folder, key = _role_folder(cfg, role)
        if folder not in folders:
            folders[folder] = _load_folder(folder, key, warnings)
    if cfg.sounds.mode == "folder":
        return _folder_pools(cfg, folders, warnings)
    return _abstraction_pools(cfg, folders, warnings)


def _fallback(cfg: RunConfig, role: str, folder: str, usable: int, warnings: list[str]) -> _Pool:
    reason = (
        f"{usable} usable sound file{'s' if usable != 1 else ''} in {folder} ({MIN_SOURCES} needed)"
    )
    _warn(warnings, f"role {role!r}: {reason}: using procedural sounds for this role instead")
    return _procedural_pool(cfg, role, fallback=reason)


def _procedural_pool(cfg: RunConfig, role: str, fallback: str = "") -> _Pool:
    index = cfg.role_names().index(role)
    palette = synth.plan_palette(index, seeded_rng(cfg.seed, "sounds", "palette", role))

    def render(i: int) -> np.ndarray:
        return synth.synth_sound(palette, seeded_rng(cfg.seed, "sounds", "procedural", role, i))

    info = {"palette": _rounded(dataclasses.asdict(palette))}
    if fallback:
        info["fallback"] = fallback
    size = cfg.sounds.count or AUTO_COUNT["procedural"]
    return _Pool(role, "procedural", (role,), size, render, info)


def _folder_pools(
    cfg: RunConfig, folders: dict[str, list[Source]], warnings: list[str]
) -> dict[str, _Pool]:
    """One pool per folder; roles sharing a folder share its deck, as in the original."""
    groups: dict[str, list[str]] = {}
    for role in cfg.roles:
        groups.setdefault(_role_folder(cfg, role)[0], []).append(role.name)
    pools: dict[str, _Pool] = {}
    for folder, names in groups.items():
        usable = [s for s in folders[folder] if s.usable]
        if len(usable) < MIN_SOURCES:
            pools.update({n: _fallback(cfg, n, folder, len(usable), warnings) for n in names})
            continue
        pool = _Pool(
            name="+".join(names),
            mode="folder",
            roles=tuple(names),
            size=len(usable),
            render=_source_renderer([s.samples for s in usable if s.samples is not None]),
            info={"folder": folder, "sources": [s.name for s in usable]},
        )
        pools.update(dict.fromkeys(names, pool))
    return pools


def _source_renderer(samples: list[np.ndarray]) -> Callable[[int], np.ndarray]:
    """Return a bank renderer that hands out the loaded files themselves."""

    def render(i: int) -> np.ndarray:
        return samples[i]

    return render


def _abstraction_pools(
    cfg: RunConfig, folders: dict[str, list[Source]], warnings: list[str]
) -> dict[str, _Pool]:
    """One pool per role; roles sharing a folder split its files when each gets two or more."""
    sharing: dict[str, list[str]] = {}
    for role in cfg.roles:
        sharing.setdefault(_role_folder(cfg, role)[0], []).append(role.name)
    pools: dict[str, _Pool] = {}
    for folder, names in sharing.items():
        usable = [s for s in folders[folder] if s.usable]
        split = len(names) > 1 and len(usable) >= MIN_SOURCES * len(names)
        for k, name in enumerate(names):
            mine = usable[k :: len(names)] if split else usable
            if len(mine) < MIN_SOURCES:
                pools[name] = _fallback(cfg, name, folder, len(mine), warnings)
            else:
                pools[name] = _abstraction_pool(cfg, name, folder, mine, warnings)
    return pools


def _abstraction_pool(
    cfg: RunConfig, role: str, folder: str, sources: list[Source], warnings: list[str]
) -> _Pool:
    index = cfg.role_names().index(role)
    style = abstractions.plan_style(index)
    samples = [s.samples for s in sources if s.samples is not None]
    backup = _procedural_pool(cfg, role)

    def render(i: int) -> np.ndarray:
        for attempt in range(BLEND_TRIES):
            rng = seeded_rng(cfg.seed, "sounds", "abstraction", role, i, attempt)
            blend = abstractions.render_blend(samples, style, rng)
            if measure_momentary_max_lufs(blend, SAMPLE_RATE_HZ) >= QUIET_BLEND_LUFS:
                return blend
        _warn(warnings, f"role {role!r}: blend {i} stayed near-silent; a procedural sound is used")
        return backup.render(i)

    info = {
        "folder": folder,
        "sources": [s.name for s in sources],
        "style": _rounded(dataclasses.asdict(style)),
    }
    size = cfg.sounds.count or AUTO_COUNT["abstractions"]
    return _Pool(role, "abstractions", (role,), size, render, info)


def _deal(jobs: Sequence[SoundJob], pools: dict[str, _Pool], seed: int) -> list[tuple[str, int]]:
    """Return (pool name, bank index) per job: each pool's seeded deck, in conversation order."""
    by_name = {p.name: p for p in pools.values()}
    positions: dict[str, list[int]] = {}
    for pos, job in enumerate(jobs):
        positions.setdefault(pools[job.sender].name, []).append(pos)
    dealt: list[tuple[str, int]] = [("", 0)] * len(jobs)
    for name, where in positions.items():
        cards = plan_deck(by_name[name].size, len(where), seeded_rng(seed, "sounds", "deck", name))
        for pos, card in zip(where, cards, strict=True):
            dealt[pos] = (name, card)
    return dealt


def _render_used(
    dealt: list[tuple[str, int]],
    pools: dict[str, _Pool],
    cfg: RunConfig,
    archive_dir: Path,
    on_progress: Callable[[int], None] | None,
) -> dict[tuple[str, int], EncodedSound]:
    """Render, normalise, encode and write each bank sound that some message uses."""
    by_name = {p.name: p for p in pools.values()}
    wanted = list(dict.fromkeys(dealt))  # in order of first use
    out_dir = archive_dir / SOUNDS_DIR
    encoded: dict[tuple[str, int], EncodedSound] = {}
    reported = 0
    for k, (name, index) in enumerate(wanted):
        samples = finish_samples(by_name[name].render(index))
        sound = render_mp3(samples, cfg.sounds.target_lufs, cfg.sounds.true_peak_dbtp)
        try:
            write_sound(out_dir, sound.name, sound.data)
        except OSError as e:
            raise StageError(
                f"cannot write {out_dir / sound.name}: {e.strerror} (is the disk full, or the "
                "folder read-only?)"
            ) from None
        encoded[(name, index)] = sound
        if on_progress is not None:
            done = len(dealt) * (k + 1) // len(wanted)
            on_progress(done - reported)
            reported = done
    return encoded


def _provenance(
    cfg: RunConfig,
    pools: dict[str, _Pool],
    folders: dict[str, list[Source]],
    encoded: dict[tuple[str, int], EncodedSound],
    warnings: list[str],
) -> dict[str, Any]:
    """Return the stage's JSON-able record for the archive's manifest."""
    unique = list({p.name: p for p in pools.values()}.values())
    sounds: dict[str, Any] = {}
    for (name, index), sound in sorted(encoded.items()):
        entry = {"pool": name, "index": index, **sound.figures()}
        sounds.setdefault(f"{SOUNDS_DIR}/{sound.name}", entry)
    return {
        "mode": cfg.sounds.mode,
        "format": {
            "codec": "mp3",
            "sample_rate_hz": SAMPLE_RATE_HZ,
            "channels": 1,
            "vbr_quality": f"LAME V{round(MP3_COMPRESSION * 10)}",
        },
        "normalisation": {
            "measure": "BS.1770 momentary-max loudness",
            "target_lufs": cfg.sounds.target_lufs,
            "true_peak_ceiling_dbtp": cfg.sounds.true_peak_dbtp,
        },
        "pools": [
            {"name": p.name, "mode": p.mode, "roles": list(p.roles), "size": p.size, **p.info}
            for p in unique
        ],
        "folders": {
            folder: [_source_record(s) for s in sources] for folder, sources in folders.items()
        },
        "sounds": sounds,
        "warnings": list(warnings),
    }


def _source_record(source: Source) -> dict[str, Any]:
    record: dict[str, Any] = {
        "name": source.name,
        "sha256": source.sha256,
        "status": "usable" if source.usable else "rejected",
    }
    if source.reason:
        record["reason"] = source.reason
    if source.warnings:
        record["warnings"] = list(source.warnings)
    return record


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(v) for v in value]
    return value
