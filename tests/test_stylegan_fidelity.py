"""Our generators render what NVIDIA's gen_images.py rendered for tests/data/stylegan."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ghosts_render.errors import ConfigError, ModelLoadError
from ghosts_render.render.selfies.stylegan import (
    generate_images,
    load_network,
    load_weights,
    parse_seeds,
    seed_latents,
    write_seed_images,
)

DATA = Path(__file__).parent / "data" / "stylegan"
NAMES = sorted(p.stem for p in DATA.glob("*.pkl"))
CASES = [
    (name, case)
    for name in NAMES
    for case in json.loads((DATA / "expected" / name / "cases.json").read_text())["cases"]
]
FLOAT_TOLERANCE = 1e-3


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    """Tiny networks gain nothing from threads; one thread keeps a busy machine responsive."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@functools.cache
def _network(name: str) -> torch.nn.Module:
    return load_network(DATA / f"{name}.pkl", "cpu")


def _expected(name: str, tag: str) -> tuple[list[int], np.ndarray, np.ndarray]:
    folder = DATA / "expected" / name
    seeds = json.loads((folder / "cases.json").read_text())["seeds"]
    images = np.stack([np.array(Image.open(folder / tag / f"seed{s:04d}.png")) for s in seeds])
    return seeds, np.load(folder / f"{tag}.npy"), images


def test_every_kind_has_fixtures() -> None:
    kinds = {_network(name).kind for name in NAMES}
    assert kinds == {"stylegan3-t", "stylegan3-r", "stylegan2"}


@pytest.mark.parametrize(("name", "case"), CASES, ids=[f"{n}-{c['tag']}" for n, c in CASES])
def test_float_output_matches_the_official_code(name: str, case: dict) -> None:
    G = _network(name)
    seeds, expected, _ = _expected(name, case["tag"])
    z = torch.from_numpy(seed_latents(seeds, G.z_dim))
    c = torch.zeros([len(seeds), G.c_dim])
    if case["class_idx"] is not None:
        c[:, case["class_idx"]] = 1
    with torch.no_grad():
        got = G(z, c, truncation_psi=case["truncation_psi"], noise_mode=case["noise_mode"])
    assert got.dtype == torch.float32 and got.shape == expected.shape
    assert float(np.abs(got.numpy() - expected).max()) <= FLOAT_TOLERANCE
    assert float(np.abs(expected).max()) > 0.5  # the fixture is not trivially flat


@pytest.mark.parametrize(("name", "case"), CASES, ids=[f"{n}-{c['tag']}" for n, c in CASES])
def test_uint8_images_match_gen_images_within_one_level(name: str, case: dict) -> None:
    seeds, _, expected = _expected(name, case["tag"])
    got = generate_images(
        _network(name),
        seeds,
        case["truncation_psi"],
        case["noise_mode"],
        "cpu",
        class_idx=case["class_idx"],
    )
    assert got.dtype == np.uint8 and got.shape == expected.shape
    assert int(np.abs(got.astype(int) - expected).max()) <= 1
    assert len(np.unique(expected)) > 50  # many distinct levels: a real comparison


@pytest.mark.parametrize("name", ["stylegan2-ada", "stylegan3-t", "stylegan3-r-cond"])
def test_a_batch_renders_single_seeds_within_one_level_and_itself_exactly(name: str) -> None:
    # A batch of another shape sums its convolutions in another order, so a seed's floats move by
    # about 1e-6 with its batch mates and a value on a rounding edge lands one level away (2 of
    # 15 360 for stylegan3-t here; which network and how many depends on the CPU and threads).
    # Renders are exact because a selfie is always computed in the same batch, resumes included.
    G = _network(name)
    seeds = [5, 0, 12, 5, 7]
    batched = generate_images(G, seeds, 0.7, "const", "cpu", batch_size=3)
    singles = np.concatenate([generate_images(G, [s], 0.7, "const", "cpu", 1) for s in seeds])
    levels = np.abs(batched.astype(int) - singles)
    assert int(levels.max()) <= 1
    assert np.count_nonzero(levels) <= levels.size // 1000
    again = generate_images(G, seeds, 0.7, "const", "cpu", batch_size=3)
    np.testing.assert_array_equal(again, batched)
    assert not np.array_equal(batched[0], batched[1])


