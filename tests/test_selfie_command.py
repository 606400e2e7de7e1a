"""The selfie command: classes of conditional networks, and one clear line for every bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from stylegan_pickles import DATA, generator_with
from typer.testing import CliRunner

from ghosts_render.cli import app

EXPECTED = DATA / "expected"


def _selfie(*args: str) -> tuple[int, list[str], list[str]]:
    """Run the selfie command on the CPU; return (exit code, stdout lines, stderr lines)."""
    result = CliRunner().invoke(app, ["selfie", *args, "--device", "cpu"])
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    return result.exit_code, result.stdout.splitlines(), lines


def _one_error(args: list[str], message: str) -> str:
    code, out, err = _selfie(*args)
    assert code == 1 and not out, (out, err)
    assert len(err) == 1 and err[0].startswith("ghosts-render: error: "), err
    assert message in err[0]
    return err[0]


@pytest.mark.parametrize("name", ["stylegan3-r-cond", "stylegan2-ada-cond-bare"])
def test_a_conditional_network_renders_the_chosen_class(name: str, tmp_path: Path) -> None:
    case = json.loads((EXPECTED / name / "cases.json").read_text())["cases"][-1]
    assert case["class_idx"] == 1 and case["truncation_psi"] == 0.7
    args = [str(DATA / f"{name}.pkl"), "--seeds", "0-3", "--trunc", "0.7", "--class", "1"]
    code, out, err = _selfie(*args, "--out", str(tmp_path))
    assert code == 0, err
    assert [Path(line).name for line in out] == [f"seed000{i}.png" for i in range(4)]
    for i in range(4):
        want = np.asarray(Image.open(EXPECTED / name / "psi0.7-const-class1" / f"seed000{i}.png"))
        got = np.asarray(Image.open(tmp_path / f"seed000{i}.png"))
        assert int(np.abs(got.astype(int) - want).max()) <= 1
    blank = np.asarray(Image.open(EXPECTED / name / "psi0.7-const" / "seed0000.png"))
    assert np.abs(np.asarray(Image.open(tmp_path / "seed0000.png")).astype(int) - blank).max() > 1


def test_a_conditional_network_without_a_class_is_an_error(tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = [str(DATA / "stylegan3-r-cond.pkl"), "--out", str(out)]
    _one_error(args, "--class: this network is conditional: choose one of its 3 classes, 0 to 2")
    assert not out.exists()  # nothing half-made


@pytest.mark.parametrize(
    ("network", "klass", "message"),
    [
        ("stylegan3-t", "0", "--class: this network is unconditional (it has no classes)"),
        ("stylegan3-r-cond", "3", "class 3 is out of range; this network has classes 0 to 2"),
        ("stylegan2-ada-cond-bare", "-1", "class -1 is out of range; this network has classes 0"),
    ],
)
def test_a_class_the_network_does_not_have_is_an_error(
    network: str, klass: str, message: str, tmp_path: Path
) -> None:
    args = [str(DATA / f"{network}.pkl"), "--class", klass, "--out", str(tmp_path / "out")]
    _one_error(args, message)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("seeds", "message"),
    [
        ("0-4294967295", "seeds: '0-4294967295' names over 100,000 seeds"),
        ("0-100000", "render at most 100,000 per run"),
        ("4294967296", "4294967296 is too big; every seed must be between 0 and 4294967295"),
        ("7-4294967296", "4294967296 is too big"),
        ("²", "'²' in '²' is not a seed"),
        ("1" * 5000, "is not a seed"),
    ],
)
def test_seeds_out_of_range_or_too_many_are_one_line(
    seeds: str, message: str, tmp_path: Path
) -> None:
    args = [str(DATA / "stylegan3-t.pkl"), "--seeds", seeds, "--out", str(tmp_path / "out")]
    _one_error(args, message)


def test_out_pointing_at_a_file_is_one_line_and_the_file_is_kept(tmp_path: Path) -> None:
    mine = tmp_path / "notes.txt"
    mine.write_text("my notes\n")
    for out in (mine, mine / "selfies"):
        args = [str(DATA / "stylegan3-t.pkl"), "--seeds", "0", "--out", str(out)]
        _one_error(args, f"--out: {mine} is a file, not a folder")
    assert mine.read_text() == "my notes\n"


def test_a_bad_truncation_is_one_line(tmp_path: Path) -> None:
    args = [str(DATA / "stylegan3-t.pkl"), "--trunc", "nan", "--out", str(tmp_path / "out")]
    _one_error(args, "--trunc must be a number such as 0.7 or 1.0, got nan")


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"z_dim": -5}, "its setting z_dim=-5 is not a whole number from 1 to 16384"),
        ({"img_resolution": 2**14}, "its setting img_resolution=16384 is not a whole number"),
    ],
)
def test_a_network_with_insane_settings_is_one_line(
    setting: dict, message: str, tmp_path: Path
) -> None:
    path = generator_with("stylegan3-t", tmp_path, **setting)
    error = _one_error([str(path), "--out", str(tmp_path / "out")], message)
    assert str(path) in error
