"""Voice effects: pitch moves frequency and keeps pace, reverb's tail, ring, crush, determinism."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from ghosts_render.config_voices import RoleVoiceConfig, VoicesConfig
from ghosts_render.render.voices.effects import (
    add_reverb,
    apply_effects,
    crush,
    plan_reverb_ir,
    ring_modulate,
    shift_pitch,
)

RATE = 22050
TINY = Path(__file__).resolve().parent / "data" / "voices" / "tiny.onnx"


def _sine(hz: float, seconds: float = 1.0) -> np.ndarray:
    return 0.5 * np.sin(2 * np.pi * hz * np.arange(int(seconds * RATE)) / RATE)


def _peak_hz(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / RATE)[np.argmax(spectrum)])


@pytest.mark.parametrize("factor", [0.5, 0.8, 0.88, 1.25, 2.0])
def test_pitch_moves_a_sine_by_the_factor_and_shortens_it_as_much(factor):
    shifted = apply_effects(_sine(220.0), RATE, RoleVoiceConfig(pitch=factor), None)
    assert _peak_hz(shifted) == pytest.approx(220.0 * factor, rel=0.05)
    assert len(shifted) == pytest.approx(RATE / factor, rel=0.01)
    assert np.array_equal(shifted, shift_pitch(_sine(220.0), factor))


@pytest.mark.parametrize("factor", [0.8, 1.25])
def test_a_pitched_voice_keeps_its_pace(factor):
    pytest.importorskip("piper", reason="voices need the extra: pip install '.[voices]'")
    from ghosts_render.render.voices.clip import render_clip
    from ghosts_render.render.voices.piper_voice import load_voice

    model = load_voice(TINY, threads=1)
    text = "Every ghost keeps its own time. Listen to the pace of the words."

    def duration(pitch: float) -> int:
        role = RoleVoiceConfig(pitch=pitch)
        clip = render_clip(model, text, role=role, voices=VoicesConfig(), seed=2, message_id="m")
        assert clip is not None
        return clip.duration_ms

    assert duration(factor) == pytest.approx(duration(1.0), rel=0.10)


def _rt60(samples: np.ndarray, start: int) -> float:
    """RT60 from the Schroeder decay curve's -5 to -35 dB slope (T30), after start."""
    tail = samples[start:] ** 2
    decay = np.cumsum(tail[::-1])[::-1]
    db = 10 * np.log10(decay / decay[0] + 1e-30)
    t5, t35 = np.argmax(db <= -5.0), np.argmax(db <= -35.0)
    return 2.0 * (t35 - t5) / RATE


@pytest.mark.parametrize("rt60", [0.5, 1.6])
def test_reverb_adds_a_tail_that_decays_in_about_the_configured_rt60(rt60):
    click = np.zeros(RATE // 10)
    click[0] = 1.0
    role = RoleVoiceConfig(reverb=rt60, reverb_mix=1.0)
    wet = apply_effects(click, RATE, role, np.random.default_rng(1))
    assert len(wet) == len(click) + round(rt60 * RATE) - 1
    assert _rt60(wet, 0) == pytest.approx(rt60, rel=0.15)
    ir = plan_reverb_ir(RATE, rt60, np.random.default_rng(1))
    assert float(np.sum(ir * ir)) == pytest.approx(1.0)


def test_reverb_mix_keeps_the_dry_signal_and_adds_the_wet_one():
    dry = _sine(300.0, 0.5)
    half = add_reverb(dry, RATE, 0.8, 0.3, np.random.default_rng(4))
    full = add_reverb(dry, RATE, 0.8, 1.0, np.random.default_rng(4))
    padded = np.pad(dry, (0, len(full) - len(dry)))
    assert np.allclose(half, 0.7 * padded + 0.3 * full)


def test_ring_modulation_moves_a_sine_to_the_sum_and_difference_frequencies():
    ringed = ring_modulate(_sine(500.0), RATE, 120.0, 1.0)
    spectrum = np.abs(np.fft.rfft(ringed))
    freqs = np.fft.rfftfreq(len(ringed), 1 / RATE)
    strongest = sorted(float(f) for f in freqs[np.argsort(spectrum)[-2:]])
    assert strongest == pytest.approx([380.0, 620.0], abs=2.0)
    half = ring_modulate(_sine(500.0), RATE, 120.0, 0.5)
    assert np.allclose(half, 0.5 * _sine(500.0) + 0.5 * ringed)


def test_crush_quantises_to_the_bit_depth_and_holds_samples():
    x = _sine(440.0, 0.2)
    crushed = crush(x, 4, 1)
    assert len(np.unique(crushed)) <= 2**4 + 1 and not np.array_equal(crushed, x)
    assert np.abs(crushed - x).max() <= 2.0 / 2**4 / 2 + 1e-12
    held = crush(x, 0, 3)
    assert len(held) == len(x) and np.array_equal(held[::3], x[::3])
    assert np.array_equal(held[1::3], x[::3][: len(held[1::3])])


def test_effects_are_deterministic_and_off_by_default():
    x = _sine(180.0, 0.7) * np.linspace(0, 1, int(0.7 * RATE))
    role = RoleVoiceConfig(
        pitch=0.88, reverb=1.2, reverb_mix=0.25, ring_hz=30.0, crush_bits=8, crush_hold=2
    )
    a = apply_effects(x, RATE, role, np.random.default_rng(9))
    b = apply_effects(x, RATE, role, np.random.default_rng(9))
    c = apply_effects(x, RATE, role, np.random.default_rng(10))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)  # another clip's generator: another room's noise
    assert np.array_equal(apply_effects(x, RATE, RoleVoiceConfig(), None), x)


def test_a_voice_clip_with_every_effect_is_the_same_bytes_twice():
    pytest.importorskip("piper", reason="voices need the extra: pip install '.[voices]'")
    import soundfile as sf

    from ghosts_render.render.voices.clip import render_clip
    from ghosts_render.render.voices.piper_voice import load_voice

    model = load_voice(TINY, threads=1)
    role = RoleVoiceConfig(pitch=1.2, reverb=0.9, ring_hz=50.0, crush_bits=6, crush_hold=2)
    dry = render_clip(
        model, "A ghost.", role=RoleVoiceConfig(), voices=VoicesConfig(), seed=1, message_id="m"
    )
    clips = [
        render_clip(model, "A ghost.", role=role, voices=VoicesConfig(), seed=1, message_id="m")
        for _ in range(2)
    ]
    assert clips[0] == clips[1] and dry is not None and clips[0] is not None
    assert clips[0].data != dry.data
    wet, _ = sf.read(io.BytesIO(clips[0].data))
    assert clips[0].duration_ms > dry.duration_ms + 800  # the reverb's tail
    assert len(wet) * 1000 == clips[0].duration_ms * RATE