def test_generate_images_resets_the_stylegan3_input_transform() -> None:
    G = load_network(DATA / "stylegan3-t.pkl", "cpu")
    seeds, _, expected = _expected("stylegan3-t", "psi1.0-const")
    with torch.no_grad():
        G.synthesis.input.transform.copy_(torch.tensor([[1.0, 0, 0.3], [0, 1, 0], [0, 0, 1]]))
    got = generate_images(G, seeds, 1.0, "const", "cpu")
    assert int(np.abs(got.astype(int) - expected).max()) <= 1


def test_no_seeds_gives_no_images() -> None:
    G = _network("stylegan2-ada-orig-bare")
    assert generate_images(G, [], 1.0, "const", "cpu").shape == (0, 8, 8, 3)


def test_random_noise_differs_from_const_noise() -> None:
    G = _network("stylegan2-ada")
    const = generate_images(G, [0], 1.0, "const", "cpu")
    random = generate_images(G, [0], 1.0, "random", "cpu")
    assert not np.array_equal(const, random)
    with pytest.raises(ValueError, match="noise_mode"):
        generate_images(G, [0], 1.0, "loud", "cpu")


def test_write_seed_images_names_and_quantises_as_gen_images(tmp_path: Path) -> None:
    _, _, expected = _expected("stylegan2-ada", "psi0.7-const")
    paths = write_seed_images(DATA / "stylegan2-ada.pkl", [0, 1, 2, 3], 0.7, "const", tmp_path)
    assert [p.name for p in paths] == [
        "seed0000.png",
        "seed0001.png",
        "seed0002.png",
        "seed0003.png",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == [p.name for p in paths]
    for path, want in zip(paths, expected, strict=True):
        with Image.open(path) as im:
            assert im.mode == "RGB" and im.format == "PNG"
            assert int(np.abs(np.asarray(im).astype(int) - want).max()) <= 1


def test_the_selfie_command_writes_seed_pngs(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from ghosts_render.cli import app

    net = DATA / "stylegan3-t.pkl"
    args = ["selfie", str(net), "--seeds", "0-1,3", "--trunc", "0.7", "--out", str(tmp_path)]
    result = CliRunner().invoke(app, [*args, "--noise-mode", "const", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "seed0000.png",
        "seed0001.png",
        "seed0003.png",
    ]
    _, _, expected = _expected("stylegan3-t", "psi0.7-const")
    with Image.open(tmp_path / "seed0003.png") as im:
        assert int(np.abs(np.asarray(im).astype(int) - expected[3]).max()) <= 1


@pytest.mark.parametrize(
    ("text", "seeds"),
    [
        ("0-3", [0, 1, 2, 3]),
        ("1,5,7-9", [1, 5, 7, 8, 9]),
        ("42", [42]),
        ("3-3", [3]),
        (" 2 , 4-5 ", [2, 4, 5]),
        ("9,1,9", [9, 1, 9]),
    ],
)
def test_parse_seeds_as_gen_images(text: str, seeds: list[int]) -> None:
    assert parse_seeds(text) == seeds


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is not a seed"),
        ("a-b", "is not a seed"),
        ("-1", "is not a seed"),
        ("1,,2", "is not a seed"),
        ("5-3", "runs backwards; write 3-5"),
        ("4294967296", "between 0 and 4294967295"),
    ],
)
def test_parse_seeds_rejects_bad_text(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_seeds(text)


def test_weights_load_strictly(tmp_path: Path) -> None:
    G = _network("stylegan2-ada-orig-bare")
    state = {k: v.clone() for k, v in G.state_dict().items()}
    fresh = load_network(DATA / "stylegan2-ada-orig-bare.pkl", "cpu")
    missing = {k: v for k, v in state.items() if k != "synthesis.b8.conv1.weight"}
    with pytest.raises(ModelLoadError, match=r"missing: synthesis\.b8\.conv1\.weight"):
        load_weights(fresh, missing, tmp_path / "x.pkl")
    with pytest.raises(ModelLoadError, match=r"unexpected: synthesis\.b8\.extra"):
        load_weights(fresh, {**state, "synthesis.b8.extra": torch.zeros(1)}, tmp_path / "x.pkl")
    bad = {**state, "mapping.w_avg": torch.zeros(3)}
    with pytest.raises(ModelLoadError, match=r"wrong shape: mapping\.w_avg"):
        load_weights(fresh, bad, tmp_path / "x.pkl")


def test_loaded_networks_are_frozen_and_in_eval_mode() -> None:
    G = load_network(DATA / "stylegan2-sg3repo.pkl", "cpu")
    assert not G.training and not any(p.requires_grad for p in G.parameters())
    assert G.init_kwargs["fused_modconv_default"] == "inference_only"
    json.dumps(G.init_kwargs)
