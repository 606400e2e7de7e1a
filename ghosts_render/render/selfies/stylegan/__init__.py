"""StyleGAN selfie networks without NVIDIA's code: safe loading, our own generators, rendering.

``load_network`` reads an official network pickle (restricted unpickler: nothing in the file is
run) or an exported safetensors network, and returns our own generator with the weights loaded
strictly. ``generate_images`` renders seeds exactly as NVIDIA's ``gen_images.py`` does.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ghosts_render.errors import ConfigError, ModelLoadError

if TYPE_CHECKING:
    import numpy as np
    import torch

    from ghosts_render.render.selfies.stylegan.stylegan2 import StyleGAN2Generator
    from ghosts_render.render.selfies.stylegan.stylegan3 import StyleGAN3Generator
    from ghosts_render.render.selfies.stylegan.unpickle import Recovered

    Generator = StyleGAN2Generator | StyleGAN3Generator  # what every loader returns

KINDS = ("stylegan3-t", "stylegan3-r", "stylegan2")
EXPORT_SUFFIXES = (".safetensors", ".json")
SEED_MAX = 2**32 - 1  # numpy's RandomState takes seeds 0..2**32-1
MAX_SEEDS = 100_000  # seeds per call of the selfie command
_SEED = re.compile(r"\s*([0-9]{1,20})\s*")
_RANGE = re.compile(r"\s*([0-9]{1,20})\s*-\s*([0-9]{1,20})\s*")


def detect_kind(rec: Recovered) -> str:
    """Return "stylegan3-t", "stylegan3-r" or "stylegan2" from a recovered generator's state."""
    synthesis = rec.children.get("synthesis")
    names = set(synthesis.children) if synthesis is not None else set()
    if "input" in names and any(re.fullmatch(r"L\d+_\d+_\d+", n) for n in names):
        kwargs = rec.init_kwargs
        radial = kwargs.get("conv_kernel", 3) == 1 or bool(kwargs.get("use_radial_filters"))
        return "stylegan3-r" if radial else "stylegan3-t"
    if "b4" in names:
        return "stylegan2"
    raise ModelLoadError(
        f"this {rec.class_name} is neither a StyleGAN3 nor a StyleGAN2 generator (its synthesis "
        f"network has parts {', '.join(sorted(names)) or 'none'})"
    )


def build_generator(kind: str, init_kwargs: dict[str, Any], device: str | None = None) -> Generator:
    """Construct our generator of ``kind`` from the official Generator init kwargs.

    The settings are checked against sane limits first; ``device="meta"`` builds the shapes only.
    """
    import torch

    from ghosts_render.render.selfies.stylegan.limits import check_common

    if kind not in KINDS:
        raise ModelLoadError(f"unknown network kind {kind!r}; expected one of {', '.join(KINDS)}")
    check_common(init_kwargs)
    try:
        with torch.device(device) if device else contextlib.nullcontext():
            if kind == "stylegan2":
                from ghosts_render.render.selfies.stylegan.stylegan2 import StyleGAN2Generator

                return StyleGAN2Generator(**init_kwargs)
            from ghosts_render.render.selfies.stylegan.stylegan3 import StyleGAN3Generator

            return StyleGAN3Generator(**init_kwargs)
    except (TypeError, ValueError, AssertionError, ArithmeticError, RuntimeError) as e:
        detail = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
        raise ModelLoadError(
            f"cannot build a {kind} generator from this network's settings ({detail})"
        ) from None


def load_generator(
    kind: str, init_kwargs: dict[str, Any], state: dict[str, torch.Tensor], where: Path
) -> Generator:
    """Build a generator and load ``state`` into it, allocating only once the shapes agree.

    The generator is first built on the meta device (no memory) and compared with the file's
    tensors, so settings that do not match the weights fail before anything large is made.
    """
    check_dense(state, where)
    try:
        skeleton = build_generator(kind, init_kwargs, device="meta")
    except ModelLoadError as e:
        raise ModelLoadError(f"{where}: {e}") from None
    check_weights_fit(skeleton, state, where)
    G = build_generator(kind, init_kwargs)
    load_weights(G, state, where)
    return G


