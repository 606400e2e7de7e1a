"""Re-picking a selfie on a copy of the demo render: candidates, contact sheet, pick, bad input."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from demo_render import archive_digest
from PIL import Image

from ghosts_render.archive.check import check_archive
from ghosts_render.config import read_recorded_config
from ghosts_render.curate import selfies as curate
from ghosts_render.curate.edit import edit_message
from ghosts_render.curate.history import undo_step
from ghosts_render.curate.selfie_network import plan_candidate_seeds, plan_fresh_seeds
from ghosts_render.curate.selfies import (
    generate_selfie_candidates,
    pick_selfie,
    read_selfie_candidates,
    stage_selfie,
)
from ghosts_render.errors import CurationError
from ghosts_render.files import sha256_file
from ghosts_render.render.selfies.stage import SelfieJob, render_selfies

DEMO_NETWORKS = Path(curate.__file__).parents[1] / "demo" / "selfies"


@pytest.fixture
def archive(demo_render: Path, tmp_path: Path) -> Path:
    """A copy of the shared demo render (which is never changed)."""
    return Path(shutil.copytree(demo_render, tmp_path / "out"))


def _conversation(archive: Path) -> dict[str, Any]:
    return json.loads((archive / "conversation.json").read_text())


def _message(archive: Path, *, selfie: bool, sender: str = "artist") -> dict[str, Any]:
    """Return the first message of ``sender`` that has (or has not) a selfie."""
    return next(
        m
        for m in _conversation(archive)["messages"]
        if m["sender"] == sender and ("selfie" in m) == selfie
    )


def _archive_seeds(archive: Path) -> set[int]:
    return {m["selfie"]["seed"] for m in _conversation(archive)["messages"] if "selfie" in m}


def _manifest(archive: Path) -> dict[str, Any]:
    return json.loads((archive / "manifest.json").read_text())


def _write_manifest(archive: Path, manifest: dict[str, Any]) -> None:
    (archive / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def test_the_same_call_gives_the_same_seeds_and_the_same_images(archive: Path) -> None:
    mid = _message(archive, selfie=True)["id"]
    first = generate_selfie_candidates(archive, mid, 4, device="cpu")
    images = [p.read_bytes() for p in first.images]
    sheet = first.sheet.read_bytes()
    again = generate_selfie_candidates(archive, mid, 4, device="cpu")
    assert again.seeds == first.seeds and len(set(first.seeds)) == 4
    assert [p.read_bytes() for p in again.images] == images
    assert again.sheet.read_bytes() == sheet
    assert len({p.read_bytes() for p in again.images}) == 4  # four different selfies
    assert read_selfie_candidates(archive, mid) == again
    assert again.sheet.parent == archive.parent / "out.curation" / "candidates"


def test_candidate_seeds_skip_every_seed_the_archive_uses() -> None:
    drawn = plan_candidate_seeds(7, "m00023", set(), 5)
    assert plan_candidate_seeds(7, "m00023", {drawn[0], drawn[2]}, 3) == [
        drawn[1],
        drawn[3],
        drawn[4],
    ]
    assert plan_candidate_seeds(7, "m00023", set(), 9)[:5] == drawn  # more keeps the first ones
    assert plan_candidate_seeds(7, "m00024", set(), 5) != drawn  # each message its own stream
    fresh = plan_fresh_seeds(7, ["m00023", "m00023b"], {drawn[0]})
    assert fresh["m00023"] == drawn[1] and fresh["m00023b"] != drawn[1]


def test_candidates_never_reuse_a_seed_of_the_archive_or_of_its_removed_media(
    archive: Path,
) -> None:
    mid = _message(archive, selfie=True)["id"]
    used = _archive_seeds(archive)
    # an earlier step took a selfie out: its seed is not offered again (undo may bring it back)
    removed = archive.parent / "out.curation" / "removed" / "1" / "media" / "selfies"
    removed.mkdir(parents=True)
    first = plan_candidate_seeds(7, mid, used, 1)[0]
    (removed / f"artist-{first}.jpg").write_bytes(b"")
    found = generate_selfie_candidates(archive, mid, 3, device="cpu")
    assert not set(found.seeds) & (used | {first})
    assert list(found.seeds) == plan_candidate_seeds(7, mid, used | {first}, 3)


def test_the_contact_sheet_is_one_image_of_the_grid(archive: Path) -> None:
    mid = _message(archive, selfie=True)["id"]
    found = generate_selfie_candidates(archive, mid, 9, device="cpu")
    with Image.open(found.sheet) as sheet:
        assert sheet.format == "JPEG"
        # 3 x 3 tiles of 256 px (the demo network's size), a 32 px label under each, 8 px gaps
        assert sheet.size == (8 + 3 * (256 + 8), 8 + 3 * (256 + 32 + 8))
        pixels = np.asarray(sheet.convert("L"), dtype=np.int16)
    band = pixels[8 + 256 : 8 + 256 + 32, 8 : 8 + 256]  # the first tile's label
    assert band.max() > 200 and band.min() < 40  # light text on the dark band
    found = generate_selfie_candidates(archive, mid, 5, device="cpu")
    with Image.open(found.sheet) as sheet:
        assert sheet.size == (8 + 3 * 264, 8 + 2 * 296)  # 5 -> 3 columns, 2 rows


def test_a_message_without_a_selfie_gets_candidates_of_its_senders_network(
    archive: Path,
) -> None:
    # the demo scientist sent no selfie: the manifest records no network for it, and its
    # configured network renders its candidates
    assert "scientist" not in _manifest(archive)["models"]["selfies"]
    mid = _message(archive, selfie=False, sender="scientist")["id"]
    found = generate_selfie_candidates(archive, mid, 2, device="cpu")
    assert found.role == "scientist"
    assert found.network["sha256"] == sha256_file(DEMO_NETWORKS / "scientist.safetensors")


def _stage_render(archive: Path, role: str, seeds: tuple[int, ...], out: Path) -> Path:
    """Render ``seeds`` the way the render's selfie stage does, into ``out``."""
    cfg = read_recorded_config(_manifest(archive)["config"], "manifest.json")
    jobs = [SelfieJob(f"m{i}", role, seed) for i, seed in enumerate(seeds)]
    render_selfies(jobs, cfg, out, "cpu", encode_workers=0)
    return out


