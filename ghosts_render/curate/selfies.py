"""Re-picking a selfie: candidate seeds of the sender's network, a contact sheet, and a pick.

``generate_selfie_candidates`` renders n fresh seeds of the role's network (the file the manifest
records, checked by its sha256) in the render's batches. The candidates stay beside the archive,
in the curation sidecar: their pixels as PNGs (``candidates/ID-selfies/``), one contact sheet
(``candidates/ID-selfies.jpg``) and a record of seeds, network and message
(``candidates/ID-selfies.json``). ``pick_selfie`` encodes candidate K exactly as the render
encodes a selfie and installs it through ``apply_change``; ``stage_selfie`` renders and stages
the selfie of one seed (a re-rolled text that gains the image tag). docs/curating.md.
"""

from __future__ import annotations

import dataclasses
import random
import re
import shutil
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ghosts_render.archive.folder import read_conversation, read_manifest
from ghosts_render.archive.model import Message
from ghosts_render.archive.schema import check_conversation
from ghosts_render.config import RoleConfig, RunConfig, read_recorded_config
from ghosts_render.curate.contact_sheet import format_png, render_contact_sheet
from ghosts_render.curate.edit import find_message
from ghosts_render.curate.history import Change, Step, apply_change
from ghosts_render.curate.sidecar import (
    candidates_dir,
    lock_archive,
    raw_for,
    read_raw,
    sidecar_dir,
    staging_dir,
)
from ghosts_render.errors import CurationError, GhostsError
from ghosts_render.files import read_json, sha256_file, write_atomic, write_json
from ghosts_render.render.selfies.encode import write_selfie_files
from ghosts_render.render.selfies.stage import (
    SELFIE_DIR,
    check_role_class,
    generate_selfie_batches,
    load_network_identity,
    load_role_network,
    pick_batch_size,
    plan_encode_settings,
    plan_selfie_record,
    role_class,
    selfie_paths,
)

CANDIDATES_FORMAT = "ghosts-render/selfie-candidates"
CANDIDATES_VERSION = 1
MAX_CANDIDATES = 64
SEED_RANGE = 100_000  # candidate seeds are drawn below this: short enough to read on the sheet
_SELFIE_FILE = re.compile(r"[a-z0-9_]+-(\d+)\.(?:jpg|webp)")


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


@dataclass(frozen=True, slots=True)
class _Archive:
    path: Path
    conversation: dict[str, Any]
    manifest: dict[str, Any]
    cfg: RunConfig


def candidate_paths(archive: Path, message_id: str) -> tuple[Path, Path, Path]:
    """Return (record, contact sheet, image folder) of a message's selfie candidates."""
    base = candidates_dir(archive)
    return (
        base / f"{message_id}-selfies.json",
        base / f"{message_id}-selfies.jpg",
        base / f"{message_id}-selfies",
    )


def _load_archive(archive: Path) -> _Archive:
    """Read the archive's conversation, manifest and the configuration it was rendered with."""
    conversation = read_conversation(archive)
    check_conversation(conversation, archive)  # an archive broken by hand: the check's line
    manifest = read_manifest(archive)
    if not isinstance(manifest.get("config"), Mapping):
        raise CurationError(
            f"{archive / 'manifest.json'} records no render configuration, so the archive's "
            "selfie networks are unknown; selfies can be re-picked only in an archive made by "
            "`ghosts-render` (render it again)"
        )
    cfg = read_recorded_config(manifest["config"], str(archive / "manifest.json"))
    return _Archive(archive, conversation, manifest, cfg)


def _role(a: _Archive, name: str, message_id: str) -> RoleConfig:
    for role in a.cfg.roles:
        if role.name == name:
            return role
    raise CurationError(
        f"message {message_id} is sent by {name!r}, which is not a role of the configuration "
        f"{a.path / 'manifest.json'} records, so it has no selfie network"
    )


def _recorded_network(a: _Archive, role: RoleConfig) -> Mapping[str, Any] | None:
    """Return the identity the manifest records for a role's network (None: the render used
    none, as for a role that sent no selfie)."""
    models = a.manifest.get("models")
    selfies = models.get("selfies") if isinstance(models, Mapping) else None
    identity = selfies.get(role.name) if isinstance(selfies, Mapping) else None
    return identity if isinstance(identity, Mapping) else None


