"""The selfie stage: every planned selfie rendered in batches per role, encoded in a process pool.

Each role's network (an official pickle or an exported one, through ``stylegan/`` beside this
module) renders its seeds in batches on the chosen device; while the next batch renders, worker
processes encode the previous one as a progressive JPEG at full size plus a phone-sized WebP, each
written atomically. A selfie whose two files already exist and decode is reused, so an interrupted
render resumes with only the missing selfies. Files are named ``<role>-<seed>``, so the same job
always gives the same bytes.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ghosts_render.archive.model import Selfie
from ghosts_render.config import DEMO_DIR, RoleConfig, RunConfig
from ghosts_render.errors import ModelLoadError, StageError
from ghosts_render.files import sha256_file
from ghosts_render.render.selfies.encode import (
    EncodeSettings,
    SelfieEncoder,
    count_encode_workers,
    load_selfie_size,
    write_selfie_dir,
)

if TYPE_CHECKING:
    from ghosts_render.render.selfies.stylegan import Generator

SELFIE_DIR = "media/selfies"  # inside the archive
# On CPU, big batches stop paying (measured on the 256² demo network, 2 cores: batch 1, 2 and 4
# about 3.3 selfies/s, batch 8 1.8/s); small networks still gain from batching.
CPU_BATCH_PIXELS = 2 * 256 * 256  # on CPU: 8 selfies at 128², 2 at 256², 1 from 512²
CUDA_BYTES_PER_PIXEL = 2400  # rough peak GPU memory per output pixel of one StyleGAN3-T selfie
CUDA_MAX_BATCH = 32


@dataclass(frozen=True, slots=True)
class SelfieJob:
    message_id: str  # the message that carries the selfie
    role: str  # whose network renders it
    seed: int  # StyleGAN seed, as gen_images.py uses it


@dataclass(frozen=True, slots=True)
class SelfieResult:
    by_message: dict[str, Selfie]  # message id -> the message's selfie
    networks: dict[str, dict[str, Any]]  # role -> network identity, for provenance
    rendered: int  # distinct selfies rendered now
    reused: int  # distinct selfies found complete on disk
    seconds: float  # wall time of the stage


def selfie_paths(role: str, seed: int) -> tuple[str, str]:
    """Return the (JPEG, WebP) paths of a selfie, relative to the archive."""
    return f"{SELFIE_DIR}/{role}-{seed}.jpg", f"{SELFIE_DIR}/{role}-{seed}.webp"


def plan_role_seeds(jobs: Sequence[SelfieJob]) -> dict[str, list[int]]:
    """Return each role's distinct seeds, in the order the jobs first name them."""
    seeds: dict[str, dict[int, None]] = {}
    for job in jobs:
        seeds.setdefault(job.role, {})[job.seed] = None
    return {role: list(s) for role, s in seeds.items()}


