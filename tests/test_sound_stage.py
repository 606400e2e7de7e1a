"""The sound stage end to end: real MP3 files written into tmp_path and read back."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from test_sound_inputs import CASES

from ghosts_render.config import DEFAULT_ROLES, RoleConfig, RunConfig, SoundConfig
from ghosts_render.errors import StageError
from ghosts_render.render.sounds import io as sound_io
from ghosts_render.render.sounds.loudness import measure_momentary_max_lufs, measure_true_peak_dbtp
from ghosts_render.render.sounds.stage import SoundJob, check_mp3_support, render_sounds

RATE = 44100


def config(
    seed: int = 0, roles: tuple[RoleConfig, ...] = DEFAULT_ROLES, **sounds: object
) -> RunConfig:
    return RunConfig(seed=seed, roles=roles, sounds=SoundConfig(**sounds))  # type: ignore[arg-type]


def conversation(count: int, roles: tuple[str, ...] = ("artist", "scientist")) -> list[SoundJob]:
    """Messages in a chat-like order: mostly alternating, sometimes the same sender twice."""
    senders = [roles[(i + i // 5) % len(roles)] for i in range(count)]
    return [SoundJob(f"m{i:05d}", s) for i, s in enumerate(senders)]


def decode(path: Path) -> np.ndarray:
    samples, rate = sf.read(path, dtype="float64")
    assert rate == RATE
    return samples


def dominant_hz(samples: np.ndarray) -> float:
    power = np.abs(np.fft.rfft(samples, 1 << 17)) ** 2
    freqs = np.fft.rfftfreq(1 << 17, 1 / RATE)
    power[freqs < 80] = 0
    return float(freqs[np.argmax(power)])


def tone(freq: float, seconds: float = 0.6) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return 0.4 * np.sin(2 * np.pi * freq * t) * np.exp(-4 * t)


def sound_folder(folder: Path, freqs: list[float], fmt: str = "MP3", seconds: float = 0.6) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for freq in freqs:
        path = folder / f"ping-{int(freq)}.{fmt.lower()}"
        sf.write(path, tone(freq, seconds), RATE, format=fmt)
    return folder


def test_procedural_gives_every_message_a_checked_sound(tmp_path: Path) -> None:
    cfg = config(count=6)
    jobs = conversation(40)
    result = render_sounds(jobs, cfg, tmp_path)
    assert set(result.by_message) == {j.message_id for j in jobs}
    srcs = {entry.src for entry in result.by_message.values()}
    assert len(srcs) == 12  # six per role, all dealt within 40 messages
    for src in srcs:
        path = tmp_path / src
        data = path.read_bytes()
        assert src == f"media/sounds/{hashlib.sha256(data).hexdigest()[:16]}.mp3"
        info = sf.info(path)
        assert (info.format, info.channels, info.samplerate) == ("MP3", 1, RATE)
        assert 0.3 <= info.duration <= 2.0
        samples = decode(path)
        true_peak = measure_true_peak_dbtp(samples)
        assert true_peak <= -1.0 + 0.1
        lufs = measure_momentary_max_lufs(samples, RATE)
        figures = result.provenance["sounds"][src]
        if figures["ceiling_limited"]:
            assert lufs < -18.0 and true_peak > -1.5
        else:
            assert abs(lufs + 18.0) <= 1.0
    json.dumps(result.provenance)  # JSON-able
    assert result.provenance["mode"] == "procedural"
    assert not result.warnings


def test_same_seed_same_sounds_other_seed_other_sounds(tmp_path: Path) -> None:
    jobs = conversation(12)
    first = render_sounds(jobs, config(seed=7, count=3), tmp_path / "a")
    again = render_sounds(jobs, config(seed=7, count=3), tmp_path / "b")
    other = render_sounds(jobs, config(seed=8, count=3), tmp_path / "c")
    assert first.by_message == again.by_message
    assert first.provenance == again.provenance
    for entry in first.by_message.values():
        a, b = decode(tmp_path / "a" / entry.src), decode(tmp_path / "b" / entry.src)
        assert np.abs(a - b).max() < 1e-4
    assert all(set(e.to_json()) == {"src", "duration_ms"} for e in first.by_message.values())
    assert {e.src for e in first.by_message.values()}.isdisjoint(
        e.src for e in other.by_message.values()
    )


def _by_role(result_by_message: dict, jobs: list[SoundJob]) -> dict[str, set[str]]:
    roles: dict[str, set[str]] = {}
    for job in jobs:
        roles.setdefault(job.sender, set()).add(result_by_message[job.message_id].src)
    return roles


@pytest.mark.parametrize("seed", [0, 1])
def test_procedural_palettes_differ_between_roles_and_vary_within(
    seed: int, tmp_path: Path
) -> None:
    jobs = conversation(40)
    result = render_sounds(jobs, config(seed=seed, count=8), tmp_path)
    ranges = {}
    for role, srcs in _by_role(result.by_message, jobs).items():
        assert len(srcs) == 8  # every bank sound is distinct
        pitches = [dominant_hz(decode(tmp_path / s)) for s in srcs]
        durations = {round(sf.info(tmp_path / s).duration, 2) for s in srcs}
        assert len({round(p) for p in pitches}) > 1 or len(durations) > 1  # varies
        ranges[role] = (min(pitches), max(pitches))
    assert (
        ranges["scientist"][1] < ranges["artist"][0]
    )  # the scientist's register lies wholly below the artist's


def test_folder_mode_deals_every_file_once_before_repeats(tmp_path: Path) -> None:
    freqs = [300.0, 450.0, 700.0, 1000.0, 1500.0]
    folder = sound_folder(tmp_path / "sounds", freqs)  # the original: one folder of MP3s
    jobs = conversation(23)
    result = render_sounds(
        jobs, config(seed=3, mode="folder", folder=str(folder)), tmp_path / "out"
    )
    dealt = []
    for job in jobs:  # conversation order, both roles drawing from one deck
        pitch = dominant_hz(decode(tmp_path / "out" / result.by_message[job.message_id].src))
        dealt.append(min(freqs, key=lambda f: abs(f - pitch)))
    for start in range(0, 20, 5):
        assert sorted(dealt[start : start + 5]) == freqs
    assert len(set(dealt[20:])) == 3
    other = render_sounds(jobs, config(seed=4, mode="folder", folder=str(folder)), tmp_path / "o")
    assert [other.by_message[j.message_id] for j in jobs] != [
        result.by_message[j.message_id] for j in jobs
    ]
    assert [p["mode"] for p in result.provenance["pools"]] == ["folder"]
    assert len(result.provenance["sounds"]) == 5


def test_per_role_folders_are_used_per_role(tmp_path: Path) -> None:
    high = sound_folder(tmp_path / "artist", [1200.0, 1500.0], fmt="WAV")
    low = sound_folder(tmp_path / "scientist", [250.0, 300.0, 350.0], fmt="FLAC")
    roles = (
        RoleConfig(name="artist", side="right", sounds=str(high)),
        RoleConfig(name="scientist", sounds=str(low)),
    )
    jobs = conversation(16)
    cfg = config(roles=roles, mode="folder", folder=str(tmp_path / "missing"))
    result = render_sounds(jobs, cfg, tmp_path / "out")
    for role, srcs in _by_role(result.by_message, jobs).items():
        pitches = [dominant_hz(decode(tmp_path / "out" / s)) for s in srcs]
        if role == "artist":
            assert len(srcs) == 2 and min(pitches) > 1100
        else:
            assert len(srcs) == 3 and max(pitches) < 400
    assert {p["name"] for p in result.provenance["pools"]} == {"artist", "scientist"}


def test_abstractions_blend_the_sources(tmp_path: Path) -> None:
    folder = sound_folder(tmp_path / "sounds", [400.0, 650.0, 900.0], seconds=0.4)
    jobs = conversation(4)
    cfg = config(mode="abstractions", folder=str(folder), count=2)
    result = render_sounds(jobs, cfg, tmp_path / "out")
    assert len({e.src for e in result.by_message.values()}) == 4
    for src in {e.src for e in result.by_message.values()}:
        info = sf.info(tmp_path / "out" / src)
        assert info.channels == 1 and 0.3 <= info.duration <= 2.0
    pools = result.provenance["pools"]
    assert [p["mode"] for p in pools] == ["abstractions", "abstractions"]
    assert pools[0]["style"]["pitch"] != pools[1]["style"]["pitch"]
    assert pools[0]["sources"] == ["ping-400.mp3", "ping-650.mp3", "ping-900.mp3"]
    again = render_sounds(jobs, cfg, tmp_path / "again")
    assert again.by_message == result.by_message


def test_bad_files_are_reported_and_too_few_fall_back_to_procedural(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "sounds"
    folder.mkdir()
    for name in ("empty file", "random bytes", "all zeros", "5 ms blip", "2000 Hz", "float NaN"):
        CASES[name][0](folder)
    (folder / ".DS_Store").write_bytes(b"\x00\x01")
    jobs = conversation(8)
    with caplog.at_level(logging.WARNING):
        result = render_sounds(
            jobs, config(mode="folder", folder=str(folder), count=2), tmp_path / "o"
        )
    records = result.provenance["folders"][str(folder)]
    status = {r["name"]: r["status"] for r in records}
    assert status == {
        "empty.wav": "rejected",
        "noise.wav": "rejected",
        "zeros.wav": "rejected",
        "blip.wav": "rejected",
        "slow.wav": "rejected",
        "nan.wav": "usable",
    }
    assert all(r["reason"] for r in records if r["status"] == "rejected")
    assert all(len(r["sha256"]) == 64 for r in records if r["name"] != "empty.wav")
    assert [p["mode"] for p in result.provenance["pools"]] == ["procedural", "procedural"]
    assert all("1 usable sound file " in p["fallback"] for p in result.provenance["pools"])
    assert sum("using procedural sounds" in w for w in result.warnings) == 2
    assert sum("skipped" in w for w in result.warnings) == 5
    assert set(result.warnings) <= {r.getMessage() for r in caplog.records}
    assert set(result.provenance["warnings"]) == set(result.warnings)
    assert len(result.by_message) == 8


def test_empty_folder_falls_back_and_a_vanished_folder_is_one_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "sounds"
    folder.mkdir()
    cfg = config(mode="abstractions", folder=str(folder), count=2)
    result = render_sounds(conversation(4), cfg, tmp_path / "out")
    assert all(p["mode"] == "procedural" for p in result.provenance["pools"])
    shutil.rmtree(folder)
    with pytest.raises(StageError, match="sounds.folder"):
        render_sounds(conversation(4), cfg, tmp_path / "out")


def test_unknown_sender_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StageError, match="'poet'.*roles.poet"):
        render_sounds([SoundJob("m00000", "poet")], config(count=2), tmp_path)


def test_resume_reuses_good_files_and_repairs_bad_ones(tmp_path: Path) -> None:
    jobs = conversation(10)
    cfg = config(count=3)
    first = render_sounds(jobs, cfg, tmp_path)
    src = first.by_message["m00000"].src
    good = (tmp_path / src).read_bytes()
    (tmp_path / src).write_bytes(b"half a file")
    second = render_sounds(jobs, cfg, tmp_path)
    assert second.by_message == first.by_message
    assert (tmp_path / src).read_bytes() == good
    assert sorted(p.name for p in (tmp_path / "media/sounds").iterdir()) == sorted(
        {Path(e.src).name for e in first.by_message.values()}
    )  # no temporary files left behind


def test_progress_adds_up_to_the_messages(tmp_path: Path) -> None:
    steps: list[int] = []
    render_sounds(conversation(17), config(count=4), tmp_path, on_progress=steps.append)
    assert sum(steps) == 17 and all(s >= 0 for s in steps)


def test_missing_mp3_support_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    check_mp3_support()  # this machine's soundfile can write MP3
    monkeypatch.setattr(sound_io.sf, "available_formats", lambda: {"WAV": "WAV"})
    with pytest.raises(StageError, match="cannot write MP3.*pip install --upgrade soundfile"):
        check_mp3_support()


def test_abstractions_split_a_shared_folder_when_each_role_gets_two(tmp_path: Path) -> None:
    folder = sound_folder(tmp_path / "sounds", [300.0, 500.0, 800.0, 1300.0], seconds=0.35)
    cfg = config(mode="abstractions", folder=str(folder), count=1)
    result = render_sounds(conversation(2), cfg, tmp_path / "out")
    artist, scientist = (set(p["sources"]) for p in result.provenance["pools"])
    assert len(artist) == len(scientist) == 2 and artist.isdisjoint(scientist)
