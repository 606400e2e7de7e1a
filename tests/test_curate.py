"""Curation steps on a copy of the demo render: edit, delete, undo, history, lock, crash repair.

Every test copies the session's render (`demo_render`) and changes the copy. "Byte-identical"
round trips compare every file of the archive; the one file allowed to differ is manifest.json,
and only by ``"edited": true`` (once curated, an archive stays marked so that a render never
replaces it).
"""

from __future__ import annotations

import html
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ghosts_render.archive.check import check_archive
from ghosts_render.archive.folder import check_replaceable
from ghosts_render.cli import app
from ghosts_render.config import read_recorded_config
from ghosts_render.curate.edit import delete_message, edit_message
from ghosts_render.curate.history import (
    Change,
    apply_change,
    read_history,
    read_records,
    recover_interrupted,
    undo_step,
)
from ghosts_render.curate.journal import pending_path
from ghosts_render.curate.sidecar import (
    lock_archive,
    raw_for,
    read_raw,
    removed_dir,
    sidecar_dir,
    write_render_sidecar,
)
from ghosts_render.errors import ArchiveError, CurationError

NEW_TEXT = "a curated line that no render ever wrote, zebra quartz"


@pytest.fixture
def archive(demo_render: Path, tmp_path: Path) -> Path:
    """A private copy of the demo render, at tmp/out (its sidecar: tmp/out.curation)."""
    out = tmp_path / "out"
    shutil.copytree(demo_render, out)
    return out


def read_files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def messages(archive: Path) -> list[dict[str, Any]]:
    return json.loads((archive / "conversation.json").read_text(encoding="utf-8"))["messages"]


def by_id(archive: Path) -> dict[str, dict[str, Any]]:
    """Messages by id, without their times: ``site`` re-plans those from the texts after every
    step (an edit shifts what follows it), so a step's own change is in the content."""
    return {m["id"]: untimed(m) for m in messages(archive)}


def untimed(message: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in message.items() if k not in ("writing_at", "at")}


def unique_message(archive: Path, *, selfie: bool) -> dict[str, Any]:
    """A message with a long text found once in the whole archive (so its absence is telling)."""
    files = read_files(archive)
    for m in sorted(messages(archive), key=lambda m: -len(m["text"])):
        if ("selfie" in m) != selfie or len(m["text"]) < 20:
            continue
        forms = {m["text"], html.escape(m["text"]), json.dumps(m["text"])[1:-1]}
        if sum(data.count(f.encode()) for data in files.values() for f in forms) <= 3:
            return m
    raise AssertionError("the demo render has no such message")


def assert_nowhere(archive: Path, text: str) -> None:
    """Assert ``text`` (as written, HTML-escaped or JSON-escaped) is in no file of the archive."""
    forms = {text, html.escape(text), json.dumps(text)[1:-1]}
    for rel, data in read_files(archive).items():
        for form in forms:
            assert form.encode() not in data, f"{rel} still holds {form!r}"


def assert_same_but_edited(start: dict[str, bytes], archive: Path) -> None:
    """Every file as at the start; the manifest differs only by "edited": true."""
    now = read_files(archive)
    assert sorted(now) == sorted(start)
    differ = sorted(rel for rel in now if now[rel] != start[rel])
    assert differ in ([], ["manifest.json"])
    before, after = json.loads(start["manifest.json"]), json.loads(now["manifest.json"])
    assert before.get("edited") is None
    assert after.pop("edited") is True
    assert after == before


def test_edit_changes_one_message_and_undo_restores_every_byte(archive: Path) -> None:
    start = read_files(archive)
    target = unique_message(archive, selfie=False)
    others = {i: m for i, m in by_id(archive).items() if i != target["id"]}
    step = edit_message(archive, target["id"], f"  {NEW_TEXT} ")
    assert (step.n, step.action, step.ids, step.undone) == (1, "edit", (target["id"],), False)
    check_archive(archive)
    now = by_id(archive)
    assert now[target["id"]] == untimed({**target, "text": NEW_TEXT})
    assert {i: m for i, m in now.items() if i != target["id"]} == others
    assert_nowhere(archive, target["text"])
    assert NEW_TEXT.encode() in (archive / "transcript.html").read_bytes()
    assert json.loads((archive / "manifest.json").read_text())["edited"] is True
    for rel in ("media", "assets"):  # no media or asset file was touched
        assert {k: v for k, v in read_files(archive).items() if k.startswith(rel)} == {
            k: v for k, v in start.items() if k.startswith(rel)
        }
    undo = undo_step(archive)
    assert undo is not None and (undo.n, undo.action, undo.ids) == (2, "undo", (target["id"],))
    check_archive(archive)
    assert_nowhere(archive, NEW_TEXT)
    assert_same_but_edited(start, archive)


