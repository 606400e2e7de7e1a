"""A render's fingerprint: a hash of everything that decides the archive's content.

The resolved configuration (less the device and the config file's path), the tool version, the
text model's identity and the files behind the config's paths. A render whose fingerprint matches
the finished archive's has nothing to do; one whose fingerprint differs from an unfinished work
folder's starts that work over (keeping the text when the text settings are the same).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from ghosts_render import __version__
from ghosts_render.config import RunConfig
from ghosts_render.files import dump_json, sha256_file

__all__ = ["hash_inputs", "hash_render"]


def hash_render(cfg: RunConfig, text_identity: dict[str, Any]) -> str:
    """Return a hash of everything that decides the archive's content (not the device, nor how
    many voice clips are rendered at once: each is the same bytes on any number of threads)."""
    config = cfg.to_dict()
    config.pop("device")
    config.pop("config_path")
    if isinstance(config.get("voices"), dict):
        config["voices"].pop("threads", None)
    payload = dump_json(
        {
            "tool": __version__,
            "config": config,
            "text": text_identity,
            "inputs": hash_inputs(cfg),
        },
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def hash_inputs(cfg: RunConfig) -> dict[str, str]:
    """Hash the files behind the config's paths (networks, sound folders, about, fonts, the
    blocklist, voices and their .onnx.json).

    A network, sound or blocklist replaced at the same path makes a new render, never a stale
    "done".
    """
    paths: list[Path] = []
    for role in cfg.roles:
        network = Path(role.selfies)
        paths += (
            [network, network.with_suffix(".json")]
            if network.suffix == ".safetensors"
            else [network]
        )
        if role.sounds:
            paths.append(Path(role.sounds))
    if cfg.sounds.mode != "procedural":
        paths.append(Path(cfg.sounds.folder))
    if cfg.player.about:
        paths.append(Path(cfg.player.about))
    paths += [Path(f) for f in cfg.player.fonts]
    if cfg.text.blocklist:
        paths.append(Path(cfg.text.blocklist))
    if cfg.voices.enabled:  # a voice replaced at the same path is a new render
        for voice in dict.fromkeys(Path(r.voice.model) for r in cfg.roles if r.voice.model):
            paths += [voice, voice.with_name(voice.name + ".json")]
    hashes = {}
    for path in paths:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        hashes[str(path)] = hashlib.sha256(
            "".join(f"{f.name}:{sha256_file(f)};" for f in files if f.is_file()).encode()
        ).hexdigest()
    return hashes
