"""Sound abstractions: seeded spectral blends of an artist's sources, numpy only.

The analogue of the NSynth notification generator's "fuse"
(https://github.com/papayapeter/nsynth-notification-sound-generation): each source's "encoding" is
its magnitude STFT (hop 512, like NSynth's 512-sample pooling), blended with the original's
weighting scheme by a power mean, perturbed, blurred in time, stretched by the pitch factor,
decoded by fast Griffin-Lim, and resampled so the pitch scales while the length stays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ghosts_render.render.sounds.deck import plan_proportions
from ghosts_render.render.sounds.dsp import SAMPLE_RATE_HZ, resample

N_FFT = 2048
HOP = 512
MIN_S, MAX_S = 0.3, 2.0
_WINDOW = np.hanning(N_FFT + 1)[:N_FFT]  # periodic Hann
PITCHES = (1.0, 0.6, 0.8)  # per role index; 0.6 is the original's --pitch
POWERS = (0.5, 0.75, 0.5)  # power-mean exponent per role index


@dataclass(frozen=True, slots=True)
class BlendStyle:
    """A role's fixed blend settings."""

    pitch: float = 1.0  # < 1 lowers the pitch (the original used 0.6)
    power: float = 0.5  # 1 = linear mix, toward 0 = geometric (only what sources share)
    perturb_db: float = 3.0  # seeded spectral perturbation range
    blur_frames: int = 3  # Hann smear over frames, like NSynth's 31 Hz latent
    gl_iters: int = 48  # Griffin-Lim iterations
    max_sources: int = 6  # the original fused six


def plan_style(role_index: int) -> BlendStyle:
    """Return the blend style of a role: pitch and power mean set its identity."""
    return BlendStyle(
        pitch=PITCHES[role_index % len(PITCHES)], power=POWERS[role_index % len(POWERS)]
    )


def stft(samples: np.ndarray) -> np.ndarray:
    """Return the complex STFT (frames x bins) with centred, zero-padded frames."""
    padded = np.pad(samples, (N_FFT // 2, N_FFT // 2 + HOP))
    count = 1 + (len(padded) - N_FFT) // HOP
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(count)[:, None]
    return np.fft.rfft(padded[idx] * _WINDOW, axis=1)


def frame_count(length: int) -> int:
    """Return how many STFT frames `stft` gives for a signal of `length` samples."""
    return 2 + length // HOP


def istft(spectrum: np.ndarray, length: int) -> np.ndarray:
    """Invert an STFT by weighted overlap-add (the least-squares inverse)."""
    frames = np.fft.irfft(spectrum, N_FFT, axis=1) * _WINDOW
    count, parts = len(frames), N_FFT // HOP
    out = np.zeros((count + parts - 1, HOP))
    norm = np.zeros((count + parts - 1, HOP))
    for k in range(parts):  # overlap-add in HOP-sized blocks: N_FFT is a multiple of HOP
        out[k : k + count] += frames[:, k * HOP : (k + 1) * HOP]
        norm[k : k + count] += _WINDOW[k * HOP : (k + 1) * HOP] ** 2
    signal = out.ravel() / np.maximum(norm.ravel(), 1e-8)
    return signal[N_FFT // 2 : N_FFT // 2 + length]


def griffin_lim(
    magnitude: np.ndarray, length: int, iters: int, rng: np.random.Generator
) -> np.ndarray:
    """Return a signal whose STFT magnitude approximates `magnitude` (fast Griffin-Lim)."""
    momentum = 0.99  # Perraudin et al.'s fast variant
    angles = np.exp(2j * np.pi * rng.random(magnitude.shape))
    previous = np.zeros_like(angles)
    for _ in range(iters):
        rebuilt = stft(istft(magnitude * angles, length))
        accelerated = rebuilt - (momentum / (1 + momentum)) * previous
        previous = rebuilt
        angles = accelerated / np.maximum(np.abs(accelerated), 1e-16)
    return istft(magnitude * angles, length)


def stretch_frames(magnitude: np.ndarray, frames: int) -> np.ndarray:
    """Linearly interpolate an encoding along time to `frames` frames."""
    if frames == len(magnitude):
        return magnitude
    pos = np.linspace(0, len(magnitude) - 1, frames)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, len(magnitude) - 1)
    frac = (pos - lo)[:, None]
    return magnitude[lo] * (1 - frac) + magnitude[hi] * frac


def smooth_axis(values: np.ndarray, width: int, axis: int) -> np.ndarray:
    """Smear an array along one axis with a normalised Hann kernel of `width` taps."""
    if width <= 1:
        return values
    kernel = np.hanning(width + 2)[1:-1]
    kernel /= kernel.sum()
    before = (width - 1) // 2
    pads = [(0, 0)] * values.ndim
    pads[axis] = (before, width - 1 - before)
    padded = np.pad(values, pads)
    size = values.shape[axis]
    out = np.zeros_like(values)
    for k, weight in enumerate(kernel):  # a few shifted copies beat a per-column convolve
        out += weight * np.take(padded, np.arange(k, k + size), axis=axis)
    return out


def render_blend(
    sources: list[np.ndarray], style: BlendStyle, rng: np.random.Generator
) -> np.ndarray:
    """Fuse some sources into one new sound (mono 44.1 kHz float, not normalised)."""
    count = int(rng.integers(2, min(len(sources), style.max_sources) + 1))
    picked = [sources[int(i)] for i in rng.choice(len(sources), size=count, replace=False)]
    weights = plan_proportions(count, rng)
    lengths = np.array([len(s) for s in picked], dtype=np.float64)
    length_s = float(np.dot(weights, lengths)) / SAMPLE_RATE_HZ * rng.uniform(0.9, 1.1)
    length = int(min(max(length_s, MIN_S), MAX_S) * SAMPLE_RATE_HZ)
    frames = frame_count(length)
    mix = np.zeros((frames, N_FFT // 2 + 1))
    for w, source in zip(weights, picked, strict=True):
        mag = np.abs(stft(source))
        mag /= np.sqrt(np.mean(mag**2)) + 1e-12  # unit RMS: weights share timbre, not level
        mix += w * stretch_frames(mag, frames) ** style.power
    mix = mix ** (1 / style.power)
    noise = smooth_axis(smooth_axis(rng.standard_normal(mix.shape), 6, 0), 24, 1)
    noise /= np.abs(noise).max() + 1e-12
    mix *= 10 ** (style.perturb_db * noise / 20)
    mix = smooth_axis(mix, style.blur_frames, 0)  # like NSynth's 31 Hz latent
    # The pitch trick: squeeze the encoding in time, decode, then play it back slower.
    short = int(round(length * style.pitch))
    decoded = griffin_lim(stretch_frames(mix, frame_count(short)), short, style.gl_iters, rng)
    rate = int(round(SAMPLE_RATE_HZ * style.pitch))
    return resample(decoded, rate, SAMPLE_RATE_HZ)[:length]