def check_dense(state: dict[str, torch.Tensor], where: Path) -> None:
    """Refuse a tensor that claims more values than its stored data holds (a stretched view)."""
    for name, tensor in state.items():
        needed = tensor.numel() * tensor.element_size()
        if needed > tensor.untyped_storage().nbytes():
            raise ModelLoadError(
                f"{where}: the weight {name} claims {tuple(tensor.shape)} values but stores "
                "fewer; the file is damaged or booby-trapped"
            )


def check_weights_fit(G: Generator, state: dict[str, torch.Tensor], where: Path) -> None:
    """Refuse ``state`` unless it has exactly ``G``'s tensor names and shapes."""
    own = G.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        parts = [
            f"{label}: {', '.join(keys[:5])}{' ...' if len(keys) > 5 else ''}"
            for label, keys in (
                ("missing", missing),
                ("unexpected", unexpected),
                ("wrong shape", wrong),
            )
            if keys
        ]
        raise ModelLoadError(
            f"{where}: the weights do not fit a {getattr(G, 'kind', 'StyleGAN')} generator built "
            f"from its settings ({'; '.join(parts)}); the file may be damaged or of a newer kind"
        )


def load_weights(G: Generator, state: dict[str, torch.Tensor], where: Path) -> None:
    """Load ``state`` into ``G`` strictly; a missing, extra or misshapen tensor is an error."""
    check_weights_fit(G, state, where)
    own = G.state_dict()
    G.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()}, strict=True)


def load_network(path: Path, device: str = "cpu") -> Generator:
    """Load a network pickle (read safely) or an exported network; eval mode, no gradients."""
    path = Path(path)
    if path.suffix in EXPORT_SUFFIXES:
        from ghosts_render.render.selfies.stylegan.export import load_exported

        return load_exported(path, device)
    from ghosts_render.render.selfies.stylegan.unpickle import load_pickle

    rec = load_pickle(path)
    try:
        if rec.init_args:
            raise ModelLoadError(
                "its generator was built with positional arguments, which the official training "
                "code never does; this network cannot be rebuilt faithfully"
            )
        kind = detect_kind(rec)
    except ModelLoadError as e:
        raise ModelLoadError(f"{path}: {e}") from None
    G = load_generator(kind, rec.init_kwargs, rec.state_dict(), path)
    return G.eval().requires_grad_(False).to(device)


def seed_latents(seeds: Sequence[int], z_dim: int) -> np.ndarray:
    """Return z [N, z_dim] float64, one RandomState(seed).randn(1, z_dim) row per seed."""
    import numpy as np

    rows = [np.random.RandomState(int(s)).randn(1, z_dim) for s in seeds]
    return np.concatenate(rows) if rows else np.zeros([0, z_dim])


def generate_images(
    G: Generator,
    seeds: Sequence[int],
    truncation_psi: float,
    noise_mode: str,
    device: str,
    batch_size: int = 8,
    class_idx: int | None = None,
) -> np.ndarray:
    """Render uint8 images [N, H, W, C] for ``seeds`` exactly as gen_images.py, in batches."""
    import numpy as np
    import torch

    _reset_input_transform(G)
    z_all = seed_latents(seeds, int(G.z_dim))
    out = []
    with torch.inference_mode(), _full_float32_convs(device):
        for i in range(0, len(seeds), max(1, batch_size)):
            z = torch.from_numpy(z_all[i : i + max(1, batch_size)]).to(device)
            c = torch.zeros([len(z), int(G.c_dim)], device=device)
            if class_idx is not None:
                c[:, class_idx] = 1
            img = G(z, c, truncation_psi=truncation_psi, noise_mode=noise_mode)
            img = (img.permute(0, 2, 3, 1) * 127.5 + 128).clamp(0, 255).to(torch.uint8)
            out.append(img.cpu().numpy())
    if not out:
        res, ch = int(G.img_resolution), int(G.img_channels)
        return np.zeros([0, res, res, ch], dtype=np.uint8)
    return np.concatenate(out)


@contextlib.contextmanager
def _full_float32_convs(device: str) -> Iterator[None]:
    """Run CUDA convolutions in full float32 (no TF32), as the CPU reference does; then restore."""
    import torch

    conv = getattr(torch.backends.cudnn, "conv", None)
    if not str(device).startswith("cuda") or conv is None:
        yield
        return
    before = conv.fp32_precision
    conv.fp32_precision = "ieee"
    try:
        yield
    finally:
        conv.fp32_precision = before


