"""Pacing: when each message's writing bubble appears and when the message itself appears.

Pure: no files, no clock. The player never invents timing; it looks up what this module planned,
both for a render and for ``ghosts-render site``, which re-plans a (curated) archive from its
current texts with ``plan_times``.
The model is the live work's: a message costs ``base_time + len * letter_time``
(+ ``image_time`` with a selfie) to write, scaled by a draw from ``write_deviation``; before
writing, a sender reads what was just received (the previous message's cost scaled by
``read_deviation``) or, writing again after their own message, pauses ``same_sender_pause``.

Every message draws from its own random stream, keyed by the seed and the message's ``id`` (not
its position): the write factor first, then the pause. So an edit changes only that message's
durations (and the next message's reading pause, which reads it), a deletion closes its gap,
and everything after either shifts by one amount. Times are whole milliseconds, summed as such.

One deliberate difference: the original computed the reading pause from the message about to be
*sent*; here it is the message just *received*, which is what a reader reads. Both are draws from
the same distribution of costs, so the pacing feels the same.

Spoken messages (``SpeechPacing``) add one constraint and no draw to the streams above: a voice
starts ``delay_ms`` after its message's notification sound (``voice_at = at + sound_ms +
delay_ms``), and the next writing bubble waits until the clip has ended plus a listening pause,
``writing_at[i+1] = max(planned, voice_at[i] + speech_ms[i] + listen)``. A ghost neither replies
nor types while still speaking, so clips never overlap (the live work's audio-driven cousin, The
Infinite Conversation, plays each segment and then the next). ``listen`` is drawn from a stream of
its own, keyed by the seed and the id of the message that spoke, so without speech the timeline
is exactly what it was. The shift carries forward; the loop lasts until the last clip and its
listening pause are over.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from dataclasses import dataclass

from ghosts_render.archive.model import Conversation
from ghosts_render.config import PacingConfig
from ghosts_render.config_voices import VoicesConfig


@dataclass(frozen=True, slots=True, kw_only=True)
class Beat:
    """What pacing needs to know of one message."""

    id: str  # keys the message's random stream
    sender: str
    text_len: int  # characters, image tag removed
    selfie: bool
    new_run: bool
    sound_ms: int = 0  # the notification sound's length (the voice waits for it)
    speech_ms: int = 0  # the voice clip's length; 0 = the message is not spoken


@dataclass(frozen=True, slots=True)
class SpeechPacing:
    """How speech shapes the timeline: the voice's delay after the sound, the listening pause."""

    delay_ms: int  # from the end of the notification sound to the voice
    listen_pause: tuple[float, float]  # seconds [low, high] from a clip's end to the next bubble


@dataclass(frozen=True, slots=True)
class Cue:
    """When one message's writing bubble appears, the message appears and its voice starts, in
    ms (``voice_at`` is None for a message that is not spoken)."""

    writing_at: int
    at: int
    voice_at: int | None = None


@dataclass(frozen=True, slots=True)
class Timeline:
    """Every message's cue plus the loop length (the last message and a closing pause)."""

    cues: tuple[Cue, ...]
    duration: int  # ms


def plan_cost_s(beat: Beat, pacing: PacingConfig) -> float:
    """Return the undeviated seconds it takes to write a message."""
    image = pacing.image_time if beat.selfie else 0.0
    return pacing.base_time + beat.text_len * pacing.letter_time + image


def _uniform(rng: random.Random, bounds: tuple[float, float]) -> float:
    return rng.uniform(bounds[0], bounds[1])


def _stream(seed: int, message_id: str) -> random.Random:
    # A string seed is hashed with SHA-512 by random.Random: stable across Python versions.
    return random.Random(f"ghosts-render/pacing/{seed}/{message_id}")


def _pause_s(prev: Beat, beat: Beat, pacing: PacingConfig, rng: random.Random) -> float:
    """Return the seconds between the previous message and this one's writing bubble."""
    if beat.sender != prev.sender:
        pause = plan_cost_s(prev, pacing) * _uniform(rng, pacing.read_deviation)
    else:
        pause = _uniform(rng, pacing.same_sender_pause)
    return pause + (pacing.run_time if beat.new_run else 0.0)


