"""`ghosts-render site` re-plans the timing of a real render from its texts, keyed by message id.

Every test copies the session's demo render (`--turns 60 --seed 7`) and curates the copy by hand
the way an artist edits conversation.json, then runs the real `site` command in-process. The
random draws a test needs it computes itself from the documented stream,
random.Random(f"ghosts-render/pacing/{seed}/{id}"): first the write factor, then the pause.
"""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from demo_render import SEED
from typer.testing import CliRunner

from ghosts_render.archive.folder import read_manifest
from ghosts_render.cli import app
from ghosts_render.config import PacingConfig, read_recorded_config
from ghosts_render.files import dump_json, sha256_file

Doc = dict[str, Any]


def cli(*args: Any) -> Any:
    return CliRunner().invoke(app, [str(a) for a in args])


def every_file(archive: Path) -> dict[str, str]:
    """Every file of the archive, manifest.json included, by its sha256."""
    return {
        p.relative_to(archive).as_posix(): sha256_file(p)
        for p in sorted(archive.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def archive(demo_render: Path, tmp_path: Path) -> Path:
    out = tmp_path / "show"
    shutil.copytree(demo_render, out)
    return out


def read(archive: Path) -> Doc:
    return json.loads((archive / "conversation.json").read_text(encoding="utf-8"))


def curate(archive: Path, change: Callable[[Doc], None]) -> Doc:
    """Edit conversation.json by hand; return the document as it was written."""
    doc = read(archive)
    change(doc)
    (archive / "conversation.json").write_text(dump_json(doc), encoding="utf-8")
    return doc


def times(doc: Doc) -> list[tuple[str, int, int]]:
    return [(m["id"], m["writing_at"], m["at"]) for m in doc["messages"]]


def shifts(before: list[Doc], after: list[Doc]) -> set[int]:
    """Every amount by which the cues of `after` lie later than those of `before`."""
    pairs = list(zip(before, after, strict=True))
    return {b["at"] - a["at"] for a, b in pairs} | {
        b["writing_at"] - a["writing_at"] for a, b in pairs
    }


def pacing(archive: Path) -> PacingConfig:
    return read_recorded_config(read_manifest(archive)["config"], "manifest.json").pacing


def draws(message_id: str, pacing: PacingConfig, pause: tuple[float, float]) -> tuple[float, float]:
    """The message's write factor and pause factor, from its own stream."""
    rng = random.Random(f"ghosts-render/pacing/{SEED}/{message_id}")
    write = rng.uniform(*pacing.write_deviation)
    return write, rng.uniform(*pause)


def cost_s(message: Doc, pacing: PacingConfig) -> float:
    image = pacing.image_time if "selfie" in message else 0.0
    return pacing.base_time + len(message["text"]) * pacing.letter_time + image


def test_a_fresh_render_replanned_by_site_is_byte_identical(archive: Path) -> None:
    before = every_file(archive)
    written = (archive / "conversation.json").stat().st_mtime_ns
    result = cli("site", archive)
    assert result.exit_code == 0, result.output
    assert every_file(archive) == before  # conversation.json, conversation.js, manifest, all
    assert (archive / "conversation.json").stat().st_mtime_ns == written  # not even rewritten
    assert "times" not in result.stderr


def test_deleting_a_message_closes_its_gap_and_shifts_every_later_cue_alike(
    archive: Path,
) -> None:
    rendered = read(archive)
    old = rendered["messages"]
    k = next(
        i for i in range(20, 50) if old[i - 1]["sender"] != old[i + 1]["sender"] == old[i]["sender"]
    )  # the next message used to follow its own sender; now it reads the other one
    curate(archive, lambda doc: doc["messages"].pop(k))
    assert cli("site", archive).exit_code == 0
    doc = read(archive)
    new = doc["messages"]
    assert [m["id"] for m in new] == [m["id"] for m in old[:k] + old[k + 1 :]]
    assert times({"messages": new[:k]}) == times({"messages": old[:k]})  # nothing before moves
    (shift,) = shifts(old[k + 1 :], new[k:])  # every later cue, writing_at and at, alike
    assert doc["duration"] - rendered["duration"] == shift
    assert shift < -(old[k]["at"] - old[k]["writing_at"])  # at least its writing time is gone
    p = pacing(archive)
    write, read_factor = draws(new[k]["id"], p, p.read_deviation)
    pause_ms = round(cost_s(new[k - 1], p) * read_factor * 1000)  # it reads the message before
    assert new[k]["writing_at"] - new[k - 1]["at"] == pause_ms
    assert cli("check", archive).exit_code == 0


def test_lengthening_a_text_grows_its_write_time_by_its_own_draw_only(archive: Path) -> None:
    old = read(archive)["messages"]
    k = next(
        i for i in range(10, 50) if old[i]["text"] and old[i + 1]["sender"] != old[i]["sender"]
    )
    added = " and then the sea came in"

    def lengthen(doc: Doc) -> None:
        doc["messages"][k]["text"] += added

    curate(archive, lengthen)
    assert cli("site", archive).exit_code == 0
    new = read(archive)["messages"]
    assert new[k]["text"] == old[k]["text"] + added
    assert times({"messages": new[:k]}) == times({"messages": old[:k]})
    assert new[k]["writing_at"] == old[k]["writing_at"]
    p = pacing(archive)
    write, _ = draws(old[k]["id"], p, p.read_deviation)
    grown = (new[k]["at"] - new[k]["writing_at"]) - (old[k]["at"] - old[k]["writing_at"])
    # letter_time x added letters x its U(write_deviation) draw, in whole ms (both sides rounded)
    assert abs(grown - p.letter_time * len(added) * write * 1000) <= 1
    # The next message reads the longer text; from the one after it, everything moves alike.
    assert len(shifts(old[k + 2 :], new[k + 2 :])) == 1
    assert [m["text"] for m in new[k + 1 :]] == [m["text"] for m in old[k + 1 :]]


def test_keep_times_keeps_them_in_later_rebuilds_until_replan(
    archive: Path, demo_render: Path, tmp_path: Path
) -> None:
    def hand_time(doc: Doc) -> None:
        doc["messages"][5]["text"] = "a line timed by hand"
        doc["messages"][5]["at"] += 4000  # the artist holds this line back four seconds
        for m in doc["messages"][6:]:
            m["writing_at"] += 4000
            m["at"] += 4000
        doc["duration"] += 4000

    timed = curate(archive, hand_time)
    result = cli("site", archive, "--keep-times")
    assert result.exit_code == 0, result.output
    assert read(archive) == timed
    assert read_manifest(archive)["keep_times"] is True
    assert cli("check", archive).exit_code == 0

    timed = curate(archive, lambda doc: doc["messages"][7].update(text="edited later"))
    result = cli("site", archive)  # no flag: the manifest remembers
    assert result.exit_code == 0, result.output
    assert read(archive) == timed
    (line,) = [line for line in result.stderr.splitlines() if "kept the times" in line]
    assert "--keep-times" in line and f"ghosts-render site {archive} --replan" in line

    result = cli("site", archive, "--replan")
    assert result.exit_code == 0, result.output
    assert "keep_times" not in read_manifest(archive)
    # The same texts edited in a fresh copy, times untouched, plan the same times.
    other = tmp_path / "other"
    shutil.copytree(demo_render, other)

    def same_texts(doc: Doc) -> None:
        doc["messages"][5]["text"] = "a line timed by hand"
        doc["messages"][7]["text"] = "edited later"

    curate(other, same_texts)
    assert cli("site", other).exit_code == 0
    assert read(archive) == read(other) != timed
    assert cli("site", archive).exit_code == 0 and read(archive) == read(other)


def test_an_archive_without_a_recorded_config_keeps_its_times_and_says_why(
    archive: Path,
) -> None:
    manifest = json.loads((archive / "manifest.json").read_text())
    del manifest["config"]  # hand-made, or from a tool that records none
    (archive / "manifest.json").write_text(dump_json(manifest))
    edited = curate(archive, lambda doc: doc["messages"].pop(3))
    result = cli("site", archive)
    assert result.exit_code == 0, result.output
    assert read(archive) == edited
    (line,) = [line for line in result.stderr.splitlines() if "times" in line]
    assert "warning" in line and "records no render configuration" in line
    before = every_file(archive)
    result = cli("site", archive, "--replan")
    assert result.exit_code == 1
    assert result.stderr.strip().count("\n") == 0 and "cannot re-plan" in result.stderr
    assert every_file(archive) == before

    (archive / "manifest.json").unlink()
    result = cli("site", archive)
    assert result.exit_code == 0, result.output
    assert read(archive) == edited and "has no manifest.json" in result.stderr


@pytest.mark.parametrize(
    ("damage", "named"),
    [
        (lambda c: c["pacing"].update(letter_time="fast"), "pacing.letter_time"),
        (lambda c: c["pacing"].update(write_deviation=[1.2]), "pacing.write_deviation"),
        (lambda c: c.update(pacing=[]), "pacing"),
    ],
)
def test_a_damaged_recorded_pacing_is_one_line_and_nothing_is_written(
    archive: Path, damage: Callable[[Doc], None], named: str
) -> None:
    manifest = json.loads((archive / "manifest.json").read_text())
    damage(manifest["config"])
    (archive / "manifest.json").write_text(dump_json(manifest))
    curate(archive, lambda doc: doc["messages"].pop(3))
    before = every_file(archive)
    result = cli("site", archive)
    assert result.exit_code == 1
    (line,) = result.stderr.strip().splitlines()
    assert "manifest.json" in line and named in line and "--keep-times" in line, line
    assert every_file(archive) == before
    assert cli("site", archive, "--keep-times").exit_code == 0  # the way out it names
