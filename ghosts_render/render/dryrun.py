"""``--dry-run``: describe what a render would do, from the config alone (no models loaded)."""

from __future__ import annotations

import math
from pathlib import Path

from ghosts_render.archive.folder import partial_dir
from ghosts_render.config import RunConfig
from ghosts_render.files import dump_json
from ghosts_render.timeline import Beat, plan_cost_s


def describe_plan(cfg: RunConfig, out: Path) -> str:
    """Return the resolved config and the render plan as JSON text."""
    out = out.resolve()
    work = partial_dir(out)
    # A typical message: 49 characters (the original chat's mean), one in ten with a selfie;
    # with the default pacing a message takes about 1.45 times its writing cost
    # (docs/configuration.md, Pacing).
    typical = (
        plan_cost_s(Beat(id="", sender="", text_len=49, selfie=False, new_run=False), cfg.pacing)
        + 0.1 * cfg.pacing.image_time
    )
    seconds = cfg.turns * typical * 1.45
    plan = {
        "out": str(out),
        "work_folder": str(work),
        "resumes_unfinished_render": (work / "state").is_dir(),
        "turns": cfg.turns,
        "expected_runs": plan_expected_runs(cfg),
        "expected_minutes": round(seconds / 60, 1),
        "expected_hours": round(seconds / 3600, 2),
        "demo_models": list(cfg.demo),
    }
    if cfg.voices.enabled:
        plan["voices"] = plan_voices(cfg)
    return dump_json({"config": cfg.to_dict(), "plan": plan})


def plan_expected_runs(cfg: RunConfig) -> int:
    """Return how many runs the text stage will open (at least 1; more if runs end early).

    A run plans ``int(run_length * U(run_deviation))`` messages, at least 1, and the last run
    is cut to fit ``turns``; on average that is about ``run_length * mean(deviation) - 0.5``.
    """
    t = cfg.text
    if t.run_length == 0:
        return 1
    mean_length = max(1.0, t.run_length * sum(t.run_deviation) / 2 - 0.5)
    return max(1, math.ceil(cfg.turns / mean_length))


# Measured with the demo voice on one CPU core: speech lasts about 0.27 s + 0.051 s per character,
# and synthesis takes about 0.44 s per chat message (docs/configuration.md, Voices).
SPEECH_S, SPEECH_S_PER_CHAR, SYNTHESIS_S_PER_MESSAGE = 0.27, 0.051, 0.44


def plan_voices(cfg: RunConfig) -> dict[str, object]:
    """Return what the voices stage will use and roughly cost (typical 49-character messages)."""
    return {
        "models": {r.name: r.voice.model for r in cfg.roles},
        "expected_speech_hours": round(cfg.turns * (SPEECH_S + 49 * SPEECH_S_PER_CHAR) / 3600, 2),
        "expected_synthesis_minutes_one_thread": round(cfg.turns * SYNTHESIS_S_PER_MESSAGE / 60, 1),
    }
