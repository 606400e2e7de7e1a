"""Pacing: table-driven cases plus hypothesis properties of plan_timeline."""

from __future__ import annotations

import dataclasses
import random
import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ghosts_render.config import PacingConfig
from ghosts_render.timeline import Beat, plan_cost_s, plan_timeline

DEFAULT = PacingConfig()


def beat(sender: str, text_len: int, selfie: bool, new_run: bool, id: str = "m00000") -> Beat:
    return Beat(id=id, sender=sender, text_len=text_len, selfie=selfie, new_run=new_run)


def numbered(beats: list[Beat]) -> list[Beat]:
    """Give each beat the id the render gives the message at its place."""
    return [dataclasses.replace(b, id=f"m{i:05d}") for i, b in enumerate(beats)]


@pytest.mark.parametrize(
    ("beat", "expected"),
    [
        (beat("artist", 0, False, False), 2.0),
        (beat("artist", 10, False, False), 4.0),
        (beat("artist", 10, True, False), 7.0),
        (beat("artist", 0, True, True), 5.0),
    ],
)
def test_cost_is_base_plus_letters_plus_image(beat, expected):
    assert plan_cost_s(beat, DEFAULT) == pytest.approx(expected)


def test_first_message_starts_writing_at_zero():
    tl = plan_timeline([beat("a", 5, False, True)], DEFAULT, seed=1)
    assert tl.cues[0].writing_at == 0
    # cost 3 s scaled by write_deviation [0.85, 1.15]
    assert 2550 <= tl.cues[0].at <= 3450


def test_reading_pause_uses_the_received_message():
    # Two different senders: the pause before message 1 is the cost of message 0 (which is
    # long) times read_deviation; the same sender twice pauses same_sender_pause instead.
    long_first = numbered([beat("a", 100, False, True), beat("b", 1, False, False)])
    tl = plan_timeline(long_first, DEFAULT, seed=3)
    pause = tl.cues[1].writing_at - tl.cues[0].at
    cost0 = plan_cost_s(long_first[0], DEFAULT) * 1000
    assert cost0 * 0.35 - 1 <= pause <= cost0 * 0.55 + 1
    same = numbered([beat("a", 100, False, True), beat("a", 1, False, False)])
    tl = plan_timeline(same, DEFAULT, seed=3)
    assert 999 <= tl.cues[1].writing_at - tl.cues[0].at <= 2501


def test_run_time_is_added_before_a_new_run():
    pacing = PacingConfig(run_time=60.0, read_deviation=(0.5, 0.5), write_deviation=(1, 1))
    beats = numbered([beat("a", 0, False, True), beat("b", 0, False, True)])
    tl = plan_timeline(beats, pacing, seed=0)
    assert tl.cues[1].writing_at - tl.cues[0].at == 61000


