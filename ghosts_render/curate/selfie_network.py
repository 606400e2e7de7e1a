"""Where a selfie's pixels come from in curation: the sender's own network, and fresh seeds.

``load_selfie_archive`` reads what the archive records of its render (conversation, manifest and
configuration); ``read_role_network`` finds a role's network at the path the manifest records and
refuses any file whose sha256 differs from the one the archive was rendered with.
``list_used_seeds`` gathers every seed the archive's selfies use or a curation step took out, and
``plan_candidate_seeds`` / ``plan_fresh_seeds`` draw unused ones from each message's own stream,
keyed by the render's seed and the message id. ``render_role_selfies`` renders a role's selfies of
given seeds in the render's batches. selfies.py builds candidates, picks and staged selfies on it.
"""

from __future__ import annotations

import dataclasses
import random
import re
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ghosts_render.archive.folder import read_conversation, read_manifest
from ghosts_render.archive.schema import check_conversation
from ghosts_render.config import RoleConfig, RunConfig, read_recorded_config
from ghosts_render.curate.sidecar import sidecar_dir
from ghosts_render.errors import CurationError
from ghosts_render.files import sha256_file
from ghosts_render.render.selfies.stage import (
    SELFIE_DIR,
    check_role_class,
    generate_selfie_batches,
    load_network_identity,
    load_role_network,
    pick_batch_size,
    role_class,
)

SEED_RANGE = 100_000  # candidate seeds are drawn below this: short enough to read on the sheet
_SELFIE_FILE = re.compile(r"[a-z0-9_]+-(\d+)\.(?:jpg|webp)")


@dataclass(frozen=True, slots=True)
class SelfieArchive:
    """What an archive records of its render: conversation, manifest and configuration."""

    path: Path
    conversation: dict[str, Any]
    manifest: dict[str, Any]
    cfg: RunConfig


def load_selfie_archive(archive: Path) -> SelfieArchive:
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
    return SelfieArchive(archive, conversation, manifest, cfg)


def find_role(a: SelfieArchive, name: str, message_id: str) -> RoleConfig:
    """Return the recorded configuration's role ``name`` (the sender of ``message_id``)."""
    for role in a.cfg.roles:
        if role.name == name:
            return role
    raise CurationError(
        f"message {message_id} is sent by {name!r}, which is not a role of the configuration "
        f"{a.path / 'manifest.json'} records, so it has no selfie network"
    )


def recorded_network(a: SelfieArchive, role: RoleConfig) -> Mapping[str, Any] | None:
    """Return the identity the manifest records for a role's network (None: the render used
    none, as for a role that sent no selfie)."""
    models = a.manifest.get("models")
    selfies = models.get("selfies") if isinstance(models, Mapping) else None
    identity = selfies.get(role.name) if isinstance(selfies, Mapping) else None
    return identity if isinstance(identity, Mapping) else None


def read_role_network(a: SelfieArchive, role: RoleConfig) -> tuple[RoleConfig, str]:
    """Return the role (its network path from the manifest) and the network file's sha256.

    A role whose network the render never used (it sent no selfie) has only its configured path;
    any other network must be the very file the manifest records.
    """
    recorded = recorded_network(a, role)
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