def test_pick_installs_the_selfie_the_stage_renders_for_that_seed(
    archive: Path, tmp_path: Path
) -> None:
    message = _message(archive, selfie=True)
    mid, old = message["id"], message["selfie"]
    before = archive_digest(archive)
    found = generate_selfie_candidates(archive, mid, 4, device="cpu")
    step = pick_selfie(archive, mid, 3)
    assert step.action == "selfie" and step.ids == (mid,)
    seed = found.seeds[2]
    new = next(m for m in _conversation(archive)["messages"] if m["id"] == mid)
    jpg, webp = f"media/selfies/artist-{seed}.jpg", f"media/selfies/artist-{seed}.webp"
    assert new["selfie"] == {
        "seed": seed,
        "src": jpg,
        "webp": webp,
        "width": 256,
        "height": 256,
        "alt": "selfie of artist",
    }
    direct = _stage_render(archive, "artist", found.seeds, tmp_path / "direct")
    for rel in (jpg, webp):
        assert (archive / rel).read_bytes() == (direct / rel).read_bytes()
    # the old selfie left the archive (into the sidecar, for undo); nothing else changed
    assert not (archive / old["src"]).exists() and not (archive / old["webp"]).exists()
    removed = archive.parent / "out.curation" / "removed" / str(step.n)
    assert {sha256_file(removed / old[k]) for k in ("src", "webp")} == {
        before[old["src"]],
        before[old["webp"]],
    }
    after = archive_digest(archive)
    media = {k for k in before if k.startswith("media/")} - {old["src"], old["webp"]}
    assert {k: after[k] for k in media} == {k: before[k] for k in media}
    check_archive(archive)
    staging = archive.parent / "out.curation" / "staging"
    assert not staging.exists() or not any(staging.iterdir())  # nothing left behind