def test_delete_moves_media_beside_the_archive_and_undo_brings_them_back(archive: Path) -> None:
    start = read_files(archive)
    target = unique_message(archive, selfie=True)
    selfie = [target["selfie"]["src"], target["selfie"].get("webp")]
    step = delete_message(archive, target["id"])
    check_archive(archive)
    assert target["id"] not in by_id(archive)
    assert_nowhere(archive, target["text"])
    for rel in filter(None, selfie):
        assert not (archive / rel).exists()
        assert (removed_dir(archive, step.n) / rel).read_bytes() == start[rel]
    (record,) = read_records(archive)
    assert record["before"] == [target] and record["after"] == []
    assert set(filter(None, selfie)) <= set(record["media_out"])
    assert undo_step(archive) is not None
    check_archive(archive)
    assert_same_but_edited(start, archive)
    assert not (sidecar_dir(archive) / "removed").exists()  # emptied by the undo


def test_undo_is_multi_level_and_recorded(archive: Path) -> None:
    start = read_files(archive)
    a, b = messages(archive)[3], messages(archive)[7]
    edit_message(archive, a["id"], NEW_TEXT)
    delete_message(archive, b["id"])
    edit_message(archive, a["id"], NEW_TEXT + " again")
    for _ in range(3):
        assert undo_step(archive) is not None
        check_archive(archive)
    assert undo_step(archive) is None  # nothing left to undo
    steps = read_history(archive)
    assert [(s.n, s.action, s.undone) for s in steps] == [
        (1, "edit", True),
        (2, "delete", True),
        (3, "edit", True),
        (4, "undo", False),
        (5, "undo", False),
        (6, "undo", False),
    ]
    assert [s.note for s in steps[3:]] == [
        "undid step 3 (edit)",
        "undid step 2 (delete)",
        "undid step 1 (edit)",
    ]
    records = read_records(archive)
    assert records[2]["before"][0]["text"] == NEW_TEXT
    assert records[2]["after"][0]["text"] == NEW_TEXT + " again"
    assert [r["undoes"] for r in records] == [None, None, None, 3, 2, 1]
    assert_same_but_edited(start, archive)


def test_history_stays_out_of_the_archive(archive: Path) -> None:
    edit_message(archive, messages(archive)[0]["id"], NEW_TEXT)
    side = sidecar_dir(archive)
    assert side == archive.parent / "out.curation"
    assert sorted(p.name for p in side.iterdir()) == ["history.jsonl", "lock"]
    assert not any(p.name.endswith(".jsonl") for p in archive.rglob("*"))


def test_a_stale_change_is_refused_and_changes_nothing(archive: Path) -> None:
    m = messages(archive)[2]
    edit_message(archive, m["id"], NEW_TEXT)
    start = read_files(archive)
    stale = Change("edit", before=(m,), after=({**m, "text": "other"},))
    with pytest.raises(CurationError, match=f"message {m['id']} .* changed since .*run it again"):
        apply_change(archive, stale)
    assert read_files(archive) == start
    assert len(read_history(archive)) == 1


@pytest.mark.parametrize(
    ("mid", "text", "match"),
    [
        ("m99999", "hi", "has no message 'm99999': ids look like m00012"),
        ("m00001", "two\nlines", r"control characters \(U\+000A"),
        ("m00001", "x" * 10_001, "10001 characters, more than the 10000"),
        ("m00001", "   ", "empty and it has no selfie: .*ghosts-render delete"),
    ],
)
def test_bad_edits_are_one_line_and_change_nothing(
    archive: Path, mid: str, text: str, match: str
) -> None:
    start = read_files(archive)
    with pytest.raises(CurationError, match=match) as info:
        edit_message(archive, mid, text)
    assert "\n" not in str(info.value)
    assert read_files(archive) == start


def test_the_image_tag_typed_into_a_text_is_just_text(archive: Path) -> None:
    m = next(m for m in messages(archive) if "selfie" not in m)
    edit_message(archive, m["id"], "look [image] here")
    assert by_id(archive)[m["id"]] == untimed({**m, "text": "look [image] here"})
    check_archive(archive)


