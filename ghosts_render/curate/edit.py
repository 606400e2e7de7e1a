"""Edit or delete one message of an archive, as a recorded, undoable curation step."""

from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import Any

from ghosts_render.archive.folder import read_conversation, read_manifest
from ghosts_render.archive.schema import MAX_TEXT_CHARS
from ghosts_render.curate.history import Change, Step, apply_change
from ghosts_render.curate.media import list_stale_voices, read_voices_config, stage_voice
from ghosts_render.errors import CurationError


def find_message(archive: Path, message_id: str) -> dict[str, Any]:
    """Return the message ``message_id`` of an archive, or raise one line on how to find ids."""
    for message in read_conversation(Path(archive))["messages"]:
        if isinstance(message, dict) and message.get("id") == message_id:
            return message
    raise CurationError(
        f"{archive} has no message {message_id!r}: ids look like m00012; find one in the "
        f"transcript (each message's link ends in #ID) or in {Path(archive) / 'conversation.json'}"
    )


def check_text(text: str, message_id: str) -> str:
    """Return a new message text, stripped, or raise CurationError: the archive's limits."""
    text = text.strip()
    controls = sorted({f"U+{ord(c):04X}" for c in text if unicodedata.category(c) == "Cc"})
    if controls:
        raise CurationError(
            f"the new text of {message_id} holds control characters ({', '.join(controls)}: "
            "line breaks, tabs…); write it on one line"
        )
    if len(text) > MAX_TEXT_CHARS:
        raise CurationError(
            f"the new text of {message_id} has {len(text)} characters, more than the "
            f"{MAX_TEXT_CHARS} a message may hold; shorten it"
        )
    return text


def edit_message(archive: Path, message_id: str, text: str) -> Step:
    """Replace a message's text (its selfie and sound stay; an archive with voices reads the new
    text aloud); the player is rebuilt."""
    message = find_message(archive, message_id)
    new_text = check_text(text, message_id)
    if not new_text and "selfie" not in message:
        raise CurationError(
            f"the new text of {message_id} is empty and it has no selfie: to remove the "
            f"message, run `ghosts-render delete {archive} {message_id}`"
        )
    if new_text == message["text"] and not _says_old_text(Path(archive), message):
        raise CurationError(f"{message_id} already says that: nothing to change")
    old = len(message["text"])
    after, media = stage_voice(
        archive, read_voices_config(Path(archive)), {**message, "text": new_text}
    )
    return apply_change(
        Path(archive),
        Change(
            action="edit",
            before=(message,),
            after=(after,),
            media=media,
            note=f"text of {old} characters replaced by one of {len(new_text)}",
        ),
    )


def _says_old_text(archive: Path, message: dict[str, Any]) -> bool:
    """Whether the message's voice says a text it had before a hand edit of conversation.json
    (then editing it to the text it has reads that aloud)."""
    if "voice" not in message or not (archive / "manifest.json").is_file():
        return False
    return bool(list_stale_voices(archive, [message], read_manifest(archive)))


def delete_message(archive: Path, message_id: str) -> Step:
    """Remove a message (its media move to the sidecar, so undo can bring them back)."""
    message = find_message(archive, message_id)
    return apply_change(Path(archive), Change(action="delete", before=(message,), after=()))
