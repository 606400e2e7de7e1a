"""Selfie files: a progressive JPEG at full size plus a phone-sized WebP, written atomically.

Torch-free on purpose: the encode pool's worker processes import only this module (and PIL).
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image


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


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary name beside ``path``, then move it into place."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


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
        return tuple(tuple(t) for _, t in sorted(im.quantization.items()))


def load_selfie_size(jpg: Path, webp: Path, settings: EncodeSettings) -> tuple[int, int] | None:
    """Return (width, height) when both files exist, decode and match the settings, else None."""
    try:
        with Image.open(jpg) as im:
            if im.format != "JPEG" or not im.info.get("progressive"):
                return None
            quant = tuple(tuple(t) for _, t in sorted(im.quantization.items()))
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
