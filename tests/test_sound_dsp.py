"""Loudness, resampling, fades, decks and blend weights: the pure numpy parts of the sound stage."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ghosts_render.render.sounds.abstractions import griffin_lim, istft, stft
from ghosts_render.render.sounds.deck import plan_deck, plan_proportions, seeded_rng
from ghosts_render.render.sounds.dsp import apply_fades, next_fast_size, resample, trim_silence
from ghosts_render.render.sounds.loudness import (
    SILENCE_LUFS,
    k_weighting_response,
    measure_loudness,
    measure_momentary_max_lufs,
    measure_true_peak_dbtp,
    plan_gain_db,
)


def sine(freq: float, seconds: float, rate: int, amp: float, phase: float = 0.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return amp * np.sin(2 * np.pi * freq * t + phase)


@pytest.mark.parametrize("rate", [44100, 48000, 96000])
def test_1khz_sine_at_minus_20_dbfs_reads_minus_23_lufs(rate: int) -> None:
    # BS.1770's own calibration: a 1 kHz sine at -20 dBFS reads about -23.0 LUFS.
    assert measure_momentary_max_lufs(sine(1000, 2.0, rate, 0.1), rate) == pytest.approx(
        -23.0, abs=0.03
    )


def _biquad(b: list[float], a: list[float], omega: np.ndarray) -> np.ndarray:
    z = np.exp(-1j * omega)
    return (b[0] + b[1] * z + b[2] * z * z) / (a[0] + a[1] * z + a[2] * z * z)


def test_k_weighting_matches_the_bs1770_48k_coefficients() -> None:
    n_fft = 4096
    omega = 2 * np.pi * np.fft.rfftfreq(n_fft)
    # ITU-R BS.1770-4, tables 1 and 2 (48 kHz).
    shelf = _biquad(
        [1.53512485958697, -2.69169618940638, 1.19839281085285],
        [1.0, -1.69065929318241, 0.73248077421585],
        omega,
    )
    highpass = _biquad([1.0, -2.0, 1.0], [1.0, -1.99004745483398, 0.99007225036621], omega)
    ours = k_weighting_response(48000, n_fft)
    ref_db = 20 * np.log10(np.abs(shelf * highpass)[1:])
    assert np.abs(20 * np.log10(np.abs(ours[1:])) - ref_db).max() < 0.01


def test_true_peak_sees_between_samples() -> None:
    # A sine at a quarter of the rate, 45 degrees off: samples peak at -3 dB, the wave at 0 dB.
    x = sine(12000, 0.5, 48000, 1.0, np.pi / 4)
    x[:480] *= np.linspace(0, 1, 480)  # soft ends: an abrupt edge rings above the wave's peak
    x[-480:] *= np.linspace(1, 0, 480)
    assert 20 * np.log10(np.abs(x).max()) == pytest.approx(-3.01, abs=0.01)
    assert measure_true_peak_dbtp(x) == pytest.approx(0.0, abs=0.05)


def test_short_ping_is_measurable_and_reads_quieter_than_a_long_one() -> None:
    short = sine(1000, 0.1, 44100, 0.1)
    long = sine(1000, 1.0, 44100, 0.1)
    short_lufs = measure_momentary_max_lufs(short, 44100)
    assert short_lufs == pytest.approx(-23.0 + 10 * np.log10(0.1 / 0.4), abs=0.1)
    assert short_lufs < measure_momentary_max_lufs(long, 44100)


def test_silence_reads_as_the_silence_floor() -> None:
    assert measure_momentary_max_lufs(np.zeros(44100), 44100) == SILENCE_LUFS
    assert measure_true_peak_dbtp(np.zeros(100)) == SILENCE_LUFS


def test_gain_reaches_the_target_unless_the_ceiling_binds() -> None:
    soft = measure_loudness(sine(1000, 1.0, 44100, 0.1), 44100)  # -23 LUFS, -20 dBTP
    assert plan_gain_db(soft, -18.0, -1.0) == pytest.approx(5.0, abs=0.05)
    spiky = np.zeros(44100)
    spiky[1000] = 0.5  # a click: loud peak, little loudness
    figures = measure_loudness(spiky, 44100)
    gain = plan_gain_db(figures, -18.0, -1.0)
    assert gain == pytest.approx(-1.0 - figures.true_peak_dbtp)
    assert figures.momentary_max_lufs + gain < -18.0


@pytest.mark.parametrize(("rate_in", "rate_out"), [(8000, 44100), (12345, 44100), (96000, 44100)])
def test_resample_keeps_a_sine_exact_away_from_the_edges(rate_in: int, rate_out: int) -> None:
    x = sine(440, 1.0, rate_in, 0.5)
    y = resample(x, rate_in, rate_out)
    assert len(y) == rate_out
    ref = sine(440, 1.0, rate_out, 0.5)
    middle = slice(rate_out // 4, 3 * rate_out // 4)
    assert np.abs(y - ref)[middle].max() < 1e-4


def test_next_fast_size_has_only_small_factors() -> None:
    for n in (1, 7, 11, 1000, 44101, 88211):
        size = next_fast_size(n)
        assert size >= n
        rest = size
        for p in (2, 3, 5, 7):
            while rest % p == 0:
                rest //= p
        assert rest == 1
        assert size < 1.2 * n + 2


def test_fades_start_and_end_near_zero_and_keep_the_middle() -> None:
    x = np.ones(44100)
    y = apply_fades(x, 2.5, 35.0)
    assert y[0] < 0.01 and y[-1] < 0.01
    assert y[22050] == 1.0
    assert np.all(np.diff(y[:110]) > 0)


def test_trim_keeps_margins_around_the_sound() -> None:
    x = np.concatenate([np.zeros(44100), sine(440, 0.2, 44100, 0.5), np.zeros(44100)])
    y = trim_silence(x)
    assert 0.2 < len(y) / 44100 < 0.23


def test_istft_inverts_stft_and_griffin_lim_converges() -> None:
    x = sine(700, 0.5, 44100, 0.3) * np.exp(-np.arange(22050) / 8000)
    assert np.abs(istft(stft(x), len(x)) - x).max() < 1e-9
    target = np.abs(stft(x))
    rough = griffin_lim(target, len(x), 2, np.random.default_rng(0))
    fine = griffin_lim(target, len(x), 32, np.random.default_rng(0))

    def error(y: np.ndarray) -> float:
        return float(np.linalg.norm(np.abs(stft(y)) - target) / np.linalg.norm(target))

    assert error(fine) < 0.5 * error(rough)
    assert error(fine) < 0.15


def test_deck_deals_each_card_once_per_pass() -> None:
    dealt = plan_deck(5, 23, seeded_rng(0, "deck"))
    assert len(dealt) == 23
    for start in range(0, 20, 5):
        assert sorted(dealt[start : start + 5]) == [0, 1, 2, 3, 4]
    assert sorted(set(dealt[20:])) == sorted(dealt[20:])
    assert dealt == plan_deck(5, 23, seeded_rng(0, "deck"))
    assert dealt != plan_deck(5, 23, seeded_rng(1, "deck"))


def test_random_streams_depend_on_every_part() -> None:
    draw = seeded_rng(3, "sounds", "artist", 1).random()
    assert draw == seeded_rng(3, "sounds", "artist", 1).random()
    assert draw != seeded_rng(3, "sounds", "artist", 2).random()
    assert draw != seeded_rng(4, "sounds", "artist", 1).random()


def test_six_way_weights_follow_the_original_scheme() -> None:
    for seed in range(50):
        weights = plan_proportions(6, np.random.default_rng(seed))
        assert weights.sum() == pytest.approx(1.0)
        inside = np.sort(weights)
        # Five lie in [0.9/6, 1.1/6]; the remainder in [1 - 5 * 1.1/6, 1 - 5 * 0.9/6].
        assert np.count_nonzero((weights >= 0.15 - 1e-9) & (weights <= 1.1 / 6 + 1e-9)) >= 5
        assert inside[0] >= 1 - 5 * 1.1 / 6 - 1e-9 and inside[-1] <= 1 - 5 * 0.9 / 6 + 1e-9


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 12), st.integers(0, 2**32 - 1))
def test_weights_are_non_negative_and_sum_to_one(k: int, seed: int) -> None:
    weights = plan_proportions(k, np.random.default_rng(seed))
    assert len(weights) == k
    assert (weights >= 0).all()
    assert weights.sum() == pytest.approx(1.0)
