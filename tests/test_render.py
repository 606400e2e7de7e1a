"""A real render end to end with the bundled demo models: archive contents, determinism, resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ghosts_render.archive.folder import read_manifest
from ghosts_render.files import sha256_file

TURNS = 120


def render(out: Path, *args: str, cwd: Path) -> subprocess.Popen:
    """Start `python -m ghosts_render` on the demo models in a clean folder."""
    cmd = [sys.executable, "-m", "ghosts_render", "--out", str(out), "-q", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def finish(proc: subprocess.Popen) -> str:
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr.decode()
    return stdout.decode()


def archive_digest(archive: Path) -> dict[str, str]:
    """Every file's hash except the manifest (which records stage timings)."""
    return {
        p.relative_to(archive).as_posix(): sha256_file(p)
        for p in sorted(archive.rglob("*"))
        if p.is_file() and p.name != "manifest.json"
    }


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """One uninterrupted demo render, shared by the tests below."""
    base = tmp_path_factory.mktemp("reference")
    out = base / "out"
    stdout = finish(render(out, "--turns", str(TURNS), "--seed", "7", cwd=base))
    assert stdout.strip() == str(out)
    return out


def test_demo_render_writes_a_complete_archive(reference):
    conversation = json.loads((reference / "conversation.json").read_text())
    messages = conversation["messages"]
    assert conversation["format"] == "ghosts-render/conversation"
    assert conversation["demo"] is True
    assert len(messages) == TURNS
    assert [m["id"] for m in messages] == [f"m{i:05d}" for i in range(TURNS)]
    assert set(conversation["roles"]) == {"artist", "scientist"}
    ats = [m["at"] for m in messages]
    assert all(b > a for a, b in zip(ats, ats[1:], strict=False))
    assert all(m["writing_at"] <= m["at"] for m in messages)
    assert conversation["duration"] > ats[-1]
    assert any(m.get("new_run") for m in messages[1:])
    for m in messages:
        assert m["sender"] in conversation["roles"]
        assert (reference / m["sound"]["src"]).is_file()
        if "selfie" in m:
            s = m["selfie"]
            assert (reference / s["src"]).is_file() and (reference / s["webp"]).is_file()
            assert s["width"] > 0 and s["height"] > 0 and s["alt"]
    assert any("selfie" in m for m in messages)
    assert (reference / "index.html").is_file() and (reference / "conversation.js").is_file()
    assert not Path(str(reference) + ".partial").exists()


def test_manifest_records_provenance_and_every_file(reference):
    manifest = read_manifest(reference)
    assert manifest["seed"] == 7 and manifest["turns"] == TURNS
    assert "text.model" in manifest["demo"]
    assert manifest["models"]["text"]["demo"] is True
    assert manifest["config"]["text"]["temperature"] == 1.3
    files = set(archive_digest(reference))
    assert set(manifest["files"]) == files
    for rel, meta in manifest["files"].items():
        assert meta["sha256"] == sha256_file(reference / rel)


def test_same_seed_same_archive_other_seed_other_conversation(reference, tmp_path):
    same = tmp_path / "same"
    finish(render(same, "--turns", str(TURNS), "--seed", "7", cwd=tmp_path))
    assert archive_digest(same) == archive_digest(reference)
    other = tmp_path / "other"
    finish(render(other, "--turns", str(TURNS), "--seed", "8", cwd=tmp_path))
    assert (other / "conversation.json").read_bytes() != (
        reference / "conversation.json"
    ).read_bytes()


def kill_when(proc: subprocess.Popen, ready, timeout_s: float = 300) -> None:
    """SIGKILL the render as soon as `ready()` holds; fail if it finished first."""
    deadline = time.monotonic() + timeout_s
    while not ready():
        assert proc.poll() is None, "the render finished before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()  # reap it and close its pipes
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.parametrize("stage", ["text", "selfies"])
def test_kill_9_then_same_command_gives_the_same_archive(reference, tmp_path, stage):
    out = tmp_path / "out"
    work = Path(str(out) + ".partial")
    if stage == "text":
        ready = (work / "state" / "text-progress.json").exists
    else:
        selfies = work / "archive" / "media" / "selfies"

        def ready() -> bool:
            return selfies.is_dir() and any(selfies.glob("*.jpg"))

    args = ("--turns", str(TURNS), "--seed", "7")
    kill_when(render(out, *args, cwd=tmp_path), ready)
    assert not out.exists()
    finish(render(out, *args, cwd=tmp_path))
    assert archive_digest(out) == archive_digest(reference)
    assert not work.exists()


def test_rendering_again_is_a_no_op_and_edited_archives_are_kept(reference, tmp_path):
    import shutil

    out = tmp_path / "copy"
    shutil.copytree(reference, out)
    before = (out / "manifest.json").read_bytes()
    finish(render(out, "--turns", str(TURNS), "--seed", "7", cwd=tmp_path))
    assert (out / "manifest.json").read_bytes() == before  # already rendered: untouched
    conversation = json.loads((out / "conversation.json").read_text())
    conversation["messages"][0]["text"] = "curated by hand"
    (out / "conversation.json").write_text(json.dumps(conversation))
    proc = render(out, "--turns", str(TURNS), "--seed", "8", cwd=tmp_path)
    _, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 1
    assert "changes made after it was rendered" in stderr.decode()
    assert "curated by hand" in (out / "conversation.json").read_text()


def test_check_accepts_the_render_and_names_what_breaks(reference, tmp_path):
    import shutil

    from typer.testing import CliRunner

    from ghosts_render.cli import app

    out = tmp_path / "copy"
    shutil.copytree(reference, out)
    result = CliRunner().invoke(app, ["check", str(out)])
    assert result.exit_code == 0, result.output
    conversation = json.loads((out / "conversation.json").read_text())
    sound = conversation["messages"][0]["sound"]["src"]
    (out / sound).unlink()
    result = CliRunner().invoke(app, ["check", str(out)])
    assert result.exit_code == 1
    assert sound in result.stderr and len(result.stderr.strip().splitlines()) == 1
