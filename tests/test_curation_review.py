"""Curation as an artist meets it on the command line: the refusals an acceptance pass found.

Each test works on a private copy of the session's demo render (with its sidecar) through the
real command line, in-process, and checks the one line the artist reads and that nothing changed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ghosts_render.cli import app
from ghosts_render.curate.sidecar import sidecar_dir

runner = CliRunner()


@pytest.fixture
def archive(curated_copy: Path) -> Path:
    return curated_copy


def cli(*args: str) -> tuple[int, str, list[str]]:
    """Run `ghosts-render ARGS` in-process: (exit code, stdout, stderr lines)."""
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, [x for x in result.stderr.splitlines() if x.strip()]


def read_files(folder: Path) -> dict[str, bytes]:
    if not folder.is_dir():
        return {}
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def snapshot(archive: Path) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """The archive's files and the sidecar's (but its lock, which names the latest holder)."""
    sidecar = read_files(sidecar_dir(archive))
    sidecar.pop("lock", None)
    return read_files(archive), sidecar


def refused(archive: Path, *args: str) -> str:
    """Run a verb that must refuse: exit 1, one error line, nothing written; return the line."""
    before = snapshot(archive)
    code, out, lines = cli(*args)
    assert code == 1, (out, lines)
    assert len(lines) == 1 and lines[0].startswith("ghosts-render: error: "), lines
    assert snapshot(archive) == before
    return lines[0]


def conversation(archive: Path) -> dict[str, Any]:
    return json.loads((archive / "conversation.json").read_text(encoding="utf-8"))


def write_conversation(archive: Path, data: dict[str, Any]) -> None:
    (archive / "conversation.json").write_text(json.dumps(data, indent=1), encoding="utf-8")


def inner_id(archive: Path, *, selfie: bool = False) -> str:
    """A message the model wrote (not a run's prompt), with or without a selfie."""
    for m in conversation(archive)["messages"]:
        if not m.get("new_run") and ("selfie" in m) == selfie:
            return str(m["id"])
    raise AssertionError("the demo render has no such message")


def test_selfie_candidates_of_an_archive_broken_by_hand_are_refused_before_rendering(
    archive: Path,
) -> None:
    # Text re-rolls, edits and picks refused such an archive; selfie candidates rendered anyway.
    mid = inner_id(archive, selfie=True)
    data = conversation(archive)
    data["messages"][3]["at"] = "soon"
    write_conversation(archive, data)
    line = refused(archive, "reroll", str(archive), mid, "--selfie", "--candidates", "1")
    assert "problem(s)" in line and "'at'" in line


def test_an_undo_that_a_hand_edit_blocks_says_what_would_unblock_it(archive: Path) -> None:
    mid = inner_id(archive)
    code, _, lines = cli("edit", str(archive), mid, "the curated line")
    assert code == 0, lines
    data = conversation(archive)
    for m in data["messages"]:
        if m["id"] == mid:
            m["text"] = "typed by hand in an editor"
    write_conversation(archive, data)
    line = refused(archive, "undo", str(archive))
    # not "run it again": running it again can never help
    assert "run it again" not in line
    assert f"cannot undo step 1 (edit): message {mid} was changed by hand" in line
    assert "out.curation/history.jsonl" in line
    # putting the message back as the step left it lets the undo through
    for m in data["messages"]:
        if m["id"] == mid:
            m["text"] = "the curated line"
    write_conversation(archive, data)
    code, out, lines = cli("undo", str(archive))
    assert code == 0 and "undid step 1 (edit)" in out, lines


def test_a_damaged_candidate_list_gets_one_piece_of_advice(archive: Path) -> None:
    mid = inner_id(archive, selfie=True)
    candidates = sidecar_dir(archive) / "candidates"
    candidates.mkdir(parents=True, exist_ok=True)
    (candidates / f"{mid}.json").write_text('{"format": ', encoding="utf-8")
    (candidates / f"{mid}-selfies.json").write_text('{"seeds": ', encoding="utf-8")
    line = refused(archive, "reroll", str(archive), mid, "--pick", "1")
    assert "is not readable JSON" in line and line.endswith(
        "delete it and re-roll the message again"
    )
    assert "render again" not in line
    line = refused(archive, "reroll", str(archive), mid, "--selfie", "--pick", "1")
    assert "is not readable JSON" in line and "render again" not in line
    assert line.endswith(f"`ghosts-render reroll {archive} {mid} --selfie`")


def test_pick_out_of_range_and_a_missing_model_folder_say_what_helps(
    archive: Path, tmp_path: Path
) -> None:
    mid = inner_id(archive)
    code, out, lines = cli("reroll", str(archive), mid, "--candidates", "1")
    assert code == 0 and out.startswith("1. "), lines
    line = refused(archive, "reroll", str(archive), mid, "--pick", "0")
    assert line.endswith(f"{mid} has candidates 1 to 1: pick one of those")  # not "make more"
    line = refused(archive, "reroll", str(archive), mid, "--pick", "65")
    assert line.endswith("pick one of those")  # 65 candidates cannot be made
    line = refused(archive, "reroll", str(archive), mid, "--pick", "3")
    assert line.endswith(f"or make more with `ghosts-render reroll {archive} {mid} --candidates 3`")
    gone = tmp_path / "no-such-model"
    for args in ([mid], [mid, "--pick", "1"]):
        line = refused(archive, "reroll", str(archive), *args, "--model", str(gone))
        # the loader's advice is about ghosts.toml; --model is what the artist typed
        assert line.startswith(f"ghosts-render: error: --model {gone}: ")
        assert "ghosts.toml" not in line and "text.model" not in line


def test_the_manifest_says_edited_once_not_at_every_step(archive: Path) -> None:
    first, second = inner_id(archive), inner_id(archive, selfie=True)
    code, _, lines = cli("edit", str(archive), first, "a first curated line")
    assert code == 0 and any("the manifest now says so" in x for x in lines), lines
    code, _, lines = cli("edit", str(archive), second, "a second curated line")
    assert code == 0, lines
    assert not any("the manifest now says so" in x for x in lines), lines  # it already did
    assert json.loads((archive / "manifest.json").read_text())["edited"] is True


def test_a_step_leaves_out_the_advice_site_gives(archive: Path) -> None:
    """A step rebuilds the player after every change; the render's advice (no public_url) would
    repeat at each one, so only `site` gives it."""
    code, _, lines = cli("edit", str(archive), inner_id(archive), "a curated line")
    assert code == 0 and lines, lines
    assert not any("public_url" in x for x in lines), lines
    code, _, lines = cli("site", str(archive))
    assert code == 0 and any("no player.public_url" in x for x in lines), lines
