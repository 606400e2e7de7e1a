"""The contract types: JSON round trips, one set of player rules, the doc that describes them."""

from __future__ import annotations

import json
import re
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from ghosts_render.archive.folder import read_manifest, write_manifest
from ghosts_render.archive.model import (
    DEFAULT_LOST_TEXT,
    Conversation,
    Manifest,
    Message,
    PlayerSettings,
    Role,
    Selfie,
    Sound,
    Voice,
    list_player_problems,
)
from ghosts_render.archive.schema import list_conversation_problems
from ghosts_render.config import PlayerConfig, plan_player
from ghosts_render.errors import ConfigError
from ghosts_render.files import dump_json

DOC = Path(__file__).resolve().parents[1] / "docs" / "archive-format.md"

CONVERSATION = {
    "format": "ghosts-render/conversation",
    "version": 1,
    "title": "ghosts",
    "demo": False,
    "roles": {
        "artist": {"label": "artist", "side": "right", "color": "cyan"},
        "scientist": {"label": "scientist", "side": "left", "color": "green"},
    },
    "duration": 30000,
    "player": {"max_messages": 100, "sync": "clock", "epoch": "2026-01-01T00:00:00Z"},
    "messages": [
        {
            "id": "m00000",
            "run": 0,
            "sender": "scientist",
            "text": "Are you still there?",
            "writing_at": 0,
            "at": 6120,
            "new_run": True,
            "sound": {"src": "media/sounds/a.mp3", "duration_ms": 800},
        },
        {
            "id": "m00001",
            "run": 0,
            "sender": "artist",
            "text": "",
            "writing_at": 9480,
            "at": 21950,
            "selfie": {
                "seed": 0,
                "src": "media/selfies/artist-0.jpg",
                "webp": "media/selfies/artist-0.webp",
                "width": 64,
                "height": 64,
                "alt": "selfie of artist",
            },
            "sound": {"src": "media/sounds/b.mp3", "duration_ms": 650},
        },
    ],
}


def test_a_conversation_round_trips_byte_for_byte() -> None:
    conversation = Conversation.from_json(CONVERSATION)
    assert isinstance(conversation.messages[1].selfie, Selfie)
    assert conversation.messages[1].selfie.seed == 0  # a zero seed is a seed, not "unset"
    assert conversation.messages[0].sound == Sound(src="media/sounds/a.mp3", duration_ms=800)
    assert dump_json(conversation.to_json()) == dump_json(CONVERSATION)


def test_keys_added_by_hand_are_never_dropped() -> None:
    data = json.loads(json.dumps(CONVERSATION))
    data["curator"] = "A. N. Other"
    data["roles"]["artist"]["voice"] = "low"
    data["player"]["theme"] = "dark"
    data["messages"][0]["note"] = {"edited": True}
    data["messages"][1]["selfie"]["caption"] = "at dawn"
    data["messages"][1]["sound"]["gain_db"] = -3
    conversation = Conversation.from_json(data)
    assert conversation.extra == {"curator": "A. N. Other"}
    assert conversation.to_json() == data
    assert conversation.player.resolved()["theme"] == "dark"


def test_optional_fields_are_left_out_at_their_default() -> None:
    message = Message(id="m00002", run=1, sender="artist", text="hi", writing_at=5, at=9)
    assert message.to_json() == {
        "id": "m00002",
        "run": 1,
        "sender": "artist",
        "text": "hi",
        "writing_at": 5,
        "at": 9,
    }
    assert Manifest(edited=False).to_json() == {
        "format": "ghosts-render/manifest",
        "version": 1,
        "edited": False,
        "files": {},
    }


@pytest.mark.parametrize(
    ("settings", "written"),
    [
        (PlayerSettings(), {"max_messages": 100, "sync": "clock", "epoch": "2026-01-01T00:00:00Z"}),
        (
            PlayerSettings(
                max_messages=5,
                sync="local",
                public_url="https://example.org/",
                valid_from="2026-05-01",
                valid_until="2026-05-03",
                lost_text="gone",
                day_key=True,
            ),
            {
                "max_messages": 5,
                "sync": "local",
                "epoch": "2026-01-01T00:00:00Z",
                "public_url": "https://example.org/",
                "valid_from": "2026-05-01",
                "valid_until": "2026-05-03",
                "lost_text": "gone",
                "day_key": True,
            },
        ),
    ],
)
def test_player_settings_as_written_and_read(settings: PlayerSettings, written: dict) -> None:
    assert list(settings.to_json().items()) == list(written.items())
    assert PlayerSettings.from_json(written) == settings


def test_resolved_player_has_every_key_and_the_one_default_text() -> None:
    resolved = PlayerSettings.from_json({}).resolved()
    assert resolved == {
        "max_messages": 100,
        "sync": "clock",
        "epoch": "2026-01-01T00:00:00Z",
        "public_url": "",
        "valid_from": "",
        "valid_until": "",
        "lost_text": DEFAULT_LOST_TEXT,
        "day_key": False,
        "join": "live",
        "transcript": True,
        "expire": 0.0,
        "hours": "",
        "timezone": "",
        "closed_text": "",
        "day_start": "first",
        "idle_reset": 60.0,
        "sound_devices": "all",
        "wifi": {"ssid": "", "password": "", "security": "WPA"},
        "theme": "tinted",
        "lang": "en",
    }
    assert not PlayerSettings(hours="Tu-Su 10:00-18:00; Mo 12:00-14:00,15:00-24:00").problems()
    assert not PlayerSettings(timezone="Europe/Berlin", wifi={"ssid": "g"}).problems()
    assert PlayerSettings(lost_text="gone").resolved()["lost_text"] == "gone"


