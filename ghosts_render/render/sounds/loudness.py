"""BS.1770 momentary-max loudness and true peak, numpy only, at any sample rate.

K-weighting uses De Man's analog-matched biquads (they reproduce the BS.1770 48 kHz
coefficients and adapt to other rates), applied through their exact frequency response on
an FFT grid with enough zero padding that the filters' tails do not wrap around.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ghosts_render.render.sounds.dsp import next_fast_size

SILENCE_LUFS = -120.0  # reported for digital silence instead of -inf
_BLOCK_S = 0.4  # momentary window (BS.1770 / EBU R128)
_HOP_S = 0.1
_TAIL_S = 0.25  # zero padding so the K-weighting tail does not wrap around
_OVERSAMPLE = 4  # true peak by 4x oversampling


@dataclass(frozen=True, slots=True)
class Loudness:
    """Loudness figures of one signal."""

    momentary_max_lufs: float
    true_peak_dbtp: float


def _biquad_response(b: tuple[float, ...], a: tuple[float, ...], omega: np.ndarray) -> np.ndarray:
    """Return a biquad's complex frequency response at the angular frequencies omega."""
    z1 = np.exp(-1j * omega)
    z2 = z1 * z1
    return (b[0] + b[1] * z1 + b[2] * z2) / (a[0] + a[1] * z1 + a[2] * z2)


@lru_cache(maxsize=16)
def k_weighting_response(sample_rate_hz: int, n_fft: int) -> np.ndarray:
    """Return the K-weighting filter's complex response on an rfft grid of size n_fft."""
    omega = 2 * np.pi * np.fft.rfftfreq(n_fft) if n_fft else np.zeros(0)
    # Stage 1: high shelf (head diffraction), De Man's analog prototype.
    k = np.tan(np.pi * 1681.9744509555319 / sample_rate_hz)
    q = 0.7071752369554193
    vh = 10.0 ** (3.99984385397 / 20.0)
    vb = vh**0.499666774155
    norm = 1.0 + k / q + k * k
    shelf_b = (
        (vh + vb * k / q + k * k) / norm,
        2.0 * (k * k - vh) / norm,
        (vh - vb * k / q + k * k) / norm,
    )
    shelf_a = (1.0, 2.0 * (k * k - 1.0) / norm, (1.0 - k / q + k * k) / norm)
    # Stage 2: RLB high-pass.
    k = np.tan(np.pi * 38.13547087613982 / sample_rate_hz)
    q = 0.5003270373253953
    norm = 1.0 + k / q + k * k
    hp_a = (1.0, 2.0 * (k * k - 1.0) / norm, (1.0 - k / q + k * k) / norm)
    hp_b = (1.0, -2.0, 1.0)
    response = _biquad_response(shelf_b, shelf_a, omega) * _biquad_response(hp_b, hp_a, omega)
    response.setflags(write=False)  # cached and shared between callers
    return response


def k_weight(samples: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    """Return the K-weighted signal (mono float), same length as the input."""
    n = len(samples)
    n_fft = next_fast_size(n + int(_TAIL_S * sample_rate_hz))
    spectrum = np.fft.rfft(samples, n_fft) * k_weighting_response(sample_rate_hz, n_fft)
    return np.fft.irfft(spectrum, n_fft)[:n]


def measure_momentary_max_lufs(samples: np.ndarray, sample_rate_hz: int) -> float:
    """Return the maximum BS.1770 momentary loudness (400 ms blocks, 100 ms hop), in LUFS."""
    block = int(round(_BLOCK_S * sample_rate_hz))
    hop = int(round(_HOP_S * sample_rate_hz))
    x = np.asarray(samples, dtype=np.float64)
    if len(x) < block:  # a short ping is measured as if followed by silence
        x = np.concatenate([x, np.zeros(block - len(x))])
    weighted = k_weight(x, sample_rate_hz)
    energy = np.concatenate([[0.0], np.cumsum(weighted * weighted)])
    starts = np.arange(0, len(x) - block + 1, hop)
    mean_square = (energy[starts + block] - energy[starts]) / block
    peak = float(mean_square.max())
    if peak <= 1e-20:
        return SILENCE_LUFS
    return -0.691 + 10.0 * np.log10(peak)


def measure_true_peak_dbtp(samples: np.ndarray) -> float:
    """Return the true peak (4x oversampled), in dBTP."""
    x = np.asarray(samples, dtype=np.float64)
    if len(x) == 0:
        return SILENCE_LUFS
    n = next_fast_size(len(x) + 64)  # a little silence keeps the ends from wrapping around
    spectrum = np.fft.rfft(x, n)
    up = np.fft.irfft(spectrum, n * _OVERSAMPLE) * _OVERSAMPLE
    peak = max(float(np.abs(up).max()), float(np.abs(x).max()))
    return 20.0 * np.log10(peak) if peak > 1e-12 else SILENCE_LUFS


def measure_loudness(
    samples: np.ndarray, sample_rate_hz: int, true_peak_dbtp: float | None = None
) -> Loudness:
    """Return momentary-max loudness and true peak (unless already known) of a mono signal."""
    if true_peak_dbtp is None:
        true_peak_dbtp = measure_true_peak_dbtp(samples)
    return Loudness(
        momentary_max_lufs=round(measure_momentary_max_lufs(samples, sample_rate_hz), 6),
        true_peak_dbtp=round(true_peak_dbtp, 6),
    )


def plan_gain_db(loudness: Loudness, target_lufs: float, ceiling_dbtp: float) -> float:
    """Return the gain that reaches the target, or less where the true-peak ceiling binds."""
    return min(target_lufs - loudness.momentary_max_lufs, ceiling_dbtp - loudness.true_peak_dbtp)
