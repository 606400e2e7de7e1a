"""Seeded random streams and shuffled decks (the original's bag without repetition, seeded)."""

from __future__ import annotations

import hashlib

import numpy as np


def seeded_rng(seed: int, *parts: object) -> np.random.Generator:
    """Return a Generator for (seed, parts): stable across runs, machines and Python versions."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8")).digest()
    words = [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]
    return np.random.default_rng(np.random.SeedSequence([seed, *words]))


def plan_deck(size: int, draws: int, rng: np.random.Generator) -> list[int]:
    """Deal `draws` indices from a deck of `size`: each once per shuffled pass, then reshuffle."""
    if size < 1:
        raise ValueError("a deck needs at least one card")
    dealt: list[int] = []
    while len(dealt) < draws:
        dealt.extend(int(i) for i in rng.permutation(size))
    return dealt[:draws]


def plan_proportions(
    k: int, rng: np.random.Generator, deviation: tuple[float, float] = (0.9, 1.1)
) -> np.ndarray:
    """Return k blend weights in a shuffled order, the NSynth generator's scheme, seeded.

    Each weight in turn is 1/k scaled by U(deviation), capped at what is left; the last takes
    the remainder. The weights always sum to 1.
    """
    order = rng.permutation(k)
    weights = np.zeros(k)
    left = 1.0
    for i in order[:-1]:
        weights[i] = min(left, rng.uniform(*deviation) / k)
        left -= weights[i]
    weights[order[-1]] = left
    return weights
