"""Parse what the model wrote into a message, with the original work's role-tag regexes.

The original (ghosts of data past, generate.py) split the continuation before every role tag,
kept the pieces that hold one, used the first piece, and read the sender from its tag. The
patterns are derived from ``role_format`` (e.g. ``"[{role}]"``) and ``image_tag``. One addition:
a tag's name must not continue a word (``(?<!\\w)``), which changes nothing for ``"[{role}]"``
but stops a format like ``"{role}>"`` from matching inside a word.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SPACES = re.compile(r"  +")


@dataclass(frozen=True, slots=True)
class RolePatterns:
    split: re.Pattern[str]  # zero-width split before every role tag (not the image tag)
    role: re.Pattern[str]  # any role tag (not the image tag)
    sender: re.Pattern[str]  # a role tag, capturing the sender name
    image_tag: str  # marks a message that carries a selfie


@dataclass(frozen=True, slots=True)
class Piece:
    sender: str  # lower-cased name from the tag; may be a role that does not exist
    text: str  # image tag removed, runs of spaces collapsed, stripped
    raw: str  # the piece as written (tags kept), stripped: what goes into prompt memory
    selfie: bool  # the piece carried the image tag
    has_content: bool  # text or image tag present (the original's non-empty test)

    def is_valid(self, roles: tuple[str, ...]) -> bool:
        """Return whether the original would accept this piece as a message."""
        return self.sender in roles and self.has_content


def compile_patterns(role_format: str, image_tag: str) -> RolePatterns:
    """Build the split/role/sender regexes from a role format such as ``"[{role}]"``."""
    head, tail = role_format.split("{role}")
    not_image = f"(?!{re.escape(image_tag)})"
    tag = re.escape(head) + r"(?<!\w)\w+" + re.escape(tail)
    named = re.escape(head) + r"(?<!\w)(?P<sender>\w+)" + re.escape(tail)
    return RolePatterns(
        split=re.compile(f"(?={tag}){not_image}"),
        role=re.compile(not_image + tag),
        sender=re.compile(not_image + named),
        image_tag=image_tag,
    )


def parse_first_piece(generated: str, patterns: RolePatterns) -> Piece | None:
    """Return the first role-tagged piece of ``generated``, or None when it holds no role tag."""
    for part in patterns.split.split(generated):
        if patterns.role.search(part):
            return parse_piece(part, patterns)
    return None


def parse_piece(piece: str, patterns: RolePatterns) -> Piece:
    """Read sender, clean text and selfie flag from one tagged piece (or a prompt line)."""
    raw = piece.strip()
    match = patterns.sender.search(raw)
    sender = match.group("sender").lower() if match else ""
    text = patterns.role.sub("", raw).strip()
    has_content = bool(text)
    selfie = patterns.image_tag in text
    text = _SPACES.sub(" ", text.replace(patterns.image_tag, "")).strip()
    return Piece(sender=sender, text=text, raw=raw, selfie=selfie, has_content=has_content)