def _read_role_network(a: _Archive, role: RoleConfig) -> tuple[RoleConfig, str]:
    """Return the role (its network path from the manifest) and the network file's sha256.

    A role whose network the render never used (it sent no selfie) has only its configured path;
    any other network must be the very file the manifest records.
    """
    recorded = _recorded_network(a, role)
    path = Path(str(recorded.get("path", role.selfies)) if recorded else role.selfies)
    where = a.path / "manifest.json"
    if not path.is_file():
        raise CurationError(
            f"the selfie network of {role.name}, {path} (recorded in {where}), does not exist; "
            "put the network the archive was rendered with back at that path"
        )
    sha = sha256_file(path)
    if recorded and recorded.get("sha256") != sha:
        raise CurationError(
            f"the selfie network of {role.name}, {path}, is not the one the archive was rendered "
            f"with (sha256 {sha[:12]}…, {where} records {str(recorded.get('sha256'))[:12]}…); "
            "put the original network back at that path"
        )
    return dataclasses.replace(role, selfies=str(path)), sha


def list_used_seeds(archive: Path, conversation: Mapping[str, Any]) -> set[int]:
    """Return every seed a selfie of the archive uses, or one a curation step took out of it."""
    used = {
        m["selfie"]["seed"]
        for m in conversation.get("messages", [])
        if isinstance(m.get("selfie"), Mapping) and isinstance(m["selfie"].get("seed"), int)
    }
    for path in (sidecar_dir(archive) / "removed").glob(f"*/{SELFIE_DIR}/*"):
        match = _SELFIE_FILE.fullmatch(path.name)
        if match:
            used.add(int(match.group(1)))
    return used


def plan_candidate_seeds(render_seed: int, message_id: str, used: Set[int], n: int) -> list[int]:
    """Return n distinct seeds from the message's own stream, skipping the ``used`` ones.

    The stream is keyed by the render's seed and the message id, so the same archive state gives
    the same seeds, and asking for more candidates keeps the first ones.
    """
    rng = random.Random(f"ghosts-render/selfie-candidates/{render_seed}/{message_id}")
    seeds: list[int] = []
    while len(seeds) < n:
        seed = rng.randrange(SEED_RANGE)
        if seed not in used and seed not in seeds:
            seeds.append(seed)
    return seeds


def plan_fresh_seeds(
    render_seed: int, message_ids: Sequence[str], used: Set[int]
) -> dict[str, int]:
    """Return a fresh seed per message (its stream's first unused one), distinct across them:
    the seeds of the new selfies of a change that gives several messages one."""
    taken = set(used)
    seeds = {}
    for message_id in message_ids:
        seeds[message_id] = plan_candidate_seeds(render_seed, message_id, taken, 1)[0]
        taken.add(seeds[message_id])
    return seeds


def render_role_selfies(
    cfg: RunConfig, role: RoleConfig, sha256: str, seeds: Sequence[int], device: str
) -> tuple[list[np.ndarray], dict[str, Any]]:
    """Render a role's selfies of ``seeds`` in the render's batches; return them and the identity.

    ``role.selfies`` is the checked network file and ``sha256`` its hash.
    """
    G = load_role_network(role, device)
    check_role_class(role, int(G.c_dim))
    s = cfg.selfies
    batch = pick_batch_size(s.batch_size, device, int(G.img_resolution))
    images: list[np.ndarray] = []
    for _, chunk in generate_selfie_batches(
        G, seeds, s.truncation_psi, s.noise_mode, device, batch, role_class(role)
    ):
        images.extend(chunk)
    return images, load_network_identity(Path(role.selfies), G, sha256)


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
    a = _load_archive(archive)
    message = find_message(archive, message_id)
    role, sha = _read_role_network(a, _role(a, message["sender"], message_id))
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

    a = _load_archive(archive)
    checked, sha = _read_role_network(a, _role(a, role, message_id))
    if seed is None:
        used = list_used_seeds(archive, a.conversation)
        seed = plan_fresh_seeds(cfg.seed, [message_id], used)[message_id]
    (pixels,), _ = render_role_selfies(cfg, checked, sha, [seed], resolve_device(device))
    return _stage_pixels(archive, cfg, checked, seed, pixels, message_id)


def _check_candidates(a: _Archive, found: SelfieCandidates, message: Mapping[str, Any]) -> None:
    """Refuse candidates made by another network than the archive's, or for another message."""
    role = _role(a, found.role, found.message_id)
    recorded = _recorded_network(a, role)
    if recorded is not None:
        sha = recorded.get("sha256")
    else:
        _, sha = _read_role_network(a, role)
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
    a = _load_archive(archive)
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
    pixels, role = _read_candidate(found, k), _role(a, found.role, message_id)
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
    archive: Path, a: _Archive, before: Mapping[str, Any], after: Mapping[str, Any]
) -> dict[str, str]:
    """Return the message's new raw piece when it gains a selfie (the image tag), else nothing."""
    if "selfie" in before:
        return {}
    fingerprint = a.manifest.get("fingerprint")
    recorded = read_raw(archive, fingerprint if isinstance(fingerprint, str) else None)
    return {after["id"]: raw_for(after, recorded.get(after["id"]), a.cfg)}
