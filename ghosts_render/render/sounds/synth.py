"""Procedural notification sounds: seeded FM/additive synthesis, one recognisable palette per role.

A role's palette (register, scale, timbre family, contour, rhythm) is drawn once from (seed, role);
each sound varies within it. Registers are disjoint bands per role index and every note is folded
into its role's band, so two roles never share a pitch range.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ghosts_render.render.sounds.dsp import SAMPLE_RATE_HZ, resample

MIN_S, MAX_S = 0.3, 2.0
# Note bands per role index (Hz): each 2.5x wide so octave folding always lands inside.
BANDS_HZ = ((640.0, 1600.0), (200.0, 500.0), (1700.0, 4250.0))
SCALES = {
    "major pentatonic": (0, 2, 4, 7, 9, 12),
    "minor pentatonic": (0, 3, 5, 7, 10, 12),
    "lydian": (0, 2, 4, 6, 7, 9, 11, 12),
    "whole-tone": (0, 2, 4, 6, 8, 10, 12),
    "fourths": (0, 5, 10, 15),
}
FAMILIES = ("glass", "marimba", "bell_fm", "soft_fm", "wood_fm", "chirp")
CONTOURS = ("up", "down", "arch", "flat")
_PARTIALS = {  # free-bar partial ratios and amplitudes
    "glass": ((1.0, 2.756, 5.404, 8.933), (1.0, 0.45, 0.2, 0.1)),
    "marimba": ((1.0, 3.93, 9.54), (1.0, 0.3, 0.1)),
}
_FM = {"bell_fm": (3.5, (0.8, 1.6)), "soft_fm": (1.0, (0.5, 1.2)), "wood_fm": (1.41, (0.6, 1.3))}


@dataclass(frozen=True, slots=True)
class Palette:
    """A role's sound identity; every field is fixed for the role's whole bank."""

    family: str
    band_hz: tuple[float, float]
    root_hz: float
    scale: str
    contour: str
    notes: tuple[int, int]  # notes per sound, inclusive range
    gap_s: float  # inter-onset interval
    decay_s: float  # amplitude time constant
    attack_s: float
    click: float  # noise transient amount
    grit: float  # 16 kHz / 8-bit mu-law texture amount
    fm_index: float
    glide_octaves: float  # chirp only


def plan_palette(role_index: int, rng: np.random.Generator) -> Palette:
    """Draw a role's palette; its register comes from the role's index."""
    lo, hi = BANDS_HZ[role_index % len(BANDS_HZ)]
    lo_notes = int(rng.integers(1, 4))
    return Palette(
        family=str(rng.choice(FAMILIES)),
        band_hz=(lo, hi),
        root_hz=float(np.exp(rng.uniform(np.log(lo), np.log(lo * 1.6)))),
        scale=str(rng.choice(list(SCALES))),
        contour=str(rng.choice(CONTOURS)),
        notes=(lo_notes, int(rng.integers(lo_notes, 5))),
        gap_s=float(rng.uniform(0.06, 0.16)),
        decay_s=float(rng.uniform(0.08, 0.35)),
        attack_s=float(rng.uniform(0.001, 0.008)),
        click=float(rng.uniform(0.0, 0.3)),
        grit=float(rng.uniform(0.0, 0.8)) if rng.random() < 0.5 else 0.0,
        fm_index=float(rng.uniform(0.0, 1.0)),
        glide_octaves=float(rng.uniform(0.2, 0.6)) * (1 if rng.random() < 0.5 else -1),
    )


def fold_into_band(freq_hz: float, band_hz: tuple[float, float]) -> float:
    """Move a frequency by octaves until it lies in the band."""
    lo, hi = band_hz
    while freq_hz > hi:
        freq_hz /= 2
    while freq_hz < lo:
        freq_hz *= 2
    return freq_hz


def plan_notes(palette: Palette, rng: np.random.Generator) -> list[float]:
    """Choose one sound's note frequencies: scale steps along the contour, detuned, folded."""
    steps = SCALES[palette.scale]
    count = int(rng.integers(palette.notes[0], palette.notes[1] + 1))
    picked = sorted(int(s) for s in rng.choice(steps, size=count, replace=count > len(steps)))
    if palette.contour == "down":
        picked = picked[::-1]
    elif palette.contour == "arch":
        picked = picked[::2] + picked[1::2][::-1]
    elif palette.contour == "flat":
        picked = [picked[0]] * count
    factor = 2 ** (rng.uniform(-20, 20) / 1200)
    if rng.random() < 0.25:
        factor *= 2.0 if rng.random() < 0.5 else 1.5
    return [
        fold_into_band(palette.root_hz * factor * 2 ** (s / 12), palette.band_hz) for s in picked
    ]


