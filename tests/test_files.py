"""The one atomic writer and the archive's JSON: all-or-nothing, normal permissions, no NaN."""

from __future__ import annotations

import json
import math
import os
import stat

import pytest

from ghosts_render.errors import ArchiveError
from ghosts_render.files import dump_json, read_json, read_umask, write_atomic, write_json


def test_write_atomic_writes_bytes_and_text_and_makes_the_folder(tmp_path):
    write_atomic(tmp_path / "a" / "b.bin", b"\x00\x01")
    write_atomic(tmp_path / "a" / "c.txt", "✦ line\n")
    assert (tmp_path / "a" / "b.bin").read_bytes() == b"\x00\x01"
    assert (tmp_path / "a" / "c.txt").read_bytes() == "✦ line\n".encode()
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["b.bin", "c.txt"]


def test_a_failed_write_keeps_the_old_content_and_leaves_no_temporary_file(tmp_path):
    taken = tmp_path / "taken"  # a folder with a file in it: os.replace onto it fails
    (taken / "inside.txt").parent.mkdir()
    (taken / "inside.txt").write_text("old")
    with pytest.raises(OSError):
        write_atomic(taken, "new")
    assert (taken / "inside.txt").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["taken"]


def test_a_write_interrupted_by_fsync_leaves_no_temporary_file(tmp_path, monkeypatch):
    def fail(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(tmp_path / "x.json", "{}")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_permissions_follow_the_umask(tmp_path, umask):
    before = os.umask(umask)
    try:
        assert read_umask() == umask
        write_atomic(tmp_path / "f", b"x")
        write_atomic(tmp_path / "f", b"y")  # replacing a file, too
    finally:
        os.umask(before)
    assert stat.S_IMODE((tmp_path / "f").stat().st_mode) == 0o666 & ~umask


def test_dump_json_is_the_archives_way():
    text = dump_json({"b": "✦", "a": [1]}, sort_keys=True)
    assert text == '{\n  "a": [\n    1\n  ],\n  "b": "✦"\n}\n'


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
def test_nan_and_infinity_are_refused_and_nothing_is_written(tmp_path, number):
    with pytest.raises(ValueError, match="NaN or Infinity"):
        dump_json({"x": number})
    with pytest.raises(ValueError, match=r"out\.json: .*NaN or Infinity"):
        write_json(tmp_path / "out.json", {"x": [number]})
    assert list(tmp_path.iterdir()) == []


def test_read_json_refuses_nan_and_names_the_file(tmp_path):
    path = tmp_path / "state.json"
    path.write_text('{"x": NaN}')
    with pytest.raises(ArchiveError, match="state.json is not readable JSON .*NaN"):
        read_json(path, "render state")
    write_json(path, {"x": 1.5})
    assert read_json(path, "render state") == json.loads(path.read_text()) == {"x": 1.5}
