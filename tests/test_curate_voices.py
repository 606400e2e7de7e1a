"""Curation of an archive rendered with voices: an edited or re-rolled message is read aloud
again, so its clip never says the old words; delete and undo move clips like any media.

Every test changes a copy of the session's render with voices (``voiced_render``).
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import pytest

from ghosts_render.archive.check import check_archive
from ghosts_render.config import read_recorded_config
from ghosts_render.curate.edit import delete_message, edit_message
from ghosts_render.curate.history import read_records, undo_step
from ghosts_render.curate.reroll import generate_candidates, pick_candidate
from ghosts_render.curate.sidecar import removed_dir, sidecar_dir
from ghosts_render.render.sounds.io import decode_audio
from ghosts_render.render.voices.clip import render_clip
from ghosts_render.render.voices.piper_voice import load_voice

NEW_TEXT = "the archive remembers what the ghost never said"


@pytest.fixture
def archive(voiced_render: Path, tmp_path: Path) -> Path:
    out = tmp_path / "out"
    shutil.copytree(voiced_render, out)
    shutil.copytree(sidecar_dir(voiced_render), sidecar_dir(out))
    return out


def _messages(archive: Path) -> list[dict[str, Any]]:
    return json.loads((archive / "conversation.json").read_text())["messages"]


def _spoken(archive: Path) -> dict[str, Any]:
    return next(m for m in _messages(archive) if "voice" in m)


def _expected_clip(archive: Path, message: dict[str, Any]) -> bytes:
    """The clip a render would make for this message's text: same voice, seed and id."""
    manifest = json.loads((archive / "manifest.json").read_text())
    cfg = read_recorded_config(manifest["config"], "manifest.json")
    role = next(r for r in cfg.roles if r.name == message["sender"])
    model = load_voice(Path(role.voice.model), threads=1)
    clip = render_clip(
        model,
        message["text"],
        role=role.voice,
        voices=cfg.voices,
        seed=cfg.seed,
        message_id=message["id"],
    )
    assert clip is not None
    return clip.data


def _assert_voice_fits(archive: Path, message: dict[str, Any]) -> None:
    voice = message["voice"]
    samples, rate, _ = decode_audio((archive / voice["src"]).read_bytes())
    assert 1000 * len(samples) / rate == voice["duration_ms"]
    assert voice["at"] >= message["at"] + message["sound"]["duration_ms"]


def test_an_edit_reads_the_new_text_aloud_and_undo_brings_the_old_clip_back(
    archive: Path,
) -> None:
    before = _spoken(archive)
    edit_message(archive, before["id"], NEW_TEXT)
    after = next(m for m in _messages(archive) if m["id"] == before["id"])
    assert after["text"] == NEW_TEXT
    assert after["voice"]["src"] != before["voice"]["src"]
    assert (archive / after["voice"]["src"]).read_bytes() == _expected_clip(archive, after)
    _assert_voice_fits(archive, after)
    step = read_records(archive)[-1]["step"]
    assert (removed_dir(archive, step) / before["voice"]["src"]).is_file()  # kept, not deleted
    assert not (archive / before["voice"]["src"]).exists()
    assert check_archive(archive)

    undo_step(archive)
    restored = next(m for m in _messages(archive) if m["id"] == before["id"])
    assert restored["voice"]["src"] == before["voice"]["src"]
    assert not (archive / after["voice"]["src"]).exists()
    _assert_voice_fits(archive, restored)
    check_archive(archive)


def test_an_edit_to_words_nothing_can_say_drops_the_voice(archive: Path) -> None:
    target = next(m for m in _messages(archive) if "voice" in m)
    edit_message(archive, target["id"], "🙂")
    after = next(m for m in _messages(archive) if m["id"] == target["id"])
    assert "voice" not in after
    assert not (archive / target["voice"]["src"]).exists()
    check_archive(archive)


def test_a_deleted_message_takes_its_clip_to_the_sidecar(archive: Path) -> None:
    target = _spoken(archive)
    delete_message(archive, target["id"])
    step = read_records(archive)[-1]["step"]
    assert (removed_dir(archive, step) / target["voice"]["src"]).is_file()
    assert target["id"] not in {m["id"] for m in _messages(archive)}
    check_archive(archive)


def test_a_picked_candidate_is_read_aloud_in_its_senders_voice(archive: Path) -> None:
    target = next(m for m in _messages(archive) if "voice" in m and not m.get("new_run"))
    found = generate_candidates(archive, target["id"], 3, device="cpu")
    k = next(
        (i for i, c in enumerate(found.candidates, 1) if c[0].text and c[0].text != target["text"]),
        None,
    )
    assert k is not None, "no candidate with new words among 3"
    pick_candidate(archive, target["id"], k, device="cpu")
    after = next(m for m in _messages(archive) if m["id"] == target["id"])
    assert after["text"] == found.candidates[k - 1][0].text
    if "voice" in after:  # a candidate of emoji alone has nothing to say
        assert (archive / after["voice"]["src"]).read_bytes() == _expected_clip(archive, after)
        _assert_voice_fits(archive, after)
    check_archive(archive)


def test_a_text_changed_by_hand_is_named_by_site_and_edit_reads_it_aloud(
    archive: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from ghosts_render.archive.rebuild import rebuild_site

    data = json.loads((archive / "conversation.json").read_text())
    message = next(m for m in data["messages"] if "voice" in m)
    message["text"] = NEW_TEXT  # by hand: the clip still says the rendered words
    (archive / "conversation.json").write_text(json.dumps(data))

    def warned() -> bool:
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="ghosts_render"):
            rebuild_site(archive)
        return any(message["id"] in r.getMessage() for r in caplog.records)

    assert warned()
    edit_message(archive, message["id"], NEW_TEXT)  # the same text: read aloud, not refused
    after = next(m for m in _messages(archive) if m["id"] == message["id"])
    assert (archive / after["voice"]["src"]).read_bytes() == _expected_clip(archive, after)
    assert not warned()
    undo_step(archive)  # back to the hand-edited text with its old clip
    assert warned()
