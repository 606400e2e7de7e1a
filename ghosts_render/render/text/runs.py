"""Plan runs and seeds from the render seed, and keep the text stage's progress.

Everything here is pure and depends only on the config and the progress, so a render (or a
resumed one) always makes the same runs, the same rounds and the same messages.
Run i opens with a prompt dealt from a seeded deck (shuffled, no repeat until exhausted) and
plans ``int(run_length * U(run_deviation))`` messages (at least 1), its prompt included.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ghosts_render import __version__
from ghosts_render.config import RunConfig
from ghosts_render.errors import ConfigError, StageError
from ghosts_render.files import sha256_file
from ghosts_render.render.text.parse import Piece, compile_patterns, parse_piece

STATE_FORMAT = "ghosts-render/text-state"
STATE_VERSION = 2  # 2: the blocklist (its content in the fingerprint, "blocked" in the stats)
STAT_KEYS = (
    "generate_calls",
    "rounds",
    "new_tokens",
    "decode_steps",
    "retries",
    "blocked",
    "runs_ended_early",
    "seconds",
)

# Distinct streams derived from the one render seed.
_STREAM_SAMPLE = 1
_STREAM_LENGTH = 2
_STREAM_DECK = 3
_STREAM_REROLL = 4  # candidates made after the render (ghosts-render reroll)


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


def draw_uniforms(
    seed: int,
    run: int,
    message: int,
    attempt: int,
    candidate: int,
    steps: int,
    *,
    reroll: bool = False,
):
    """Return the uniforms that sample one candidate message, from its own seeded stream.

    ``reroll`` draws from the re-roll stream instead of the render's: the same keys, other text.
    """
    key = [seed, _STREAM_REROLL if reroll else _STREAM_SAMPLE, run, message, attempt, candidate]
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
    if t.blocklist:  # its content, not its path: an edited blocklist makes other text
        data["blocklist"] = hash_blocklist_file(Path(t.blocklist))
    blob = json.dumps(data, sort_keys=True, default=list).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def hash_blocklist_file(path: Path) -> str:
    """Return the sha256 of a blocklist file's bytes (what ``Blocklist.sha256`` holds)."""
    try:
        return sha256_file(path)
    except OSError as e:
        raise ConfigError(
            f"text.blocklist: cannot read {path} ({e.strerror or e}): restore it, or remove "
            "text.blocklist from the config"
        ) from None


def hash_text_render(cfg: RunConfig, model_identity: dict[str, Any]) -> str:
    """Return a short hash of everything that decides the finished text of a render.

    That is the text settings, seed and roles (``hash_text_settings``), the number of turns, the
    text model's identity and the tool's version; selfie, sound, pacing and player settings are
    not in it, so a render that changes only those can reuse the text.
    """
    data = {
        "settings": hash_text_settings(cfg),
        "turns": cfg.turns,
        "model": model_identity,
        "tool": __version__,
        "state": STATE_VERSION,
    }
    blob = json.dumps(data, sort_keys=True, default=list).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def format_prompt(messages: list[dict[str, Any]], memory: int) -> str:
    """Return the prompt of a run's next message: its last ``memory`` raw messages, one a line."""
    return "\n".join(m["raw"].strip() for m in messages[-memory:]) + "\n"


def format_message(piece: Piece, new_run: bool) -> dict[str, Any]:
    """Return the progress record of one message (the fields of ``TextMessage`` but its run)."""
    return {
        "sender": piece.sender,
        "text": piece.text,
        "raw": piece.raw,
        "selfie": piece.selfie,
        "new_run": new_run,
    }


@dataclass(slots=True)
class RunProgress:
    """One run as it stands: its planned length and the messages it has, its prompt first."""

    length: int  # planned messages, the prompt included
    messages: list[dict[str, Any]]  # records from format_message, in order
    attempt: int = 0  # failed tries at the next message so far
    blocked: int = 0  # of those, the tries whose every valid candidate the blocklist rejected
    ended_early: bool = False  # the model wrote no role tag: the run gets no more messages
    last_output: str | None = None  # what the model wrote instead (ended runs), for errors

    @property
    def finished(self) -> bool:
        """Whether the run will never get another message."""
        return self.ended_early or len(self.messages) >= self.length

    @property
    def expected(self) -> int:
        """The messages the run is counted for: its length, or what it has once finished."""
        return len(self.messages) if self.finished else self.length

    @property
    def silent(self) -> bool:
        """Whether the run ended without one generated message."""
        return self.ended_early and len(self.messages) == 1

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "length": self.length,
            "messages": list(self.messages),
            "attempt": self.attempt,
            "ended_early": self.ended_early,
        }
        if self.blocked:
            data["blocked"] = self.blocked
        if self.last_output is not None:
            data["last_output"] = self.last_output
        return data


