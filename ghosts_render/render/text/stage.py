"""The text stage: a conversation of runs that all advance together, one message per round.

Each round builds every active run's prompt (its last ``memory`` raw messages), generates one
message for all of them in one left-padded ``generate`` call that stops each row at its line
break, and parses the rows with the original work's regexes (``ghosts_render.render.text.parse``).
Sampling happens in ``RowSampler``: every candidate message draws from its own seeded stream,
so its text does not depend on which runs share its batch, and a resumed render is exact.

Deviations from the original, on purpose: a message ends at its line break (the original
generated 128 tokens and kept the first tagged piece, which for line-per-message training data
is the same line); a run's context starts empty (the same as the installation's memory=1);
``best_of`` prefers a valid candidate that does not repeat the run (the original picked one at
random); and a message is retried at most ``max_attempts`` times.

Screening (``text.blocklist``): a valid candidate whose text matches the blocklist is dropped;
when a message has no valid candidate left it is generated again, like an invalid one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from transformers import LogitsProcessor, LogitsProcessorList

from ghosts_render.blocklist import Blocklist, load_blocklist
from ghosts_render.config import RunConfig, TextConfig
from ghosts_render.errors import StageError
from ghosts_render.render.text.load import TextModel, load_text_model
from ghosts_render.render.text.parse import Piece, compile_patterns, parse_first_piece
from ghosts_render.render.text.runs import TextProgress, draw_uniforms, format_prompt

__all__ = [
    "TextMessage",
    "TextModel",
    "TextResult",
    "TextStats",
    "TextProgress",
    "generate_conversation",
    "load_text_model",
]

RECENT_MESSAGES = 8  # best_of avoids repeating any of a run's last messages


@dataclass(frozen=True, slots=True)
class TextMessage:
    run: int  # index of the run in plan order (0, 1, 2, ...)
    sender: str  # role name, lower-case, one of cfg.role_names()
    text: str  # image tag removed, runs of spaces collapsed, stripped ("" = selfie only)
    raw: str  # the raw piece (role tag and image tag kept): what goes into prompt memory
    selfie: bool  # the message carried the image tag
    new_run: bool  # the run's opening prompt


@dataclass(frozen=True, slots=True)
class TextStats:
    generate_calls: int  # model.generate calls
    rounds: int  # lockstep rounds (naive: messages attempted)
    new_tokens: int  # tokens generated that count, every candidate included
    decode_steps: int  # decode steps summed over generate calls
    retries: int  # messages generated again (unknown sender, empty text, or all blocked)
    blocked: int  # valid candidates the blocklist rejected (text.blocklist)
    runs_ended_early: int  # runs cut short because the model wrote no role tag
    seconds: float  # wall time, summed over resumed sessions


@dataclass(frozen=True, slots=True)
class TextResult:
    messages: list[TextMessage]
    stats: TextStats


@dataclass(frozen=True, slots=True)
class Row:
    """One candidate message to generate: the keys of its seeded stream, and its prompt."""

    run: int
    message: int
    attempt: int
    candidate: int
    prompt_ids: list[int]
    reroll: bool = False  # sample from the re-roll stream (ghosts-render reroll), not the render's


class RowSampler(LogitsProcessor):
    """Temperature -> top-k -> top-p, then one token per row drawn from that row's own uniforms.

    Used with ``do_sample=False``: every score but the drawn token's is -inf, so greedy picks it.
    """

    def __init__(self, uniforms: torch.Tensor, prompt_len: int, text: TextConfig) -> None:
        self.uniforms = uniforms  # (rows, max_new_tokens) float64 in [0, 1)
        self.prompt_len = prompt_len
        self.temperature = text.temperature
        self.top_k = text.top_k
        self.top_p = text.top_p

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        step = input_ids.shape[1] - self.prompt_len
        vocab = scores.shape[-1]
        k = self.top_k if 0 < self.top_k < vocab else vocab
        values, index = (scores.float() / self.temperature).topk(k, dim=-1)
        probs = values.double().softmax(dim=-1)
        higher = probs.cumsum(dim=-1) - probs  # mass of the tokens ranked above each one
        probs = probs * (higher < self.top_p)
        cumulative = probs.cumsum(dim=-1)
        target = self.uniforms[:, step] * cumulative[:, -1]
        choice = (cumulative <= target.unsqueeze(1)).sum(dim=-1).clamp(max=k - 1)
        token = index.gather(1, choice.unsqueeze(1))
        out = torch.full_like(scores, float("-inf"))
        return cast(torch.FloatTensor, out.scatter_(1, token, 0.0))


def generate_conversation(
    model: TextModel,
    cfg: RunConfig,
    *,
    state: dict | None = None,
    on_round: Callable[[TextProgress], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> TextResult:
    """Generate exactly ``cfg.turns`` messages.

    ``on_round`` gets the progress after every round (its ``to_json()`` is what ``state``
    resumes from; it must not change it); ``on_progress`` gets the messages done so far.
    """
    started = time.perf_counter()
    progress = TextProgress.start(cfg) if state is None else TextProgress.from_json(cfg, state)
    seconds_before = progress.stats["seconds"]
    patterns = compile_patterns(cfg.text.role_format, cfg.text.image_tag)
    blocklist = load_blocklist(Path(cfg.text.blocklist)) if cfg.text.blocklist else None
    if on_progress is not None:
        on_progress(progress.count_done())
    with torch.inference_mode():
        while progress.active:
            _generate_round(model, cfg, progress, patterns, blocklist)
            progress.end_round()
            _check_silent_runs(model, cfg, progress)
            progress.stats["seconds"] = seconds_before + time.perf_counter() - started
            if on_progress is not None:
                on_progress(progress.count_done())
            if on_round is not None:
                on_round(progress)
    progress.stats["seconds"] = seconds_before + time.perf_counter() - started
    messages = [TextMessage(run=r, **m) for r, m in progress.list_messages()]
    return TextResult(messages=messages, stats=TextStats(**progress.stats))


def _max_new_tokens(model: TextModel, text: TextConfig) -> int:
    """Return the per-message token cap; it never takes more than half the model's context."""
    return max(1, min(text.max_new_tokens, model.n_positions // 2))


def format_prompt_ids(
    model: TextModel, text: TextConfig, messages: list[dict[str, Any]]
) -> list[int]:
    """Tokenize a run's prompt (no BOS), keeping the newest tokens that leave room to write."""
    ids = model.tokenizer.encode(format_prompt(messages, text.memory), add_special_tokens=False)
    budget = model.n_positions - _max_new_tokens(model, text)
    return ids[-budget:]


def _generate_round(
    model: TextModel,
    cfg: RunConfig,
    progress: TextProgress,
    patterns: Any,
    blocklist: Blocklist | None,
) -> None:
    """Generate one message (``best_of`` candidates) for every active run and apply them."""
    active = progress.active
    n = cfg.text.best_of
    rows = []
    for r in active:
        run = progress.runs[r]
        ids = format_prompt_ids(model, cfg.text, run.messages)
        rows += [Row(r, len(run.messages), run.attempt, c, ids) for c in range(n)]
    size = cfg.text.batch_size or len(rows)
    texts: list[str] = []
    for start in range(0, len(rows), size):
        texts += generate_rows(model, cfg, rows[start : start + size], progress.stats)
    for i, r in enumerate(active):
        outputs = texts[i * n : (i + 1) * n]
        pieces = [parse_first_piece(t, patterns) for t in outputs]
        _apply_outputs(model, cfg, progress, r, outputs, pieces, blocklist)


def generate_rows(
    model: TextModel, cfg: RunConfig, rows: Sequence[Row], stats: dict[str, Any]
) -> list[str]:
    """Run one left-padded ``generate`` over rows; return each row's text up to its line break."""
    max_new = _max_new_tokens(model, cfg.text)
    width = max(len(row.prompt_ids) for row in rows)
    ids = torch.full((len(rows), width), model.pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, width - len(row.prompt_ids) :] = torch.tensor(row.prompt_ids, dtype=torch.long)
        mask[i, width - len(row.prompt_ids) :] = 1
    draws = np.stack(
        [
            draw_uniforms(
                cfg.seed,
                row.run,
                row.message,
                row.attempt,
                row.candidate,
                max_new,
                reroll=row.reroll,
            )
            for row in rows
        ]
    )
    uniforms = torch.from_numpy(draws).to(model.device)
    sampler = RowSampler(uniforms, width, cfg.text)
    out = model.model.generate(
        input_ids=ids.to(model.device),
        attention_mask=mask.to(model.device),
        logits_processor=LogitsProcessorList([sampler]),
        do_sample=False,
        num_beams=1,
        max_new_tokens=max_new,
        eos_token_id=model.stop_ids,
        pad_token_id=model.pad_id,
    )
    stats["generate_calls"] += 1
    stats["decode_steps"] += out.shape[1] - width
    return [_decode_new(model, new, stats) for new in out[:, width:].tolist()]


def _decode_new(model: TextModel, new: list[int], stats: dict[str, Any]) -> str:
    """Decode a row's new tokens up to and including its first stop token, cut at the line break."""
    stops = set(model.stop_ids)
    end = next((i + 1 for i, t in enumerate(new) if t in stops), len(new))
    stats["new_tokens"] += end
    text = model.tokenizer.decode(new[:end], skip_special_tokens=True)
    # transformers 4.14 (the original) cleaned spaces before punctuation when decoding.
    text = model.tokenizer.clean_up_tokenization(text)
    return text.split("\n", 1)[0]


def _apply_outputs(
    model: TextModel,
    cfg: RunConfig,
    progress: TextProgress,
    r: int,
    outputs: list[str],
    pieces: list[Piece | None],
    blocklist: Blocklist | None = None,
) -> None:
    """Keep the best candidate that passes the blocklist; else retry the message, or end the
    run when no tag was written."""
    roles = cfg.role_names()
    valid = [p for p in pieces if p is not None and p.is_valid(roles)]
    terms = [blocklist.find(p.text) for p in valid] if blocklist is not None else []
    blocked = [t for t in terms if t is not None]
    if blocked:
        progress.stats["blocked"] += len(blocked)
        valid = [p for p, t in zip(valid, terms, strict=True) if t is None]
    if valid:
        recent = {m["raw"] for m in progress.runs[r].messages[-RECENT_MESSAGES:]}
        fresh = [p for p in valid if p.raw not in recent]
        progress.add_message(r, (fresh or valid)[0])
    elif any(p is not None for p in pieces):
        attempts = progress.retry(r, blocked=bool(blocked))
        if attempts >= cfg.text.max_attempts:
            raise _attempts_error(model, cfg, progress, r, pieces, blocked)
    else:
        progress.end_early(r, outputs[0])


def _attempts_error(
    model: TextModel,
    cfg: RunConfig,
    progress: TextProgress,
    r: int,
    pieces: list[Piece | None],
    blocked: list[str],
) -> StageError:
    """Say why a message failed ``max_attempts`` times: the blocklist, or the role tags."""
    roles = cfg.role_names()
    run = progress.runs[r]
    if run.blocked:
        last = f", the last for the term {blocked[-1]!r}" if blocked else ""
        return StageError(
            f"the text model at {model.path} wrote no message that passes the blocklist in "
            f"{run.attempt} attempts for run {r}: the blocklist {cfg.text.blocklist} rejected "
            f"{run.blocked} of them{last}; shorten the blocklist, or raise text.max_attempts"
        )
    bad = next(p for p in pieces if p is not None)
    return StageError(
        f"the text model at {model.path} wrote no message from a known role "
        f"({', '.join(roles)}) in {run.attempt} attempts for run {r} (last: "
        f"{bad.raw[:60]!r}): check text.role_format and the [roles] tables match how "
        "the model was trained"
    )


def _check_silent_runs(model: TextModel, cfg: RunConfig, progress: TextProgress) -> None:
    """Stop with a clear error when the model keeps writing no role tag at all."""
    limit = cfg.text.max_attempts
    if not progress.has_silent_streak(limit):
        return
    example = next((run.last_output for run in reversed(progress.runs) if run.ended_early), "")
    raise StageError(
        f"the text model at {model.path} wrote no role tag like "
        f"{cfg.text.role_format.format(role=cfg.role_names()[0])!r} in {limit} runs in a row "
        f"(it wrote e.g. {example!r}): check text.role_format matches how the model was trained"
    )