def test_an_archive_broken_by_hand_gets_the_checks_line(archive: Path) -> None:
    data = json.loads((archive / "conversation.json").read_text())
    data["messages"][1]["sender"] = "nobody"
    (archive / "conversation.json").write_text(json.dumps(data))
    with pytest.raises(ArchiveError, match="sender 'nobody' is not one of the roles"):
        edit_message(archive, data["messages"][0]["id"], NEW_TEXT)
    assert not (sidecar_dir(archive) / "history.jsonl").exists()


def test_a_missing_staged_file_is_refused_before_anything_moves(archive: Path) -> None:
    start = read_files(archive)
    m = next(m for m in messages(archive) if "selfie" in m)
    rel = "media/selfies/new.jpg"
    after = {**m, "selfie": {**m["selfie"], "src": rel}}
    after["selfie"].pop("webp", None)
    change = Change("selfie", (m,), (after,), media={rel: archive.parent / "gone.jpg"})
    with pytest.raises(CurationError, match="gone.jpg for media/selfies/new.jpg is missing"):
        apply_change(archive, change)
    assert read_files(archive) == start


def test_a_failed_move_puts_every_file_back(archive: Path, tmp_path: Path) -> None:
    """A real failure after the step moved the old selfie out: a new file whose folder cannot
    be made (a file stands where the folder should be). Everything goes back; nothing is lost."""
    start = read_files(archive)
    m = next(m for m in messages(archive) if "selfie" in m)
    sound = next(x["sound"]["src"] for x in messages(archive) if "sound" in x)
    staged = tmp_path / "staged.jpg"
    staged.write_bytes(start[m["selfie"]["src"]])
    rel = f"{sound}/new.jpg"  # under a file: its folder cannot be made
    after = {**m, "selfie": {k: v for k, v in m["selfie"].items() if k != "webp"} | {"src": rel}}
    with pytest.raises(CurationError, match="nothing was changed"):
        apply_change(archive, Change("selfie", (m,), (after,), media={rel: staged}))
    assert read_files(archive) == start
    assert staged.is_file()
    assert not pending_path(archive).exists()
    assert read_history(archive) == []
    check_archive(archive)


HOLDER = """
import sys
from pathlib import Path
from ghosts_render.curate.sidecar import lock_archive
with lock_archive(Path(sys.argv[1]), "studio"):
    print("held", flush=True)
    sys.stdin.read()
"""


