"""Pure numpy signal helpers: fast FFT sizes, exact resampling, fades, silence trimming."""

from __future__ import annotations

from fractions import Fraction

import numpy as np

SAMPLE_RATE_HZ = 44100  # every sound is rendered and written at this rate
TRIM_DB = -50.0  # silence threshold below the peak


def next_fast_size(n: int) -> int:
    """Return the smallest 2^a 3^b 5^c 7^d >= n (sizes the FFT handles fastest)."""
    best = 1 << max(0, (n - 1).bit_length())
    p7 = 1
    while p7 < best:
        p5 = p7
        while p5 < best:
            p3 = p5
            while p3 < best:
                size = p3 << max(0, (-(-n // p3) - 1).bit_length())
                best = min(best, size)
                p3 *= 3
            p5 *= 5
        p7 *= 7
    return best


def resample(samples: np.ndarray, rate_in_hz: int, rate_out_hz: int) -> np.ndarray:
    """Resample by zero-padding or truncating the spectrum (exact for band-limited signals)."""
    if rate_in_hz == rate_out_hz or len(samples) == 0:
        return np.asarray(samples, dtype=np.float64)
    ratio = Fraction(int(rate_out_hz), int(rate_in_hz))
    n = len(samples)
    # Zero padding keeps the circular wrap-around away from the sound; sizes are picked so
    # both transforms are fast and the ratio is exact.
    blocks = next_fast_size(-(-(n + n // 16 + 256) // ratio.denominator))
    size_in, size_out = blocks * ratio.denominator, blocks * ratio.numerator
    spectrum = np.fft.rfft(samples, size_in)
    new = np.zeros(size_out // 2 + 1, dtype=np.complex128)
    keep = min(len(new), len(spectrum))
    new[:keep] = spectrum[:keep]
    out_len = int(round(n * ratio))
    return np.fft.irfft(new, size_out)[:out_len] * (size_out / size_in)


def apply_fades(
    samples: np.ndarray,
    fade_in_ms: float,
    fade_out_ms: float,
    sample_rate_hz: int = SAMPLE_RATE_HZ,
) -> np.ndarray:
    """Return a copy with raised-cosine fades at both ends."""
    y = np.array(samples, dtype=np.float64)
    for ms, sl in ((fade_in_ms, slice(None)), (fade_out_ms, slice(None, None, -1))):
        n = min(len(y), int(round(ms * sample_rate_hz / 1000)))
        if n > 0:
            ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(n) + 0.5) / n)
            y[sl][:n] *= ramp
    return y


def trim_silence(samples: np.ndarray, pre_ms: float = 5.0, post_ms: float = 20.0) -> np.ndarray:
    """Cut lead-in and tail quieter than TRIM_DB below the peak, keeping a little margin."""
    peak = float(np.abs(samples).max()) if len(samples) else 0.0
    if peak == 0.0:
        return samples[:0]
    loud = np.flatnonzero(np.abs(samples) >= peak * 10 ** (TRIM_DB / 20))
    start = max(0, int(loud[0]) - int(pre_ms * SAMPLE_RATE_HZ / 1000))
    stop = min(len(samples), int(loud[-1]) + 1 + int(post_ms * SAMPLE_RATE_HZ / 1000))
    return samples[start:stop]
