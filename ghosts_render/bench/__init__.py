"""``ghosts-render bench``: each batched stage against the original's one-at-a-time way.

Both sides run in this one process on the same model and device, so the ratio is fair; the last
line printed is the text stage's ``speedup: N.Nx`` (messages per second, lockstep over naive).
Voices are timed on the text stage's messages, one thread against ``voices.threads``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from ghosts_render.bench.voices import report_voices
from ghosts_render.config import DEMO_TEXT_MODEL, demo_selfie_network, load_config
from ghosts_render.render.pipeline import resolve_device


def _rate(count: float, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def run_bench(
    *,
    turns: int,
    selfies: int,
    model: Path | None,
    network: Path | None,
    device: str,
    seed: int,
    naive_turns: int = 40,
) -> Iterator[str]:
    """Yield the benchmark's report lines as each measurement finishes."""
    import torch

    from ghosts_render.bench.naive_text import generate_naive
    from ghosts_render.render.text import stage as text

    device = resolve_device(device)
    config_log = logging.getLogger("ghosts_render.config")
    level = config_log.level
    config_log.setLevel(logging.ERROR)  # the bench names its models itself: no demo warnings
    try:
        cfg = load_config(None, turns=turns, seed=seed, device=device)
    finally:
        config_log.setLevel(level)
    model_dir = model or DEMO_TEXT_MODEL
    cfg = dataclasses.replace(cfg, text=dataclasses.replace(cfg.text, model=str(model_dir)))
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    yield (
        f"device: {device} (torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"load average {load}: other busy processes slow both sides)"
    )
    yield f"text model: {model_dir}"
    lm = text.load_text_model(model_dir, None, device)
    naive = generate_naive(lm, cfg, min(naive_turns, turns))
    naive_n = min(naive_turns, turns)
    conversation = text.generate_conversation(lm, cfg)
    lock = conversation.stats
    lines = []
    for name, stats, n in (("naive", naive, naive_n), ("lockstep", lock, turns)):
        lines.append(
            f"text {name:>9}: {n} messages in {stats.seconds:.2f}s = "
            f"{_rate(n, stats.seconds):.1f} messages/s, "
            f"{_rate(stats.new_tokens, stats.seconds):.0f} tokens/s "
            f"({stats.generate_calls} generate calls)"
        )
    yield from lines
    del lm
    yield from _bench_selfies(network, selfies, device)
    yield from _bench_sounds(cfg)
    yield from report_voices([m.text for m in conversation.messages], cfg.voices)
    speedup = _rate(turns, lock.seconds) / _rate(naive_n, naive.seconds)
    yield f"speedup: {speedup:.1f}x"


def _bench_selfies(network: Path | None, n: int, device: str) -> Iterator[str]:
    from ghosts_render.bench.selfies import bench_selfies, generate_bench_network

    if n <= 0:
        return
    if network is None and device.startswith("cuda"):
        # On a GPU, time what artists bring: a 1024² StyleGAN3-T (seeded weights).
        label = "seeded StyleGAN3-T 1024²"
        result = bench_selfies(generate_bench_network(1024, device=device), n, device)
    else:
        path = network or demo_selfie_network("artist", ("artist",))
        label = path.name
        result = bench_selfies(path, n, device)
    for name in ("single", "batched"):
        r = result[name]
        yield (
            f"selfies {name:>7}: {n} at batch {r['batch_size']} in {r['seconds']:.2f}s = "
            f"{r['selfies_per_s']:.2f} selfies/s ({label}, {result['resolution']}²)"
        )


def _bench_sounds(cfg) -> Iterator[str]:
    from ghosts_render.render.sounds.stage import SoundJob, render_sounds

    roles = cfg.role_names()
    jobs = [
        SoundJob(message_id=f"m{i:05d}", sender=roles[i % len(roles)]) for i in range(cfg.turns)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        result = render_sounds(jobs, cfg, Path(tmp))
        seconds = time.perf_counter() - t
    distinct = len({s.src for s in result.by_message.values()})
    yield (
        f"sounds ({cfg.sounds.mode}): {len(jobs)} messages, {distinct} distinct sounds in "
        f"{seconds:.2f}s = {_rate(distinct, seconds):.1f} sounds/s"
    )
