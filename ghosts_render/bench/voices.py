"""The voices benchmark: seconds of speech per second of compute, one thread vs the configured.

Each side loads the voice with its own onnxruntime session and renders the same messages as the
voices stage does (synthesis, effects, loudness, MP3). The demo voice is timed when it is
installed, else the tiny test voice of a source checkout (it buzzes, and is much faster).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from ghosts_render.config_voices import RoleVoiceConfig, VoicesConfig
from ghosts_render.errors import StageError

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
    voice: Path, texts: Sequence[str], threads: int, voices: VoicesConfig
) -> dict[str, float]:
    """Render the texts as clips with threads onnxruntime threads; return speech and compute s."""
    from ghosts_render.render.voices.clip import render_clip
    from ghosts_render.render.voices.piper_voice import load_voice

    model = load_voice(voice, threads=threads)
    role = RoleVoiceConfig()
    render_clip(model, "Warming up.", role=role, voices=voices, seed=0, message_id="warm")
    speech_ms, clips = 0, 0
    started = time.perf_counter()
    for i, text in enumerate(texts):
        clip = render_clip(model, text, role=role, voices=voices, seed=0, message_id=f"m{i:05d}")
        if clip is not None:
            speech_ms += clip.duration_ms
            clips += 1
    return {
        "clips": clips,
        "speech_s": speech_ms / 1000,
        "seconds": time.perf_counter() - started,
    }


def report_voices(texts: Sequence[str], voices: VoicesConfig) -> Iterator[str]:
    """Yield the voices lines: one thread, then voices.threads (0 = all cores)."""
    found = find_bench_voice()
    if isinstance(found, str):
        yield f"voices: {found}"
        return
    voice, label = found
    texts = list(texts)[:MAX_MESSAGES]
    sides = [1] if voices.threads == 1 else [1, voices.threads]
    for threads in sides:
        r = bench_voices(voice, texts, threads, voices)
        rate = r["speech_s"] / r["seconds"] if r["seconds"] > 0 else float("inf")
        name = "all cores" if threads == 0 else f"{threads} thread{'s' if threads > 1 else ''}"
        yield (
            f"voices {name:>9}: {int(r['clips'])} clips, {r['speech_s']:.1f}s of speech in "
            f"{r['seconds']:.2f}s = {rate:.1f}s of speech per second ({voice.name}, {label})"
        )
