"""Our StyleGAN3 generator and its polyphase ops, on tiny real inputs and the demo networks."""

from __future__ import annotations

import functools
import itertools
import json
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from stylegan_reference import filtered_lrelu_reference

from ghosts_render.errors import ModelLoadError
from ghosts_render.render.selfies.stylegan import generate_images, load_network
from ghosts_render.render.selfies.stylegan.ops import (
    bessel_j1,
    design_lowpass,
    filtered_lrelu,
)
from ghosts_render.render.selfies.stylegan.stylegan3 import StyleGAN3Generator
from ghosts_render.render.selfies.stylegan.unpickle import load_pickle

DATA = Path(__file__).parent / "data" / "stylegan"
DEMO = Path(__file__).parent.parent / "ghosts_render" / "demo" / "selfies"
FIXTURES = ["stylegan3-t", "stylegan3-r-cond"]


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


OP_CASES = [
    (up, down, pad, filters, bands)
    for up, down, pad, filters, bands in itertools.product(
        [1, 2, 4],  # up
        [1, 2],  # down
        [(0, 0, 0, 0), (9, 8, 9, 8), (-6, -9, -5, -8), (3, -2, -1, 4)],  # padding
        [(1, 1, False), (12, 12, False), (7, 12, True), (24, 12, True)],  # taps, radial
        [None, 3],  # band rows: whole image, or bands of three rows
    )
    if min(11 * up + pad[0] + pad[1], 13 * up + pad[2] + pad[3]) >= filters[0] + filters[1]
]


@pytest.mark.parametrize(("up", "down", "pad", "filters", "bands"), OP_CASES)
def test_polyphase_filtered_lrelu_equals_the_straightforward_one(up, down, pad, filters, bands):
    gen = torch.Generator().manual_seed(up * 100 + down * 10 + len(str(pad)))
    x = torch.randn(2, 3, 13, 11, generator=gen, dtype=torch.float64)
    bias = torch.randn(3, generator=gen, dtype=torch.float64)
    up_taps, down_taps, radial = filters
    fu = None if up_taps == 1 else torch.randn(up_taps, generator=gen, dtype=torch.float64)
    shape = [down_taps, down_taps] if radial else [down_taps]
    fd = None if down_taps == 1 else torch.randn(shape, generator=gen, dtype=torch.float64)
    args = (x, bias, fu, fd, up, down, pad, 1.7, 0.2, 3.0)
    want = filtered_lrelu_reference(*args)
    got = filtered_lrelu(*args, group_bytes=1, band_rows=bands)
    assert got.shape == want.shape
    assert float((got - want).abs().max()) < 1e-10


def test_lowpass_filters_pass_dc_and_stop_above_the_band():
    taps = design_lowpass(24, cutoff=8.0, width=8.0, fs=64.0)
    assert taps.dtype == np.float32 and np.allclose(taps, taps[::-1])
    assert math.isclose(float(taps.sum()), 1.0, rel_tol=1e-6)
    freqs = np.fft.rfftfreq(4096, d=1 / 64.0)
    response = np.abs(np.fft.rfft(taps.astype(np.float64), 4096))
    assert response[freqs <= 2.0].min() > 0.99  # well inside the pass band
    assert response[freqs >= 8.0 + 8.0].max() < 0.01  # beyond cutoff + transition width
    radial = design_lowpass(12, cutoff=8.0, width=8.0, fs=32.0, radial=True)
    assert radial.shape == (12, 12) and np.allclose(radial, radial.T)
    assert np.allclose(radial, radial[::-1, ::-1]) and math.isclose(radial.sum(), 1.0, rel_tol=1e-6)
    assert design_lowpass(1, 1.0, 1.0, 2.0) is None


def test_bessel_j1_matches_tabulated_values():
    # Abramowitz & Stegun table 9.1; the first zero of J1 is 3.8317059702.
    values = bessel_j1(np.array([0.0, 1.0, 2.0, 5.0, 10.0, 3.8317059702]))
    expected = [0.0, 0.4400505857, 0.5767248078, -0.3275791376, 0.0434727462, 0.0]
    assert np.allclose(values, expected, atol=1e-9)