class TextProgress:
    """The text stage's progress: its runs, which of them write next, what is done, its stats.

    A run counts as its planned length until it finishes, so a later run is only opened when
    the earlier ones cannot fill ``turns``. The runs before the *frontier* are needed in full,
    the frontier run only for what is left of ``turns``, and later runs not at all. A run that
    ends early moves the frontier on (opening runs at the end when there are no more); the
    frontier never moves back, so it costs O(runs) over a whole render, and a round touches
    only its active runs and the runs the frontier passed.

    ``to_json()`` is what a resume file holds; ``from_json()`` reads it back.
    """

    def __init__(self, cfg: RunConfig, runs: list[RunProgress], stats: dict[str, Any]) -> None:
        self.runs = runs
        self.stats = stats  # the fields of TextStats
        self._cfg = cfg
        self._fingerprint = hash_text_settings(cfg)
        self._patterns = compile_patterns(cfg.text.role_format, cfg.text.image_tag)
        self._frontier = 0  # the first run that, with the runs before it, fills every turn
        self._before = 0  # messages the runs before the frontier count for
        self._done_before = 0  # messages the runs before the frontier have
        self._went_silent: list[int] = []  # runs that ended silent since the last check
        self._move_frontier()
        self.active = [i for i in range(self._frontier + 1) if self._wants(i)]

    @classmethod
    def start(cls, cfg: RunConfig) -> TextProgress:
        """Return the progress of a text render that has not begun: its first runs opened."""
        return cls(cfg, [], dict.fromkeys(STAT_KEYS, 0) | {"seconds": 0.0})

    @classmethod
    def from_json(cls, cfg: RunConfig, data: Any) -> TextProgress:
        """Return the progress saved by ``to_json``; refuse one made with other settings."""
        if not isinstance(data, dict) or (data.get("format"), data.get("version")) != (
            STATE_FORMAT,
            STATE_VERSION,
        ):
            raise StageError(
                "the saved text progress was written by another version of ghosts-render: "
                "start over with --fresh"
            )
        if data.get("fingerprint") != hash_text_settings(cfg):
            raise StageError(
                "the saved text progress was made with another seed or other [text] settings: "
                "restore them, or start over with --fresh"
            )
        try:
            runs = [
                RunProgress(**{**run, "messages": list(run["messages"])}) for run in data["runs"]
            ]
            stats = {key: data["stats"][key] for key in STAT_KEYS}
        except (KeyError, TypeError) as e:
            raise StageError(
                f"the saved text progress is damaged ({e!r}): start over with --fresh"
            ) from None
        return cls(cfg, runs, stats)

    def to_json(self) -> dict[str, Any]:
        """Return the progress as JSON-serialisable data (a snapshot: later rounds keep out)."""
        return {
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "fingerprint": self._fingerprint,
            "runs": [run.to_json() for run in self.runs],
            "stats": dict(self.stats),
        }

    def need(self, index: int) -> int:
        """Return the message count run ``index`` must reach for the runs to fill ``turns``."""
        if index > self._frontier:
            return 0
        expected = self.runs[index].expected
        if index < self._frontier:
            return expected
        return max(0, min(expected, self._cfg.turns - self._before))

    def count_done(self) -> int:
        """Return how many of the conversation's ``turns`` messages exist so far."""
        front = self.runs[self._frontier]
        return self._done_before + min(len(front.messages), self.need(self._frontier))

    def add_message(self, index: int, piece: Piece) -> None:
        """Give run ``index`` its next message."""
        run = self.runs[index]
        run.messages.append(format_message(piece, new_run=False))
        run.attempt = 0
        run.blocked = 0
        if index < self._frontier:
            self._done_before += 1

    def retry(self, index: int, blocked: bool = False) -> int:
        """Count a failed try at run ``index``'s next message (``blocked``: the blocklist
        rejected it); return the tries so far."""
        run = self.runs[index]
        run.attempt += 1
        run.blocked += blocked
        self.stats["retries"] += 1
        return run.attempt

    def end_early(self, index: int, output: str) -> None:
        """End run ``index`` before its length: the model wrote ``output``, with no role tag."""
        run = self.runs[index]
        if index < self._frontier:
            self._before -= run.expected - len(run.messages)
        run.ended_early = True
        run.last_output = output[:80]
        self.stats["runs_ended_early"] += 1
        if run.silent:
            self._went_silent.append(index)

    def end_round(self) -> None:
        """Open runs until the runs can fill every turn again; list the runs that write next."""
        old = self._frontier
        self._move_frontier()
        kept = [i for i in self.active if i < old and self._wants(i)]
        self.active = kept + [i for i in range(old, self._frontier + 1) if self._wants(i)]
        self.stats["rounds"] += 1

    def has_silent_streak(self, length: int) -> bool:
        """Return whether ``length`` runs in a row ended silent; looks only around the runs
        that went silent since the last call (a longer streak would have been found then)."""
        found = any(self._count_streak(i, length) >= length for i in self._went_silent)
        self._went_silent.clear()
        return found

    def list_messages(self) -> list[tuple[int, dict[str, Any]]]:
        """Return (run index, message record) pairs: the runs in order, cut at ``turns``."""
        out: list[tuple[int, dict[str, Any]]] = []
        for index, run in enumerate(self.runs):
            out += [(index, m) for m in run.messages[: self._cfg.turns - len(out)]]
        return out

    def _wants(self, index: int) -> bool:
        run = self.runs[index]
        return not run.finished and len(run.messages) < self.need(index)

    def _move_frontier(self) -> None:
        """Move the frontier to the first run that fills ``turns``, opening runs as needed."""
        while True:
            if self._frontier == len(self.runs):
                plan = plan_run(self._cfg, len(self.runs))
                prompt = format_message(parse_piece(plan.prompt, self._patterns), new_run=True)
                self.runs.append(RunProgress(length=plan.length, messages=[prompt]))
            run = self.runs[self._frontier]
            if self._before + run.expected >= self._cfg.turns:
                return
            self._before += run.expected
            self._done_before += len(run.messages)
            self._frontier += 1

    def _count_streak(self, index: int, cap: int) -> int:
        """Count the silent runs in a row around run ``index``, up to about ``cap``."""
        lo = hi = index
        while lo > 0 and index - lo < cap and self.runs[lo - 1].silent:
            lo -= 1
        while hi + 1 < len(self.runs) and hi - lo < cap and self.runs[hi + 1].silent:
            hi += 1
        return hi - lo + 1
