"""The contract between the render and the archive: the conversation and the manifest as types.

The render builds a ``Conversation`` once and writes ``conversation.json`` with ``to_json()``;
the archive side reads it back with ``from_json()``. Every type keeps the keys it does not know
in ``extra`` and writes them back, so a field added by hand (or by a later version) is never
dropped. ``PlayerSettings`` holds every player setting with its default and the one set of rules
for them, used by the config and by ``ghosts-render site``/``check`` alike.
docs/archive-format.md describes the same fields; tests/test_model.py checks that they agree.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from datetime import date
from typing import Any, ClassVar, Self, TypeGuard

from ghosts_render import rules
from ghosts_render.archive.hours import parse_hours

CONVERSATION_FORMAT = "ghosts-render/conversation"
CONVERSATION_VERSION = 1
MANIFEST_FORMAT = "ghosts-render/manifest"
MANIFEST_VERSION = 1

SYNC_MODES = ("clock", "local")  # "clock": every device the same moment; "local": from page load
JOIN_MODES = ("live", "backlog")  # "live": an empty chat that comes alive; "backlog": the past too
DAY_STARTS = ("first", "continue")  # where each opening starts: the first prompt, or where it was
SOUND_DEVICES = ("all", "kiosk", "visitors")  # which devices play sounds and voices
THEMES = ("tinted", "original")  # today's role-coloured look; the original work's monochrome one
WIFI_SECURITY = ("WPA", "WEP", "nopass")  # the Wi-Fi QR code's T: field
MAX_PLAYER_SECONDS = 86400.0  # expire and idle_reset: a day at most
_LANG = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*")  # BCP 47's common shape, for <html lang>
MAX_DAYS = 400  # longest exhibition a day-keyed link page pre-draws QR codes for
DEFAULT_LOST_TEXT = (
    "connection lost. This link to the conversation has expired: links from the exhibition "
    "only work on the day they were made."
)


class _Record:
    """JSON for a frozen dataclass: fields in order, optional ones left out at their default."""

    __slots__ = ()
    _OPTIONAL: ClassVar[frozenset[str]] = frozenset()  # fields written only when set
    _HEAD: ClassVar[dict[str, Any]] = {}  # a file's "format" and "version", written first

    def to_json(self) -> dict[str, Any]:
        """Return the object as the archive's JSON holds it (unknown keys from ``extra`` last)."""
        out: dict[str, Any] = dict(self._HEAD)
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if f.name == "extra" or (f.name in self._OPTIONAL and _is_default(f, value)):
                continue
            out[f.name] = _json_value(value)
        extra: Mapping[str, Any] = getattr(self, "extra", {})
        out.update((k, v) for k, v in extra.items() if k not in out)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        """Read the object as the archive's JSON holds it: a key left out takes its default,
        an unknown one is kept in ``extra``."""
        known, extra = _known(cls, data)
        return cls(**known, **{"extra": extra})  # every record has an extra field


def _is_default(f: Any, value: Any) -> bool:
    default = f.default_factory() if f.default is MISSING else f.default
    return type(value) is type(default) and value == default


