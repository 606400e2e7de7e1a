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
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from dataclasses import dataclass

from ghosts_render.archive.model import Conversation
from ghosts_render.config import PacingConfig


@dataclass(frozen=True, slots=True, kw_only=True)
class Beat:
    """What pacing needs to know of one message."""

    id: str  # keys the message's random stream
    sender: str
    text_len: int  # characters, image tag removed
    selfie: bool
    new_run: bool


@dataclass(frozen=True, slots=True)
class Cue:
    """When one message's writing bubble appears and when the message appears, in ms."""

    writing_at: int
    at: int


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


def plan_timeline(beats: Sequence[Beat], pacing: PacingConfig, seed: int) -> Timeline:
    """Plan every message's cue, deterministically for a seed and the messages' ids."""
    cues: list[Cue] = []
    last_at = -1
    for i, beat in enumerate(beats):
        rng = _stream(seed, beat.id)
        write_ms = round(plan_cost_s(beat, pacing) * _uniform(rng, pacing.write_deviation) * 1000)
        writing_at = (
            0 if i == 0 else last_at + round(_pause_s(beats[i - 1], beat, pacing, rng) * 1000)
        )
        # A message always appears at least 1 ms after the one before, so `at` is strictly
        # increasing even with zero costs.
        at = max(writing_at + write_ms, last_at + 1)
        cues.append(Cue(writing_at=min(max(writing_at, last_at, 0), at), at=at))
        last_at = at
    closing = max(round(pacing.closing_pause * 1000), 1)
    duration = (last_at + closing) if cues else closing
    return Timeline(cues=tuple(cues), duration=duration)


def plan_times(conversation: Conversation, pacing: PacingConfig, seed: int) -> Conversation:
    """Return the conversation timed from its messages' current texts: every ``writing_at``,
    ``at`` and the loop's ``duration`` planned anew (the render and ``site`` both use this)."""
    beats = [
        Beat(
            id=m.id,
            sender=m.sender,
            text_len=len(m.text),
            selfie=m.selfie is not None,
            new_run=m.new_run,
        )
        for m in conversation.messages
    ]
    timeline = plan_timeline(beats, pacing, seed)
    messages = tuple(
        dataclasses.replace(m, writing_at=cue.writing_at, at=cue.at)
        for m, cue in zip(conversation.messages, timeline.cues, strict=True)
    )
    return dataclasses.replace(conversation, messages=messages, duration=timeline.duration)
