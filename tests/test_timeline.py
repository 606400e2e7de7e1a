"""Pacing: table-driven cases plus hypothesis properties of plan_timeline."""

from __future__ import annotations

import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ghosts_render.config import PacingConfig
from ghosts_render.timeline import Beat, plan_cost_s, plan_timeline

DEFAULT = PacingConfig()


@pytest.mark.parametrize(
    ("beat", "expected"),
    [
        (Beat("artist", 0, False, False), 2.0),
        (Beat("artist", 10, False, False), 4.0),
        (Beat("artist", 10, True, False), 7.0),
        (Beat("artist", 0, True, True), 5.0),
    ],
)
def test_cost_is_base_plus_letters_plus_image(beat, expected):
    assert plan_cost_s(beat, DEFAULT) == pytest.approx(expected)


def test_first_message_starts_writing_at_zero():
    tl = plan_timeline([Beat("a", 5, False, True)], DEFAULT, seed=1)
    assert tl.cues[0].writing_at == 0
    # cost 3 s scaled by write_deviation [0.85, 1.15]
    assert 2550 <= tl.cues[0].at <= 3450


def test_reading_pause_uses_the_received_message():
    # Two different senders: the pause before message 1 is the cost of message 0 (which is
    # long) times read_deviation; the same sender twice pauses same_sender_pause instead.
    long_first = [Beat("a", 100, False, True), Beat("b", 1, False, False)]
    tl = plan_timeline(long_first, DEFAULT, seed=3)
    pause = tl.cues[1].writing_at - tl.cues[0].at
    cost0 = plan_cost_s(long_first[0], DEFAULT) * 1000
    assert cost0 * 0.35 - 1 <= pause <= cost0 * 0.55 + 1
    same = [Beat("a", 100, False, True), Beat("a", 1, False, False)]
    tl = plan_timeline(same, DEFAULT, seed=3)
    assert 999 <= tl.cues[1].writing_at - tl.cues[0].at <= 2501


def test_run_time_is_added_before_a_new_run():
    pacing = PacingConfig(run_time=60.0, read_deviation=(0.5, 0.5), write_deviation=(1, 1))
    beats = [Beat("a", 0, False, True), Beat("b", 0, False, True)]
    tl = plan_timeline(beats, pacing, seed=0)
    assert tl.cues[1].writing_at - tl.cues[0].at == 61000


def test_2000_default_messages_last_about_eleven_hours():
    # Messages of 60 characters, four in five answering the other sender, one in ten with a
    # selfie: with the original's parameters (write 2 s + 0.2 s a letter, + 3 s with a selfie,
    # times 0.85-1.15; read 0.35-0.55 of that) a message takes about 20 s.
    beats = [Beat("ab"[(i // 5 + i) % 2], 60, i % 10 == 0, i % 20 == 0) for i in range(2000)]
    tl = plan_timeline(beats, DEFAULT, seed=0)
    hours = tl.duration / 3_600_000
    assert 10 < hours < 12.5
    gaps = [b.at - a.at for a, b in zip(tl.cues, tl.cues[1:], strict=False)]
    assert 18_000 < statistics.mean(gaps) < 22_500


beats_strategy = st.lists(
    st.builds(
        Beat,
        sender=st.sampled_from(["artist", "scientist", "ghost"]),
        text_len=st.integers(0, 400),
        selfie=st.booleans(),
        new_run=st.booleans(),
    ),
    min_size=1,
    max_size=60,
)
pacing_strategy = st.builds(
    PacingConfig,
    base_time=st.floats(0, 5),
    letter_time=st.floats(0, 0.5),
    image_time=st.floats(0, 5),
    run_time=st.floats(0, 30),
    write_deviation=st.tuples(st.floats(0, 1), st.floats(1, 2)),
    read_deviation=st.tuples(st.floats(0, 0.5), st.floats(0.5, 1)),
    same_sender_pause=st.tuples(st.floats(0, 1), st.floats(1, 3)),
)


@settings(max_examples=150, deadline=None)
@given(beats=beats_strategy, pacing=pacing_strategy, seed=st.integers(0, 2**32))
def test_cues_are_ordered_and_deterministic(beats, pacing, seed):
    tl = plan_timeline(beats, pacing, seed)
    assert len(tl.cues) == len(beats)
    assert tl.cues[0].writing_at == 0
    for prev, cue in zip(tl.cues, tl.cues[1:], strict=False):
        assert cue.at > prev.at  # strictly increasing
        assert prev.at <= cue.writing_at <= cue.at  # bubble after the previous message
    assert all(c.writing_at <= c.at for c in tl.cues)
    assert tl.duration > tl.cues[-1].at
    assert plan_timeline(beats, pacing, seed) == tl


@settings(max_examples=100, deadline=None)
@given(beats=beats_strategy, seed=st.integers(0, 2**32))
def test_write_time_stays_within_its_deviation(beats, seed):
    tl = plan_timeline(beats, DEFAULT, seed)
    for beat, cue in zip(beats, tl.cues, strict=True):
        cost_ms = plan_cost_s(beat, DEFAULT) * 1000
        assert cost_ms * 0.85 - 2 <= cue.at - cue.writing_at <= cost_ms * 1.15 + 2


def test_another_seed_gives_another_timeline():
    beats = [Beat("ab"[i % 2], 20, False, False) for i in range(20)]
    assert plan_timeline(beats, DEFAULT, 1) != plan_timeline(beats, DEFAULT, 2)
