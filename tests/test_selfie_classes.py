"""Conditional networks in a render: a role's class is required, checked before any work, used."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ghosts_render.config import RoleConfig, RunConfig, SelfieConfig, load_config
from ghosts_render.errors import ConfigError
from ghosts_render.render import pipeline
from ghosts_render.render.selfies import stage as selfie_stage
from ghosts_render.render.selfies.encode import EncodeSettings, generate_encoded
from ghosts_render.render.selfies.stage import SelfieJob, check_role_class, render_selfies

DATA = Path(__file__).parent / "data" / "stylegan"
COND = DATA / "stylegan3-r-cond.pkl"  # 3 classes


def _cfg(network: Path, selfie_class: int = -1, psi: float = 1.0) -> RunConfig:
    roles = (RoleConfig("artist", selfies=str(network), selfie_class=selfie_class),)
    return RunConfig(roles=roles, selfies=SelfieConfig(truncation_psi=psi))


@pytest.mark.parametrize("full_load_bytes", [64 << 20, 0])  # built in full, or only read
@pytest.mark.parametrize(
    ("network", "selfie_class", "message"),
    [
        (COND, -1, f"roles.artist.selfie_class: the network {COND} is conditional: choose one"),
        (COND, 3, "roles.artist.selfie_class: class 3 is out of range; the network"),
        (DATA / "stylegan3-t.pkl", 0, "is unconditional (it has no classes); leave it out"),
    ],
)
def test_a_role_class_that_does_not_fit_its_network_stops_the_render_before_any_work(
    network: Path,
    selfie_class: int,
    message: str,
    full_load_bytes: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(selfie_stage, "PREFLIGHT_FULL_LOAD_BYTES", full_load_bytes)
    with pytest.raises(ConfigError) as err:
        pipeline.run(_cfg(network, selfie_class), tmp_path / "out")
    assert message in str(err.value) and "\n" not in str(err.value)
    assert list(tmp_path.iterdir()) == []  # before the text stage: nothing written


def test_a_class_that_fits_passes_the_check() -> None:
    role = RoleConfig("artist", selfies=str(COND), selfie_class=2)
    check_role_class(role, 3)
    check_role_class(RoleConfig("artist", selfies=str(COND)), 0)
    with pytest.raises(ConfigError, match="class 2 is out of range; the network .* classes 0 to 1"):
        check_role_class(role, 2)


def test_the_stage_refuses_a_conditional_network_without_a_class(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is conditional: choose one of its 3 classes, 0 to 2"):
        render_selfies([SelfieJob("m1", "artist", 0)], _cfg(COND), tmp_path, "cpu")


def _decoded_jpeg(pixels: np.ndarray) -> np.ndarray:
    jpeg, _ = generate_encoded(pixels, EncodeSettings())
    with Image.open(io.BytesIO(jpeg)) as im:
        return np.asarray(im.convert("RGB"), float)


def test_a_role_class_renders_what_gen_images_renders_with_that_class(tmp_path: Path) -> None:
    jobs = [SelfieJob("m1", "artist", 0), SelfieJob("m2", "artist", 1)]
    result = render_selfies(jobs, _cfg(COND, 1, psi=0.7), tmp_path, "cpu")
    expected = DATA / "expected" / "stylegan3-r-cond"
    for job in jobs:
        with Image.open(tmp_path / result.by_message[job.message_id].src) as im:
            ours = np.asarray(im.convert("RGB"), float)
        name = f"seed000{job.seed}.png"
        right = _decoded_jpeg(np.asarray(Image.open(expected / "psi0.7-const-class1" / name)))
        blank = _decoded_jpeg(np.asarray(Image.open(expected / "psi0.7-const" / name)))
        assert np.abs(ours - right).mean() < 0.25 * np.abs(ours - blank).mean()


def test_the_config_reads_a_role_class(tmp_path: Path) -> None:
    path = tmp_path / "ghosts.toml"
    both = f'[roles.scientist]\n[roles.artist]\nselfies = "{COND}"\n'
    path.write_text(both + "selfie_class = 2\n")
    assert [r.selfie_class for r in load_config(path).roles] == [-1, 2]
    path.write_text(both + "selfie_class = -2\n")
    with pytest.raises(ConfigError, match=r"roles\.artist\.selfie_class: must be a class index"):
        load_config(path)