def test_picking_for_a_message_without_a_selfie_gives_it_one(archive: Path) -> None:
    message = _message(archive, selfie=False)
    mid = message["id"]
    found = generate_selfie_candidates(archive, mid, 2, device="cpu")
    pick_selfie(archive, mid, 1)
    new = next(m for m in _conversation(archive)["messages"] if m["id"] == mid)
    assert new["selfie"]["seed"] == found.seeds[0] and new["text"] == message["text"]
    assert list(new) == [k for k in new if k != "sound"] + ["sound"]  # the render's key order
    cfg = read_recorded_config(_manifest(archive)["config"], "manifest.json")
    raw = json.loads((archive.parent / "out.curation" / "raw.json").read_text())["raw"]
    assert raw[mid].endswith(" " + cfg.text.image_tag)  # the model-facing text gains the tag
    check_archive(archive)


def test_another_candidate_of_the_same_sheet_can_be_picked_after_a_pick(archive: Path) -> None:
    mid = _message(archive, selfie=True)["id"]
    found = generate_selfie_candidates(archive, mid, 3, device="cpu")
    pick_selfie(archive, mid, 1)
    pick_selfie(archive, mid, 2)
    new = next(m for m in _conversation(archive)["messages"] if m["id"] == mid)
    assert new["selfie"]["seed"] == found.seeds[1]
    assert not (archive / f"media/selfies/artist-{found.seeds[0]}.jpg").exists()
    check_archive(archive)
    edit_message(archive, mid, "another text")  # a changed text voids the candidates
    with pytest.raises(CurationError, match=f"message {mid} changed since its selfie candidates"):
        pick_selfie(archive, mid, 3)


def test_stage_selfie_stages_what_the_render_would_write(archive: Path, tmp_path: Path) -> None:
    cfg = read_recorded_config(_manifest(archive)["config"], "manifest.json")
    mid = _message(archive, selfie=False)["id"]
    before = archive_digest(archive)
    record, media = stage_selfie(archive, cfg, "artist", 123, mid, "cpu")
    assert record["seed"] == 123 and set(media) == {record["src"], record["webp"]}
    direct = _stage_render(archive, "artist", (123,), tmp_path / "direct")
    for rel, staged in media.items():
        assert staged.read_bytes() == (direct / rel).read_bytes()
        assert not staged.is_relative_to(archive)
    assert archive_digest(archive) == before  # staged beside the archive, not in it
    fresh, _ = stage_selfie(archive, cfg, "artist", None, mid, "cpu")
    assert fresh["seed"] == plan_candidate_seeds(cfg.seed, mid, _archive_seeds(archive), 1)[0]


def _unchanged(archive: Path, before: dict[str, str]) -> None:
    assert archive_digest(archive) == before


def test_an_unknown_message_is_one_line_and_writes_nothing(archive: Path) -> None:
    before = archive_digest(archive)
    with pytest.raises(CurationError, match="has no message 'm99999': ids look like m00012"):
        generate_selfie_candidates(archive, "m99999", 2, device="cpu")
    with pytest.raises(CurationError, match="has no message 'm99999'"):
        pick_selfie(archive, "m99999", 1)
    _unchanged(archive, before)
    assert not (archive.parent / "out.curation" / "candidates").exists()


@pytest.mark.parametrize("n", [0, 65])
def test_a_candidate_count_out_of_range_is_refused(archive: Path, n: int) -> None:
    with pytest.raises(CurationError, match=f"--candidates {n}: ask for 1 to 64"):
        generate_selfie_candidates(archive, "m00001", n, device="cpu")


def test_pick_without_candidates_or_out_of_range_is_refused(archive: Path) -> None:
    mid = _message(archive, selfie=True)["id"]
    before = archive_digest(archive)
    with pytest.raises(CurationError, match=f"message {mid} has no selfie candidates yet; make"):
        pick_selfie(archive, mid, 1)
    generate_selfie_candidates(archive, mid, 2, device="cpu")
    for k in (0, 3):
        with pytest.raises(
            CurationError, match=f"--pick {k}: message {mid} has selfie candidates 1 to 2"
        ):
            pick_selfie(archive, mid, k)
    _unchanged(archive, before)


