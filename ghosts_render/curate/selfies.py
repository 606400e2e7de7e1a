"""Re-picking a selfie: candidate seeds of the sender's network, a contact sheet, and a pick.

``generate_selfie_candidates`` renders n fresh seeds of the role's network (the file the manifest
records, checked by its sha256: selfie_network.py) in the render's batches. The candidates stay
beside the archive, in the curation sidecar: their pixels as PNGs (``candidates/ID-selfies/``),
one contact sheet (``candidates/ID-selfies.jpg``) and a record of seeds, network and message
(``candidates/ID-selfies.json``). ``pick_selfie`` encodes candidate K exactly as the render
encodes a selfie and installs it through ``apply_change``; ``stage_selfie`` renders and stages
the selfie of one seed (a re-rolled text that gains the image tag). docs/curating.md.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ghosts_render.archive.model import Message
from ghosts_render.config import RoleConfig, RunConfig
from ghosts_render.curate.contact_sheet import format_png, render_contact_sheet
from ghosts_render.curate.edit import find_message
from ghosts_render.curate.history import Change, Step, apply_change
from ghosts_render.curate.selfie_network import (
    SelfieArchive,
    find_role,
    list_used_seeds,
    load_selfie_archive,
    plan_candidate_seeds,
    plan_fresh_seeds,
    read_role_network,
    recorded_network,
    render_role_selfies,
)
from ghosts_render.curate.sidecar import (
    candidates_dir,
    lock_archive,
    raw_for,
    read_raw,
    staging_dir,
)
from ghosts_render.errors import CurationError, GhostsError
from ghosts_render.files import read_json, write_atomic, write_json
from ghosts_render.render.selfies.encode import write_selfie_files
from ghosts_render.render.selfies.stage import (
    plan_encode_settings,
    plan_selfie_record,
    selfie_paths,
)

CANDIDATES_FORMAT = "ghosts-render/selfie-candidates"
CANDIDATES_VERSION = 1
MAX_CANDIDATES = 64


@dataclass(frozen=True, slots=True)
class SelfieCandidates:
    """A message's selfie candidates, as candidates/ID-selfies.json records them."""

    message_id: str
    role: str  # the sender, whose network rendered them
    seeds: tuple[int, ...]  # candidate k (1-based) is seeds[k - 1]
    network: Mapping[str, Any]  # the network's identity: path, sha256, kind, resolution, demo
    message: Mapping[str, Any]  # the message's record when the candidates were made
    sheet: Path  # the contact sheet (JPEG)
    images: tuple[Path, ...]  # candidate k's pixels (PNG) is images[k - 1]


def candidate_paths(archive: Path, message_id: str) -> tuple[Path, Path, Path]:
    """Return (record, contact sheet, image folder) of a message's selfie candidates."""
    base = candidates_dir(archive)
    return (
        base / f"{message_id}-selfies.json",
        base / f"{message_id}-selfies.jpg",
        base / f"{message_id}-selfies",
    )


def _write_candidates(
    archive: Path,
    message: Mapping[str, Any],
    role: str,
    network: Mapping[str, Any],
    seeds: Sequence[int],
    images: Sequence[np.ndarray],
) -> SelfieCandidates:
    """Replace the message's candidates: images, then the sheet, then the record (written last,
    so a set whose record exists is complete)."""
    record, sheet, folder = candidate_paths(archive, message["id"])
    names = [f"{k}-{role}-{seed}.png" for k, seed in enumerate(seeds, 1)]
    tmp = folder.with_name(f".{folder.name}.tmp")
    try:
        record.unlink(missing_ok=True)  # the old set is void from here on
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for name, pixels in zip(names, images, strict=True):
            (tmp / name).write_bytes(format_png(pixels))
        shutil.rmtree(folder, ignore_errors=True)
        tmp.rename(folder)
        write_atomic(sheet, render_contact_sheet(images, seeds))
        data = {
            "format": CANDIDATES_FORMAT,
            "version": CANDIDATES_VERSION,
            "message_id": message["id"],
            "role": role,
            "seeds": list(seeds),
            "images": [f"{folder.name}/{name}" for name in names],
            "network": dict(network),
            "message": dict(message),
        }
        write_json(record, data)
    except OSError as e:
        raise CurationError(
            f"cannot write the selfie candidates into {record.parent}: {e.strerror or e}; check "
            "that the folder beside the archive is writable and the disk has free space"
        ) from None
    return read_selfie_candidates(archive, message["id"])


