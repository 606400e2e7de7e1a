"""Exported networks (safetensors + JSON) load back to the same generator, with no pickle."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from ghosts_render.errors import ModelLoadError
from ghosts_render.render.selfies.stylegan import generate_images, load_network
from ghosts_render.render.selfies.stylegan.export import (
    FORMAT,
    export_paths,
    load_exported,
    write_exported,
)

DATA = Path(__file__).parent / "data" / "stylegan"


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize(
    "name", ["stylegan3-t", "stylegan3-r-cond", "stylegan2-ada-cond-bare", "stylegan2-sg3repo"]
)
def test_round_trip_keeps_kind_settings_weights_and_images(name: str, tmp_path: Path) -> None:
    G = load_network(DATA / f"{name}.pkl", "cpu")
    write_exported(G, tmp_path / "net")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.json", "net.safetensors"]
    header = json.loads((tmp_path / "net.json").read_text())
    assert header["format"] == FORMAT and header["version"] == 1
    assert header["kind"] == G.kind and header["init_kwargs"] == G.init_kwargs
    H = load_network(tmp_path / "net.safetensors", "cpu")
    assert type(H) is type(G) and H.kind == G.kind and not H.training
    assert H.state_dict().keys() == G.state_dict().keys()
    theirs = G.state_dict()
    assert all(torch.equal(v, theirs[k]) for k, v in H.state_dict().items())
    seeds = [0, 9]
    np.testing.assert_array_equal(
        generate_images(H, seeds, 0.7, "const", "cpu"),
        generate_images(G, seeds, 0.7, "const", "cpu"),
    )


def test_export_paths_accept_a_stem_or_either_file(tmp_path: Path) -> None:
    pair = (tmp_path / "artist.safetensors", tmp_path / "artist.json")
    assert export_paths(tmp_path / "artist") == pair
    assert export_paths(tmp_path / "artist.safetensors") == pair
    assert export_paths(tmp_path / "artist.json") == pair


def test_the_json_can_be_passed_instead_and_is_optional(tmp_path: Path) -> None:
    G = load_network(DATA / "stylegan2-ada-orig-bare.pkl", "cpu")
    write_exported(G, tmp_path / "net.safetensors")
    expected = generate_images(G, [1], 1.0, "const", "cpu")
    via_json = load_exported(tmp_path / "net.json")
    np.testing.assert_array_equal(generate_images(via_json, [1], 1.0, "const", "cpu"), expected)
    (tmp_path / "net.json").unlink()  # the weights file carries a copy of the settings
    alone = load_exported(tmp_path / "net.safetensors")
    np.testing.assert_array_equal(generate_images(alone, [1], 1.0, "const", "cpu"), expected)


def test_exporting_again_replaces_both_files_whole(tmp_path: Path) -> None:
    small = load_network(DATA / "stylegan2-ada-orig-bare.pkl", "cpu")
    other = load_network(DATA / "stylegan2-ada-resnet-bare.pkl", "cpu")
    write_exported(small, tmp_path / "net")
    write_exported(other, tmp_path / "net")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.json", "net.safetensors"]
    again = load_exported(tmp_path / "net")
    assert again.init_kwargs == other.init_kwargs


@pytest.fixture
def exported(tmp_path: Path) -> Path:
    write_exported(load_network(DATA / "stylegan2-ada-orig-bare.pkl", "cpu"), tmp_path / "net")
    return tmp_path / "net.safetensors"


def test_missing_weights_file(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="no such file; an exported network is a"):
        load_exported(tmp_path / "gone.safetensors")


def test_damaged_weights_file(exported: Path) -> None:
    exported.write_bytes(exported.read_bytes()[:100])
    with pytest.raises(ModelLoadError, match="not a readable safetensors file"):
        load_exported(exported)


def test_settings_of_another_format_or_version(exported: Path) -> None:
    settings = exported.with_suffix(".json")
    header = json.loads(settings.read_text())
    settings.write_text(json.dumps({**header, "version": 99}))
    with pytest.raises(ModelLoadError, match="export version 99 is not supported"):
        load_exported(exported)
    settings.write_text(json.dumps({"weights": "elsewhere"}))
    with pytest.raises(ModelLoadError, match="not a ghosts-render network export"):
        load_exported(exported)
    settings.write_text("{broken")
    with pytest.raises(ModelLoadError, match="not valid JSON"):
        load_exported(exported)


def test_settings_that_do_not_fit_the_weights(exported: Path) -> None:
    settings = exported.with_suffix(".json")
    header = json.loads(settings.read_text())
    header["init_kwargs"]["w_dim"] = 16
    settings.write_text(json.dumps(header))
    with pytest.raises(ModelLoadError, match="the weights do not fit a stylegan2 generator"):
        load_exported(exported)
    header["kind"] = "biggan"
    settings.write_text(json.dumps(header))
    with pytest.raises(ModelLoadError, match="unknown network kind 'biggan'"):
        load_exported(exported)
