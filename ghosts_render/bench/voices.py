"""The voices benchmark: seconds of speech per second of compute, one thread vs the configured.

Each side loads the voice with its own onnxruntime session and renders the same messages as the
voices stage does (synthesis, effects, loudness, MP3), one clip at a time and then
``voices.threads`` clips at once (each on one onnxruntime thread, as the stage runs them). The
demo voice is timed when it is installed, else the tiny test voice of a source checkout (it
buzzes, and is much faster).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ghosts_render.config_voices import RoleVoiceConfig, VoicesConfig
from ghosts_render.errors import StageError

if TYPE_CHECKING:
    from ghosts_render.render.voices.clip import Clip

TEST_VOICE = Path(__file__).resolve().parents[2] / "tests" / "data" / "voices" / "tiny.onnx"
MAX_MESSAGES = 24


def find_bench_voice() -> tuple[Path, str] | str:
    """Return (voice, label) for the benchmark, or why voices cannot be timed."""
    from ghosts_render.render.voices.piper_voice import INSTALL_HINT, demo_voice_path

    try:
        return demo_voice_path(), "the demo voice"
    except StageError:
        if TEST_VOICE.is_file():
            return TEST_VOICE, "the tiny test voice: the demo voice is not installed"
    return f"not installed ({INSTALL_HINT})"


def bench_voices(
    voice: Path, texts: Sequence[str], workers: int, voices: VoicesConfig
) -> dict[str, float]:
    """Render the texts as clips, ``workers`` at once as the stage does; return speech and
    compute seconds."""
    from ghosts_render.render.voices.clip import render_clip
    from ghosts_render.render.voices.piper_voice import load_voice
    from ghosts_render.render.voices.stage import map_in_order

    model = load_voice(voice)
    role = RoleVoiceConfig()
    render_clip(model, "Warming up.", role=role, voices=voices, seed=0, message_id="warm")

    def clip_of(item: tuple[int, str]) -> Clip | None:
        i, text = item
        return render_clip(model, text, role=role, voices=voices, seed=0, message_id=f"m{i:05d}")

    speech_ms, clips = 0, 0
    started = time.perf_counter()
    for clip in map_in_order(clip_of, enumerate(texts), workers):
        if clip is not None:
            speech_ms += clip.duration_ms
            clips += 1
    return {
        "clips": clips,
        "speech_s": speech_ms / 1000,
        "seconds": time.perf_counter() - started,
    }


def report_voices(texts: Sequence[str], voices: VoicesConfig) -> Iterator[str]:
    """Yield the voices lines: one clip at a time, then voices.threads at once (0 = one per
    core)."""
    from ghosts_render.render.voices.stage import plan_workers

    found = find_bench_voice()
    if isinstance(found, str):
        yield f"voices: {found}"
        return
    voice, label = found
    texts = list(texts)[:MAX_MESSAGES]
    workers = plan_workers(voices.threads)
    for n in [1] if workers == 1 else [1, workers]:
        r = bench_voices(voice, texts, n, voices)
        rate = r["speech_s"] / r["seconds"] if r["seconds"] > 0 else float("inf")
        name = f"{n} thread{'s' if n > 1 else ''}"
        yield (
            f"voices {name:>9}: {int(r['clips'])} clips, {r['speech_s']:.1f}s of speech in "
            f"{r['seconds']:.2f}s = {rate:.1f}s of speech per second ({voice.name}, {label})"
        )
