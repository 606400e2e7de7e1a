"""The selfie stage: every planned selfie rendered in batches per role, encoded in a process pool.

Each role's network (an official pickle or an exported one, through ``ghosts_render.stylegan``)
renders its seeds in batches on the chosen device; while the next batch renders, worker processes
encode the previous one as a progressive JPEG at full size plus a phone-sized WebP, each written
atomically. A selfie whose two files already exist and decode is reused, so an interrupted render
resumes with only the missing selfies. Files are named ``<role>-<seed>``, so the same job always
gives the same bytes.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ALL_COMPLETED, FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np

from ghosts_render.config import DEMO_DIR, RoleConfig, RunConfig
from ghosts_render.errors import ModelLoadError, StageError
from ghosts_render.stages.encode import EncodeSettings, load_selfie_size, write_selfie_files

if TYPE_CHECKING:
    import torch

SELFIE_DIR = "media/selfies"  # inside the archive
INLINE_MAX = 4  # this many selfies or fewer are encoded here: a pool takes a second to start
MAX_WORKERS = 4  # encode processes; one 1024² selfie encodes in ~0.1 s, a GPU renders ~10/s
MAX_PENDING = 64  # selfies waiting for a worker (~3 MB each at 1024²)
CPU_BATCH_PIXELS = 8 * 256 * 256  # on CPU: 8 selfies at 256², 2 at 512², 1 at 1024²
CUDA_BYTES_PER_PIXEL = 2400  # rough peak GPU memory per output pixel of one StyleGAN3-T selfie
CUDA_MAX_BATCH = 32


@dataclass(frozen=True, slots=True)
class SelfieJob:
    message_id: str  # the message that carries the selfie
    role: str  # whose network renders it
    seed: int  # StyleGAN seed, as gen_images.py uses it


@dataclass(frozen=True, slots=True)
class SelfieResult:
    by_message: dict[str, dict[str, Any]]  # message id -> the message's "selfie" record
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


def plan_batch_size(configured: int, device: str, resolution: int) -> int:
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


def _settings(cfg: RunConfig) -> EncodeSettings:
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


def load_role_network(role: RoleConfig, device: str) -> torch.nn.Module:
    """Load a role's selfie network; failures name the role and its config key."""
    from ghosts_render.stylegan import load_network

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


