"""The selfie stage on a tiny real StyleGAN of ours: files, records, bytes, resume, errors."""

from __future__ import annotations

import dataclasses
import hashlib
import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ghosts_render.bench.selfies import bench_selfies, generate_bench_network
from ghosts_render.config import RoleConfig, RunConfig, SelfieConfig
from ghosts_render.errors import ModelLoadError, StageError
from ghosts_render.render.selfies.encode import (
    EncodeSettings,
    generate_encoded,
    load_selfie_size,
    plan_webp_size,
)
from ghosts_render.render.selfies.stage import (
    SelfieJob,
    generate_selfie_batches,
    pick_batch_size,
    plan_role_seeds,
    render_selfies,
)

DATA = Path(__file__).parent / "data" / "stylegan"
RESOLUTION = 16
WEBP_SIZE = 12


@pytest.fixture(scope="module")
def networks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Artist: an official-format pickle; scientist: an exported seeded StyleGAN2 of ours."""
    from ghosts_render.render.selfies.stylegan import load_network
    from ghosts_render.render.selfies.stylegan.export import write_exported
    from ghosts_render.render.selfies.stylegan.stylegan2 import StyleGAN2Generator

    artist = DATA / "stylegan2-sg3repo.pkl"
    kwargs = load_network(artist, "cpu").init_kwargs
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        G = StyleGAN2Generator(**kwargs)
        for p in G.parameters():  # a fresh network's output is near flat; make it visible
            p.data.normal_(0.0, 0.5)
    folder = tmp_path_factory.mktemp("networks")
    write_exported(G, folder / "scientist")
    return {"artist": artist, "scientist": folder / "scientist.safetensors"}


def _config(networks: dict[str, Path], **selfies: object) -> RunConfig:
    roles = (
        RoleConfig("artist", label="the artist", selfies=str(networks["artist"])),
        RoleConfig("scientist", selfies=str(networks["scientist"])),
    )
    return RunConfig(roles=roles, selfies=SelfieConfig(webp_size=WEBP_SIZE, **selfies))  # type: ignore[arg-type]


JOBS = [
    SelfieJob("m00001", "artist", 5121),
    SelfieJob("m00004", "scientist", 40),
    SelfieJob("m00007", "artist", 5122),
    SelfieJob("m00009", "artist", 5123),
    SelfieJob("m00012", "scientist", 41),
]


def _files(archive: Path) -> dict[str, bytes]:
    folder = archive / "media" / "selfies"
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


# --- encoding -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "long_side", "expected"),
    [
        ((1024, 1024), 512, (512, 512)),
        ((1024, 512), 512, (512, 256)),
        ((300, 600), 100, (50, 100)),
        ((256, 256), 512, (256, 256)),  # never enlarged
        ((512, 512), 512, (512, 512)),
    ],
)
def test_webp_long_side_is_scaled_down_only(size, long_side, expected) -> None:
    assert plan_webp_size(*size, long_side) == expected


def _picture(height: int = 48, width: int = 40) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x * 6, y * 5, (x + y) * 3], axis=-1).astype(np.uint8)


def test_encoding_is_progressive_jpeg_at_the_quality_and_deterministic() -> None:
    settings = EncodeSettings(jpeg_quality=70, webp_size=20, webp_quality=80)
    jpeg, webp = generate_encoded(_picture(), settings)
    assert (jpeg, webp) == generate_encoded(_picture(), settings)
    with Image.open(io.BytesIO(jpeg)) as im:
        assert im.format == "JPEG" and im.info.get("progressive") == 1
        assert im.size == (40, 48)
        reference = io.BytesIO()
        Image.new("RGB", (8, 8)).save(reference, "JPEG", quality=70)
        assert im.quantization == Image.open(reference).quantization
    with Image.open(io.BytesIO(webp)) as im:
        assert im.format == "WEBP" and im.size == (17, 20)
    other, _ = generate_encoded(_picture(), dataclasses.replace(settings, jpeg_quality=90))
    assert other != jpeg


def test_a_damaged_or_differently_encoded_selfie_is_not_reused(tmp_path: Path) -> None:
    settings = EncodeSettings(webp_size=20)
    jpeg, webp = generate_encoded(_picture(), settings)
    jpg_path, webp_path = tmp_path / "a.jpg", tmp_path / "a.webp"
    jpg_path.write_bytes(jpeg)
    webp_path.write_bytes(webp)
    assert load_selfie_size(jpg_path, webp_path, settings) == (40, 48)
    assert (
        load_selfie_size(jpg_path, webp_path, dataclasses.replace(settings, jpeg_quality=80))
        is None
    )
    assert (
        load_selfie_size(jpg_path, webp_path, dataclasses.replace(settings, webp_size=30)) is None
    )
    jpg_path.write_bytes(jpeg[: len(jpeg) // 2])
    assert load_selfie_size(jpg_path, webp_path, settings) is None
    assert load_selfie_size(tmp_path / "missing.jpg", webp_path, settings) is None


# --- planning -----------------------------------------------------------------------------


def test_role_seeds_are_distinct_and_in_job_order() -> None:
    jobs = [*JOBS, SelfieJob("m00020", "artist", 5121)]
    assert plan_role_seeds(jobs) == {"artist": [5121, 5122, 5123], "scientist": [40, 41]}


def test_cpu_batch_is_small_and_configured_batch_wins() -> None:
    assert pick_batch_size(0, "cpu", 1024) == 1
    assert pick_batch_size(0, "cpu", 256) == 2
    assert pick_batch_size(0, "cpu", 64) == 8
    assert pick_batch_size(3, "cpu", 1024) == 3


# --- rendering ----------------------------------------------------------------------------


def test_every_job_gets_files_and_a_record(networks: dict[str, Path], tmp_path: Path) -> None:
    done: list[int] = []
    result = render_selfies(JOBS, _config(networks), tmp_path, "cpu", on_progress=done.append)
    assert (result.rendered, result.reused) == (5, 0)
    assert done == sorted(done) and done[-1] == len(JOBS)
    assert set(result.by_message) == {job.message_id for job in JOBS}
    record = result.by_message["m00007"]
    assert record.to_json() == {
        "seed": 5122,
        "src": "media/selfies/artist-5122.jpg",
        "webp": "media/selfies/artist-5122.webp",
        "width": RESOLUTION,
        "height": RESOLUTION,
        "alt": "selfie of the artist",
    }
    assert result.by_message["m00004"].alt == "selfie of scientist"
    for record in result.by_message.values():
        with Image.open(tmp_path / record.src) as im:
            assert im.format == "JPEG" and im.info.get("progressive") == 1
            assert im.size == (RESOLUTION, RESOLUTION)
        with Image.open(tmp_path / record.webp) as im:
            assert im.format == "WEBP" and max(im.size) == WEBP_SIZE
    assert sorted(_files(tmp_path)) == sorted(
        name for r in result.by_message.values() for name in (Path(r.src).name, Path(r.webp).name)
    )
    identity = result.networks["artist"]
    assert identity["sha256"] == hashlib.sha256(networks["artist"].read_bytes()).hexdigest()
    assert identity["resolution"] == RESOLUTION and identity["demo"] is False
    assert identity["kind"] == "stylegan2" and identity["path"] == str(networks["artist"])
    assert (
        result.networks["scientist"]["sha256"]
        == hashlib.sha256(networks["scientist"].read_bytes()).hexdigest()
    )


def test_selfies_differ_by_seed_and_by_role(networks: dict[str, Path], tmp_path: Path) -> None:
    jobs = [
        SelfieJob("a", "artist", 7),
        SelfieJob("b", "artist", 8),
        SelfieJob("c", "scientist", 7),
    ]
    render_selfies(jobs, _config(networks), tmp_path, "cpu")
    files = _files(tmp_path)
    assert len({files["artist-7.jpg"], files["artist-8.jpg"], files["scientist-7.jpg"]}) == 3


def test_same_jobs_give_the_same_bytes_batched_pooled_or_not(
    networks: dict[str, Path], tmp_path: Path
) -> None:
    render_selfies(JOBS, _config(networks, batch_size=1), tmp_path / "a", "cpu", encode_workers=0)
    render_selfies(JOBS, _config(networks, batch_size=4), tmp_path / "b", "cpu", encode_workers=1)
    first, second = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert len(first) == 2 * len(JOBS)
    assert first == second


def test_resume_renders_only_missing_selfies(networks: dict[str, Path], tmp_path: Path) -> None:
    cfg = _config(networks)
    render_selfies(JOBS, cfg, tmp_path, "cpu")
    before = _files(tmp_path)
    (tmp_path / "media/selfies/artist-5122.webp").unlink()
    jpg = tmp_path / "media/selfies/scientist-41.jpg"
    jpg.write_bytes(jpg.read_bytes()[:50])  # a half-written file from a crash
    (tmp_path / "media/selfies/.artist-5123.jpg.999.tmp").write_bytes(b"left by a kill")
    done: list[int] = []
    result = render_selfies(JOBS, cfg, tmp_path, "cpu", on_progress=done.append)
    assert (result.rendered, result.reused) == (2, 3)
    assert done[-1] == len(JOBS)
    assert _files(tmp_path) == before
    again = render_selfies(JOBS, cfg, tmp_path, "cpu")
    assert (again.rendered, again.reused) == (0, 5)
    assert again.by_message == result.by_message


def test_a_batch_renders_what_single_selfies_render(networks: dict[str, Path]) -> None:
    from ghosts_render.render.selfies.stylegan import load_network

    G = load_network(networks["artist"], "cpu")
    seeds = [3, 1, 4, 1, 5]
    batched = list(generate_selfie_batches(G, seeds, 0.7, "const", "cpu", 4))
    assert [chunk for chunk, _ in batched] == [[3, 1, 4, 1], [5]]
    singles = [generate_selfie_batches(G, [s], 0.7, "const", "cpu", 1) for s in seeds]
    expected = np.concatenate([next(it)[1] for it in singles])
    assert expected.shape == (5, RESOLUTION, RESOLUTION, 3) and expected.dtype == np.uint8
    np.testing.assert_array_equal(np.concatenate([images for _, images in batched]), expected)


class _SmallGPU(torch.nn.Module):
    """A real network behind a GPU too small for more than ``limit`` selfies at once."""

    def __init__(self, inner: torch.nn.Module, limit: int) -> None:
        super().__init__()
        self.inner, self.limit, self.calls = inner, limit, []
        for name in ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels", "kind"):
            setattr(self, name, getattr(inner, name))

    def forward(self, z: torch.Tensor, c: torch.Tensor, **kwargs: object) -> torch.Tensor:
        self.calls.append(len(z))
        if len(z) > self.limit:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self.inner(z, c, **kwargs)


def test_out_of_memory_halves_the_batch_and_keeps_the_images(networks: dict[str, Path]) -> None:
    from ghosts_render.render.selfies.stylegan import load_network

    G = load_network(networks["artist"], "cpu")
    small = _SmallGPU(G, limit=2)
    seeds = list(range(7))
    got = list(generate_selfie_batches(small, seeds, 1.0, "const", "cpu", 8))
    assert [len(chunk) for chunk, _ in got] == [2, 2, 2, 1]
    assert small.calls[:3] == [7, 4, 2]  # 8 asked (7 seeds), then halved twice
    expected = next(generate_selfie_batches(G, seeds, 1.0, "const", "cpu", 8))[1]
    np.testing.assert_array_equal(np.concatenate([images for _, images in got]), expected)
    with pytest.raises(StageError, match="ran out of memory rendering a single selfie"):
        list(generate_selfie_batches(_SmallGPU(G, limit=0), seeds, 1.0, "const", "cpu", 4))


# --- errors -------------------------------------------------------------------------------


def test_an_unreadable_network_is_one_clear_error(
    networks: dict[str, Path], tmp_path: Path
) -> None:
    broken = tmp_path / "artist.pkl"
    broken.write_bytes(b"this is not a network pickle")
    cfg = _config({**networks, "artist": broken})
    with pytest.raises(ModelLoadError, match=r"roles\.artist\.selfies") as err:
        render_selfies(JOBS, cfg, tmp_path / "out", "cpu")
    assert str(broken) in str(err.value) and "\n" not in str(err.value)
    gone = _config({**networks, "artist": tmp_path / "nowhere.pkl"})
    with pytest.raises(ModelLoadError, match=r"roles\.artist\.selfies: .*does not exist"):
        render_selfies(JOBS, gone, tmp_path / "out", "cpu")


def test_a_selfie_for_an_unknown_role_is_refused(networks: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(StageError, match=r"'ghost'.*\[roles\.ghost\]"):
        render_selfies([SelfieJob("m1", "ghost", 1)], _config(networks), tmp_path, "cpu")


def test_no_jobs_render_nothing(networks: dict[str, Path], tmp_path: Path) -> None:
    result = render_selfies([], _config(networks), tmp_path, "cpu")
    assert (result.by_message, result.networks, result.rendered, result.reused) == ({}, {}, 0, 0)


# --- benchmark ----------------------------------------------------------------------------


def test_bench_times_batched_against_single(networks: dict[str, Path]) -> None:
    result = bench_selfies(networks["artist"], 3, "cpu")
    assert result["single"]["batch_size"] == 1
    assert result["batched"]["batch_size"] == pick_batch_size(0, "cpu", RESOLUTION)
    for mode in ("single", "batched"):
        r = result[mode]
        assert r["seconds"] > 0 and r["selfies_per_s"] == pytest.approx(3 / r["seconds"])


@pytest.mark.gpu
def test_render_on_cuda_writes_the_same_records(networks: dict[str, Path], tmp_path: Path) -> None:
    cfg = _config(networks)
    on_gpu = render_selfies(JOBS, cfg, tmp_path / "gpu", "cuda", encode_workers=2)
    on_cpu = render_selfies(JOBS, cfg, tmp_path / "cpu", "cpu")
    assert on_gpu.by_message == on_cpu.by_message
    assert (on_gpu.rendered, on_gpu.reused) == (len(JOBS), 0)
    again = render_selfies(JOBS, cfg, tmp_path / "gpu", "cuda")
    assert (again.rendered, again.reused) == (0, len(JOBS))


def test_bench_network_is_a_seeded_stylegan3_t() -> None:
    G = generate_bench_network(resolution=16, seed=3)
    assert (G.kind, G.img_resolution, G.z_dim) == ("stylegan3-t", 16, 512)
    same, other = generate_bench_network(16, seed=3), generate_bench_network(16, seed=4)
    weights = [G.state_dict(), same.state_dict(), other.state_dict()]
    assert all(torch.equal(v, weights[1][k]) for k, v in weights[0].items())
    assert not all(torch.equal(v, weights[2][k]) for k, v in weights[0].items())
    assert not any(p.requires_grad for p in G.parameters())


def test_stylegan3_selfies_are_what_gen_images_renders(tmp_path: Path) -> None:
    pickle = DATA / "stylegan3-t.pkl"
    roles = (RoleConfig("artist", selfies=str(pickle)),)
    cfg = RunConfig(roles=roles, selfies=SelfieConfig(truncation_psi=0.7))
    jobs = [SelfieJob("m1", "artist", 2), SelfieJob("m2", "artist", 3)]
    result = render_selfies(jobs, cfg, tmp_path, "cpu")
    assert result.networks["artist"]["kind"] == "stylegan3-t"
    expected_dir = DATA / "expected" / "stylegan3-t" / "psi0.7-const"
    expected = {s: np.asarray(Image.open(expected_dir / f"seed000{s}.png"), float) for s in (2, 3)}
    for job in jobs:
        with Image.open(tmp_path / result.by_message[job.message_id].src) as im:
            ours = np.asarray(im.convert("RGB"), float)
        right, wrong = expected[job.seed], expected[5 - job.seed]
        assert np.abs(ours - right).mean() < 0.25 * np.abs(ours - wrong).mean()


@pytest.mark.parametrize(
    ("seeds", "missing", "batch", "expected"),
    [
        ([1, 2, 3, 4, 5], {5}, 2, [[5]]),
        ([1, 2, 3, 4, 5], {2, 3}, 2, [[1, 2], [3, 4]]),
        ([1, 2, 3, 4, 5], set(), 4, []),
        ([7, 8, 9], {7, 8, 9}, 8, [[7, 8, 9]]),
    ],
)
def test_resume_recomputes_each_missing_selfie_in_its_original_batch(
    seeds, missing, batch, expected
):
    from ghosts_render.render.selfies.stage import plan_render_chunks

    assert plan_render_chunks(seeds, missing, batch) == expected
