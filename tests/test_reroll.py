"""Re-rolling a message on a copy of the demo render: candidates, picks, --run, bad input.

Every test copies the session's render (`demo_render`) with its sidecar (the raw pieces the
render recorded) into tmp_path and works on the copy, with the real demo text model, through the
real command line where the user would.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ghosts_render.archive.check import check_archive
from ghosts_render.blocklist import load_blocklist
from ghosts_render.cli import app
from ghosts_render.config import read_recorded_config
from ghosts_render.curate.history import read_history
from ghosts_render.curate.media import stage_sound
from ghosts_render.curate.reroll import (
    candidates_path,
    generate_candidates,
    read_candidates,
    read_context,
)
from ghosts_render.curate.sidecar import read_raw, sidecar_dir
from ghosts_render.curate.textgen import generate_continuations, load_archive_model
from ghosts_render.errors import CurationError

runner = CliRunner()
TIMING = ("writing_at", "at")


@pytest.fixture
def archive(curated_copy: Path) -> Path:
    return curated_copy


def messages(archive: Path) -> list[dict[str, Any]]:
    return json.loads((archive / "conversation.json").read_text(encoding="utf-8"))["messages"]


def manifest(archive: Path) -> dict[str, Any]:
    return json.loads((archive / "manifest.json").read_text(encoding="utf-8"))


def read_files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def content(m: dict[str, Any]) -> dict[str, Any]:
    """A message without its timing (a rebuild re-plans it from the texts)."""
    return {k: v for k, v in m.items() if k not in TIMING}


def reroll(*args: str) -> tuple[int, str, list[str]]:
    """Run `ghosts-render reroll ARGS` in-process: (exit code, stdout, stderr lines)."""
    result = runner.invoke(app, ["reroll", *args])
    return result.exit_code, result.stdout, [x for x in result.stderr.splitlines() if x.strip()]


def inner_message(archive: Path, *, run_left: int = 1) -> dict[str, Any]:
    """A message the model wrote (not a run's prompt) with ``run_left`` messages from it to the
    end of its run, itself included, and no selfie."""
    ms = messages(archive)
    for i, m in enumerate(ms):
        rest = [x for x in ms[i:] if x["run"] == m["run"]]
        if not m.get("new_run") and "selfie" not in m and len(rest) == run_left:
            return m
    raise AssertionError("the demo render has no such message")


def test_the_context_regenerates_the_renders_own_text(archive: Path) -> None:
    # Drawn from the render's own stream (not the re-roll one), every message the model wrote
    # comes out as the render wrote it: so a re-roll's context (the run's earlier raw pieces,
    # as the render recorded them beside the archive) is exactly the render's.
    data = manifest(archive)
    cfg = read_recorded_config(data["config"], "manifest.json")
    model, identity = load_archive_model(data, cfg, None, "cpu")
    assert identity["own"] and identity["files"] == data["models"]["text"]["files"]
    raws = read_raw(archive, data["fingerprint"])
    ms = messages(archive)
    assert set(raws) == {m["id"] for m in ms}
    written = [m for m in ms if not m.get("new_run")]
    for m in written:
        ctx = read_context(archive, m["id"])
        [[again]] = generate_continuations(
            model, cfg, ctx.run, ctx.raws, [ctx.place], 1, reroll=False
        )
        assert again.raw == raws[m["id"]] == ctx.current_raw
        assert (again.sender, again.text, again.selfie) == (m["sender"], m["text"], "selfie" in m)
    assert len(written) >= 50 and any("selfie" in m for m in written)


def test_reroll_twice_gives_the_same_candidates_and_keeps_them(archive: Path) -> None:
    target = inner_message(archive)
    before = read_files(archive)
    code, first, lines = reroll(str(archive), target["id"])
    assert code == 0, lines
    code, second, lines = reroll(str(archive), target["id"])
    assert code == 0, lines
    assert first == second
    numbered = first.splitlines()
    assert [line.split(". ", 1)[0] for line in numbered] == ["1", "2", "3", "4"]
    kept = read_candidates(archive, target["id"])
    assert [f"{i}. [{c[0].sender}] {c[0].text}" for i, c in enumerate(kept.candidates, 1)] == [
        line.removesuffix(" (selfie)") for line in numbered
    ]
    # Four distinct lines, none of them the message as it is, from the archive's own model.
    raws = {c[0].raw for c in kept.candidates}
    assert len(raws) == 4 and target["text"] not in {c[0].text for c in kept.candidates}
    assert kept.model["files"] == manifest(archive)["models"]["text"]["files"]
    assert kept.current == (target,)
    assert read_files(archive) == before  # candidates live beside the archive, never in it


def test_json_output_and_more_candidates_keep_the_first_ones(archive: Path) -> None:
    target = inner_message(archive)
    code, out, lines = reroll(str(archive), target["id"], "--candidates", "2", "--json")
    assert code == 0, lines
    data = json.loads(out)
    assert data["message_id"] == target["id"] and len(data["candidates"]) == 2
    assert data == json.loads(candidates_path(archive, target["id"]).read_text())
    more = generate_candidates(archive, target["id"], 5, device="cpu")
    assert [[w.to_json() for w in c] for c in more.candidates[:2]] == data["candidates"]


def test_pick_changes_only_that_message(archive: Path) -> None:
    target = inner_message(archive)
    found = generate_candidates(archive, target["id"], 4, device="cpu")
    k = next(
        i
        for i, c in enumerate(found.candidates, 1)
        if c[0].sender == target["sender"] and not c[0].selfie
    )
    chosen = found.candidates[k - 1][0]
    media_before = read_files(archive / "media")
    old = messages(archive)
    code, out, lines = reroll(str(archive), target["id"], "--pick", str(k))
    assert code == 0, lines
    assert out.split()[0] == "1" and " pick " in out  # the step, as `history` lists it
    new = messages(archive)
    assert [m["id"] for m in new] == [m["id"] for m in old]
    for a, b in zip(old, new, strict=True):
        if a["id"] == target["id"]:
            assert (b["sender"], b["text"]) == (chosen.sender, chosen.text)
            assert b["sound"] == a["sound"]  # the same sender keeps its sound
        else:
            assert content(a) == content(b)
        if a["id"] < target["id"]:
            assert (a["writing_at"], a["at"]) == (b["writing_at"], b["at"])
    assert read_files(archive / "media") == media_before
    assert read_raw(archive, manifest(archive)["fingerprint"])[target["id"]] == chosen.raw
    check_archive(archive)
    # Picking again from the same list is stale now: the message is not what they replaced.
    code, _, lines = reroll(str(archive), target["id"], "--pick", "1")
    assert code == 1 and "stale" in lines[-1]


def test_pick_run_changes_only_that_run(archive: Path) -> None:
    target = inner_message(archive, run_left=3)
    code, out, lines = reroll(str(archive), target["id"], "--run", "--candidates", "2")
    assert code == 0, lines
    found = read_candidates(archive, target["id"])
    assert found.run and len(found.ids) == 3 and found.ids[0] == target["id"]
    assert out.splitlines()[0] == "1." and out.splitlines()[1].startswith(f"   {target['id']} [")
    old = messages(archive)
    code, out, lines = reroll(str(archive), target["id"], "--run", "--pick", "2")
    assert code == 0, lines
    new = messages(archive)
    chosen = dict(zip(found.ids, found.candidates[1], strict=True))
    for a, b in zip(old, new, strict=True):
        assert a["id"] == b["id"]
        if a["id"] in chosen:
            assert (b["sender"], b["text"], "selfie" in b) == (
                chosen[a["id"]].sender,
                chosen[a["id"]].text,
                chosen[a["id"]].selfie,
            )
        else:
            assert content(a) == content(b)
    assert {m["run"] for m in old if m["id"] in chosen} == {target["run"]}
    check_archive(archive)


def test_a_new_sender_gets_one_of_its_sounds_and_a_new_selfie_a_fresh_seed(archive: Path) -> None:
    # The demo model's candidates for its messages often change the sender and now and then
    # carry the image tag: pick the first one that does both.
    ms = messages(archive)
    seeds = {m["selfie"]["seed"] for m in ms if "selfie" in m}
    for target in [m for m in ms if not m.get("new_run") and "selfie" not in m][:12]:
        found = generate_candidates(archive, target["id"], 6, device="cpu")
        picks = [
            (k, w)
            for k, [w] in enumerate(found.candidates, 1)
            if w.sender != target["sender"] and w.selfie
        ]
        if not picks:
            continue
        k, w = picks[0]
        media_before = read_files(archive / "media")
        code, _, lines = reroll(str(archive), target["id"], "--pick", str(k))
        assert code == 0, lines
        new = {m["id"]: m for m in messages(archive)}[target["id"]]
        theirs = {m["sound"]["src"] for m in ms if m["sender"] == w.sender}
        assert new["sound"]["src"] in theirs
        assert new["selfie"]["seed"] not in seeds
        assert (archive / new["selfie"]["src"]).is_file()
        added = set(read_files(archive / "media")) - set(media_before)
        assert {f"media/{rel}" for rel in added} == {new["selfie"]["src"], new["selfie"]["webp"]}
        check_archive(archive)
        return
    raise AssertionError("no candidate of the demo render changes sender and takes a selfie")


def sidecar_files(archive: Path) -> dict[str, bytes]:
    return read_files(sidecar_dir(archive))


def assert_refused(archive: Path, args: list[str], expected: str) -> None:
    """Exit 1, one line on stderr naming the problem, and nothing written anywhere."""
    before = (read_files(archive), sidecar_files(archive))
    code, out, lines = reroll(str(archive), *args)
    assert code == 1, (out, lines)
    assert len(lines) == 1 and lines[0].startswith("ghosts-render: error: "), lines
    assert expected in lines[0], lines[0]
    assert (read_files(archive), sidecar_files(archive)) == before


def test_bad_input_is_one_clear_line_and_changes_nothing(archive: Path) -> None:
    target = inner_message(archive)
    mid = target["id"]
    assert_refused(archive, ["m99999"], "no message 'm99999'")
    assert_refused(archive, ["m99999", "--pick", "1"], "no message 'm99999'")
    with pytest.raises(CurationError, match="is not a message id"):
        read_candidates(archive, "../../etc/passwd")
    assert_refused(archive, [mid, "--pick", "1"], f"{mid} has no text candidates")
    assert_refused(archive, [mid, "--candidates", "0"], "--candidates must be 1 to 64")
    prompt = next(m for m in messages(archive) if m.get("new_run"))["id"]
    assert_refused(archive, [prompt], "prompt from text.prompts")
    code, _, lines = reroll(str(archive), mid, "--candidates", "2")
    assert code == 0, lines
    assert_refused(archive, [mid, "--pick", "3"], "has candidates 1 to 2")
    assert_refused(archive, [mid, "--pick", "0"], "has candidates 1 to 2")
    assert_refused(archive, [mid, "--pick", "1", "--run"], "made without --run")
    assert_refused(archive, [mid, "--pick", "1", "--candidates", "3"], "give one of them")
    assert_refused(archive, [mid, "--selfie", "--run"], "--selfie")
    broken = json.loads((archive / "conversation.json").read_text(encoding="utf-8"))
    del broken["messages"][3]["sender"]
    (archive / "conversation.json").write_text(json.dumps(broken), encoding="utf-8")
    assert_refused(archive, [mid], "conversation.json has 1 problem(s)")
    assert_refused(archive, [mid, "--pick", "1"], "conversation.json has 1 problem(s)")


def test_a_pick_after_the_message_changed_is_stale(archive: Path) -> None:
    from ghosts_render.curate.edit import edit_message

    mid = inner_message(archive)["id"]
    code, _, lines = reroll(str(archive), mid, "--candidates", "2")
    assert code == 0, lines
    edit_message(archive, mid, "a line the artist wrote by hand")
    assert_refused(archive, [mid, "--pick", "1"], "stale")


def changed_model(archive: Path, tmp_path: Path) -> Path:
    """Point the archive's recorded text model at a copy whose config.json differs by a byte."""
    data = manifest(archive)
    copy = tmp_path / "other-model"
    shutil.copytree(data["models"]["text"]["path"], copy)
    with (copy / "config.json").open("a") as fh:
        fh.write("\n")
    data["config"]["text"]["model"] = str(copy)
    (archive / "manifest.json").write_text(json.dumps(data, indent=2) + "\n")
    return copy


def test_a_different_or_missing_model_is_refused_and_model_uses_another(
    archive: Path, tmp_path: Path
) -> None:
    mid = inner_message(archive)["id"]
    other = changed_model(archive, tmp_path)
    assert_refused(archive, [mid], "config.json differ(s) from what manifest.json recorded")
    assert_refused(archive, [mid], "--model PATH")
    code, _, lines = reroll(str(archive), mid, "--candidates", "2", "--model", str(other))
    assert code == 0, lines
    assert read_candidates(archive, mid).model["own"] is False
    # A pick must be made with the model that wrote the candidates.
    assert_refused(archive, [mid, "--pick", "1"], "--model")
    code, _, lines = reroll(str(archive), mid, "--pick", "1", "--model", str(other))
    assert code == 0, lines
    assert read_history(archive)[-1].note.endswith(f", written by the text model at {other}")
    shutil.rmtree(other)
    assert_refused(archive, [mid], f"own text model {other} (text.model in manifest.json) is gone")


def test_candidates_the_renders_blocklist_matches_are_written_again(
    archive: Path, tmp_path: Path
) -> None:
    mid = inner_message(archive)["id"]
    plain = generate_candidates(archive, mid, 4, device="cpu")
    words = [w for c in plain.candidates for w in re.findall(r"[a-z]{4,}", c[0].text.lower())]
    blocklist = tmp_path / "blocklist.txt"
    blocklist.write_text(f"{words[0]}\n/{words[-1]}/\n", encoding="utf-8")
    data = manifest(archive)  # as if the render had been made with this blocklist
    data["config"]["text"]["blocklist"] = str(blocklist)
    (archive / "manifest.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    screened = generate_candidates(archive, mid, 4, device="cpu")
    terms = load_blocklist(blocklist)
    assert [terms.find(c[0].text) for c in screened.candidates] == [None] * 4
    assert screened.candidates[0] != plain.candidates[0]
    blocklist.unlink()
    assert_refused(archive, [mid], f"blocklist {blocklist} does not exist")


def test_selfie_dispatches_to_the_selfie_candidates(archive: Path) -> None:
    from ghosts_render.curate.selfies import read_selfie_candidates

    target = next(m for m in messages(archive) if "selfie" in m)
    code, out, lines = reroll(str(archive), target["id"], "--selfie", "--candidates", "2")
    assert code == 0, lines
    assert Path(out.strip()).is_file()  # the contact sheet
    seeds = read_selfie_candidates(archive, target["id"]).seeds
    code, out, lines = reroll(str(archive), target["id"], "--selfie", "--pick", "2")
    assert code == 0 and out.split()[0] == "1" and " selfie " in out, lines
    new = {m["id"]: m for m in messages(archive)}[target["id"]]
    assert new["selfie"]["seed"] == seeds[1] and new["text"] == target["text"]
    check_archive(archive)


def test_undo_takes_a_pick_back_byte_for_byte(archive: Path) -> None:
    target = inner_message(archive, run_left=2)
    before = read_files(archive)
    code, _, lines = reroll(str(archive), target["id"], "--run", "--candidates", "3")
    assert code == 0, lines
    code, _, lines = reroll(str(archive), target["id"], "--pick", "3")
    assert code == 0, lines
    assert read_files(archive)["conversation.json"] != before["conversation.json"]
    result = runner.invoke(app, ["undo", str(archive)])
    assert result.exit_code == 0, result.output
    after = read_files(archive)
    manifest_after = json.loads(after.pop("manifest.json"))
    assert after == {k: v for k, v in before.items() if k != "manifest.json"}
    assert manifest_after["edited"] is True  # once curated, a render never replaces it


def test_a_sender_with_no_sound_in_the_archive_gets_the_sound_stages_first_deal(
    archive: Path, tmp_path: Path
) -> None:
    data = manifest(archive)
    cfg = read_recorded_config(data["config"], "manifest.json")
    first = next(m for m in messages(archive) if m["sender"] == "scientist")
    # The stage deals as the render did: the role's first card is its first message's sound,
    # which this archive has already, so nothing needs staging.
    sound, staged = stage_sound(archive, cfg, [], "scientist", "m00003")
    assert sound == first["sound"] and staged == {}
    # Into an archive without that file, the sound is rendered and staged beside it.
    empty = tmp_path / "empty"
    empty.mkdir()
    sound, staged = stage_sound(empty, cfg, [], "scientist", "m00003")
    assert sound == first["sound"] and list(staged) == [sound["src"]]
    assert staged[sound["src"]].read_bytes() == (archive / sound["src"]).read_bytes()
