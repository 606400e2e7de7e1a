"""A real render end to end with the bundled demo models: archive contents, determinism, resume.

Every test reads or copies one uninterrupted render (`demo_render` in conftest). Its
conversation.json must be byte for byte the one the same command wrote before the package was
restructured (tests/data/reference/), and the same command killed twice with SIGKILL and resumed
must give the same archive.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from demo_render import ARGS, SEED, TURNS, archive_digest, finish, kill_when, start_render

from ghosts_render.archive.folder import read_manifest
from ghosts_render.files import sha256_file

REFERENCE = (
    Path(__file__).parent / "data" / "reference" / f"conversation-seed{SEED}-turns{TURNS}.json"
)


def test_kill_9_in_text_then_in_selfies_then_the_same_command_gives_the_same_archive(
    demo_render_started: tuple[subprocess.Popen, Path],
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    # First in this file, so it renders while the shared reference render is still running.
    out = tmp_path / "out"
    work = Path(str(out) + ".partial")
    selfies = work / "archive" / "media" / "selfies"
    texts = work / "state" / "text"

    def saving_text() -> bool:  # from the text's first round to its last
        return texts.is_dir() and any(texts.glob("*.progress.json"))

    kill_when(start_render(out, *ARGS, cwd=tmp_path), saving_text)
    assert not out.exists()
    kill_when(
        start_render(out, *ARGS, cwd=tmp_path),
        lambda: selfies.is_dir() and any(selfies.glob("*.jpg")),
    )
    assert not out.exists()  # killed again, once selfies were on disk
    finish(start_render(out, *ARGS, cwd=tmp_path))
    reference = request.getfixturevalue("demo_render")
    assert archive_digest(out) == archive_digest(reference)
    assert not work.exists()


def test_demo_render_writes_a_complete_archive(demo_render: Path) -> None:
    conversation = json.loads((demo_render / "conversation.json").read_text())
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
        assert (demo_render / m["sound"]["src"]).is_file()
        if "selfie" in m:
            s = m["selfie"]
            assert (demo_render / s["src"]).is_file() and (demo_render / s["webp"]).is_file()
            assert s["width"] > 0 and s["height"] > 0 and s["alt"]
    assert any("selfie" in m for m in messages)
    assert (demo_render / "index.html").is_file() and (demo_render / "conversation.js").is_file()
    assert not Path(str(demo_render) + ".partial").exists()


def test_manifest_records_provenance_and_every_file(demo_render: Path) -> None:
    manifest = read_manifest(demo_render)
    assert manifest["seed"] == SEED and manifest["turns"] == TURNS
    assert "text.model" in manifest["demo"]
    assert manifest["models"]["text"]["demo"] is True
    assert manifest["config"]["text"]["temperature"] == 1.3
    files = set(archive_digest(demo_render))
    assert set(manifest["files"]) == files
    for rel, meta in manifest["files"].items():
        assert meta["sha256"] == sha256_file(demo_render / rel)


def _first_difference(got: dict, want: dict) -> str:
    """Name the first message (or top-level key) where two conversations differ, and how."""
    for i, (g, w) in enumerate(zip(got["messages"], want["messages"], strict=False)):
        if g != w:
            keys = sorted(k for k in g.keys() | w.keys() if g.get(k) != w.get(k))
            return f"message {i} differs in {keys}: now {g} / reference {w}"
    keys = sorted(k for k in got.keys() | want.keys() if got.get(k) != want.get(k))
    return f"top-level keys differ: {keys}"


def test_the_conversation_is_byte_identical_to_the_reference_render(demo_render: Path) -> None:
    got = (demo_render / "conversation.json").read_bytes()
    want = REFERENCE.read_bytes()
    if got != want:
        pytest.fail(_first_difference(json.loads(got), json.loads(want)))


def test_rendering_again_is_a_no_op_and_edited_archives_are_kept(
    demo_render: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from ghosts_render.cli import app

    monkeypatch.chdir(tmp_path)  # no ghosts.toml: the same defaults as the reference
    out = tmp_path / "copy"
    shutil.copytree(demo_render, out)
    before = (out / "manifest.json").read_bytes()
    result = CliRunner().invoke(app, ["--out", str(out), "-q", *ARGS])
    assert result.exit_code == 0, result.output
    assert (out / "manifest.json").read_bytes() == before  # already rendered: untouched
    conversation = json.loads((out / "conversation.json").read_text())
    conversation["messages"][0]["text"] = "curated by hand"
    (out / "conversation.json").write_text(json.dumps(conversation))
    other_seed = ["--turns", str(TURNS), "--seed", str(SEED + 1)]
    result = CliRunner().invoke(app, ["--out", str(out), "-q", *other_seed])
    assert result.exit_code == 1
    assert "changes made after it was rendered" in result.stderr
    assert "curated by hand" in (out / "conversation.json").read_text()


def test_check_accepts_the_render_and_names_what_breaks(demo_render: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from ghosts_render.cli import app

    out = tmp_path / "copy"
    shutil.copytree(demo_render, out)
    result = CliRunner().invoke(app, ["check", str(out)])
    assert result.exit_code == 0, result.output
    conversation = json.loads((out / "conversation.json").read_text())
    sound = conversation["messages"][0]["sound"]["src"]
    (out / sound).unlink()
    result = CliRunner().invoke(app, ["check", str(out)])
    assert result.exit_code == 1
    assert sound in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_same_seed_same_archive_other_seed_other_conversation(
    demo_render: Path, tmp_path: Path
) -> None:
    # Two more full renders. In the default run the kill/resume test renders the same command
    # again (and must match), and test_text.py / test_sound_stage.py check that another seed
    # gives other messages and other sounds.
    same = tmp_path / "same"
    finish(start_render(same, *ARGS, cwd=tmp_path))
    assert archive_digest(same) == archive_digest(demo_render)
    other = tmp_path / "other"
    finish(start_render(other, "--turns", str(TURNS), "--seed", str(SEED + 1), cwd=tmp_path))
    assert (other / "conversation.json").read_bytes() != (
        demo_render / "conversation.json"
    ).read_bytes()
