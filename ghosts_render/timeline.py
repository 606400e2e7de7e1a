"""Pacing: when each message's writing bubble appears and when the message itself appears.

Pure and stdlib-only. The player never invents timing; it looks up what this module planned.
The model is the live work's: a message costs ``base_time + len * letter_time``
(+ ``image_time`` with a selfie) to write, scaled by a draw from ``write_deviation``; before
writing, a sender reads what was just received (the previous message's cost scaled by
``read_deviation``) or, writing again after their own message, pauses ``same_sender_pause``.

One deliberate difference: the original computed the reading pause from the message about to be
*sent*; here it is the message just *received*, which is what a reader reads. Both are draws from
the same distribution of costs, so the pacing feels the same.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from ghosts_render.config import PacingConfig


@dataclass(frozen=True, slots=True)
class Beat:
    """What pacing needs to know of one message."""

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


def plan_timeline(beats: Sequence[Beat], pacing: PacingConfig, seed: int) -> Timeline:
    """Plan every message's cue, deterministically for a seed."""
    # A string seed is hashed with SHA-512 by random.Random: stable across Python versions.
    rng = random.Random(f"ghosts-render/pacing/{seed}")
    cues: list[Cue] = []
    at_s = 0.0
    last_at = -1
    for i, beat in enumerate(beats):
        if i == 0:
            writing_s = 0.0
        else:
            prev = beats[i - 1]
            if beat.sender != prev.sender:
                pause = plan_cost_s(prev, pacing) * _uniform(rng, pacing.read_deviation)
            else:
                pause = _uniform(rng, pacing.same_sender_pause)
            if beat.new_run:
                pause += pacing.run_time
            writing_s = at_s + pause
        at_s = writing_s + plan_cost_s(beat, pacing) * _uniform(rng, pacing.write_deviation)
        # Whole milliseconds; a message always appears at least 1 ms after the one before, so
        # `at` is strictly increasing even with zero costs.
        at = max(round(at_s * 1000), last_at + 1)
        writing_at = min(max(round(writing_s * 1000), max(last_at, 0)), at)
        cues.append(Cue(writing_at=writing_at, at=at))
        last_at = at
    closing = max(round(pacing.closing_pause * 1000), 1)
    duration = (last_at + closing) if cues else closing
    return Timeline(cues=tuple(cues), duration=duration)