def pick_batch_size(configured: int, device: str, resolution: int) -> int:
    """Return the batch to start with: the configured one, else a guess from the device."""
    if configured > 0:
        return configured
    pixels = resolution * resolution
    if not device.startswith("cuda"):
        return max(1, min(8, CPU_BATCH_PIXELS // pixels))
    import torch

    free, _ = torch.cuda.mem_get_info(torch.device(device))
    guess = int(free * 0.6) // (pixels * CUDA_BYTES_PER_PIXEL)
    return max(1, min(CUDA_MAX_BATCH, guess))


def plan_encode_settings(cfg: RunConfig) -> EncodeSettings:
    """Return how the config's selfies are encoded (JPEG quality, WebP size and quality)."""
    s = cfg.selfies
    return EncodeSettings(s.jpeg_quality, s.webp_size, s.webp_quality)


def _check_roles(jobs: Sequence[SelfieJob], cfg: RunConfig) -> dict[str, RoleConfig]:
    roles = {r.name: r for r in cfg.roles}
    for job in jobs:
        if job.role not in roles:
            raise StageError(
                f"message {job.message_id} wants a selfie of {job.role!r}, which is not one of "
                f"the roles ({', '.join(roles) or 'none'}); add a [roles.{job.role}] table to "
                "the config"
            )
    return roles


def load_role_network(role: RoleConfig, device: str) -> Generator:
    """Load a role's selfie network; failures name the role and its config key."""
    from ghosts_render.render.selfies.stylegan import load_network

    key = f"roles.{role.name}.selfies"
    path = Path(role.selfies)
    if not path.is_file():
        raise ModelLoadError(
            f"{key}: the selfie network {path} does not exist; point {key} in ghosts.toml at a "
            "StyleGAN network pickle (.pkl) or an exported network (.safetensors)"
        )
    try:
        return load_network(path, device)
    except ModelLoadError as e:
        raise ModelLoadError(f"{key}: {e}") from None
    except (OSError, EOFError, ValueError, KeyError, RuntimeError, TypeError) as e:
        raise ModelLoadError(
            f"{key}: cannot read the selfie network {path} ({type(e).__name__}: {e}); it must be "
            "a StyleGAN3 / StyleGAN2-ADA network pickle or a network exported by ghosts-render"
        ) from None


def role_class(role: RoleConfig) -> int | None:
    """Return the class label a role's selfies use: None for an unconditional network."""
    return None if role.selfie_class < 0 else role.selfie_class


def check_role_class(role: RoleConfig, c_dim: int) -> None:
    """Refuse a role whose class does not fit its network (``c_dim`` classes; 0: unconditional).

    A conditional network given no class would render every selfie with a blank label.
    """
    from ghosts_render.render.selfies.stylegan import check_class

    option = f"roles.{role.name}.selfie_class"
    check_class(c_dim, role_class(role), option, Path(role.selfies))


PREFLIGHT_FULL_LOAD_BYTES = 64 << 20  # networks this small are built and loaded in full up front


def check_role_networks(cfg: RunConfig) -> None:
    """Check every role's network and class label before any work: small networks are loaded
    in full on the CPU, large ones only read and recognised, so a huge generator is built once,
    in the stage itself."""
    from ghosts_render.render.selfies.stylegan import EXPORT_SUFFIXES, KINDS, detect_kind
    from ghosts_render.render.selfies.stylegan.export import export_paths, read_header
    from ghosts_render.render.selfies.stylegan.unpickle import load_pickle

    for role in cfg.roles:
        path = Path(role.selfies)
        if not path.is_file() or path.stat().st_size <= PREFLIGHT_FULL_LOAD_BYTES:
            check_role_class(role, int(load_role_network(role, "cpu").c_dim))
            continue
        try:
            if path.suffix in EXPORT_SUFFIXES:
                header = read_header(*export_paths(path))
                if header.get("kind") not in KINDS:
                    raise ModelLoadError(f"{path}: unknown network kind {header.get('kind')!r}")
                settings = header.get("init_kwargs")
            else:
                recovered = load_pickle(path)
                detect_kind(recovered)
                settings = recovered.init_kwargs
        except ModelLoadError as e:
            raise ModelLoadError(f"roles.{role.name}.selfies: {e}") from None
        c_dim = settings.get("c_dim", 0) if isinstance(settings, dict) else 0
        check_role_class(role, int(c_dim) if isinstance(c_dim, int) else 0)


def load_network_identity(path: Path, G: Generator, sha256: str | None = None) -> dict[str, Any]:
    """Return a network's identity for provenance: path, sha256, kind, resolution, demo.

    ``sha256``: the file's hash when the caller has just computed it (it is not hashed again).
    """
    return {
        "path": str(path),
        "sha256": sha256 or sha256_file(path),
        "kind": str(getattr(G, "kind", "unknown")),
        "resolution": int(G.img_resolution),
        "demo": path.resolve().is_relative_to(DEMO_DIR.resolve()),
    }


def generate_selfie_batches(
    G: Generator,
    seeds: Sequence[int],
    truncation_psi: float,
    noise_mode: str,
    device: str,
    batch_size: int,
    class_idx: int | None = None,
) -> Iterator[tuple[list[int], np.ndarray]]:
    """Yield (seeds, uint8 [N, H, W, C] images) per batch; CUDA out of memory halves the batch."""
    import torch

    from ghosts_render.render.selfies.stylegan import generate_images

    i = 0
    while i < len(seeds):
        chunk = list(seeds[i : i + batch_size])
        try:
            images = generate_images(
                G, chunk, truncation_psi, noise_mode, device, len(chunk), class_idx
            )
        except RuntimeError as e:  # torch.OutOfMemoryError, or cuDNN's "CUDA error: out of memory"
            if not _is_out_of_memory(e):
                raise
            if batch_size == 1:
                raise StageError(
                    f"the GPU ({device}) ran out of memory rendering a single selfie of "
                    f"{G.img_resolution}² pixels; close other programs using the GPU, or render "
                    "on the CPU with --device cpu"
                ) from None
            batch_size = max(1, batch_size // 2)
            torch.cuda.empty_cache()
            continue
        i += len(chunk)
        yield chunk, images


def _is_out_of_memory(e: RuntimeError) -> bool:
    import torch

    return isinstance(e, torch.OutOfMemoryError) or "out of memory" in str(e)


def _encode_batches(
    encoder: SelfieEncoder,
    batches: Iterator[tuple[list[int], np.ndarray]],
    role: str,
    archive_dir: Path,
    wanted: set[int] | None = None,
) -> None:
    """Hand every rendered selfie of a role (or only the ``wanted`` seeds) to the encoder."""
    for chunk, images in batches:
        for seed, pixels in zip(chunk, images, strict=True):
            if wanted is not None and seed not in wanted:
                continue
            jpg, webp = (archive_dir / p for p in selfie_paths(role, seed))
            encoder.submit((role, seed), pixels, jpg, webp)


def plan_render_chunks(seeds: Sequence[int], missing: set[int], batch_size: int) -> list[list[int]]:
    """Return the fixed batches of a role's seeds that hold a missing selfie.

    Batches are cut from the whole planned list, never from what is missing: an image's float
    result can depend slightly on its batch mates (about 1e-5, rarely one uint8 level), so a
    resumed render recomputes each image in the very batch an uninterrupted one used.
    """
    chunks = [list(seeds[i : i + batch_size]) for i in range(0, len(seeds), batch_size)]
    return [chunk for chunk in chunks if missing.intersection(chunk)]


class _Tally:
    """Counts finished selfies, remembers their sizes and reports progress in jobs."""

    def __init__(self, jobs: Sequence[SelfieJob], on_progress: Callable[[int], None] | None):
        self.per_key = Counter((job.role, job.seed) for job in jobs)
        self.on_progress = on_progress
        self.sizes: dict[tuple[str, int], tuple[int, int]] = {}
        self.done = 0

    def finished(self, key: tuple[str, int], size: tuple[int, int]) -> None:
        """Record one selfie (reused or written) and report the jobs done so far."""
        self.sizes[key] = size
        self.done += self.per_key[key]
        if self.on_progress is not None:
            self.on_progress(self.done)


def _load_roles(
    jobs: Sequence[SelfieJob],
    roles: dict[str, RoleConfig],
    device: str,
    archive_dir: Path,
    settings: EncodeSettings,
    tally: _Tally,
) -> tuple[dict[str, dict[str, Any]], list[tuple[str, Generator, list[int], set[int]]]]:
    """Load each role's network, count its complete selfies; return identities and what is left."""
    networks, todo = {}, []
    for role, seeds in plan_role_seeds(jobs).items():
        G = load_role_network(roles[role], device)
        check_role_class(roles[role], int(G.c_dim))
        networks[role] = load_network_identity(Path(roles[role].selfies), G)
        resolution = int(G.img_resolution)
        missing: list[int] = []
        for seed in seeds:
            jpg, webp = (archive_dir / p for p in selfie_paths(role, seed))
            size = load_selfie_size(jpg, webp, settings)
            if size == (resolution, resolution):
                tally.finished((role, seed), size)
            else:
                missing.append(seed)
        if missing:
            todo.append((role, G, seeds, set(missing)))
    return networks, todo


def render_selfies(
    jobs: Sequence[SelfieJob],
    cfg: RunConfig,
    archive_dir: Path,
    device: str,
    on_progress: Callable[[int], None] | None = None,
    *,
    encode_workers: int | None = None,
) -> SelfieResult:
    """Render every planned selfie (reusing complete ones on disk); return their records.

    ``on_progress`` gets the number of jobs done so far; ``encode_workers`` None = automatic.
    """
    start = time.perf_counter()
    roles = _check_roles(jobs, cfg)
    s, settings = cfg.selfies, plan_encode_settings(cfg)
    write_selfie_dir(archive_dir / SELFIE_DIR)
    tally = _Tally(jobs, on_progress)
    networks, todo = _load_roles(jobs, roles, device, archive_dir, settings, tally)
    reused = len(tally.sizes)
    if encode_workers is None:
        encode_workers = count_encode_workers(sum(len(m) for *_, m in todo), device)
    with SelfieEncoder(settings, encode_workers, tally.finished) as encoder:
        for role, G, seeds, missing in todo:
            batch_size = pick_batch_size(s.batch_size, device, int(G.img_resolution))
            for chunk in plan_render_chunks(seeds, missing, batch_size):
                batches = generate_selfie_batches(
                    G,
                    chunk,
                    s.truncation_psi,
                    s.noise_mode,
                    device,
                    len(chunk),
                    role_class(roles[role]),
                )
                _encode_batches(encoder, batches, role, archive_dir, missing)
        encoder.finish()
    by_message = {
        job.message_id: plan_selfie_record(
            roles[job.role], job.seed, tally.sizes[(job.role, job.seed)]
        )
        for job in jobs
    }
    seconds = time.perf_counter() - start
    return SelfieResult(by_message, networks, len(tally.sizes) - reused, reused, seconds)


def plan_selfie_record(role: RoleConfig, seed: int, size: tuple[int, int]) -> Selfie:
    """Return the record of a role's selfie of ``seed`` whose JPEG is ``size`` (width, height)."""
    jpg, webp = selfie_paths(role.name, seed)
    width, height = size
    label = role.label or role.name
    return Selfie(
        seed=seed, src=jpg, webp=webp, width=width, height=height, alt=f"selfie of {label}"
    )
