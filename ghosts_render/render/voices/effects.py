"""Ghostly voice effects, numpy only and deterministic: pitch, ring modulation, crush, reverb.

- **pitch** (factor p): the clip is resampled so it plays p times higher, and p times shorter.
  Formants move with the pitch (a smaller or larger "throat"), which suits ghosts; the engine
  synthesises at ``length_scale * p`` beforehand, so the words keep their pace (within about
  10 %: the voice rounds each phoneme's length up to whole frames).
- **ring modulation** (the classic robot voice): the signal times a sine, mixed with the dry one.
- **bit-crush / sample-and-hold**: fewer levels and a lower effective rate (a broken radio).
- **reverb**: convolution with a decaying noise impulse response drawn from the clip's own
  generator, reaching -60 dB after the configured RT60; the clip gains that tail.

They run in that order (the reverb last, so its tail stays clean).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from ghosts_render.config_voices import RoleVoiceConfig
from ghosts_render.render.sounds.dsp import next_fast_size, resample

_RATIO_DENOMINATOR = 240  # pitch factors are exact to about 1/240


def apply_effects(
    samples: np.ndarray, sample_rate: int, role: RoleVoiceConfig, rng: np.random.Generator
) -> np.ndarray:
    """Return the clip with the role's effects applied (the input itself when all are off)."""
    y = np.asarray(samples, dtype=np.float64)
    if role.pitch != 1.0:
        y = shift_pitch(y, role.pitch)
    if role.ring_hz > 0 and role.ring_mix > 0:
        y = ring_modulate(y, sample_rate, role.ring_hz, role.ring_mix)
    if role.crush_bits > 0 or role.crush_hold > 1:
        y = crush(y, role.crush_bits, role.crush_hold)
    if role.reverb > 0 and role.reverb_mix > 0:
        y = add_reverb(y, sample_rate, role.reverb, role.reverb_mix, rng)
    return y


def shift_pitch(samples: np.ndarray, factor: float) -> np.ndarray:
    """Raise the pitch (and the formants) by factor, shortening the clip by the same factor."""
    ratio = Fraction(1.0 / factor).limit_denominator(_RATIO_DENOMINATOR)
    # 1/p as long, played at the same rate: p times higher.
    return resample(samples, ratio.denominator, ratio.numerator)


def ring_modulate(samples: np.ndarray, sample_rate: int, hz: float, mix: float) -> np.ndarray:
    """Return (1 - mix) * x + mix * x * sin(2 pi hz t)."""
    t = np.arange(len(samples)) / sample_rate
    return samples * ((1.0 - mix) + mix * np.sin(2 * np.pi * hz * t))


def crush(samples: np.ndarray, bits: int, hold: int) -> np.ndarray:
    """Hold every hold-th sample (1 = off) and round to 2**bits levels (0 = off)."""
    y = samples
    if hold > 1:
        y = np.repeat(y[::hold], hold)[: len(samples)]
    if bits > 0:
        step = 2.0 / (2**bits)
        y = np.round(y / step) * step
    return y


def plan_reverb_ir(sample_rate: int, rt60: float, rng: np.random.Generator) -> np.ndarray:
    """Return a decaying noise impulse response of unit energy: -60 dB after rt60 seconds."""
    n = max(1, int(round(rt60 * sample_rate)))
    t = np.arange(n) / sample_rate
    ir = rng.standard_normal(n) * np.exp(-3.0 * np.log(10.0) * t / rt60)  # 60 dB of amplitude
    return ir / np.sqrt(np.sum(ir * ir))


def add_reverb(
    samples: np.ndarray, sample_rate: int, rt60: float, mix: float, rng: np.random.Generator
) -> np.ndarray:
    """Return (1 - mix) * dry + mix * (dry convolved with a seeded IR), with the tail added."""
    ir = plan_reverb_ir(sample_rate, rt60, rng)
    n = len(samples) + len(ir) - 1
    size = next_fast_size(n)
    wet = np.fft.irfft(np.fft.rfft(samples, size) * np.fft.rfft(ir, size), size)[:n]
    dry = np.pad(samples, (0, n - len(samples)))
    return (1.0 - mix) * dry + mix * wet
