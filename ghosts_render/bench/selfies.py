"""The selfie stage's benchmark: batched rendering with pooled encoding against one at a time.

The baseline is the original's way (render one selfie, save it, render the next), run on the same
network and device as the batched stage, so the ratio is fair.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ghosts_render.render.selfies.encode import (
    EncodeSettings,
    SelfieEncoder,
    count_encode_workers,
    write_selfie_dir,
    write_selfie_files,
)
from ghosts_render.render.selfies.stage import (
    SELFIE_DIR,
    generate_selfie_batches,
    pick_batch_size,
    selfie_paths,
)

if TYPE_CHECKING:
    from ghosts_render.render.selfies.stylegan import Generator


def bench_selfies(network: Path | Generator, n: int, device: str) -> dict[str, Any]:
    """Time ``n`` selfies rendered and encoded in batches against one at a time, same network."""
    G = load_network_from(network, device)
    resolution = int(G.img_resolution)
    batch_size = pick_batch_size(0, device, resolution)
    seeds = list(range(n))
    settings = EncodeSettings()
    for warm in {1, batch_size if device.startswith("cuda") else 1}:
        next(generate_selfie_batches(G, [0] * warm, 1.0, "const", device, warm))
    with tempfile.TemporaryDirectory(prefix="ghosts-bench-") as tmp:
        out = Path(tmp)
        write_selfie_dir(out / SELFIE_DIR)
        start = time.perf_counter()
        for seed in seeds:  # what the original did: render one, save it, next
            _, images = next(generate_selfie_batches(G, [seed], 1.0, "const", device, 1))
            jpg, webp = (out / p for p in selfie_paths("single", seed))
            write_selfie_files(images[0], str(jpg), str(webp), settings)
        single = time.perf_counter() - start
        with SelfieEncoder(settings, count_encode_workers(n, device), lambda k, v: None) as encoder:
            pool_start_s = encoder.warm_up()
            start = time.perf_counter()
            batches = generate_selfie_batches(G, seeds, 1.0, "const", device, batch_size)
            _submit(encoder, batches, out)
            encoder.finish()
            batched = time.perf_counter() - start
    return {
        "batched": _timing(n, batched, batch_size),
        "single": _timing(n, single, 1),
        "device": device,
        "kind": str(getattr(G, "kind", "unknown")),
        "resolution": resolution,
        "encode_workers": count_encode_workers(n, device),
        "pool_start_s": pool_start_s,  # once per render, not in the batched time
    }


def load_network_from(network: Path | Generator, device: str) -> Generator:
    """Return a network on ``device``: a loaded module as is, else loaded from its file."""
    import torch

    if isinstance(network, torch.nn.Module):
        return network.to(device).eval()
    from ghosts_render.render.selfies.stylegan import load_network

    return load_network(Path(network), device)


def _timing(n: int, seconds: float, batch_size: int) -> dict[str, float | int]:
    return {
        "selfies_per_s": n / seconds if seconds > 0 else 0.0,
        "batch_size": batch_size,
        "seconds": seconds,
    }


def generate_bench_network(resolution: int = 1024, seed: int = 0, device: str = "cpu") -> Generator:
    """Return a StyleGAN3-T of the official config-T size with seeded random weights (timing)."""
    import torch

    from ghosts_render.render.selfies.stylegan.stylegan3 import StyleGAN3Generator

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        G = StyleGAN3Generator(
            z_dim=512,
            c_dim=0,
            w_dim=512,
            img_resolution=resolution,
            img_channels=3,
            mapping_kwargs={"num_layers": 2},
        )
    return G.eval().requires_grad_(False).to(device)


def _submit(
    encoder: SelfieEncoder, batches: Iterator[tuple[list[int], np.ndarray]], out: Path
) -> None:
    for chunk, images in batches:
        for seed, pixels in zip(chunk, images, strict=True):
            jpg, webp = (out / p for p in selfie_paths("batched", seed))
            encoder.submit(("batched", seed), pixels, jpg, webp)