def _hold(archive: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(archive)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline() == "held\n"
    return proc


def test_a_second_process_gets_one_line_naming_the_studio_and_its_pid(archive: Path) -> None:
    proc = _hold(archive)
    try:
        start = read_files(archive)
        with pytest.raises(CurationError, match=rf"is open in the studio \(pid {proc.pid}\)"):
            edit_message(archive, "m00001", NEW_TEXT)
        assert read_files(archive) == start
    finally:
        proc.communicate("")  # the holder leaves its `with`: the lock is released
    assert edit_message(archive, "m00001", NEW_TEXT).n == 1


def test_a_killed_holder_leaves_no_lock(archive: Path) -> None:
    proc = _hold(archive)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert edit_message(archive, "m00001", NEW_TEXT).n == 1


def test_the_lock_is_reentrant_within_a_process(archive: Path) -> None:
    with lock_archive(archive, "studio"):
        assert edit_message(archive, "m00001", NEW_TEXT).n == 1
        with pytest.raises(CurationError, match="is open in the studio"):
            _run_edit(archive, "m00002", limit=None)


CRASHER = """
import signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_DFL)  # Python ignores it; a C program dies of it
from pathlib import Path
from ghosts_render.curate.edit import delete_message
delete_message(Path(sys.argv[1]), sys.argv[2])
"""


def _run_edit(archive: Path, mid: str, limit: int | None) -> None:
    """Delete ``mid`` in another process; with ``limit``, the system kills it (SIGXFSZ) at its
    first write of a file past ``limit`` bytes: a crash at a real point of the step."""

    def cap() -> None:
        if limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    proc = subprocess.run(
        [sys.executable, "-c", CRASHER, str(archive), mid],
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        preexec_fn=cap,
        capture_output=True,
        text=True,
    )
    if limit is not None:
        assert proc.returncode == -signal.SIGXFSZ, proc.stderr
    elif proc.returncode:
        raise CurationError(proc.stderr.strip().splitlines()[-1])


def test_a_crash_before_conversation_json_is_rolled_back_by_the_next_command(
    archive: Path,
) -> None:
    start = read_files(archive)
    target = next(m for m in messages(archive) if "selfie" in m)
    # The journal (a few hundred bytes) is written; conversation.json (~20 kB) is not.
    _run_edit(archive, target["id"], limit=4096)
    assert pending_path(archive).is_file()
    assert not (archive / target["selfie"]["src"]).exists()  # moved out before the crash
    result = runner.invoke(app, ["site", str(archive)])  # `site` repairs it too
    assert result.exit_code == 0, result.output
    assert "rolled back step 1 (delete" in result.stderr
    assert not pending_path(archive).exists()
    now = read_files(archive)
    manifests = [json.loads(files.pop("manifest.json")) for files in (start, now)]
    assert now == start
    assert manifests[1].pop("edited", False) is False  # nothing happened: not curated
    assert manifests[1] == manifests[0]
    recover_interrupted(archive)  # nothing left to repair
    check_archive(archive)
    assert read_history(archive) == []


def test_a_crash_after_conversation_json_is_finished_by_the_next_command(archive: Path) -> None:
    target = unique_message(archive, selfie=True)
    size = (archive / "conversation.json").stat().st_size
    # conversation.json (smaller now) is written; the manifest (~30 kB) is not.
    assert (archive / "manifest.json").stat().st_size > size + 1024
    _run_edit(archive, target["id"], limit=size + 1024)
    assert pending_path(archive).is_file()
    assert target["id"] not in by_id(archive)
    with pytest.raises(ArchiveError):
        check_archive(archive)  # half done: conversation.json differs from the manifest
    assert undo_step(archive) is not None  # finishes step 1, then undoes it
    steps = read_history(archive)
    assert [(s.n, s.action, s.undone) for s in steps] == [(1, "delete", True), (2, "undo", False)]
    check_archive(archive)
    assert target["id"] in by_id(archive)


runner = CliRunner()


def _cli(*args: str) -> Any:
    return runner.invoke(app, list(args))


@pytest.mark.parametrize("verb", ["edit", "delete", "undo", "history"])
def test_every_curation_verb_has_help(verb: str) -> None:
    result = runner.invoke(app, [verb, "--help"])
    assert result.exit_code == 0
    assert "ARCHIVE.curation/" in " ".join(result.output.split())


def test_the_verbs_as_an_artist_uses_them(archive: Path) -> None:
    a, b = messages(archive)[5]["id"], messages(archive)[6]["id"]
    result = _cli("edit", str(archive), a, NEW_TEXT)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("1  ") and f"  edit  {a}  text of " in result.stdout
    assert _cli("delete", str(archive), b).exit_code == 0
    assert _cli("check", str(archive)).exit_code == 0
    assert _cli("undo", str(archive)).stdout.startswith("3  ")
    lines = _cli("history", str(archive)).stdout.splitlines()
    assert len(lines) == 3
    assert lines[1].endswith(f"  delete  {b}  -  (undone)")
    assert lines[2].endswith(f"  undo  {b}  undid step 2 (delete)")
    steps = [json.loads(x) for x in _cli("history", str(archive), "--json").stdout.splitlines()]
    assert [(s["n"], s["action"], s["undone"]) for s in steps] == [
        (1, "edit", False),
        (2, "delete", True),
        (3, "undo", False),
    ]
    assert _cli("undo", str(archive)).exit_code == 0
    assert _cli("undo", str(archive)).stdout == f"{archive}: nothing to undo\n"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["delete", "{a}", "m0004"], "has no message 'm0004': ids look like m00012"),
        (["undo", "{a}/nowhere"], "nowhere is not an archive folder"),
        (["edit", "{a}", "m00001", "a\tb"], "control characters (U+0009"),
        (["history", "{a}/media"], "media is not an archive folder"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(archive: Path, args: list[str], expected: str) -> None:
    result = runner.invoke(app, [x.format(a=archive) for x in args])
    assert result.exit_code == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith("ghosts-render: error: ") and expected in line
    assert not (archive / "nowhere.curation").exists()


def test_an_archive_without_a_manifest_is_one_line(archive: Path) -> None:
    (archive / "manifest.json").unlink()
    with pytest.raises(CurationError, match="has no manifest.json, .* run `ghosts-render site"):
        delete_message(archive, "m00001")
    assert not sidecar_dir(archive).exists()


def test_the_render_records_every_raw_piece_beside_the_archive(demo_render: Path) -> None:
    store = json.loads((sidecar_dir(demo_render) / "raw.json").read_text(encoding="utf-8"))
    manifest = json.loads((demo_render / "manifest.json").read_text(encoding="utf-8"))
    assert (store["format"], store["version"]) == ("ghosts-render/curation-raw", 1)
    assert store["fingerprint"] == manifest["fingerprint"]
    cfg = read_recorded_config(manifest["config"], "manifest.json")
    msgs = messages(demo_render)
    assert sorted(store["raw"]) == [m["id"] for m in msgs]
    for m in msgs:  # every recorded piece still parses to its message
        assert raw_for(m, store["raw"][m["id"]], cfg) == store["raw"][m["id"]]
    assert read_raw(demo_render, manifest["fingerprint"]) == store["raw"]
    assert read_raw(demo_render, "another render") == {}


def test_raw_for_rebuilds_the_piece_of_an_edited_message(demo_render: Path) -> None:
    manifest = json.loads((demo_render / "manifest.json").read_text(encoding="utf-8"))
    cfg = read_recorded_config(manifest["config"], "manifest.json")
    store = read_raw(demo_render, manifest["fingerprint"])
    plain = next(m for m in messages(demo_render) if "selfie" not in m)
    selfie = next(m for m in messages(demo_render) if "selfie" in m)
    edited = {**plain, "text": "new  words"}
    assert raw_for(edited, store[plain["id"]], cfg) == f"[{plain['sender']}] new  words"
    assert raw_for({**selfie, "text": ""}, None, cfg) == f"[{selfie['sender']}] [image]"
    assert raw_for({**selfie, "text": "hi"}, None, cfg) == f"[{selfie['sender']}] hi [image]"


def test_a_render_keeps_the_history_of_an_archive_it_does_not_know(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "out"
    side = sidecar_dir(out)
    side.mkdir()
    (side / "history.jsonl").write_text('{"step": 1}\n')
    write_render_sidecar(out, "fp", ["[artist] hi"], lambda i: f"m{i:05d}")
    assert (tmp_path / "out.curation.1" / "history.jsonl").read_text() == '{"step": 1}\n'
    assert "moved it to out.curation.1" in caplog.text
    assert read_raw(out, "fp") == {"m00000": "[artist] hi"}
    write_render_sidecar(out, "fp2", ["[artist] yo"], lambda i: f"m{i:05d}")  # raw only: kept
    assert not (tmp_path / "out.curation.2").exists()
    assert read_raw(out, "fp2") == {"m00000": "[artist] yo"}


def test_a_render_never_replaces_a_curated_archive_even_after_undo(archive: Path) -> None:
    edit_message(archive, "m00001", NEW_TEXT)
    undo_step(archive)
    with pytest.raises(ArchiveError, match="holds a curated archive"):
        check_replaceable(archive)


def test_a_page_changed_by_hand_is_named_when_a_step_cannot_rewrite_it(
    archive: Path, caplog: pytest.LogCaptureFixture
) -> None:
    page = archive / "transcript.html"
    page.write_bytes(page.read_bytes() + b"<!-- mine -->\n")
    assert runner.invoke(app, ["site", str(archive)]).exit_code == 0  # kept, and recorded so
    target = messages(archive)[4]
    delete_message(archive, target["id"])
    assert "transcript.html kept as changed by hand, so a text step 1 removed" in caplog.text
    assert page.read_bytes().endswith(b"<!-- mine -->\n")
    check_archive(archive)


def test_a_message_put_back_where_the_times_closed_up_gets_times_that_fit(archive: Path) -> None:
    """Undo a deletion after the later messages moved up into its place (as `site` re-planning
    does, here by hand): the message comes back between its neighbours, and the archive checks."""
    k = 10
    target = messages(archive)[k]
    delete_message(archive, target["id"])
    data = json.loads((archive / "conversation.json").read_text(encoding="utf-8"))
    shift = data["messages"][k]["at"] - target["at"]  # the next one now starts where it was
    for m in data["messages"][k:]:
        m["at"] -= shift
        m["writing_at"] = max(0, m["writing_at"] - shift)
    data["duration"] -= shift
    (archive / "conversation.json").write_text(json.dumps(data, indent=2), encoding="utf-8")
    assert runner.invoke(app, ["site", str(archive)]).exit_code == 0
    assert undo_step(archive) is not None
    check_archive(archive)
    now = messages(archive)
    assert untimed(now[k]) == untimed(target)
    assert now[k - 1]["at"] < now[k]["at"] < now[k + 1]["at"]
    assert now[k]["writing_at"] <= now[k]["at"]