def _json_value(value: Any) -> Any:
    if isinstance(value, _Record):
        return value.to_json()
    if isinstance(value, Mapping):
        return {k: _json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    return value


def _known(cls: type, data: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split a JSON object into (this type's fields that are present, everything else but the
    file's format and version)."""
    names = {f.name for f in fields(cls)} - {"extra"}
    head = getattr(cls, "_HEAD", {})
    known = {k: v for k, v in data.items() if k in names}
    return known, {k: v for k, v in data.items() if k not in names and k not in head}


@dataclass(frozen=True, slots=True, kw_only=True)
class Role(_Record):
    """One performer: how the player labels and places their messages."""

    label: str  # shown in the player
    side: str  # "left" or "right"
    color: str  # any CSS colour
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class PlayerSettings(_Record):
    """Every player setting with its default: the one place the player's defaults live."""

    # Written to conversation.json only when set (an archive made before them keeps its bytes).
    _OPTIONAL = frozenset(
        {
            "public_url",
            "valid_from",
            "valid_until",
            "lost_text",
            "day_key",
            "join",
            "transcript",
            "expire",
            "hours",
            "timezone",
            "closed_text",
            "day_start",
            "idle_reset",
            "sound_devices",
            "wifi",
            "theme",
            "lang",
        }
    )

    max_messages: int = 100  # messages kept on screen (DOM cap)
    sync: str = "clock"  # one of SYNC_MODES
    epoch: str = "2026-01-01T00:00:00Z"  # the instant the loop starts, for "clock" sync
    public_url: str = ""  # where visitors open the archive; the link page's QR code points here
    valid_from: str = ""  # first exhibition day (YYYY-MM-DD); before it: "connection lost"
    valid_until: str = ""  # last exhibition day; after it: "connection lost"
    lost_text: str = ""  # the "connection lost" words ("" = DEFAULT_LOST_TEXT)
    day_key: bool = False  # QR links carry ?day=; a link from another day shows lost_text
    join: str = "live"  # one of JOIN_MODES: a visitor arrives to an empty chat, as in the original
    transcript: bool = True  # publish transcript.html (false: visitors see the chat alone)
    expire: float = 0.0  # seconds after which a message fades from the chat; 0 = never
    hours: str = ""  # opening hours in the venue's time (archive/hours.py); "" = always open
    timezone: str = ""  # the venue's IANA time zone; "" = each device's own
    closed_text: str = ""  # shown outside the hours ("" = the strings table's)
    day_start: str = "first"  # one of DAY_STARTS
    idle_reset: float = 60.0  # seconds without input before a kiosk returns to live; 0 = never
    sound_devices: str = "all"  # one of SOUND_DEVICES
    wifi: Mapping[str, Any] = field(default_factory=dict)  # {ssid, password, security}: a QR code
    theme: str = "tinted"  # one of THEMES
    lang: str = "en"  # the language of the player's and pages' words (and <html lang>)
    extra: Mapping[str, Any] = field(default_factory=dict)

    def resolved(self) -> dict[str, Any]:
        """Return every setting, defaults filled in: what the player and the pages receive."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        out["lost_text"] = self.lost_text or DEFAULT_LOST_TEXT
        wifi = self.wifi if isinstance(self.wifi, Mapping) else {}
        out["wifi"] = {"ssid": "", "password": "", "security": "WPA", **wifi}
        out.update((k, v) for k, v in self.extra.items() if k not in out)
        return out

    def problems(self) -> list[str]:
        """Return what is wrong with these settings (empty when the player can use them)."""
        return list_player_problems(self.resolved())


DEFAULT_PLAYER = PlayerSettings()  # the defaults, for the config's [player] table


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _date(value: Any) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) and len(value) == 10 else None
    except ValueError:
        return None


def _value_problems(player: Mapping[str, Any]) -> list[str]:
    """The rules for one setting at a time; a key left out takes its (valid) default."""
    problems = []
    if "max_messages" in player and not (
        _is_int(player["max_messages"]) and player["max_messages"] >= 1
    ):
        problems.append(f"player.max_messages: must be at least 1, got {player['max_messages']!r}")
    if "sync" in player and player["sync"] not in SYNC_MODES:
        problems.append(f'player.sync: must be "clock" or "local", got {player["sync"]!r}')
    if "epoch" in player:
        epoch = player["epoch"]
        problems += (
            rules.list_epoch_problems(epoch, "player.epoch")
            if isinstance(epoch, str)
            else [f"player.epoch: should be a text like {DEFAULT_PLAYER.epoch}"]
        )
    for key in ("public_url", "lost_text"):
        if key in player and not isinstance(player[key], str):
            problems.append(f"player.{key}: should be a text")
    url = player.get("public_url")
    if isinstance(url, str) and url and not re.match(r"https?://[^\s/]+", url):
        problems.append(f"player.public_url: {url!r} should start with https:// or http://")
    for key in ("valid_from", "valid_until"):
        if player.get(key) not in (None, "") and _date(player[key]) is None:
            problems.append(f"player.{key}: {player[key]!r} should be a date like 2026-05-01")
    for key in ("day_key", "transcript"):
        if player.get(key, False) not in (True, False):
            problems.append(f"player.{key}: should be true or false")
    for key, allowed in (
        ("join", JOIN_MODES),
        ("day_start", DAY_STARTS),
        ("sound_devices", SOUND_DEVICES),
        ("theme", THEMES),
    ):
        if key in player and player[key] not in allowed:
            said = " or ".join(f'"{a}"' for a in allowed)
            problems.append(f"player.{key}: must be {said}, got {player[key]!r}")
    for key in ("expire", "idle_reset"):
        value = player.get(key, 0)
        if not (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and 0 <= value <= MAX_PLAYER_SECONDS
        ):
            problems.append(
                f"player.{key}: must be 0 to {MAX_PLAYER_SECONDS:g} seconds, got {value!r}"
            )
    for key in ("hours", "timezone", "closed_text", "lang"):
        if key in player and not isinstance(player[key], str):
            problems.append(f"player.{key}: should be a text")
    problems += _venue_problems(player)
    return problems


def _venue_problems(player: Mapping[str, Any]) -> list[str]:
    """The opening hours, the venue's time zone, the page language and the Wi-Fi QR code."""
    problems = []
    hours, zone, lang = player.get("hours"), player.get("timezone"), player.get("lang")
    if isinstance(hours, str) and hours.strip():
        try:
            parse_hours(hours)
        except ValueError as e:
            problems.append(f"player.hours: {e}")
    if isinstance(zone, str) and zone:
        try:
            if not re.fullmatch(r"[A-Za-z0-9_+\-]+(/[A-Za-z0-9_+\-]+)*", zone):
                raise ValueError
            zoneinfo.ZoneInfo(zone)
        except (ValueError, zoneinfo.ZoneInfoNotFoundError):
            problems.append(
                f"player.timezone: {zone!r} is not a time zone name like Europe/Berlin "
                "(https://en.wikipedia.org/wiki/List_of_tz_database_time_zones)"
            )
    if isinstance(lang, str) and not _LANG.fullmatch(lang):
        problems.append(f'player.lang: {lang!r} should be a language code like "en" or "de"')
    wifi = player.get("wifi", {})
    if not isinstance(wifi, Mapping):
        return [*problems, 'player.wifi: should be a table like {ssid = "…", password = "…"}']
    for key in wifi:
        if key not in ("ssid", "password", "security"):
            problems.append(f"player.wifi.{key}: unknown key (known: password, security, ssid)")
    for key in ("ssid", "password"):
        if not isinstance(wifi.get(key, ""), str):
            problems.append(f"player.wifi.{key}: should be a text")
    if wifi.get("security", "WPA") not in WIFI_SECURITY:
        said = wifi["security"]
        problems.append(f'player.wifi.security: must be "WPA", "WEP" or "nopass", got {said!r}')
    if wifi.get("password") and not wifi.get("ssid"):
        problems.append("player.wifi: a password needs ssid, the network's name")
    if isinstance(wifi.get("ssid"), str) and len(wifi.get("ssid", "")) > 32:
        problems.append("player.wifi.ssid: a Wi-Fi network's name has at most 32 characters")
    return problems


def list_player_problems(player: Any) -> list[str]:
    """Return every problem of the player settings as JSON holds them (config or archive)."""
    if not isinstance(player, Mapping):
        return ["'player' should be an object of player settings"]
    problems = _value_problems(player)
    first, last = (_date(player.get(k)) for k in ("valid_from", "valid_until"))
    if first and last and not 0 <= (last - first).days <= MAX_DAYS:
        problems.append(f"player: 'valid_until' should be 0 to {MAX_DAYS} days after 'valid_from'")
    if player.get("day_key") is True and not (first and last):
        problems.append("player: 'day_key' needs 'valid_from' and 'valid_until' (one QR per day)")
    return problems


@dataclass(frozen=True, slots=True, kw_only=True)
class Selfie(_Record):
    """A message's selfie: files relative to the archive, and the network seed."""

    _OPTIONAL = frozenset({"seed", "webp"})

    seed: int | None = None  # the network seed (StyleGAN's gen_images.py sense)
    src: str  # the full-size progressive JPEG
    webp: str = ""  # the phone-sized WebP
    width: int  # pixels of the JPEG
    height: int
    alt: str  # the image's text alternative
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Sound(_Record):
    """A message's notification sound (mono 44.1 kHz MP3, shared by many messages)."""

    _OPTIONAL = frozenset({"duration_ms"})

    src: str  # media/sounds/<sha256 prefix>.mp3
    duration_ms: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Voice(_Record):
    """A message read aloud: a mono MP3 at the voice's own rate, played at ``at``."""

    src: str  # media/voices/<sha256 prefix>.mp3
    at: int  # ms from the loop start when the voice starts (after the notification sound)
    duration_ms: int  # the clip's length, exact to the decoded frames (rounded to ms)
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Message(_Record):
    """One message of the loop, with its timing and media."""

    _OPTIONAL = frozenset({"new_run", "selfie", "sound", "voice"})

    id: str  # "m" + zero-padded index; used by permalinks
    run: int = 0  # which run (an opening prompt and what follows it)
    sender: str  # a key of Conversation.roles
    text: str  # may be "" for a selfie-only message
    writing_at: int  # ms from the loop start when "writing…" appears
    at: int  # ms from the loop start when the message appears
    new_run: bool = False  # True on a run's opening prompt
    selfie: Selfie | None = None
    sound: Sound | None = None
    voice: Voice | None = None  # the message read aloud (only when the render had voices)
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Message:
        """Read a message as conversation.json holds it."""
        known, extra = _known(cls, data)
        if known.get("selfie") is not None:
            known["selfie"] = Selfie.from_json(known["selfie"])
        if known.get("sound") is not None:
            known["sound"] = Sound.from_json(known["sound"])
        if known.get("voice") is not None:
            known["voice"] = Voice.from_json(known["voice"])
        return cls(**known, extra=extra)


@dataclass(frozen=True, slots=True, kw_only=True)
class Conversation(_Record):
    """What the render hands the archive: roles, player settings and the timed messages."""

    _HEAD = {"format": CONVERSATION_FORMAT, "version": CONVERSATION_VERSION}

    title: str
    demo: bool = False  # True when a bundled demo model stood in for one of the artist's
    roles: Mapping[str, Role]  # in the config's order
    duration: int  # loop length in ms
    player: PlayerSettings = field(default_factory=PlayerSettings)
    messages: tuple[Message, ...]
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Conversation:
        """Read a checked conversation.json object (see archive/schema.py)."""
        known, extra = _known(cls, data)
        known["roles"] = {name: Role.from_json(r) for name, r in known["roles"].items()}
        known["player"] = PlayerSettings.from_json(known.get("player", {}))
        known["messages"] = tuple(Message.from_json(m) for m in known["messages"])
        return cls(**known, extra=extra)


@dataclass(frozen=True, slots=True, kw_only=True)
class Manifest(_Record):
    """manifest.json: how the archive was made (provenance) and every file's size and sha256."""

    _HEAD = {"format": MANIFEST_FORMAT, "version": MANIFEST_VERSION}

    _OPTIONAL = frozenset(
        {"tool", "fingerprint", "seed", "turns", "config", "demo", "models", "sounds", "voices"}
        | {"screening", "stage_seconds", "edited", "hand_edited", "keep_times"}
    )

    tool: Mapping[str, Any] | None = None  # {"name": "ghosts-render", "version": …}
    fingerprint: str | None = None  # sha256 of everything that decides the archive's content
    seed: int | None = None
    turns: int | None = None
    config: Mapping[str, Any] | None = None  # the whole resolved configuration
    demo: list[str] | None = None  # config keys whose bundled demo model was used
    models: Mapping[str, Any] | None = None  # {"text": identity, "selfies": {role: identity}}
    sounds: Mapping[str, Any] | None = None  # the sound stage's provenance and warnings
    voices: Mapping[str, Any] | None = None  # the voices stage's models, figures and warnings
    screening: Mapping[str, Any] | None = None  # the blocklist: path, sha256, terms, rejected
    stage_seconds: Mapping[str, float] | None = None  # wall time per stage
    edited: bool | None = None  # True once a person changed the archive and the site rebuilt
    hand_edited: list[str] | None = None  # files a person changed, which the site keeps as they are
    keep_times: bool | None = None  # True: `site` keeps the times (set by `site --keep-times`)
    files: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # path -> size, sha256
    extra: Mapping[str, Any] = field(default_factory=dict)
