"""Real demo renders in a subprocess, as a user runs them: start, finish, kill -9, compare."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from ghosts_render.files import sha256_file

# The shared reference render (conftest's `demo_render`) and tests/data/reference/ use these.
TURNS = 60
SEED = 7
ARGS = ("--turns", str(TURNS), "--seed", str(SEED))
# Only against a hung render: a 2-core machine shared by other jobs can take 10 minutes for one.
HUNG_S = 3600

# The shared render with voices: the tiny test voice for both roles, told apart by settings.
TINY_VOICE = Path(__file__).parent / "data" / "voices" / "tiny.onnx"
VOICED_ARGS = ("--turns", "16", "--seed", "3", "--voices")
VOICED_CONFIG = f"""
[roles.artist]
side = "right"
voice = "{TINY_VOICE}"

[roles.scientist.voice]
model = "{TINY_VOICE}"
speaker = "ghost_b"
pitch = 0.88
reverb = 1.6
reverb_mix = 0.25
"""


def start_render(out: Path, *args: str, cwd: Path) -> subprocess.Popen:
    """Start `python -m ghosts_render` on the demo models in its own process group."""
    cmd = [sys.executable, "-m", "ghosts_render", "--out", str(out), "-q", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    return subprocess.Popen(
        cmd,
        cwd=cwd,  # a folder without ghosts.toml: the defaults and the demo models
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # kill_when kills the render and its encoder workers together
    )


def finish(proc: subprocess.Popen) -> str:
    """Wait for a render; fail with its stderr unless it exits 0; return its stdout."""
    try:
        stdout, stderr = proc.communicate(timeout=HUNG_S)
    except BaseException:  # a hung render, or Ctrl-C: leave nothing running in its own session
        stop_render(proc)
        raise
    assert proc.returncode == 0, stderr.decode()
    return stdout.decode()


def kill_when(proc: subprocess.Popen, ready: Callable[[], bool]) -> None:
    """SIGKILL the render's process group as soon as `ready()` holds; fail if it finished first."""
    deadline = time.monotonic() + HUNG_S
    try:
        while not ready():
            assert proc.poll() is None, "the render finished before it could be interrupted"
            assert time.monotonic() < deadline, f"the render hung: no progress in {HUNG_S} s"
            time.sleep(0.01)  # polling a file the render writes; there is nothing to await
    finally:
        stop_render(proc)
    assert proc.returncode == -signal.SIGKILL


def stop_render(proc: subprocess.Popen) -> None:
    """SIGKILL the render's process group unless it was reaped, then reap it and close its pipes."""
    if proc.returncode is None:  # not reaped: its pid still names its group
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()


def archive_digest(archive: Path) -> dict[str, str]:
    """Every file's hash except the manifest (which records stage timings and model paths)."""
    return {
        p.relative_to(archive).as_posix(): sha256_file(p)
        for p in sorted(archive.rglob("*"))
        if p.is_file() and p.name != "manifest.json"
    }
