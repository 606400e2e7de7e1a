"""Selfie files: a progressive JPEG at full size plus a phone-sized WebP, written atomically,
here or in a pool of worker processes.

Torch-free on purpose: the encode pool's worker processes import only this module (and PIL).
"""

from __future__ import annotations

import io
import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import ALL_COMPLETED, FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import TracebackType

import numpy as np
from PIL import Image

from ghosts_render.errors import StageError
from ghosts_render.files import write_atomic

INLINE_MAX = 4  # this many selfies or fewer are encoded here: a pool takes a second to start
MAX_WORKERS = 4  # encode processes; one 1024² selfie encodes in ~0.1 s, a GPU renders ~10/s
MAX_PENDING = 64  # selfies waiting for a worker (~3 MB each at 1024²)


@dataclass(frozen=True, slots=True)
class EncodeSettings:
    jpeg_quality: int = 70  # progressive JPEG quality (the original's)
    webp_size: int = 512  # long side of the WebP, pixels (never upscaled)
    webp_quality: int = 80  # WebP quality


def plan_webp_size(width: int, height: int, long_side: int) -> tuple[int, int]:
    """Return the WebP size: the long side scaled to ``long_side``, never enlarged."""
    if max(width, height) <= long_side:
        return width, height
    scale = long_side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def generate_encoded(pixels: np.ndarray, settings: EncodeSettings) -> tuple[bytes, bytes]:
    """Encode a uint8 [H, W, 3] (or grey [H, W, 1]) image as (progressive JPEG, WebP) bytes."""
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    image = Image.fromarray(np.ascontiguousarray(pixels))
    jpeg = io.BytesIO()
    image.save(jpeg, "JPEG", quality=settings.jpeg_quality, optimize=True, progressive=True)
    size = plan_webp_size(image.width, image.height, settings.webp_size)
    small = image if size == image.size else image.resize(size, Image.Resampling.LANCZOS)
    webp = io.BytesIO()
    small.save(webp, "WEBP", quality=settings.webp_quality, method=4)
    return jpeg.getvalue(), webp.getvalue()


def write_selfie_files(
    pixels: np.ndarray, jpg_path: str, webp_path: str, settings: EncodeSettings
) -> tuple[int, int]:
    """Encode one selfie and write its JPEG and WebP atomically; return (width, height)."""
    jpeg, webp = generate_encoded(pixels, settings)
    write_atomic(Path(jpg_path), jpeg)
    write_atomic(Path(webp_path), webp)
    return int(pixels.shape[1]), int(pixels.shape[0])


@lru_cache(maxsize=8)
def _quantization(quality: int) -> tuple[tuple[int, ...], ...]:
    """Return the JPEG quantization tables PIL writes for ``quality``."""
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "JPEG", quality=quality)
    with Image.open(buf) as im:
        return _tables(im)


def _tables(im: Image.Image) -> tuple[tuple[int, ...], ...]:
    """Return a JPEG's quantization tables, in table order (what the quality setting decides)."""
    tables = getattr(im, "quantization", None) or {}
    return tuple(tuple(t) for _, t in sorted(tables.items()))


def load_selfie_size(jpg: Path, webp: Path, settings: EncodeSettings) -> tuple[int, int] | None:
    """Return (width, height) when both files exist, decode and match the settings, else None."""
    try:
        with Image.open(jpg) as im:
            if im.format != "JPEG" or not im.info.get("progressive"):
                return None
            quant = _tables(im)
            size = im.size
            im.draft("RGB", (max(1, size[0] // 8), max(1, size[1] // 8)))
            im.load()  # reads every scan: a truncated file fails here
        with Image.open(webp) as small:
            small_size = small.size
            small.load()
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    if quant != _quantization(settings.jpeg_quality):
        return None
    if small_size != plan_webp_size(*size, settings.webp_size):
        return None
    return size


class SelfieEncoder:
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

    def __enter__(self) -> SelfieEncoder:
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
    """Return the error for a selfie file that could not be written."""
    return StageError(
        f"cannot write the selfie {path}: {e.strerror or e}; check that the output folder is "
        "writable and that the disk has free space, then run the same command to resume"
    )


def count_encode_workers(selfies: int, device: str) -> int:
    """Return how many encode processes to use: 0 (encode here) unless a GPU renders many."""
    # On a CPU, rendering a selfie costs 100-1000x its encoding, and a pool costs a second or
    # more to start; on a GPU, encoding is the slow part, so it runs beside the rendering.
    if selfies <= INLINE_MAX or not device.startswith("cuda"):
        return 0
    return max(1, min(MAX_WORKERS, (os.cpu_count() or 2) - 1))


def write_selfie_dir(out_dir: Path) -> None:
    """Create the selfie folder and remove temporary files an interrupted render left."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for tmp in out_dir.glob(".*.tmp"):
            tmp.unlink(missing_ok=True)
    except OSError as e:
        raise _write_error(out_dir, e) from None
