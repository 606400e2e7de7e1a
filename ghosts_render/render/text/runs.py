"""Plan runs and seeds from the render seed, and decide which runs still need messages.

Everything here is pure and depends only on the config and the progress state, so a render
(or a resumed one) always makes the same runs, the same rounds and the same messages.
Run i opens with a prompt dealt from a seeded deck (shuffled, no repeat until exhausted) and
plans ``int(run_length * U(run_deviation))`` messages (at least 1), its prompt included.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from ghosts_render.config import RunConfig

STATE_FORMAT = "ghosts-render/text-state"
STATE_VERSION = 1

# Distinct streams derived from the one render seed.
_STREAM_SAMPLE = 1
_STREAM_LENGTH = 2
_STREAM_DECK = 3


@dataclass(frozen=True, slots=True)
class RunPlan:
    index: int  # the run's place in the conversation
    prompt: str  # its opening line (the run's first message)
    length: int  # planned messages, the prompt included


def plan_run(cfg: RunConfig, index: int) -> RunPlan:
    """Return run ``index``'s prompt and planned length, drawn from the render seed."""
    prompts = cfg.text.prompts
    deck = np.random.default_rng([cfg.seed, _STREAM_DECK, index // len(prompts)])
    order = deck.permutation(len(prompts))
    prompt = prompts[int(order[index % len(prompts)])]
    if cfg.text.run_length == 0:
        return RunPlan(index=index, prompt=prompt, length=cfg.turns)
    lo, hi = cfg.text.run_deviation
    factor = np.random.default_rng([cfg.seed, _STREAM_LENGTH, index]).uniform(lo, hi)
    return RunPlan(index=index, prompt=prompt, length=max(1, int(cfg.text.run_length * factor)))


def draw_uniforms(seed: int, run: int, message: int, attempt: int, candidate: int, steps: int):
    """Return the uniforms that sample one candidate message, from its own seeded stream."""
    key = [seed, _STREAM_SAMPLE, run, message, attempt, candidate]
    return np.random.default_rng(key).random(steps)


def hash_text_settings(cfg: RunConfig) -> str:
    """Return a short hash of everything that shapes the text, to refuse a mismatched resume."""
    t = cfg.text
    keys = [
        "role_format",
        "image_tag",
        "temperature",
        "top_k",
        "top_p",
        "best_of",
        "memory",
        "max_new_tokens",
        "prompts",
        "run_length",
        "run_deviation",
        "max_attempts",
    ]
    data = {k: getattr(t, k) for k in keys}
    data["seed"] = cfg.seed
    data["roles"] = list(cfg.role_names())
    blob = json.dumps(data, sort_keys=True, default=list).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def plan_state(cfg: RunConfig) -> dict[str, Any]:
    """Return the empty progress state of a text render (JSON-serialisable)."""
    return {
        "format": STATE_FORMAT,
        "version": STATE_VERSION,
        "fingerprint": hash_text_settings(cfg),
        "runs": [],
        "stats": {
            "generate_calls": 0,
            "rounds": 0,
            "new_tokens": 0,
            "decode_steps": 0,
            "retries": 0,
            "runs_ended_early": 0,
            "seconds": 0.0,
        },
    }


def plan_new_run(plan: RunPlan, prompt_message: dict[str, Any]) -> dict[str, Any]:
    """Return the state entry of a run that has only its opening prompt so far."""
    return {
        "length": plan.length,
        "messages": [prompt_message],
        "attempt": 0,
        "ended_early": False,
    }


def format_prompt(run: dict[str, Any], memory: int) -> str:
    """Return the prompt of a run's next message: its last ``memory`` raw messages, one a line."""
    return "\n".join(m["raw"].strip() for m in run["messages"][-memory:]) + "\n"


def run_finished(run: dict[str, Any]) -> bool:
    """Return whether a run will never get another message."""
    return bool(run["ended_early"]) or len(run["messages"]) >= run["length"]


def plan_needs(runs: list[dict[str, Any]], turns: int) -> tuple[list[int], int]:
    """Return the message count each run must reach, and the messages the runs can still give.

    A run counts as its planned length until it ends, so a later run is only started when the
    earlier ones cannot fill ``turns``; the last run needed only fills what is left.
    """
    needs: list[int] = []
    before = 0
    for run in runs:
        expected = len(run["messages"]) if run_finished(run) else run["length"]
        needs.append(max(0, min(expected, turns - before)))
        before += expected
    return needs, before


def plan_message_order(runs: list[dict[str, Any]], turns: int) -> list[tuple[int, dict[str, Any]]]:
    """Return (run index, message) pairs: runs in order, truncated to ``turns``."""
    out: list[tuple[int, dict[str, Any]]] = []
    for index, run in enumerate(runs):
        for message in run["messages"]:
            if len(out) == turns:
                return out
            out.append((index, message))
    return out


def count_silent_runs(runs: list[dict[str, Any]]) -> int:
    """Return the longest streak of consecutive runs that ended without one generated message."""
    longest = current = 0
    for run in runs:
        if run["ended_early"] and len(run["messages"]) == 1:
            current += 1
            longest = max(longest, current)
        else:
            current = 0
    return longest
