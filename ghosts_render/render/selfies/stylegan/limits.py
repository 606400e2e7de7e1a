"""Sane limits on a network's settings, checked before anything is built from them.

A network's settings come from its file, so a 25 KB file could ask for a 62,500-wide latent or a
16384² image and make the loader allocate gigabytes before its weights are even compared. The
limits here sit far above every published StyleGAN (at most 1024², 512-wide latents, a dozen
mapping layers) and far below what could exhaust a machine; the generator itself is then built
on PyTorch's meta device (shapes only, no memory) and its tensors compared with the file's
before a real one is made.
"""

from __future__ import annotations

import math
from typing import Any

from ghosts_render.errors import ModelLoadError

MAX_RESOLUTION = 8192
MAX_DIM = 16384  # z_dim, w_dim, channels
MAX_CLASSES = 1_000_000
MAX_LAYERS = 64
MAX_FILTER_TAPS = 64


def check_int(settings: dict[str, Any], key: str, low: int, high: int, default: Any = None) -> int:
    """Return settings[key] (or ``default``) if it is an integer in [low, high], else refuse."""
    value = settings.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ModelLoadError(
            f"its setting {key}={value!r} is not a whole number from {low} to {high}; "
            "the file is damaged or not a StyleGAN network"
        )
    return value


def check_number(
    settings: dict[str, Any], key: str, default: Any, low: float = 0.0, high: float = 1e9
) -> float:
    """Return settings[key] (or ``default``) if it is a finite number in (low, high]."""
    value = settings.get(key, default)
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or not low < value <= high:
        raise ModelLoadError(
            f"its setting {key}={value!r} is not a number above {low:g} and at most {high:g}; "
            "the file is damaged or not a StyleGAN network"
        )
    return float(value)


def check_common(init_kwargs: dict[str, Any]) -> None:
    """Check the settings every StyleGAN generator has: latent, label and image sizes."""
    check_int(init_kwargs, "z_dim", 1, MAX_DIM)
    check_int(init_kwargs, "c_dim", 0, MAX_CLASSES)
    check_int(init_kwargs, "w_dim", 1, MAX_DIM)
    check_int(init_kwargs, "img_resolution", 4, MAX_RESOLUTION)
    check_int(init_kwargs, "img_channels", 1, 4)
    for key in ("mapping_kwargs", "synthesis_kwargs"):
        if init_kwargs.get(key) is not None and not isinstance(init_kwargs[key], dict):
            raise ModelLoadError(
                f"its setting {key} is a {type(init_kwargs[key]).__name__}, not a table of "
                "settings; the file is damaged or not a StyleGAN network"
            )
    mapping = init_kwargs.get("mapping_kwargs") or {}
    check_int(mapping, "num_layers", 1, MAX_LAYERS, default=2)
    for key in ("embed_features", "layer_features"):
        if mapping.get(key) is not None:
            check_int(mapping, key, 1, MAX_DIM)
    check_number(mapping, "lr_multiplier", 0.01)