def _envelope(t: np.ndarray, attack_s: float, decay_s: float) -> np.ndarray:
    return np.minimum(t / attack_s, 1.0) * np.exp(-t / decay_s)


def synth_note(
    palette: Palette, freq_hz: float, length_s: float, index: float, onset_s: float = 0.0
) -> np.ndarray:
    """Render one note of the palette's timbre family (phase locked to the sound's clock)."""
    t = np.arange(int(length_s * SAMPLE_RATE_HZ)) / SAMPLE_RATE_HZ
    env = _envelope(t, palette.attack_s, palette.decay_s)
    clock = t + onset_s  # repeated notes stay in phase instead of cancelling
    fam = palette.family
    if fam in _PARTIALS:
        ratios, amps = _PARTIALS[fam]
        tone = np.zeros_like(t)
        for k, (ratio, amp) in enumerate(zip(ratios, amps, strict=True)):
            tone += (
                amp
                * np.sin(2 * np.pi * freq_hz * ratio * clock)
                * np.exp(-1.2 * k * t / palette.decay_s)
            )
        return env * tone
    if fam == "chirp":
        octaves = palette.glide_octaves
        end = freq_hz * 2**octaves
        lo, hi = palette.band_hz
        if not lo <= end <= hi:
            end = freq_hz * 2**-octaves
        k = np.log(end / freq_hz) / max(length_s, 1e-3)
        phase = 2 * np.pi * freq_hz * (onset_s + (np.expm1(k * t) / k if abs(k) > 1e-9 else t))
        return env * (np.sin(phase) + 0.15 * np.sin(2 * phase))
    ratio, _ = _FM[fam]
    mod = index * np.exp(-2 * t / palette.decay_s) * np.sin(2 * np.pi * freq_hz * ratio * clock)
    return env * np.sin(2 * np.pi * freq_hz * clock + mod)


def synth_grit(samples: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Return the NSynth-like texture: through 16 kHz and dithered 8-bit mu-law and back."""
    peak = float(np.abs(samples).max()) or 1.0
    low = resample(samples / peak, SAMPLE_RATE_HZ, 16000)
    mu = 255.0
    coded = np.sign(low) * np.log1p(mu * np.minimum(np.abs(low), 1.0)) / np.log1p(mu)
    dither = rng.uniform(-0.5, 0.5, len(coded)) + rng.uniform(-0.5, 0.5, len(coded))
    steps = np.clip(np.round(coded * 127.5 + dither), -128, 127) / 127.5
    decoded = np.sign(steps) * np.expm1(np.abs(steps) * np.log1p(mu)) / mu
    back = resample(decoded, 16000, SAMPLE_RATE_HZ)[: len(samples)] * peak
    return np.pad(back, (0, len(samples) - len(back)))


def plan_variation(palette: Palette, rng: np.random.Generator) -> Palette:
    """Return the palette varied for one sound (index, decay, gap, grit)."""
    return replace(
        palette,
        fm_index=palette.fm_index * rng.uniform(0.7, 1.3),
        decay_s=palette.decay_s * rng.uniform(0.75, 1.25),
        gap_s=palette.gap_s * rng.uniform(0.8, 1.2),
        grit=palette.grit * rng.uniform(0.5, 1.0),
    )


def synth_sound(palette: Palette, rng: np.random.Generator) -> np.ndarray:
    """Render one sound of the palette (mono, 44.1 kHz, not normalised, 0.3-2 s)."""
    p = plan_variation(palette, rng)
    notes = plan_notes(p, rng)
    note_s = min(max(4 * p.decay_s * rng.uniform(0.8, 1.2), 0.15), 1.2)
    lo_index, hi_index = _FM.get(p.family, (0, (0.0, 0.0)))[1]
    index = lo_index + (hi_index - lo_index) * min(p.fm_index, 1.0)
    total_s = min(max((len(notes) - 1) * p.gap_s + note_s, MIN_S), MAX_S)
    out = np.zeros(int(total_s * SAMPLE_RATE_HZ))
    for i, freq in enumerate(notes):
        start = int(i * p.gap_s * SAMPLE_RATE_HZ)
        note = synth_note(p, freq, note_s, index, start / SAMPLE_RATE_HZ) * (0.85**i)
        end = min(len(out), start + len(note))
        out[start:end] += note[: end - start]
        if p.click > 0:
            click = np.diff(rng.standard_normal(int(0.003 * SAMPLE_RATE_HZ) + 1))
            click *= p.click * np.linspace(1.0, 0.0, len(click))
            out[start : start + len(click)] += click[: len(out) - start]
    if rng.random() < 0.3:
        delay = int(rng.uniform(0.09, 0.18) * SAMPLE_RATE_HZ)
        out[delay:] += 0.35 * out[:-delay].copy()
    if p.grit > 0:
        out = (1 - p.grit) * out + p.grit * synth_grit(out, rng)
    return out
