"""The last steps every sound takes: length limits, fades, loudness, MP3, read-back check."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from ghosts_render.errors import StageError
from ghosts_render.render.sounds.dsp import SAMPLE_RATE_HZ, apply_fades
from ghosts_render.render.sounds.io import MP3_COMPRESSION, decode_audio, encode_mp3
from ghosts_render.render.sounds.loudness import (
    SILENCE_LUFS,
    measure_loudness,
    measure_momentary_max_lufs,
    measure_true_peak_dbtp,
    plan_gain_db,
)

MIN_S, MAX_S = 0.3, 2.0
FADE_IN_MS, FADE_OUT_MS = 2.5, 35.0
CUT_FADE_MS = 150.0  # when a longer sound is cut at MAX_S
_TP_TOLERANCE_DB = 0.05
_CODEC_TRIES = 4
_LUFS_TOLERANCE_DB = 0.1


@dataclass(frozen=True, slots=True)
class EncodedSound:
    """One finished sound: its MP3 bytes, file name and the figures for provenance."""

    data: bytes
    name: str  # <16 hex of sha256>.mp3
    duration_ms: int
    input_lufs: float  # momentary max before gain
    gain_db: float
    lufs: float  # momentary max of the decoded MP3
    true_peak_dbtp: float  # of the decoded MP3
    ceiling_limited: bool  # the true-peak ceiling kept it below the target

    def figures(self) -> dict[str, object]:
        """Return the JSON-able figures (rounded) for the archive's provenance."""
        return {
            "duration_ms": self.duration_ms,
            "input_lufs": round(float(self.input_lufs), 2),
            "gain_db": round(float(self.gain_db), 2),
            "lufs": round(float(self.lufs), 2),
            "true_peak_dbtp": round(float(self.true_peak_dbtp), 2),
            "ceiling_limited": bool(self.ceiling_limited),
            "bytes": len(self.data),
        }


def finish_samples(samples: np.ndarray) -> np.ndarray:
    """Cut to at most MAX_S, fade both ends, pad to at least MIN_S (silence after the end)."""
    x = np.nan_to_num(np.asarray(samples, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    limit = int(MAX_S * SAMPLE_RATE_HZ)
    if len(x) > limit:
        x = apply_fades(x[:limit], 0.0, CUT_FADE_MS)
    x = apply_fades(x, FADE_IN_MS, FADE_OUT_MS)
    shortest = int(np.ceil(MIN_S * SAMPLE_RATE_HZ))
    return np.pad(x, (0, max(0, shortest - len(x))))


def render_mp3(samples: np.ndarray, target_lufs: float, ceiling_dbtp: float) -> EncodedSound:
    """Normalise a finished sound, encode it as MP3 and check the decoded result."""
    if not MIN_S - 0.001 <= len(samples) / SAMPLE_RATE_HZ <= MAX_S + 0.001:
        raise StageError(
            f"a sound of {len(samples)} frames is outside 0.3-2 s: a bug, please report it"
        )
    return encode_normalised(
        samples,
        SAMPLE_RATE_HZ,
        target_lufs=target_lufs,
        ceiling_dbtp=ceiling_dbtp,
        compression=MP3_COMPRESSION,
        what="a sound",
        ceiling_key="sounds.true_peak_dbtp",
    )


def encode_normalised(
    samples: np.ndarray,
    sample_rate_hz: int,
    *,
    target_lufs: float,
    ceiling_dbtp: float,
    compression: float,
    what: str,
    ceiling_key: str,
    match_decoded: bool = False,
) -> EncodedSound:
    """Bring mono samples to the target loudness under the true-peak ceiling, encode and check.

    The gain reaches ``target_lufs`` (momentary max) unless the ceiling binds; the decoded MP3 is
    measured again and the gain lowered while the codec's ripple lifts its true peak above the
    ceiling. With ``match_decoded`` the gain also makes up what the codec took off the loudness
    (a buzzing voice loses its highs above the MP3's low-pass), so the decoded file is on target.
    ``what`` ("a sound") and ``ceiling_key`` (the setting to lower) word the errors.
    """
    before = measure_loudness(samples, sample_rate_hz)
    if before.momentary_max_lufs <= SILENCE_LUFS:
        raise StageError(f"{what} came out silent: this is a bug, please report it")
    target_gain = target_lufs - before.momentary_max_lufs
    gain_db = plan_gain_db(before, target_lufs, ceiling_dbtp)
    next_gain = gain_db
    for _ in range(_CODEC_TRIES):
        gain_db = next_gain
        data = encode_mp3(samples * 10 ** (gain_db / 20), sample_rate_hz, compression)
        decoded = _check_decoded(data, len(samples), sample_rate_hz)
        true_peak = measure_true_peak_dbtp(decoded)
        if true_peak > ceiling_dbtp + _TP_TOLERANCE_DB:
            next_gain = gain_db - (true_peak - ceiling_dbtp)  # the codec's ripple: back off
            continue
        if not match_decoded or gain_db < target_gain - 1e-6:
            break
        missing = target_lufs - measure_momentary_max_lufs(decoded, sample_rate_hz)
        if abs(missing) <= _LUFS_TOLERANCE_DB:
            break
        target_gain = gain_db + missing
        next_gain = min(target_gain, gain_db + ceiling_dbtp - true_peak)
    if float(np.abs(decoded).max()) > 1.0:
        raise StageError(f"{what} clips after decoding its MP3: lower {ceiling_key}")
    after = measure_loudness(decoded, sample_rate_hz, true_peak)
    return EncodedSound(
        data=data,
        name=hashlib.sha256(data).hexdigest()[:16] + ".mp3",
        duration_ms=int(round(1000 * len(samples) / sample_rate_hz)),
        input_lufs=before.momentary_max_lufs,
        gain_db=gain_db,
        lufs=after.momentary_max_lufs,
        true_peak_dbtp=after.true_peak_dbtp,
        ceiling_limited=bool(gain_db < target_gain - 1e-6),
    )


def _check_decoded(data: bytes, frames: int, sample_rate_hz: int) -> np.ndarray:
    """Decode MP3 bytes and check rate, channels, length and finiteness."""
    try:
        decoded, rate, channels = decode_audio(data)
    except Exception as e:  # any decoder failure means the encoder is broken
        raise StageError(
            f"an MP3 just written cannot be read back ({e}): reinstall soundfile"
        ) from e
    if rate != sample_rate_hz or channels != 1 or len(decoded) != frames:
        raise StageError(
            f"an MP3 read back as {channels} channel(s), {rate} Hz, {len(decoded)} frames "
            f"instead of mono, {sample_rate_hz} Hz, {frames} frames: reinstall soundfile"
        )
    if not np.isfinite(decoded).all():
        raise StageError("an MP3 read back with invalid samples: reinstall soundfile")
    return decoded
