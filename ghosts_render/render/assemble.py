"""From the text stage's messages to the conversation: ids, selfie and sound jobs, assembly.

Pure planning, no files and no models. Message ``i`` is ``message_id(i)`` everywhere (the
conversation, the jobs, the raw store, permalinks). ``plan_selfie_jobs`` gives each message that
carries a selfie a job whose seed counts up from its sender's first (``plan_selfie_seeds``, drawn
from the render's seed); ``plan_sound_jobs`` gives every message a sound job in conversation
order; ``plan_voice_jobs`` gives every message a voice job (the stage skips those with nothing
to say); ``assemble_conversation`` joins the messages with their rendered selfies, sounds and
voices and times them (timeline.py), the finished conversation the pipeline writes.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ghosts_render.archive.model import Conversation, Message, Role, Selfie, Sound, Voice
from ghosts_render.config import RunConfig, plan_player
from ghosts_render.timeline import plan_times

if TYPE_CHECKING:
    from ghosts_render.render.selfies.stage import SelfieJob
    from ghosts_render.render.sounds.stage import SoundJob
    from ghosts_render.render.voices.stage import VoiceJob


def plan_selfie_seeds(cfg: RunConfig) -> dict[str, int]:
    """Return each role's first selfie seed (then +1 per selfie, as the original)."""
    return {
        name: random.Random(f"ghosts-render/selfie-seed/{cfg.seed}/{name}").randint(0, 10000)
        for name in cfg.role_names()
    }


def message_id(index: int) -> str:
    """Return a message's id: "m" + its zero-padded index (stable; used by permalinks)."""
    return f"m{index:05d}"


def plan_selfie_jobs(cfg: RunConfig, messages: Sequence[Any]) -> list[SelfieJob]:
    """Return a job per message that carries a selfie; each role's seeds count up from its first."""
    from ghosts_render.render.selfies.stage import SelfieJob

    next_seed = plan_selfie_seeds(cfg)
    jobs = []
    for i, m in enumerate(messages):
        if m.selfie:
            seed = next_seed[m.sender]
            next_seed[m.sender] += 1
            jobs.append(SelfieJob(message_id=message_id(i), role=m.sender, seed=seed))
    return jobs


def plan_sound_jobs(messages: Sequence[Any]) -> list[SoundJob]:
    """Return a sound job per message, in conversation order (the deck's order)."""
    from ghosts_render.render.sounds.stage import SoundJob

    return [SoundJob(message_id=message_id(i), sender=m.sender) for i, m in enumerate(messages)]


def plan_voice_jobs(messages: Sequence[Any]) -> list[VoiceJob]:
    """Return a voice job per message, in conversation order."""
    from ghosts_render.render.voices.stage import VoiceJob

    return [
        VoiceJob(message_id=message_id(i), sender=m.sender, text=m.text)
        for i, m in enumerate(messages)
    ]


def assemble_conversation(
    cfg: RunConfig,
    messages: Sequence[Any],
    selfies: Mapping[str, Selfie],
    sounds: Mapping[str, Sound],
    voices: Mapping[str, Voice] | None = None,
) -> Conversation:
    """Join the messages with their selfies, sounds and voices (spoken messages only) and time
    them: the finished conversation."""
    voices = voices or {}
    records = []
    for i, m in enumerate(messages):
        mid = message_id(i)
        records.append(
            Message(
                id=mid,
                run=m.run,
                sender=m.sender,
                text=m.text,
                writing_at=0,  # timed below, from the texts, as `site` re-plans a curated archive
                at=0,
                new_run=m.new_run,
                selfie=selfies[mid] if m.selfie else None,
                sound=sounds[mid],
                voice=voices.get(mid),
            )
        )
    untimed = Conversation(
        title=cfg.title,
        demo=bool(cfg.demo),
        roles={r.name: Role(label=r.label, side=r.side, color=r.color) for r in cfg.roles},
        duration=0,
        player=plan_player(cfg.player),
        messages=tuple(records),
    )
    return plan_times(untimed, cfg.pacing, cfg.seed, cfg.voices)