@functools.cache
def _fixture(name: str):
    return load_pickle(DATA / f"{name}.pkl")


@pytest.mark.parametrize("name", FIXTURES)
def test_built_from_init_kwargs_alone_the_state_matches_the_official_one(name):
    rec = _fixture(name)
    G = StyleGAN3Generator(**rec.init_kwargs)
    ours = {k: tuple(v.shape) for k, v in G.state_dict().items()}
    theirs = {k: tuple(v.shape) for k, v in rec.state_dict().items()}
    assert ours == theirs
    assert G.kind == ("stylegan3-r" if "-r" in name else "stylegan3-t")
    again = StyleGAN3Generator(**json.loads(json.dumps(G.init_kwargs)))
    assert {k: tuple(v.shape) for k, v in again.state_dict().items()} == ours


@pytest.mark.parametrize("name", FIXTURES)
def test_a_batch_renders_what_single_images_render(name):
    G = load_network(DATA / f"{name}.pkl")
    z = torch.from_numpy(np.random.RandomState(5).randn(4, G.z_dim))
    c = torch.zeros([4, G.c_dim])
    with torch.no_grad():
        batch = G(z, c, truncation_psi=0.7)
        singles = torch.cat([G(z[i : i + 1], c[i : i + 1], truncation_psi=0.7) for i in range(4)])
    assert float((batch - singles).abs().max()) < 1e-4
    assert float(batch.std()) > 0.1


def test_truncation_pulls_toward_w_avg_up_to_the_cutoff():
    G = load_network(DATA / "stylegan3-t.pkl")
    z = torch.from_numpy(np.random.RandomState(1).randn(3, G.z_dim))
    with torch.no_grad():
        free = G.mapping(z)
        cut = G.mapping(z, truncation_psi=0.0, truncation_cutoff=4)
        images = G(z, truncation_psi=0.0)
    assert torch.allclose(cut[:, :4], G.mapping.w_avg.expand(3, 4, -1))
    assert torch.equal(cut[:, 4:], free[:, 4:])
    assert float((images - images[:1]).abs().max()) == 0.0
    assert not torch.allclose(free[0], free[1])


def test_unknown_settings_and_noise_modes_are_refused_clearly():
    settings = {"z_dim": 8, "c_dim": 0, "w_dim": 8, "img_resolution": 16, "img_channels": 3}
    with pytest.raises(ModelLoadError, match="use_fancy_noise"):
        StyleGAN3Generator(**settings, use_fancy_noise=True)
    G = StyleGAN3Generator(**settings, channel_base=256, channel_max=8)
    with pytest.raises(ValueError, match="noise_mode"):
        G(torch.zeros([1, 8]), noise_mode="loud")


@functools.cache
def _demo_images(role: str) -> np.ndarray:
    G = load_network(DEMO / f"{role}.safetensors")
    assert G.kind == "stylegan3-t" and G.img_resolution == 256
    return generate_images(G, [0, 1, 2], 1.0, "const", "cpu")


@pytest.mark.parametrize("role", ["artist", "scientist"])
def test_demo_networks_render_deterministic_symmetric_ghosts(role):
    images = _demo_images(role)
    G = load_network(DEMO / f"{role}.safetensors")
    again = generate_images(G, [0, 1, 2], 1.0, "const", "cpu")
    alone = generate_images(G, [1], 1.0, "const", "cpu")
    assert images.shape == (3, 256, 256, 3) and images.dtype == np.uint8
    assert np.array_equal(again, images)
    assert np.abs(alone[0].astype(int) - images[1]).max() <= 1  # float rounding of a batch
    assert not np.array_equal(images[0], images[1])
    mirrored = np.abs(images.astype(int) - images[:, :, ::-1].astype(int))
    assert mirrored.mean() < 1.0  # a left-right symmetric figure
    assert images.reshape(3, -1).std(axis=1).min() > 4.0  # something is drawn, not a flat fill


def test_demo_roles_have_their_own_palettes():
    artist = _demo_images("artist").reshape(-1, 3).mean(axis=0)
    scientist = _demo_images("scientist").reshape(-1, 3).mean(axis=0)
    assert artist[2] > artist[1]  # artist: violet/cyan
    assert scientist[1] > scientist[2]  # scientist: green
