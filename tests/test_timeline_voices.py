"""Pacing with speech: the rule as hypothesis properties, and plan_times filling voice.at."""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from ghosts_render.archive.model import Conversation, Message, Role, Sound, Voice
from ghosts_render.config import PacingConfig
from ghosts_render.config_voices import VoicesConfig
from ghosts_render.files import dump_json
from ghosts_render.timeline import Beat, SpeechPacing, plan_timeline, plan_times

DEFAULT = PacingConfig()


@st.composite
def beats(draw: st.DrawFn) -> list[Beat]:
    n = draw(st.integers(1, 40))
    return [
        Beat(
            id=f"m{i:05d}",
            sender=draw(st.sampled_from(["artist", "scientist"])),
            text_len=draw(st.integers(0, 300)),
            selfie=draw(st.booleans()),
            new_run=i == 0 or draw(st.booleans()),
            sound_ms=draw(st.integers(0, 2000)),
            speech_ms=draw(st.sampled_from([0, draw(st.integers(1, 30_000))])),
        )
        for i in range(n)
    ]


pacings = st.builds(
    PacingConfig,
    base_time=st.floats(0, 5),
    letter_time=st.floats(0, 0.5),
    same_sender_pause=st.tuples(st.floats(0, 1), st.floats(1, 3)),
    closing_pause=st.floats(0, 20),
)


@st.composite
def speeches(draw: st.DrawFn) -> SpeechPacing:
    low = draw(st.floats(0, 2))
    return SpeechPacing(
        delay_ms=draw(st.integers(0, 1000)),
        listen_pause=(low, low + draw(st.floats(0, 2))),
    )


@settings(max_examples=300, deadline=None)
@given(beats(), pacings, speeches(), st.integers(0, 2**31))
def test_no_writing_bubble_before_the_previous_clip_ends_plus_its_pause(
    beats: list[Beat], pacing: PacingConfig, speech: SpeechPacing, seed: int
) -> None:
    timeline = plan_timeline(beats, pacing, seed, speech)
    cues = timeline.cues
    listen_min = round(speech.listen_pause[0] * 1000)
    clip_end = -1
    for i, (beat, cue) in enumerate(zip(beats, cues, strict=True)):
        assert cue.writing_at <= cue.at
        if i:
            assert cue.at > cues[i - 1].at  # strictly increasing
            prev = cues[i - 1]
            if prev.voice_at is not None:
                assert cue.writing_at >= prev.voice_at + beats[i - 1].speech_ms + listen_min
        if beat.speech_ms:
            assert cue.voice_at == cue.at + beat.sound_ms + speech.delay_ms
            assert cue.voice_at >= clip_end  # clips never overlap
            clip_end = cue.voice_at + beat.speech_ms
        else:
            assert cue.voice_at is None
    assert timeline.duration >= clip_end + listen_min
    assert timeline.duration > cues[-1].at


@settings(max_examples=200, deadline=None)
@given(beats(), pacings, speeches(), st.integers(0, 2**31))
def test_without_speech_the_timeline_is_the_one_without_voices(
    beats: list[Beat], pacing: PacingConfig, speech: SpeechPacing, seed: int
) -> None:
    silent = [dataclasses.replace(b, speech_ms=0) for b in beats]
    assert plan_timeline(silent, pacing, seed, speech) == plan_timeline(silent, pacing, seed)
    # The sound lengths alone change nothing either.
    assert plan_timeline(beats, pacing, seed) == plan_timeline(silent, pacing, seed)


@settings(max_examples=100, deadline=None)
@given(beats(), speeches(), st.integers(0, 2**31))
def test_speech_only_ever_delays(beats: list[Beat], speech: SpeechPacing, seed: int) -> None:
    spoken = plan_timeline(beats, DEFAULT, seed, speech)
    silent = plan_timeline(beats, DEFAULT, seed)
    for a, b in zip(spoken.cues, silent.cues, strict=True):
        assert a.at >= b.at and a.writing_at >= b.writing_at
    assert spoken.duration >= silent.duration


def _conversation(voiced: bool) -> Conversation:
    texts = ["Are you still there?", "I am here, and I have been here a long time.", "Good."]
    messages = tuple(
        Message(
            id=f"m{i:05d}",
            sender=("scientist", "artist")[i % 2],
            text=text,
            writing_at=0,
            at=0,
            sound=Sound(src=f"media/sounds/{i}.mp3", duration_ms=700),
            voice=Voice(src=f"media/voices/{i}.mp3", at=0, duration_ms=9000) if voiced else None,
        )
        for i, text in enumerate(texts)
    )
    role = Role(label="r", side="left", color="red")
    return Conversation(
        title="t", roles={"scientist": role, "artist": role}, duration=0, messages=messages
    )


def test_plan_times_fills_voice_at_after_the_sound_and_the_delay() -> None:
    voices = VoicesConfig(enabled=True, delay=0.25, listen_pause=(0.5, 0.5))
    timed = plan_times(_conversation(voiced=True), DEFAULT, 7, voices)
    for m in timed.messages:
        assert m.voice is not None and m.voice.at == m.at + 700 + 250
    for prev, m in zip(timed.messages, timed.messages[1:], strict=False):
        assert prev.voice is not None
        assert m.writing_at >= prev.voice.at + 9000 + 500
    last = timed.messages[-1].voice
    assert last is not None and timed.duration >= last.at + 9000 + 500


def test_voices_off_or_no_voices_plan_the_times_as_before() -> None:
    silent = plan_times(_conversation(voiced=False), DEFAULT, 7)
    for voices in (None, VoicesConfig(), VoicesConfig(enabled=True)):
        again = plan_times(_conversation(voiced=False), DEFAULT, 7, voices)
        assert dump_json(again.to_json()) == dump_json(silent.to_json())
    # Voices off leaves a voiced conversation's times (and its voices) as without voices.
    off = plan_times(_conversation(voiced=True), DEFAULT, 7, VoicesConfig())
    assert [m.at for m in off.messages] == [m.at for m in silent.messages]


def test_a_voice_round_trips_through_the_json() -> None:
    message = _conversation(voiced=True).messages[0]
    data = message.to_json()
    assert data["voice"] == {"src": "media/voices/0.mp3", "at": 0, "duration_ms": 9000}
    assert Message.from_json(data) == message
    assert "voice" not in _conversation(voiced=False).messages[0].to_json()