def load_network_identity(path: Path, G: torch.nn.Module) -> dict[str, Any]:
    """Return a network's identity for provenance: path, sha256, kind, resolution, demo."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return {
        "path": str(path),
        "sha256": digest.hexdigest(),
        "kind": str(getattr(G, "kind", "unknown")),
        "resolution": int(G.img_resolution),
        "demo": path.resolve().is_relative_to(DEMO_DIR.resolve()),
    }


def generate_selfie_batches(
    G: torch.nn.Module,
    seeds: Sequence[int],
    truncation_psi: float,
    noise_mode: str,
    device: str,
    batch_size: int,
) -> Iterator[tuple[list[int], np.ndarray]]:
    """Yield (seeds, uint8 [N, H, W, C] images) per batch; CUDA out of memory halves the batch."""
    import torch

    from ghosts_render.stylegan import generate_images

    i = 0
    while i < len(seeds):
        chunk = list(seeds[i : i + batch_size])
        try:
            images = generate_images(G, chunk, truncation_psi, noise_mode, device, len(chunk))
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


class _Encoder:
    """Encodes selfies here or in a pool of worker processes, so rendering overlaps encoding."""

    def __init__(
        self,
        settings: EncodeSettings,
        workers: int,
        on_done: Callable[[tuple[str, int], tuple[int, int]], None],
    ) -> None:
        self.settings = settings
        self.workers = workers
        self.on_done = on_done
        self.pending: dict[Future[tuple[int, int]], tuple[tuple[str, int], Path]] = {}
        self.pool = (
            ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
            if workers > 0
            else None
        )

    def __enter__(self) -> _Encoder:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)

    def submit(self, key: tuple[str, int], pixels: np.ndarray, jpg: Path, webp: Path) -> None:
        """Encode and write one selfie (now, or in a worker); report it through ``on_done``."""
        if self.pool is None:
            try:
                size = write_selfie_files(pixels, str(jpg), str(webp), self.settings)
            except OSError as e:
                raise _write_error(jpg, e) from None
            self.on_done(key, size)
            return
        if len(self.pending) >= MAX_PENDING:
            self._collect(FIRST_COMPLETED)
        future = self.pool.submit(write_selfie_files, pixels, str(jpg), str(webp), self.settings)
        self.pending[future] = (key, jpg)

    def warm_up(self) -> float:
        """Start the worker processes now; return the seconds it took (0 without a pool)."""
        if self.pool is None:
            return 0.0
        start = time.perf_counter()
        futures = [self.pool.submit(os.getpid) for _ in range(self.workers)]
        wait(futures)
        return time.perf_counter() - start

    def finish(self) -> None:
        """Wait for every selfie in flight."""
        if self.pending:
            self._collect(ALL_COMPLETED)

    def _collect(self, return_when: str) -> None:
        done, _ = wait(self.pending, return_when=return_when)
        for future in done:
            key, jpg = self.pending.pop(future)
            try:
                size = future.result()
            except OSError as e:
                raise _write_error(jpg, e) from None
            except BrokenProcessPool:
                raise StageError(
                    "a selfie encoding process died (out of memory?); run the same command "
                    "again to resume, or set selfies.batch_size lower in ghosts.toml"
                ) from None
            self.on_done(key, size)


def _write_error(path: Path, e: OSError) -> StageError:
    return StageError(
        f"cannot write the selfie {path}: {e.strerror or e}; check that the output folder is "
        "writable and that the disk has free space, then run the same command to resume"
    )


def plan_encode_workers(selfies: int, device: str) -> int:
    """Return how many encode processes to use: 0 (encode here) unless a GPU renders many."""
    # On a CPU, rendering a selfie costs 100-1000x its encoding, and a pool costs a second or
    # more to start; on a GPU, encoding is the slow part, so it runs beside the rendering.
    if selfies <= INLINE_MAX or not device.startswith("cuda"):
        return 0
    return max(1, min(MAX_WORKERS, (os.cpu_count() or 2) - 1))


def _prepare_dir(out_dir: Path) -> None:
    """Create the selfie folder and remove temporary files an interrupted render left."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for tmp in out_dir.glob(".*.tmp"):
            tmp.unlink(missing_ok=True)
    except OSError as e:
        raise _write_error(out_dir, e) from None


def _encode_batches(
    encoder: _Encoder, batches: Iterator[tuple[list[int], np.ndarray]], role: str, archive_dir: Path
) -> None:
    """Hand every rendered selfie of a role to the encoder, batch by batch."""
    for chunk, images in batches:
        for seed, pixels in zip(chunk, images, strict=True):
            jpg, webp = (archive_dir / p for p in selfie_paths(role, seed))
            encoder.submit((role, seed), pixels, jpg, webp)


