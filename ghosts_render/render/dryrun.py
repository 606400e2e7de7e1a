"""``--dry-run``: describe what a render would do, from the config alone (no models loaded)."""

from __future__ import annotations

from pathlib import Path

from ghosts_render.archive.folder import partial_dir
from ghosts_render.config import RunConfig
from ghosts_render.files import dump_json
from ghosts_render.timeline import Beat, plan_cost_s


def describe_plan(cfg: RunConfig, out: Path) -> str:
    """Return the resolved config and the render plan as JSON text."""
    out = out.resolve()
    work = partial_dir(out)
    t = cfg.text
    runs = (
        cfg.turns
        if t.run_length == 0
        else cfg.turns / max(1.0, t.run_length * sum(t.run_deviation) / 2)
    )
    # A typical message: 49 characters (the original chat's mean), one in ten with a selfie.
    typical = plan_cost_s(Beat("", 49, False, False), cfg.pacing) + 0.1 * cfg.pacing.image_time
    plan = {
        "out": str(out),
        "work_folder": str(work),
        "resumes_unfinished_render": (work / "state").is_dir(),
        "turns": cfg.turns,
        "expected_runs": round(runs) if t.run_length else 1,
        "expected_hours": round(cfg.turns * typical * 1.45 / 3600, 1),
        "demo_models": list(cfg.demo),
    }
    return dump_json({"config": cfg.to_dict(), "plan": plan})