def test_2000_default_messages_last_about_eleven_hours():
    # Messages of 60 characters, four in five answering the other sender, one in ten with a
    # selfie: with the original's parameters (write 2 s + 0.2 s a letter, + 3 s with a selfie,
    # times 0.85-1.15; read 0.35-0.55 of that) a message takes about 20 s.
    beats = numbered(
        [beat("ab"[(i // 5 + i) % 2], 60, i % 10 == 0, i % 20 == 0) for i in range(2000)]
    )
    tl = plan_timeline(beats, DEFAULT, seed=0)
    hours = tl.duration / 3_600_000
    assert 10 < hours < 12.5
    gaps = [b.at - a.at for a, b in zip(tl.cues, tl.cues[1:], strict=False)]
    assert 18_000 < statistics.mean(gaps) < 22_500


beats_strategy = st.lists(
    st.builds(
        beat,
        sender=st.sampled_from(["artist", "scientist", "ghost"]),
        text_len=st.integers(0, 400),
        selfie=st.booleans(),
        new_run=st.booleans(),
    ),
    min_size=1,
    max_size=60,
).map(numbered)
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
    beats = numbered([beat("ab"[i % 2], 20, False, False) for i in range(20)])
    assert plan_timeline(beats, DEFAULT, 1) != plan_timeline(beats, DEFAULT, 2)


# --------------------------------------------------------------------------- keyed by id
# Each message draws from random.Random(f"ghosts-render/pacing/{seed}/{id}"): first its write
# factor U(write_deviation), then its pause (U(read_deviation) or U(same_sender_pause)). The
# tests below compute the draws from that stream themselves.


def stream(seed: int, message_id: str) -> random.Random:
    return random.Random(f"ghosts-render/pacing/{seed}/{message_id}")


def shifts(old: list, new: list) -> set[int]:
    """Every amount by which the cues of `new` lie after those of `old` (writing_at and at)."""
    return {n.writing_at - o.writing_at for o, n in zip(old, new, strict=True)} | {
        n.at - o.at for o, n in zip(old, new, strict=True)
    }


def test_a_message_keeps_its_write_time_wherever_it_stands():
    beats = numbered([beat("ab"[i % 2], 10 + 7 * i, i == 3, i == 0) for i in range(8)])
    moved = [beat("c", 40, False, True, id="m09999"), *beats]  # one more message in front
    old = plan_timeline(beats, DEFAULT, seed=5).cues
    new = plan_timeline(moved, DEFAULT, seed=5).cues[1:]
    assert [c.at - c.writing_at for c in new] == [c.at - c.writing_at for c in old]


def test_deleting_a_message_closes_its_gap_and_shifts_what_follows_by_one_amount():
    senders = "abababbabab"  # m00006 reads "a" (m00005); with m00006 gone, m00007 reads it
    beats = numbered([beat(s, 15 + 5 * i, False, i == 0) for i, s in enumerate(senders)])
    old = plan_timeline(beats, DEFAULT, seed=11)
    k = 6
    new = plan_timeline(beats[:k] + beats[k + 1 :], DEFAULT, seed=11)
    assert new.cues[:k] == old.cues[:k]  # nothing before it moves
    (shift,) = shifts(list(old.cues[k + 1 :]), list(new.cues[k:]))  # one amount for all after
    assert new.duration - old.duration == shift
    # The gap is gone: the next message now reads the message before the deleted one.
    rng = stream(11, "m00007")
    rng.random()  # its write factor
    pause = plan_cost_s(beats[k - 1], DEFAULT) * rng.uniform(*DEFAULT.read_deviation)
    assert new.cues[k].writing_at - new.cues[k - 1].at == round(pause * 1000)
    assert shift < -(old.cues[k].at - old.cues[k].writing_at)  # at least its write time closed


def test_lengthening_a_text_grows_its_write_time_by_its_own_draw_and_nothing_before_moves():
    beats = numbered([beat("ab"[i % 3 % 2], 20 + 3 * i, i == 4, i == 0) for i in range(10)])
    k, added = 4, 37
    longer = [*beats[:k], dataclasses.replace(beats[k], text_len=beats[k].text_len + added)]
    old = plan_timeline(beats, DEFAULT, seed=3)
    new = plan_timeline(longer + beats[k + 1 :], DEFAULT, seed=3)
    assert new.cues[:k] == old.cues[:k]
    assert new.cues[k].writing_at == old.cues[k].writing_at
    grown = (new.cues[k].at - new.cues[k].writing_at) - (old.cues[k].at - old.cues[k].writing_at)
    factor = stream(3, "m00004").uniform(*DEFAULT.write_deviation)
    # letter_time x added letters x its U(write_deviation) draw, in whole ms (each side rounded)
    assert abs(grown - DEFAULT.letter_time * added * factor * 1000) <= 1
    assert grown > 0
    # The next message reads the longer text, so from there on everything shifts by one amount.
    assert len(shifts(list(old.cues[k + 2 :]), list(new.cues[k + 2 :]))) == 1


@settings(max_examples=100, deadline=None)
@given(beats=beats_strategy.filter(lambda b: len(b) >= 3), data=st.data())
def test_any_deletion_moves_nothing_before_and_shifts_everything_after_alike(beats, data):
    k = data.draw(st.integers(0, len(beats) - 2))
    old = plan_timeline(beats, DEFAULT, seed=1)
    new = plan_timeline(beats[:k] + beats[k + 1 :], DEFAULT, seed=1)
    assert new.cues[:k] == old.cues[:k]
    # After the deleted message every cue moves by one amount (the first message after a
    # deleted opening message starts writing at 0, as every loop's first message does).
    after = shifts(list(old.cues[k + 2 :]), list(new.cues[k + 1 :]))
    assert len(after) <= 1
    ahead = new.cues[k].at - old.cues[k + 1].at
    assert after <= {ahead} and new.duration - old.duration == ahead
