"""Build the demo selfie networks: seeded StyleGAN3-T generators tuned into "ghost portraits".

No training data and no training: every weight is drawn from a seeded generator, then shaped by
hand so random networks make pictures worth seeing:
- mirror symmetry (a face-like, Rorschach-like figure): the Fourier input features come in
  left/right pairs with equal mixing weights and every conv kernel is symmetric left to right;
- more detail than a default network: the input features reach 3 cycles per image, not 2;
- calibrated magnitudes: each layer's input-gain statistic is set to the mean square its input
  really has (what training tracks), and w_avg to the mean mapped latent (truncation works);
- a palette per role: ToRGB mixes the last features into two role colours over a dark ground.

Writes ghosts_render/demo/selfies/<role>.safetensors + .json with the package's export format.
Usage: .venv/bin/python scripts/make_demo_selfie_networks.py [--out DIR] [--preview DIR]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ghosts_render.render.selfies.stylegan import generate_images
from ghosts_render.render.selfies.stylegan.export import write_exported
from ghosts_render.render.selfies.stylegan.stylegan3 import StyleGAN3Generator

OUT = Path(__file__).resolve().parent.parent / "ghosts_render" / "demo" / "selfies"
SETTINGS = {
    "z_dim": 64,
    "c_dim": 0,
    "w_dim": 64,
    "img_resolution": 256,
    "img_channels": 3,
    "mapping_kwargs": {"num_layers": 2},
    "channel_base": 4096,
    "channel_max": 48,
    "num_layers": 10,
    "first_cutoff": 3,
    "first_stopband": 2**3,
    "magnitude_ema_beta": 0.999,
}


@dataclass(frozen=True)
class Palette:
    """A role's look: dark ground colour and two glowing ink colours (RGB in [-1, 1])."""

    seed: int
    ground: tuple[float, float, float]
    inks: tuple[tuple[float, float, float], tuple[float, float, float]]


ROLES = {
    "artist": Palette(
        seed=11, ground=(-0.55, -0.5, -0.3), inks=((0.3, 1.0, 1.0), (1.0, 0.35, 0.9))
    ),
    "scientist": Palette(
        seed=23,
        ground=(-0.55, -0.4, -0.5),
        inks=((0.45, 1.0, 0.4), (1.0, 0.8, 0.25)),
    ),
}


def build_network(palette: Palette) -> StyleGAN3Generator:
    """A seeded generator shaped into a ghost portrait maker for one palette."""
    torch.manual_seed(palette.seed)
    G = StyleGAN3Generator(**SETTINGS).eval().requires_grad_(False)
    mirror(G)
    z = torch.from_numpy(np.random.RandomState(palette.seed).randn(32, G.z_dim)).float()
    calibrate(G, z)
    paint(G, palette, z)
    return G


def mirror(G: StyleGAN3Generator) -> None:
    """Make every image symmetric left to right: paired input features, symmetric kernels."""
    fourier = G.synthesis.input
    half = fourier.channels // 2
    fourier.freqs[half : 2 * half] = fourier.freqs[:half] * torch.tensor([-1.0, 1.0])
    fourier.phases[half : 2 * half] = fourier.phases[:half]
    fourier.weight[:, half : 2 * half] = fourier.weight[:, :half]
    for name in G.synthesis.layer_names:
        layer = getattr(G.synthesis, name)
        layer.weight.copy_((layer.weight + layer.weight.flip(-1)) / 2)


def calibrate(G: StyleGAN3Generator, z: torch.Tensor) -> None:
    """Set w_avg to the mean mapped latent, each layer's magnitude EMA to its input mean square."""
    G.mapping.w_avg.copy_(G.mapping(z)[:, 0].mean(0))

    def note(layer, args):
        layer.magnitude_ema.copy_(args[0].square().mean())

    hooks = [
        getattr(G.synthesis, n).register_forward_pre_hook(note) for n in G.synthesis.layer_names
    ]
    G(z[:8])
    for hook in hooks:
        hook.remove()


def paint(G: StyleGAN3Generator, palette: Palette, z: torch.Tensor) -> None:
    """ToRGB: two mixes of the last features become inks over the ground colour.

    The mixes are kept orthogonal to the directions in which the features' per-image averages
    vary most, so the inks draw shapes inside each picture instead of tinting whole pictures.
    """
    torgb = getattr(G.synthesis, G.synthesis.layer_names[-1])
    seen = []
    hook = torgb.register_forward_pre_hook(lambda layer, args: seen.append(args))
    G(z)
    hook.remove()
    x, w = seen[0]
    styles = torgb.affine(w) / np.sqrt(x.shape[1])
    means = (x * styles[:, :, None, None]).mean(dim=(2, 3))
    spread = torch.linalg.svd(means - means.mean(0), full_matrices=False).Vh[:6]  # [6, C]
    gen = torch.Generator().manual_seed(palette.seed)
    mixes = torch.randn([2, x.shape[1]], generator=gen)
    mixes = mixes - (mixes @ spread.t()) @ spread
    inks = torch.tensor(palette.inks).t()  # [3, 2]
    torgb.weight.copy_((inks @ mixes)[:, :, None, None])
    torgb.bias.zero_()
    img = G(z)
    torgb.weight.mul_(0.32 / float(img.std(dim=(2, 3)).mean()))
    img = G(z)
    ground = torch.tensor(palette.ground).view(1, 3, 1, 1)
    torgb.bias.copy_((ground - img).mean(dim=(0, 2, 3)) / G.synthesis.output_scale)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--preview", type=Path, default=None, help="also write sample PNGs here")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for torch")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    for role, palette in ROLES.items():
        G = build_network(palette)
        write_exported(G, args.out / role)
        if args.preview:
            from PIL import Image

            start = time.perf_counter()
            images = generate_images(G, range(8), 1.0, "const", "cpu")
            seconds = (time.perf_counter() - start) / 8
            args.preview.mkdir(parents=True, exist_ok=True)
            sheet = np.concatenate(list(images), axis=1)
            Image.fromarray(sheet).save(args.preview / f"{role}.png")
            print(f"{role}: {seconds:.2f} s per selfie")
    return 0


if __name__ == "__main__":
    sys.exit(main())