def generate_selfie_candidates(
    archive: Path, message_id: str, n: int = 9, *, device: str = "auto"
) -> SelfieCandidates:
    """Render n fresh candidate selfies for a message from its sender's network; keep them.

    A message without a selfie may get candidates too: picking one gives it a selfie.
    """
    from ghosts_render.render.pipeline import resolve_device

    if not 1 <= n <= MAX_CANDIDATES:
        raise CurationError(
            f"--candidates {n}: ask for 1 to {MAX_CANDIDATES} selfie candidates (9 fill a sheet "
            "of 3 by 3)"
        )
    a = load_selfie_archive(archive)
    message = find_message(archive, message_id)
    role, sha = read_role_network(a, find_role(a, message["sender"], message_id))
    seeds = plan_candidate_seeds(
        a.cfg.seed, message_id, list_used_seeds(archive, a.conversation), n
    )
    device = resolve_device(device)
    with lock_archive(archive, "reroll"):  # one writer of the candidates at a time
        images, network = render_role_selfies(a.cfg, role, sha, seeds, device)
        return _write_candidates(archive, message, role.name, network, seeds, images)


def read_selfie_candidates(archive: Path, message_id: str) -> SelfieCandidates:
    """Read a message's selfie candidates; CurationError when it has none (or they are damaged)."""
    record, sheet, folder = candidate_paths(archive, message_id)
    make = f"make them with `ghosts-render reroll {archive} {message_id} --selfie`"
    if not record.is_file():
        raise CurationError(f"message {message_id} has no selfie candidates yet; {make}")
    try:
        data = read_json(record, "selfie candidate list", fix=make)
        seeds = tuple(int(s) for s in data["seeds"])
        images = tuple(record.parent / str(p) for p in data["images"])
        found = SelfieCandidates(
            message_id=str(data["message_id"]),
            role=str(data["role"]),
            seeds=seeds,
            network=dict(data["network"]),
            message=dict(data["message"]),
            sheet=sheet,
            images=images,
        )
    except (KeyError, TypeError, ValueError) as e:
        raise CurationError(f"{record} is damaged ({type(e).__name__}: {e}); {make}") from None
    except GhostsError as e:
        raise CurationError(str(e)) from None
    if found.message_id != message_id or len(seeds) != len(images) or not seeds:
        raise CurationError(f"{record} does not describe message {message_id}'s candidates; {make}")
    return found


def _stage_pixels(
    archive: Path, cfg: RunConfig, role: RoleConfig, seed: int, pixels: np.ndarray, message_id: str
) -> tuple[dict[str, Any], dict[str, Path]]:
    """Encode a selfie as the render does into the sidecar's staging; return (record, media)."""
    staging = staging_dir(archive) / message_id
    media = {rel: staging / rel for rel in selfie_paths(role.name, seed)}
    jpg, webp = media.values()
    try:
        jpg.parent.mkdir(parents=True, exist_ok=True)
        size = write_selfie_files(pixels, str(jpg), str(webp), plan_encode_settings(cfg))
    except OSError as e:
        raise CurationError(
            f"cannot stage the new selfie in {staging}: {e.strerror or e}; check that the "
            "folder beside the archive is writable and the disk has free space"
        ) from None
    return plan_selfie_record(role, seed, size).to_json(), media


def stage_selfie(
    archive: Path, cfg: RunConfig, role: str, seed: int | None, message_id: str, device: str
) -> tuple[dict[str, Any], dict[str, Path]]:
    """Render the ``role``'s selfie of ``seed`` and stage it for message ``message_id``.

    ``seed`` None takes the message's first fresh seed (``plan_fresh_seeds``). Returns the Selfie
    record (as conversation.json holds it) and {archive path: staged file}, what a ``Change``
    takes. The network is the one the archive records (checked by sha256).
    """
    from ghosts_render.render.pipeline import resolve_device

    a = load_selfie_archive(archive)
    checked, sha = read_role_network(a, find_role(a, role, message_id))
    if seed is None:
        used = list_used_seeds(archive, a.conversation)
        seed = plan_fresh_seeds(cfg.seed, [message_id], used)[message_id]
    (pixels,), _ = render_role_selfies(cfg, checked, sha, [seed], resolve_device(device))
    return _stage_pixels(archive, cfg, checked, seed, pixels, message_id)