def _own_network(archive: Path, tmp_path: Path) -> Path:
    """Point the archive's artist network at a copy of it in tmp_path (same file, same sha256)."""
    copy = tmp_path / "nets" / "artist.safetensors"
    copy.parent.mkdir()
    for src in DEMO_NETWORKS.glob("artist.*"):
        shutil.copy(src, copy.parent / src.name)
    manifest = _manifest(archive)
    manifest["models"]["selfies"]["artist"]["path"] = str(copy)
    _write_manifest(archive, manifest)
    return copy


def test_a_missing_or_changed_network_is_one_line(archive: Path, tmp_path: Path) -> None:
    mid = _message(archive, selfie=True)["id"]
    network = _own_network(archive, tmp_path)
    before = archive_digest(archive)
    network.rename(network.with_suffix(".moved"))
    with pytest.raises(CurationError, match=f"the selfie network of artist, {network} .* does not"):
        generate_selfie_candidates(archive, mid, 2, device="cpu")
    shutil.copy(DEMO_NETWORKS / "scientist.safetensors", network)
    with pytest.raises(CurationError, match="is not the one the archive was rendered with"):
        generate_selfie_candidates(archive, mid, 2, device="cpu")
    _unchanged(archive, before)
    assert not (archive.parent / "out.curation" / "candidates").exists()


def test_candidates_of_another_network_are_refused(archive: Path) -> None:
    mid = _message(archive, selfie=True)["id"]
    generate_selfie_candidates(archive, mid, 2, device="cpu")
    # the archive is rendered again with another artist network: its manifest records that one
    manifest = _manifest(archive)
    other = DEMO_NETWORKS / "scientist.safetensors"
    manifest["models"]["selfies"]["artist"].update(path=str(other), sha256=sha256_file(other))
    _write_manifest(archive, manifest)
    before = archive_digest(archive)
    with pytest.raises(CurationError, match="were made by another network"):
        pick_selfie(archive, mid, 1)
    _unchanged(archive, before)


def test_candidates_of_a_message_that_changed_since_are_refused(archive: Path) -> None:
    mid = _message(archive, selfie=True)["id"]
    generate_selfie_candidates(archive, mid, 2, device="cpu")
    edit_message(archive, mid, "another text")
    before = archive_digest(archive)
    with pytest.raises(CurationError, match=f"message {mid} changed since its selfie candidates"):
        pick_selfie(archive, mid, 1)
    _unchanged(archive, before)


HOLDER = """
import sys
from pathlib import Path
from ghosts_render.curate.sidecar import lock_archive
with lock_archive(Path(sys.argv[1]), "studio"):
    print("held", flush=True)
    sys.stdin.read()
"""


def test_a_pick_while_the_studio_holds_the_archive_is_refused(archive: Path) -> None:
    mid = _message(archive, selfie=True)["id"]
    generate_selfie_candidates(archive, mid, 2, device="cpu")
    before = archive_digest(archive)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(archive)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(CurationError, match=rf"is open in the studio \(pid {holder.pid}\)"):
            pick_selfie(archive, mid, 1)
        with pytest.raises(CurationError, match="is open in the studio"):
            generate_selfie_candidates(archive, mid, 2, device="cpu")
    finally:
        holder.communicate("")
    _unchanged(archive, before)
    staging = archive.parent / "out.curation" / "staging"
    assert not staging.exists() or not any(staging.iterdir())


def test_undo_of_a_pick_puts_the_old_selfie_back(archive: Path) -> None:
    mid = _message(archive, selfie=True)["id"]
    before = archive_digest(archive)
    conversation = _conversation(archive)
    found = generate_selfie_candidates(archive, mid, 2, device="cpu")
    pick_selfie(archive, mid, 2)
    assert undo_step(archive) is not None
    assert _conversation(archive) == conversation
    after = archive_digest(archive)
    assert {k: v for k, v in after.items() if k.startswith("media/")} == {
        k: v for k, v in before.items() if k.startswith("media/")
    }
    check_archive(archive)
    # the candidates still apply: the message is as they recorded it
    pick_selfie(archive, mid, 1)
    assert _message_by_id(archive, mid)["selfie"]["seed"] == found.seeds[0]


def _message_by_id(archive: Path, mid: str) -> dict[str, Any]:
    return next(m for m in _conversation(archive)["messages"] if m["id"] == mid)