def test_config_defaults_are_the_players() -> None:
    assert plan_player(PlayerConfig()) == PlayerSettings()


@pytest.mark.parametrize(
    ("player", "expected"),
    [
        ({"max_messages": -5}, "player.max_messages: must be at least 1"),
        ({"max_messages": True}, "player.max_messages: must be at least 1"),
        ({"sync": "never"}, 'player.sync: must be "clock" or "local"'),
        ({"epoch": "yesterday"}, "player.epoch: 'yesterday' is not an instant"),
        ({"epoch": "2026-01-01T00:00:00"}, "player.epoch"),  # no time zone
        ({"public_url": "gallery.example"}, "should start with https://"),
        ({"lost_text": 3}, "player.lost_text: should be a text"),
        ({"valid_from": "May 1"}, "player.valid_from: 'May 1' should be a date"),
        ({"valid_from": "2026-01-01", "valid_until": "2027-12-31"}, "0 to 400 days"),
        ({"day_key": "yes"}, "player.day_key: should be true or false"),
        ({"day_key": True}, "'day_key' needs 'valid_from' and 'valid_until'"),
        ({"join": "late"}, 'player.join: must be "live" or "backlog"'),
        ({"transcript": "no"}, "player.transcript: should be true or false"),
        ({"expire": -1}, "player.expire: must be 0 to 86400 seconds"),
        ({"idle_reset": "60"}, "player.idle_reset: must be 0 to 86400 seconds"),
        ({"hours": "Tu-Su 10-18"}, "player.hours: 'Tu-Su 10-18' should be days and times"),
        ({"hours": "Xy 10:00-18:00"}, "player.hours: 'Xy' in 'Xy 10:00-18:00' is not a day"),
        ({"hours": "Mo 18:00-02:00"}, "ends before it starts"),
        ({"hours": "Mo 10:00-12:00,11:00-13:00"}, "has overlapping times"),
        ({"timezone": "Berlin"}, "player.timezone: 'Berlin' is not a time zone name"),
        ({"timezone": "../etc/passwd"}, "player.timezone: '../etc/passwd' is not a time zone"),
        ({"day_start": "last"}, 'player.day_start: must be "first" or "continue"'),
        ({"sound_devices": "phones"}, 'player.sound_devices: must be "all" or "kiosk"'),
        ({"theme": "dark"}, 'player.theme: must be "tinted" or "original"'),
        ({"lang": "German"}, "player.lang: 'German' should be a language code"),
        ({"wifi": "gallery"}, "player.wifi: should be a table"),
        ({"wifi": {"password": "x"}}, "a password needs ssid"),
        ({"wifi": {"ssid": "g", "security": "WPA3"}}, 'player.wifi.security: must be "WPA"'),
        ({"wifi": {"ssid": "g", "pass": "x"}}, "player.wifi.pass: unknown key"),
    ],
)
def test_one_set_of_player_rules_for_config_and_archive(
    tmp_path: Path, player: dict[str, Any], expected: str
) -> None:
    assert any(expected in p for p in list_player_problems(player))
    doc = {**CONVERSATION, "player": player}
    assert any(expected in p for p in list_conversation_problems(doc, tmp_path))
    if all(isinstance(v, type(getattr(PlayerSettings(), k))) for k, v in player.items()):
        assert any(expected in p for p in PlayerSettings(**player).problems())


def test_the_config_refuses_what_the_archive_refuses(tmp_path: Path) -> None:
    from ghosts_render.config import load_config

    path = tmp_path / "ghosts.toml"
    path.write_text("[player]\nmax_messages = -5\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="player.max_messages: must be at least 1"):
        load_config(path)


def test_good_player_settings_have_no_problems() -> None:
    assert PlayerSettings().problems() == []
    assert list_player_problems({}) == []
    assert list_player_problems(PlayerSettings(lost_text="x").resolved()) == []


def test_manifest_round_trips_through_the_file(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a", encoding="utf-8")
    written = write_manifest(tmp_path, Manifest(seed=7, turns=3, demo=[], extra={"note": "kept"}))
    data = read_manifest(tmp_path)
    assert data["note"] == "kept" and data["demo"] == [] and "edited" not in data
    assert set(data["files"]) == {"a.txt"}
    assert Manifest.from_json(data) == written


def _doc_tables() -> dict[str, set[str]]:
    """Return the field names listed in the first column of each section's table, by heading."""
    tables: dict[str, set[str]] = {}
    heading = ""
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        elif line.startswith("| `"):
            cell = line.split("|")[1]
            names = {n.split(".")[0] for n in re.findall(r"`([^`]+)`", cell)}
            tables.setdefault(heading, set()).update(names)
    return tables


@pytest.mark.parametrize(
    ("heading", "cls"),
    [
        ("conversation.json", Conversation),
        ("roles", Role),
        ("player", PlayerSettings),
        ("messages", Message),
        ("messages[].selfie", Selfie),
        ("messages[].sound", Sound),
        ("messages[].voice", Voice),
        ("manifest.json", Manifest),
    ],
)
def test_the_format_doc_names_every_field_and_only_those(heading: str, cls: type) -> None:
    expected = {f.name for f in fields(cls)} - {"extra"}
    if cls in (Conversation, Manifest):
        expected |= {"format", "version"}
    assert _doc_tables()[heading] == expected