def _reset_input_transform(G: Generator) -> None:
    """Set a StyleGAN3 input transform to identity, as gen_images.py does (no translate/rotate)."""
    import torch

    transform = getattr(getattr(getattr(G, "synthesis", None), "input", None), "transform", None)
    if isinstance(transform, torch.Tensor):
        with torch.no_grad():
            transform.copy_(torch.eye(3, dtype=transform.dtype, device=transform.device))


def parse_seeds(text: str) -> list[int]:
    """Parse seeds as gen_images.py does: "0-3" -> 0,1,2,3; "1,5,7-9" -> 1,5,7,8,9.

    Every seed must be within numpy's 0..2**32-1, and at most ``MAX_SEEDS`` are named.
    """
    seeds: list[int] = []
    for part in str(text).split(","):
        span = _RANGE.fullmatch(part)
        match = span or _SEED.fullmatch(part)
        if match is None:
            raise ConfigError(
                f"seeds: {part.strip()!r} in {text!r} is not a seed; "
                "write seeds like 0-3 or 1,5,7-9"
            )
        lo = int(match[1])
        hi = int(match[2]) if span else lo
        if hi > SEED_MAX:
            raise ConfigError(
                f"seeds: {hi} is too big; every seed must be between 0 and {SEED_MAX}"
            )
        if hi < lo:
            raise ConfigError(f"seeds: the range {part.strip()!r} runs backwards; write {hi}-{lo}")
        if len(seeds) + hi - lo + 1 > MAX_SEEDS:
            raise ConfigError(
                f"seeds: {text!r} names over {MAX_SEEDS:,} seeds; render at most {MAX_SEEDS:,} "
                "per run (split the range over several runs)"
            )
        seeds.extend(range(lo, hi + 1))
    return seeds


def check_class(
    c_dim: int, class_idx: int | None, option: str, network: Path | None = None
) -> None:
    """Refuse a class for an unconditional network, or none (or one out of range) otherwise.

    ``option`` names where the class is set (``--class``, a config key) for the message.
    """
    net = f"the network {network}" if network is not None else "this network"
    if c_dim == 0 and class_idx is not None:
        raise ConfigError(f"{option}: {net} is unconditional (it has no classes); leave it out")
    if c_dim > 0 and class_idx is None:
        raise ConfigError(
            f"{option}: {net} is conditional: choose one of its {c_dim} classes, "
            f"0 to {c_dim - 1} (without one it would render a blank label)"
        )
    if class_idx is not None and not 0 <= class_idx < c_dim:
        raise ConfigError(
            f"{option}: class {class_idx} is out of range; {net} has classes 0 to {c_dim - 1}"
        )


def write_seed_images(
    network: Path,
    seeds: Sequence[int],
    truncation_psi: float,
    noise_mode: str,
    out_dir: Path,
    device: str = "cpu",
    class_idx: int | None = None,
) -> list[Path]:
    """Render ``seed%04d.png`` files into ``out_dir`` as gen_images.py names and quantises them."""
    from PIL import Image

    out_dir = Path(out_dir)
    _check_out_dir(out_dir)
    G = load_network(Path(network), device)
    check_class(int(G.c_dim), class_idx, "--class")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"--out: cannot make the folder {out_dir} ({e.strerror or e})") from None
    paths = []
    for start in range(0, len(seeds), 8):
        chunk = list(seeds[start : start + 8])
        images = generate_images(
            G, chunk, truncation_psi, noise_mode, device, len(chunk), class_idx
        )
        for seed, image in zip(chunk, images, strict=True):
            path = out_dir / f"seed{seed:04d}.png"
            _write_png(Image.fromarray(image if image.shape[-1] != 1 else image[..., 0]), path)
            paths.append(path)
    return paths


def _check_out_dir(out_dir: Path) -> None:
    """Refuse an output folder that is, or lies inside, an existing file."""
    for folder in (out_dir, *out_dir.parents):
        if folder.exists() and not folder.is_dir():
            raise ConfigError(
                f"--out: {folder} is a file, not a folder; choose a folder for the seed images"
            )
        if folder.exists():
            return


def _write_png(image: Any, path: Path) -> None:
    """Write a PNG atomically: a half-written file never takes the final name."""
    import io

    from ghosts_render.files import write_atomic

    png = io.BytesIO()
    image.save(png, format="PNG")
    try:
        write_atomic(path, png.getvalue())
    except OSError as e:
        raise ConfigError(f"--out: cannot write {path} ({e.strerror or e})") from None