def _find_existing(
    archive_dir: Path, role: str, seeds: Sequence[int], resolution: int, settings: EncodeSettings
) -> dict[tuple[str, int], tuple[int, int]]:
    """Return the sizes of a role's selfies already complete on disk (right size, both files)."""
    found = {}
    for seed in seeds:
        jpg, webp = (archive_dir / p for p in selfie_paths(role, seed))
        size = load_selfie_size(jpg, webp, settings)
        if size == (resolution, resolution):
            found[(role, seed)] = size
    return found


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
    s, settings = cfg.selfies, _settings(cfg)
    _prepare_dir(archive_dir / SELFIE_DIR)
    per_key = Counter((job.role, job.seed) for job in jobs)
    sizes: dict[tuple[str, int], tuple[int, int]] = {}
    done = [0]

    def finished(key: tuple[str, int], size: tuple[int, int]) -> None:
        sizes[key] = size
        done[0] += per_key[key]
        if on_progress is not None:
            on_progress(done[0])

    networks, todo = {}, []
    for role, seeds in plan_role_seeds(jobs).items():
        G = load_role_network(roles[role], device)
        networks[role] = load_network_identity(Path(roles[role].selfies), G)
        existing = _find_existing(archive_dir, role, seeds, int(G.img_resolution), settings)
        for key, size in existing.items():
            finished(key, size)
        missing = [seed for seed in seeds if (role, seed) not in existing]
        if missing:
            todo.append((role, G, missing))
    reused = len(sizes)
    missing = sum(len(m) for *_, m in todo)
    workers = plan_encode_workers(missing, device) if encode_workers is None else encode_workers
    with _Encoder(settings, workers, finished) as encoder:
        for role, G, missing in todo:
            batch_size = plan_batch_size(s.batch_size, device, int(G.img_resolution))
            batches = generate_selfie_batches(
                G, missing, s.truncation_psi, s.noise_mode, device, batch_size
            )
            _encode_batches(encoder, batches, role, archive_dir)
        encoder.finish()
    by_message = {job.message_id: _record(job, sizes, roles) for job in jobs}
    seconds = time.perf_counter() - start
    return SelfieResult(by_message, networks, len(sizes) - reused, reused, seconds)


def _record(
    job: SelfieJob, sizes: dict[tuple[str, int], tuple[int, int]], roles: dict[str, RoleConfig]
) -> dict[str, Any]:
    jpg, webp = selfie_paths(job.role, job.seed)
    width, height = sizes[(job.role, job.seed)]
    label = roles[job.role].label or job.role
    return {
        "seed": job.seed,
        "src": jpg,
        "webp": webp,
        "width": width,
        "height": height,
        "alt": f"selfie of {label}",
    }


def bench_selfies(network: Path | torch.nn.Module, n: int, device: str) -> dict[str, Any]:
    """Time ``n`` selfies rendered and encoded in batches against one at a time, same network."""
    G = load_network_from(network, device)
    resolution = int(G.img_resolution)
    batch_size = plan_batch_size(0, device, resolution)
    seeds = list(range(n))
    settings = EncodeSettings()
    for warm in {1, batch_size if device.startswith("cuda") else 1}:
        next(generate_selfie_batches(G, [0] * warm, 1.0, "const", device, warm))
    with tempfile.TemporaryDirectory(prefix="ghosts-bench-") as tmp:
        out = Path(tmp)
        _prepare_dir(out / SELFIE_DIR)
        start = time.perf_counter()
        for seed in seeds:  # what the original did: render one, save it, next
            _, images = next(generate_selfie_batches(G, [seed], 1.0, "const", device, 1))
            jpg, webp = (out / p for p in selfie_paths("single", seed))
            write_selfie_files(images[0], str(jpg), str(webp), settings)
        single = time.perf_counter() - start
        with _Encoder(settings, plan_encode_workers(n, device), lambda k, v: None) as encoder:
            pool_start_s = encoder.warm_up()
            start = time.perf_counter()
            batches = generate_selfie_batches(G, seeds, 1.0, "const", device, batch_size)
            _encode_batches(encoder, batches, "batched", out)
            encoder.finish()
            batched = time.perf_counter() - start
    return {
        "batched": _rate(n, batched, batch_size),
        "single": _rate(n, single, 1),
        "device": device,
        "kind": str(getattr(G, "kind", "unknown")),
        "resolution": resolution,
        "encode_workers": plan_encode_workers(n, device),
        "pool_start_s": pool_start_s,  # once per render, not in the batched time
    }


def load_network_from(network: Path | torch.nn.Module, device: str) -> torch.nn.Module:
    """Return a network on ``device``: a loaded module as is, else loaded from its file."""
    import torch

    if isinstance(network, torch.nn.Module):
        return network.to(device).eval()
    from ghosts_render.stylegan import load_network

    return load_network(Path(network), device)


def _rate(n: int, seconds: float, batch_size: int) -> dict[str, float | int]:
    return {
        "selfies_per_s": n / seconds if seconds > 0 else 0.0,
        "batch_size": batch_size,
        "seconds": seconds,
    }
