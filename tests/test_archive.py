"""The archive on disk: manifest hashes, all-or-nothing moves, never replacing a person's work."""

from __future__ import annotations

import json

import pytest

from ghosts_render.archive.folder import (
    check_replaceable,
    list_edited_files,
    read_conversation,
    read_manifest,
    write_finished,
    write_manifest,
)
from ghosts_render.archive.model import Manifest
from ghosts_render.errors import ArchiveError
from ghosts_render.files import dump_json, sha256_file


def make_archive(path, text="hello"):
    path.mkdir(parents=True)
    (path / "media").mkdir()
    (path / "media" / "a.bin").write_bytes(b"\x00\x01")
    conversation = {"format": "ghosts-render/conversation", "version": 1, "messages": [text]}
    (path / "conversation.json").write_text(dump_json(conversation))
    write_manifest(path, Manifest(seed=1))
    return path


def test_manifest_lists_every_file_with_size_and_hash(tmp_path):
    archive = make_archive(tmp_path / "out")
    manifest = read_manifest(archive)
    assert set(manifest["files"]) == {"conversation.json", "media/a.bin"}
    entry = manifest["files"]["media/a.bin"]
    assert entry == {"size": 2, "sha256": sha256_file(archive / "media" / "a.bin")}
    assert manifest["seed"] == 1
    text = (archive / "manifest.json").read_text()
    assert text.endswith("\n") and json.loads(text) == manifest


def test_json_is_deterministic_and_keeps_unicode():
    data = {"b": "ghost — ✦", "a": [1, 2]}
    assert dump_json(data) == dump_json(dict(data))
    assert "✦" in dump_json(data)


def test_edits_are_detected(tmp_path):
    archive = make_archive(tmp_path / "out")
    assert list_edited_files(archive) == []
    (archive / "conversation.json").write_text("{}")
    (archive / "notes.txt").write_text("mine")
    assert list_edited_files(archive) == ["conversation.json", "notes.txt"]


def test_a_folder_that_is_not_an_archive_is_never_replaced(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "thesis.docx").write_text("years of work")
    with pytest.raises(ArchiveError, match="not a ghosts-render archive"):
        check_replaceable(out)


def test_an_edited_archive_is_never_replaced(tmp_path):
    out = make_archive(tmp_path / "out")
    (out / "conversation.json").write_text('{"curated": true}')
    built = make_archive(tmp_path / "work" / "archive", text="new")
    with pytest.raises(ArchiveError, match="changes made after it was rendered"):
        write_finished(built, out)
    assert (out / "conversation.json").read_text() == '{"curated": true}'


def test_an_unedited_archive_is_replaced_whole(tmp_path):
    out = make_archive(tmp_path / "out")
    (out / "media" / "old.bin").write_bytes(b"x")
    write_manifest(out, Manifest())
    built = make_archive(tmp_path / "work" / "archive", text="new")
    write_finished(built, out)
    assert read_conversation(out)["messages"] == ["new"]
    assert not (out / "media" / "old.bin").exists()
    assert not built.exists()


def test_reading_something_that_is_not_a_conversation_names_the_file(tmp_path):
    (tmp_path / "conversation.json").write_text('{"format": "other"}')
    with pytest.raises(ArchiveError, match="conversation.json is not a ghosts-render conversation"):
        read_conversation(tmp_path)
    with pytest.raises(ArchiveError, match="does not exist"):
        read_conversation(tmp_path / "nowhere")


def test_fingerprint_follows_the_files_behind_the_config(tmp_path):
    from ghosts_render.config import load_config
    from ghosts_render.render.fingerprint import hash_render

    network = tmp_path / "artist.pkl"
    network.write_bytes(b"one network")
    (tmp_path / "ghosts.toml").write_text(
        f'[roles.artist]\nselfies = "{network}"\n[roles.scientist]\n'
    )
    cfg = load_config(tmp_path / "ghosts.toml")
    before = hash_render(cfg, {"kind": "transformers"})
    assert hash_render(cfg, {"kind": "transformers"}) == before
    network.write_bytes(b"another network at the same path")
    assert hash_render(cfg, {"kind": "transformers"}) != before