def _check_candidates(
    a: SelfieArchive, found: SelfieCandidates, message: Mapping[str, Any]
) -> None:
    """Refuse candidates made by another network than the archive's, or for another message."""
    role = find_role(a, found.role, found.message_id)
    recorded = recorded_network(a, role)
    if recorded is not None:
        sha = recorded.get("sha256")
    else:
        _, sha = read_role_network(a, role)
    again = f"make new ones with `ghosts-render reroll {a.path} {found.message_id} --selfie`"
    if found.network.get("sha256") != sha or found.role != message["sender"]:
        raise CurationError(
            f"the selfie candidates of message {found.message_id} were made by another network "
            f"({found.network.get('path')}) than the archive's {found.role} network; {again}"
        )
    current = message.get("selfie")
    # a selfie picked from these very candidates may be swapped for another of them
    picked_here = isinstance(current, Mapping) and current.get("seed") in found.seeds
    content = ("sender", "text", "run", "new_run") + (() if picked_here else ("selfie",))
    if any(message.get(k) != found.message.get(k) for k in content):
        raise CurationError(
            f"message {found.message_id} changed since its selfie candidates were made; {again}"
        )


def _read_candidate(found: SelfieCandidates, k: int) -> np.ndarray:
    path = found.images[k - 1]
    try:
        with Image.open(path) as im:
            return np.asarray(im)
    except (OSError, ValueError) as e:
        raise CurationError(
            f"candidate {k} of message {found.message_id}, {path}, cannot be read ({e}); make "
            "new candidates"
        ) from None


def pick_selfie(archive: Path, message_id: str, k: int) -> Step:
    """Install selfie candidate ``k`` (1-based, as the sheet numbers them) as the message's."""
    a = load_selfie_archive(archive)
    message = find_message(archive, message_id)
    found = read_selfie_candidates(archive, message_id)
    n = len(found.seeds)
    if not 1 <= k <= n:
        raise CurationError(
            f"--pick {k}: message {message_id} has selfie candidates 1 to {n}; pick one of them"
        )
    _check_candidates(a, found, message)
    seed = found.seeds[k - 1]
    current = message.get("selfie")
    if isinstance(current, Mapping) and current.get("seed") == seed:
        raise CurationError(f"candidate {k} (seed {seed}) is already message {message_id}'s selfie")
    pixels, role = _read_candidate(found, k), find_role(a, found.role, message_id)
    with lock_archive(archive, "selfie"):
        selfie, media = _stage_pixels(archive, a.cfg, role, seed, pixels, message_id)
        after = Message.from_json({**message, "selfie": selfie}).to_json()  # the render's order
        change = Change(
            action="selfie",
            before=(message,),
            after=(after,),
            media=media,
            raw=_raw_change(archive, a, message, after),
            note=f"picked selfie candidate {k} of {n} (seed {seed})",
        )
        try:
            return apply_change(archive, change)
        finally:  # moved into the archive, or left over from a refused change
            _clear_staged(archive, media.values())


def _clear_staged(archive: Path, staged: Iterable[Path]) -> None:
    """Remove staged files a step did not move in, and the folders that leaves empty."""
    top = staging_dir(archive)
    for path in staged:
        path.unlink(missing_ok=True)
        folder = path.parent
        while folder.is_relative_to(top) and folder != top and folder.is_dir():
            if any(folder.iterdir()):
                break
            folder.rmdir()
            folder = folder.parent


def _raw_change(
    archive: Path, a: SelfieArchive, before: Mapping[str, Any], after: Mapping[str, Any]
) -> dict[str, str]:
    """Return the message's new raw piece when it gains a selfie (the image tag), else nothing."""
    if "selfie" in before:
        return {}
    fingerprint = a.manifest.get("fingerprint")
    recorded = read_raw(archive, fingerprint if isinstance(fingerprint, str) else None)
    return {after["id"]: raw_for(after, recorded.get(after["id"]), a.cfg)}
