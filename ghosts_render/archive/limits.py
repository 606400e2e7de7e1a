"""Sizes a player can show: a conversation beyond them is refused before any page is built.

A single 20 MB message makes every page that shows it take many seconds to load (the player and
the transcript lay out the whole text), so message texts have a maximum length, documented in
docs/archive-format.md (Safety). Rendered texts are far shorter: GPT-2 writes at most its context
(1024 tokens, a few thousand characters) per message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ghosts_render.errors import ArchiveError

MAX_TEXT_CHARS = 10_000  # characters in one message's text


def list_limit_problems(data: Any) -> list[str]:
    """Return the messages whose text is longer than MAX_TEXT_CHARS."""
    messages = data.get("messages") if isinstance(data, dict) else None
    if not isinstance(messages, list):
        return []
    return [
        f"message #{i} ({m.get('id')}): 'text' has {len(m['text'])} characters, more than the "
        f"{MAX_TEXT_CHARS} a message may hold; shorten it"
        for i, m in enumerate(messages)
        if isinstance(m, dict)
        and isinstance(m.get("text"), str)
        and len(m["text"]) > MAX_TEXT_CHARS
    ]


def check_limits(data: Any, where: Path) -> None:
    """Raise one ArchiveError naming the over-long messages of a conversation, if any."""
    problems = list_limit_problems(data)
    if problems:
        more = f"; and {len(problems) - 3} more" if len(problems) > 3 else ""
        raise ArchiveError(f"{where}: {'; '.join(problems[:3])}{more}")
