"""Awkward sound files an artist may bring: each loads (with a warning) or is refused with a reason.

Every case is a file the test makes; none may let an exception escape the loader.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ghosts_render.render.sounds.dsp import SAMPLE_RATE_HZ
from ghosts_render.render.sounds.io import list_source_files, load_source


def tone(
    rate: int = 44100, seconds: float = 0.5, freq: float = 440.0, amp: float = 0.5
) -> np.ndarray:
    """A decaying sine, a stand-in for a notification sound."""
    t = np.arange(int(rate * seconds)) / rate
    return amp * np.sin(2 * np.pi * freq * t) * np.exp(-3 * t)


def dominant_hz(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples))
    return float(np.fft.rfftfreq(len(samples), 1 / SAMPLE_RATE_HZ)[np.argmax(spectrum)])


def _write(path: Path, data: np.ndarray, rate: int = 44100, **kw: object) -> Path:
    sf.write(path, data, rate, **kw)
    return path


def _bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _id3_mp3(path: Path) -> Path:
    """An MP3 with an ID3v2.3 tag holding a title and a (fake) JPEG cover, as phones write."""
    audio = path.with_suffix(".raw.mp3")
    sf.write(audio, tone(), 44100, format="MP3")
    frames = b""
    for frame_id, body in (
        (b"TIT2", b"\x00ping"),
        (b"APIC", b"\x00image/jpeg\x00\x03\x00" + b"\xff\xd8\xff\xe0" + bytes(2000)),
    ):
        frames += frame_id + struct.pack(">I", len(body)) + b"\x00\x00" + body
    size = len(frames)
    syncsafe = bytes(((size >> s) & 0x7F) for s in (21, 14, 7, 0))
    path.write_bytes(b"ID3\x03\x00\x00" + syncsafe + frames + audio.read_bytes())
    audio.unlink()
    return path


def _half_wav(path: Path) -> Path:
    _write(path, tone(seconds=1.0))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _lead_in(path: Path) -> Path:
    rate = 44100
    silence = np.zeros(3 * rate)
    return _write(path, np.concatenate([silence, tone(seconds=0.6), np.zeros(2 * rate)]), rate)


def _noise(path: Path, dbfs: float) -> Path:
    rng = np.random.default_rng(0)
    return _write(path, rng.uniform(-1, 1, 44100) * 10 ** (dbfs / 20), subtype="PCM_24")


def _clipped(path: Path) -> Path:
    return _write(path, np.clip(tone(amp=4.0, seconds=1.0), -1, 1), subtype="PCM_16")


def _stereo(path: Path, right_factor: float) -> Path:
    x = tone()
    return _write(path, np.stack([x, right_factor * x], axis=1))


def _float(path: Path, value: float) -> Path:
    x = tone(amp=0.5)
    x[1000:1010] = value
    return _write(path, x, subtype="FLOAT")


# (maker, expected status, a phrase the reason or a warning must contain)
Case = tuple[Callable[[Path], Path], str, str]
CASES: dict[str, Case] = {
    "empty file": (lambda d: _bytes(d / "empty.wav", b""), "rejected", "empty file"),
    "folder named like a sound": (lambda d: _mkdir(d / "x.wav"), "rejected", "folder"),
    "dangling link": (lambda d: _dangling(d / "gone.wav"), "rejected", "broken link"),
    "random bytes": (
        lambda d: _bytes(d / "noise.wav", np.random.default_rng(1).bytes(5000)),
        "rejected",
        "convert it to WAV",
    ),
    "WMA (ASF)": (
        lambda d: _bytes(
            d / "voice.wma",
            bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c") + bytes(3000),
        ),
        "rejected",
        "unsupported format",
    ),
    "iPhone AAC m4a": (
        lambda d: _bytes(
            d / "memo.m4a", b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00M4A mp42isom" + bytes(3000)
        ),
        "rejected",
        "AAC/M4A",
    ),
    "Opus in WebM": (
        lambda d: _bytes(
            d / "clip.webm", bytes.fromhex("1a45dfa3") + b"\x42\x82\x84webm" + bytes(3000)
        ),
        "rejected",
        "unsupported format",
    ),
    "text named .mp3": (
        lambda d: _bytes(d / "notes.mp3", b"this is not a sound\n" * 200),
        "rejected",
        "unsupported format",
    ),
    "WAV header, no data": (
        lambda d: _write(d / "nodata.wav", np.zeros(0)),
        "rejected",
        "no audio frames",
    ),
    "WAV cut in half": (lambda d: _half_wav(d / "half.wav"), "ok", "header sizes are wrong"),
    "WAV named .mp3": (lambda d: _write(d / "wave.mp3", tone()), "ok", ""),
    "FLAC named .wav": (lambda d: _write(d / "flac.wav", tone(), format="FLAC"), "ok", ""),
    "all zeros": (lambda d: _write(d / "zeros.wav", np.zeros(44100)), "rejected", "silent"),
    "-75 dBFS noise": (lambda d: _noise(d / "hiss.wav", -75.0), "rejected", "silent"),
    "5 ms blip": (
        lambda d: _write(d / "blip.wav", np.concatenate([np.zeros(4410), tone(seconds=0.005)])),
        "rejected",
        "too short",
    ),
    "lead-in and tail silence": (lambda d: _lead_in(d / "lead.wav"), "ok", ""),
    "10 min WAV": (
        lambda d: _write(d / "long.wav", np.tile(tone(8000, 1.0), 600), 8000, subtype="PCM_16"),
        "ok",
        "first 10 s",
    ),
    "long MP3": (
        lambda d: _write(d / "long.mp3", np.tile(tone(8000, 1.0), 60), 8000, format="MP3"),
        "ok",
        "first 10 s",
    ),
    "stereo L = -R": (lambda d: _stereo(d / "phase.wav", -1.0), "ok", "loudest channel"),
    "stereo, one side silent": (lambda d: _stereo(d / "left.wav", 0.0), "ok", ""),
    "6 channels": (
        lambda d: _write(d / "surround.wav", np.tile(tone()[:, None], (1, 6)) * 0.3),
        "ok",
        "",
    ),
    "2000 Hz": (lambda d: _write(d / "slow.wav", tone(2000), 2000), "rejected", "sample rate"),
    "hard-clipped PCM": (lambda d: _clipped(d / "clip.wav"), "ok", "clipped"),
    "float above full scale": (lambda d: _float(d / "hot.wav", 2.0), "ok", "above full scale"),
    "float NaN": (lambda d: _float(d / "nan.wav", float("nan")), "ok", "NaN"),
    "float Inf": (lambda d: _float(d / "inf.wav", float("inf")), "ok", "NaN/infinite"),
    "DC offset 0.3": (
        lambda d: _write(d / "dc.wav", tone(amp=0.4) + 0.3, subtype="PCM_16"),
        "ok",
        "DC offset",
    ),
    "MP3 with ID3v2 and cover": (lambda d: _id3_mp3(d / "tagged.mp3"), "ok", ""),
    "Unicode name": (lambda d: _write(d / "klingel-ü-ß-音.wav", tone()), "ok", ""),
}

FORMATS = {
    "U8": ("WAV", "PCM_U8", 44100),
    "24-bit": ("WAV", "PCM_24", 44100),
    "32-bit": ("WAV", "PCM_32", 44100),
    "A-law": ("WAV", "ALAW", 44100),
    "mu-law": ("WAV", "ULAW", 44100),
    "IMA ADPCM": ("WAV", "IMA_ADPCM", 44100),
    "MS ADPCM": ("WAV", "MS_ADPCM", 44100),
    "GSM610": ("WAV", "GSM610", 8000),
    "AIFF": ("AIFF", "PCM_16", 44100),
    "CAF ALAC": ("CAF", "ALAC_16", 44100),
    "FLAC": ("FLAC", "PCM_16", 44100),
    "Ogg Vorbis": ("OGG", "VORBIS", 44100),
    "Ogg Opus": ("OGG", "OPUS", 48000),
    "MP3": ("MP3", "MPEG_LAYER_III", 44100),
}


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


def _dangling(path: Path) -> Path:
    os.symlink(path.parent / "does-not-exist.wav", path)
    return path


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_table(case: str, tmp_path: Path) -> None:
    maker, status, phrase = CASES[case]
    path = maker(tmp_path)
    source = load_source(path)
    said = " ".join([source.reason, *source.warnings])
    assert ("ok" if source.usable else "rejected") == status, said
    assert phrase.lower() in said.lower()
    if source.usable:
        assert source.samples is not None and np.isfinite(source.samples).all()
        assert 0.05 <= len(source.samples) / SAMPLE_RATE_HZ <= 10.0
        assert np.abs(source.samples).max() <= 1.0
        assert len(source.sha256) == 64
    else:
        assert source.samples is None
    if not phrase:
        assert not source.warnings, source.warnings


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_formats_decoded_by_content(name: str, tmp_path: Path) -> None:
    container, subtype, rate = FORMATS[name]
    path = tmp_path / f"sound-{name.replace(' ', '_')}.bin"  # the extension says nothing
    sf.write(path, tone(rate, 0.6, 660.0), rate, format=container, subtype=subtype)
    source = load_source(path)
    assert source.usable, source.reason
    assert source.samples is not None
    assert abs(dominant_hz(source.samples) - 660.0) < 15.0


def test_decoder_notes_do_not_reach_the_terminal(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    source = load_source(_bytes(tmp_path / "notes.mp3", b"this is not a sound\n" * 200))
    assert not source.usable
    assert "Illegal" not in capfd.readouterr().err


def test_lead_in_and_tail_are_trimmed(tmp_path: Path) -> None:
    source = load_source(_lead_in(tmp_path / "lead.wav"))
    assert source.samples is not None
    seconds = len(source.samples) / SAMPLE_RATE_HZ
    assert 0.5 < seconds < 0.7  # 0.6 s of sound plus 5 ms pre-roll and 20 ms tail at most


@pytest.mark.parametrize("rate", [8000, 11025, 12345, 96000, 192000])
def test_odd_sample_rates_keep_their_pitch(rate: int, tmp_path: Path) -> None:
    source = load_source(_write(tmp_path / f"r{rate}.wav", tone(rate, 0.5, 1000.0), rate))
    assert source.samples is not None
    assert abs(dominant_hz(source.samples) - 1000.0) < 5.0
    assert abs(len(source.samples) / SAMPLE_RATE_HZ - 0.5) < 0.03


def test_stereo_cancelling_uses_one_channel_not_silence(tmp_path: Path) -> None:
    source = load_source(_stereo(tmp_path / "phase.wav", -1.0))
    assert source.samples is not None
    assert np.abs(source.samples).max() > 0.4


def test_over_range_float_is_scaled_not_clipped(tmp_path: Path) -> None:
    source = load_source(_float(tmp_path / "hot.wav", 2.0))
    assert source.samples is not None
    assert np.abs(source.samples).max() == pytest.approx(1.0, abs=0.02)
    assert np.count_nonzero(np.abs(source.samples) > 0.999) <= 10  # only the hot spot


def test_listing_skips_hidden_files_and_sorts(tmp_path: Path) -> None:
    for name in ("b.wav", "a.wav", ".DS_Store", "._a.wav"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in list_source_files(tmp_path)] == ["a.wav", "b.wav"]
