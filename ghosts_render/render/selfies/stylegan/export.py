"""Export a loaded generator to safetensors + JSON, and load it back without any pickle."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ghosts_render.errors import ModelLoadError
from ghosts_render.files import dump_json, write_atomic

if TYPE_CHECKING:
    from ghosts_render.render.selfies.stylegan import Generator

FORMAT = "ghosts-render/stylegan-network"
VERSION = 1


def export_paths(path: Path) -> tuple[Path, Path]:
    """Return (weights, settings) paths for an export named ``path`` (with or without suffix)."""
    path = Path(path)
    stem = path.with_suffix("") if path.suffix in (".safetensors", ".json") else path
    return stem.with_name(stem.name + ".safetensors"), stem.with_name(stem.name + ".json")


def write_exported(G: Generator, path: Path) -> None:
    """Write ``path``.safetensors (weights) and ``path``.json (kind, init kwargs, format)."""
    from safetensors.torch import save

    weights, settings = export_paths(path)
    header = {
        "format": FORMAT,
        "version": VERSION,
        "kind": str(G.kind),
        "init_kwargs": G.init_kwargs,
    }
    text = dump_json(header, sort_keys=True)
    state = {k: v.detach().to("cpu").contiguous() for k, v in G.state_dict().items()}
    write_atomic(weights, save(state, metadata={"ghosts_render": text}))
    write_atomic(settings, text)


def load_exported(path: Path, device: str = "cpu") -> Generator:
    """Load an exported network (.safetensors with its .json beside it); eval, no gradients."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from ghosts_render.render.selfies.stylegan import load_generator

    weights, settings = export_paths(path)
    if not weights.is_file():
        raise ModelLoadError(
            f"{weights}: no such file; an exported network is a .safetensors file with a .json "
            "beside it (write one with `ghosts-render export NETWORK.pkl`)"
        )
    header = read_header(weights, settings)
    try:
        state = load_file(str(weights), device="cpu")
    except (SafetensorError, OSError, ValueError) as e:
        raise ModelLoadError(f"{weights}: not a readable safetensors file ({e})") from None
    kwargs = header.get("init_kwargs")
    if not isinstance(kwargs, dict):
        raise ModelLoadError(f"{settings}: its init_kwargs are not a table; export it again")
    G = load_generator(str(header.get("kind")), kwargs, state, settings)
    return G.eval().requires_grad_(False).to(device)


def read_header(weights: Path, settings: Path) -> dict[str, Any]:
    """Read the JSON settings: the .json beside the weights, else the copy inside them."""
    if settings.is_file():
        source, text = settings, settings.read_text(encoding="utf-8")
    else:
        from safetensors import safe_open

        try:
            with safe_open(str(weights), framework="pt") as fh:
                text = (fh.metadata() or {}).get("ghosts_render", "")
        except Exception as e:  # safetensors raises its own error types for damaged headers
            raise ModelLoadError(f"{weights}: not a readable safetensors file ({e})") from None
        source = weights
        if not text:
            raise ModelLoadError(
                f"{settings}: missing; an exported network needs its .json beside the .safetensors"
            )
    try:
        header = json.loads(text)
    except json.JSONDecodeError as e:
        raise ModelLoadError(f"{source}: not valid JSON ({e})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ModelLoadError(f"{source}: not a ghosts-render network export (no format {FORMAT!r})")
    if header.get("version") != VERSION:
        raise ModelLoadError(
            f"{source}: export version {header.get('version')!r} is not supported (this "
            f"ghosts-render reads version {VERSION}); export the network again"
        )
    return header
