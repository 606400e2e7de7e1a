"""Check an archive's conversation.json before a player is built from it: every problem, at once.

The player settings follow the rules of ``model.PlayerSettings``, the same the config obeys.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, TypeGuard
from urllib.parse import unquote

from ghosts_render.archive.model import list_player_problems
from ghosts_render.archive.paths import list_url_path_problems, resolve_file_inside
from ghosts_render.errors import ArchiveError

SIDES = ("left", "right")
# A single 20 MB message made every page that shows it take many seconds to load (the player and
# the transcript lay out the whole text). Rendered texts are far shorter: GPT-2 writes at most its
# context (1024 tokens, a few thousand characters) per message.
MAX_TEXT_CHARS = 10_000  # characters in one message's text (docs/archive-format.md, Safety)
MAX_LISTED = 12  # problems spelled out in one error; the rest are counted
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")  # ids become HTML ids and URL fragments


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and value.strip() != ""


def list_media_problems(src: Any, where: str, archive_dir: Path) -> list[str]:
    """Return the problems of one media path: relative, inside the archive, present.

    The path is a URL to the player, so it is checked as a browser reads it, percent-decoded
    (``%2e%2e`` is ``..``), and the file must be a regular file inside the archive's real path.
    """
    if not isinstance(src, str) or not src:
        return [f"{where} should be a relative file path such as media/sounds/x.mp3"]
    if list_url_path_problems(src):
        return [f"{where} {src!r} must be a path inside the archive (no '..', drive or URL)"]
    try:
        path = resolve_file_inside(archive_dir, unquote(src))
    except ArchiveError:
        return [f"{where} {src!r} leads outside the archive through a symbolic link"]
    if path is None:
        return [f"{where} {src!r} is missing from the archive folder"]
    return []


def _selfie_problems(selfie: Any, where: str, archive_dir: Path) -> list[str]:
    if not isinstance(selfie, dict):
        return [f"{where}: 'selfie' should be an object with src, width, height and alt"]
    problems = list_media_problems(selfie.get("src"), f"{where}: selfie 'src'", archive_dir)
    if "webp" in selfie:
        problems += list_media_problems(selfie["webp"], f"{where}: selfie 'webp'", archive_dir)
    for key in ("width", "height"):
        if not _is_int(selfie.get(key)) or selfie[key] <= 0:
            problems.append(f"{where}: selfie '{key}' should be a positive whole number of pixels")
    if not isinstance(selfie.get("alt"), str):
        problems.append(f"{where}: selfie 'alt' should be a text describing the image")
    return problems


def _message_problems(msg: Any, where: str, roles: dict[str, Any], archive_dir: Path) -> list[str]:
    if not isinstance(msg, dict):
        return [f"{where} should be an object"]
    problems = []
    if not isinstance(msg.get("id"), str) or not _ID.fullmatch(msg["id"]):
        problems.append(f"{where}: 'id' should be letters, digits, '-' or '_' (e.g. m00012)")
    if msg.get("sender") not in roles:
        sender = msg.get("sender")
        problems.append(f"{where}: sender {sender!r} is not one of the roles {list(roles)}")
    text = msg.get("text")
    if not isinstance(text, str):
        problems.append(f"{where}: 'text' should be a string (it may be empty)")
    elif len(text) > MAX_TEXT_CHARS:
        problems.append(
            f"{where}: 'text' has {len(text)} characters, more than the {MAX_TEXT_CHARS} a "
            "message may hold; shorten it"
        )
    for key in ("writing_at", "at"):
        if not _is_int(msg.get(key)) or msg[key] < 0:
            problems.append(f"{where}: '{key}' should be a whole number of milliseconds >= 0")
    if _is_int(msg.get("writing_at")) and _is_int(msg.get("at")) and msg["writing_at"] > msg["at"]:
        problems.append(f"{where}: 'writing_at' {msg['writing_at']} is after 'at' {msg['at']}")
    if "selfie" in msg:
        problems += _selfie_problems(msg["selfie"], where, archive_dir)
    if "sound" in msg:
        sound = msg["sound"]
        src = sound.get("src") if isinstance(sound, dict) else None
        problems += list_media_problems(src, f"{where}: sound 'src'", archive_dir)
    if "voice" in msg:
        problems += _voice_problems(msg, where, archive_dir)
    return problems


def _voice_problems(msg: dict[str, Any], where: str, archive_dir: Path) -> list[str]:
    """A voice plays after the message's notification sound: ``at`` + the sound's length."""
    voice = msg["voice"]
    if not isinstance(voice, dict):
        return [f"{where}: 'voice' should be an object with src, at and duration_ms"]
    problems = list_media_problems(voice.get("src"), f"{where}: voice 'src'", archive_dir)
    if not _is_int(voice.get("duration_ms")) or voice["duration_ms"] <= 0:
        problems.append(f"{where}: voice 'duration_ms' should be a whole number of ms > 0")
    if not _is_int(voice.get("at")) or voice["at"] < 0:
        return [*problems, f"{where}: voice 'at' should be a whole number of milliseconds >= 0"]
    sound = msg.get("sound")
    sound_ms = sound.get("duration_ms") if isinstance(sound, dict) else None
    earliest = msg["at"] if _is_int(msg.get("at")) else 0
    if _is_int(sound_ms):
        earliest += sound_ms
    if voice["at"] < earliest:
        problems.append(
            f"{where}: voice 'at' {voice['at']} is before the message's notification sound ends "
            f"({earliest}): run `ghosts-render site` to re-time it"
        )
    return problems


def _role_problems(roles: Any) -> list[str]:
    if not isinstance(roles, dict) or not roles:
        return ["'roles' should be an object with at least one role, e.g. {\"artist\": {...}}"]
    problems = []
    for name, role in roles.items():
        if not isinstance(role, dict):
            problems.append(f"role {name!r} should be an object with label, side and color")
            continue
        if role.get("side") not in SIDES:
            problems.append(f'role {name!r}: \'side\' should be "left" or "right"')
        for key in ("label", "color"):
            if not _is_text(role.get(key)):
                problems.append(f"role {name!r}: '{key}' should be a non-empty text")
    return problems


def _timeline_problems(messages: list[Any], duration: Any) -> list[str]:
    problems: list[str] = []
    seen: dict[str, int] = {}
    last_at = -1
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            continue
        mid, at = msg.get("id"), msg.get("at")
        if isinstance(mid, str):
            if mid in seen:
                problems.append(f"message #{i}: id {mid!r} is used twice (first #{seen[mid]})")
            seen.setdefault(mid, i)
        if _is_int(at):
            if at <= last_at:
                problems.append(
                    f"message #{i} ({mid}): 'at' {at} is not after the previous message's {last_at}"
                )
            last_at = max(last_at, at)
    if not _is_int(duration) or duration <= 0:
        problems.append("'duration' should be the loop length in milliseconds, a whole number > 0")
    elif duration <= last_at:
        problems.append(f"'duration' {duration} should be longer than the last 'at' {last_at}")
    return problems


def list_conversation_problems(data: Any, archive_dir: Path) -> list[str]:
    """Return every problem of a parsed conversation.json (empty when it can be played)."""
    if not isinstance(data, dict):
        return ["the file should hold one JSON object"]
    problems = []
    if not _is_text(data.get("title")):
        problems.append("'title' should be a non-empty text")
    problems += _role_problems(data.get("roles"))
    roles = data["roles"] if isinstance(data.get("roles"), dict) else {}
    problems += list_player_problems(data.get("player", {}))
    messages = data.get("messages")
    if not isinstance(messages, list) or not messages:
        return [*problems, "'messages' should be a list with at least one message"]
    for i, msg in enumerate(messages):
        mid = msg.get("id") if isinstance(msg, dict) else None
        problems += _message_problems(msg, f"message #{i} ({mid})", roles, archive_dir)
    return problems + _timeline_problems(messages, data.get("duration"))


def check_conversation(data: Any, archive_dir: Path) -> None:
    """Raise one ArchiveError listing every problem of a conversation, if it has any."""
    problems = list_conversation_problems(data, archive_dir)
    if not problems:
        return
    listed = "; ".join(problems[:MAX_LISTED])
    more = f"; and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
    raise ArchiveError(
        f"{archive_dir / 'conversation.json'} has {len(problems)} problem(s): {listed}{more}. "
        "Fix the file (or restore it) and run `ghosts-render site` again."
    )