def _listen_ms(seed: int, message_id: str, speech: SpeechPacing) -> int:
    # Its own stream: the pacing streams draw exactly what they drew before voices.
    rng = random.Random(f"ghosts-render/listen/{seed}/{message_id}")
    return round(_uniform(rng, speech.listen_pause) * 1000)


def plan_timeline(
    beats: Sequence[Beat], pacing: PacingConfig, seed: int, speech: SpeechPacing | None = None
) -> Timeline:
    """Plan every message's cue, deterministically for a seed and the messages' ids; with
    ``speech``, spoken beats get a ``voice_at`` and the next bubble waits for the clip."""
    cues: list[Cue] = []
    last_at = -1
    quiet_from = 0  # the previous clip's end plus its listening pause (0: no clip yet)
    for i, beat in enumerate(beats):
        rng = _stream(seed, beat.id)
        write_ms = round(plan_cost_s(beat, pacing) * _uniform(rng, pacing.write_deviation) * 1000)
        writing_at = (
            0 if i == 0 else last_at + round(_pause_s(beats[i - 1], beat, pacing, rng) * 1000)
        )
        writing_at = max(writing_at, quiet_from)
        # A message always appears at least 1 ms after the one before, so `at` is strictly
        # increasing even with zero costs.
        at = max(writing_at + write_ms, last_at + 1)
        voice_at = None
        if speech is not None and beat.speech_ms > 0:
            voice_at = plan_voice_at(at, beat.sound_ms, speech)
            quiet_from = voice_at + beat.speech_ms + _listen_ms(seed, beat.id, speech)
        cues.append(Cue(writing_at=min(max(writing_at, last_at, 0), at), at=at, voice_at=voice_at))
        last_at = at
    closing = max(round(pacing.closing_pause * 1000), 1)
    duration = max(last_at + closing, quiet_from) if cues else closing
    return Timeline(cues=tuple(cues), duration=duration)


def plan_times(
    conversation: Conversation,
    pacing: PacingConfig,
    seed: int,
    voices: VoicesConfig | None = None,
) -> Conversation:
    """Return the conversation timed from its messages' current texts: every ``writing_at``,
    ``at`` and the loop's ``duration`` planned anew (the render and ``site`` both use this).

    With ``voices`` (enabled), spoken messages make room for their clips and get their
    ``voice.at``; without, voices in the conversation are left as they are.
    """
    speech = plan_speech_pacing(voices)
    beats = [
        Beat(
            id=m.id,
            sender=m.sender,
            text_len=len(m.text),
            selfie=m.selfie is not None,
            new_run=m.new_run,
            sound_ms=(m.sound.duration_ms or 0) if m.sound is not None else 0,
            speech_ms=m.voice.duration_ms if m.voice is not None else 0,
        )
        for m in conversation.messages
    ]
    timeline = plan_timeline(beats, pacing, seed, speech)
    messages = tuple(
        dataclasses.replace(
            m,
            writing_at=cue.writing_at,
            at=cue.at,
            voice=m.voice
            if cue.voice_at is None or m.voice is None
            else dataclasses.replace(m.voice, at=cue.voice_at),
        )
        for m, cue in zip(conversation.messages, timeline.cues, strict=True)
    )
    return dataclasses.replace(conversation, messages=messages, duration=timeline.duration)


def plan_voice_at(at: int, sound_ms: int, speech: SpeechPacing) -> int:
    """Return when a message's voice starts: after its notification sound and the delay."""
    return at + sound_ms + speech.delay_ms


def plan_speech_pacing(voices: VoicesConfig | None) -> SpeechPacing | None:
    """Return the speech pacing of a voices config (None when voices are off)."""
    if voices is None or not voices.enabled:
        return None
    return SpeechPacing(delay_ms=round(voices.delay * 1000), listen_pause=voices.listen_pause)
