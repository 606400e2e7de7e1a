"""The real `ghosts-render studio` in a subprocess, as an artist runs it: start, URL, Ctrl-C."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from ghosts_render.files import sha256_file


def copy_render(render: Path, dest: Path) -> Path:
    """Copy an archive and its curation folder (if any) to ``dest``; return the copy."""
    shutil.copytree(render, dest)
    sidecar = render.with_name(render.name + ".curation")
    if sidecar.is_dir():
        shutil.copytree(sidecar, dest.with_name(dest.name + ".curation"))
    return dest


def start_studio(archive: Path, *args: str) -> subprocess.Popen:
    """Start `python -m ghosts_render studio ARCHIVE ARGS` (stdout and stderr piped)."""
    cmd = [sys.executable, "-m", "ghosts_render", "studio", str(archive), *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def read_url(proc: subprocess.Popen) -> str:
    """The URL the studio prints once it serves; fails with its stderr if it exits instead."""
    assert proc.stdout is not None
    line = proc.stdout.readline()  # the studio prints its URL once it listens, or exits
    if not line:
        proc.wait()
        raise AssertionError(f"the studio exited ({proc.returncode}): {proc.stderr.read()}")
    return line.strip()


def stop_studio(proc: subprocess.Popen) -> tuple[int, str, str]:
    """Ctrl-C the studio (SIGINT), wait for it; return (exit status, stdout, stderr)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        out, err = proc.communicate()
    return proc.returncode, out, err


@contextlib.contextmanager
def running_studio(archive: Path, *args: str) -> Iterator[str]:
    """Run a studio on ``archive`` for the block; yield its URL; it must stop cleanly on Ctrl-C."""
    proc = start_studio(archive, "--port", "0", *args)
    try:
        url = read_url(proc)
        yield url
    finally:
        code, _, err = stop_studio(proc)
    assert code == 0, f"the studio did not stop cleanly on Ctrl-C ({code}): {err}"


def list_files(*folders: Path) -> dict[str, str]:
    """Every file under ``folders`` (that exist) with its hash: to prove nothing was written."""
    return {
        str(p): sha256_file(p)
        for folder in folders
        if folder.exists()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }
