"""What a config value must look like to survive the whole render and the player.

Each ``list_*_problems`` function is pure (or reads only a few bytes of one file) and returns the
problems of one value as texts that name the key, so a config error can list them all at once.
They exist so that a value the renderer, the site or the browser cannot use is refused when the
config is read, before any model is loaded, rather than crashing hours later.
"""

from __future__ import annotations

import re
import string
import unicodedata
from datetime import datetime
from pathlib import Path

# The player passes colours to CSS and the site draws its icons with Pillow: only the forms both
# read the same way are accepted (Pillow's names are CSS's 148 named colours).
_HEX = re.compile(r"#(?:[0-9a-f]{3,4}|[0-9a-f]{6}|[0-9a-f]{8})")
_NUM = r"\s*(\d+(?:\.\d+)?)(%?)\s*"
_RGB = re.compile(rf"rgb\({_NUM},{_NUM},{_NUM}\)")
_HSL = re.compile(rf"hsl\({_NUM},{_NUM},{_NUM}\)")
COLOR_FORMS = "a CSS colour name (e.g. cyan), #rgb, #rrggbb, rgb(r, g, b) or hsl(h, s%, l%)"

# The instants every browser's Date.parse reads the same way: the ECMAScript date-time string
# format (https://tc39.es/ecma262/#sec-date-time-string-format) with a time zone. Other ISO 8601
# forms (20260101T000000Z, a space for the T, no zone) are read differently or not at all.
_EPOCH = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{3})?(?:Z|[+-]\d{2}:\d{2})")
EPOCH_FORM = "YYYY-MM-DDTHH:MM:SS[.sss] with Z or ±HH:MM, e.g. 2026-01-01T00:00:00Z"

# Role names are written by the model inside role tags and read back in lower case.
ROLE_NAME = re.compile(r"[a-z0-9_]{1,40}")

# The first bytes of each font format the player's @font-face rules name.
FONT_MAGIC = {
    ".woff2": (b"wOF2",),
    ".woff": (b"wOFF",),
    ".ttf": (b"\x00\x01\x00\x00", b"true", b"OTTO"),
    ".otf": (b"OTTO", b"\x00\x01\x00\x00", b"true"),
}
MAX_TEXT_FILE_BYTES = 1 << 20  # prompts files and about pages are small texts; 1 MiB is plenty


def list_color_problems(value: str, where: str) -> list[str]:
    """Return the problems of a role colour (empty when both CSS and the icons can use it)."""
    from PIL import ImageColor

    color = value.strip().lower()
    if color in ImageColor.colormap or _HEX.fullmatch(color):
        return []
    match = _RGB.fullmatch(color) or _HSL.fullmatch(color)
    if match is None:
        return [f"{where}: {value!r} is not a colour the player can show; use {COLOR_FORMS}"]
    parts = [(float(match[i]), match[i + 1] == "%") for i in (1, 3, 5)]
    if color.startswith("rgb"):
        ok = len({pct for _, pct in parts}) == 1 and all(
            n.is_integer() and n <= (100 if pct else 255) for n, pct in parts
        )
        rule = "three whole numbers 0-255 or three percentages 0-100%"
    else:
        ok = not parts[0][1] and parts[0][0] <= 360 and all(p and n <= 100 for n, p in parts[1:])
        rule = "a hue 0-360 and two percentages 0-100%"
    return [] if ok else [f"{where}: {value!r} needs {rule}, e.g. rgb(0, 255, 255)"]


def list_epoch_problems(value: str, where: str) -> list[str]:
    """Return the problems of an instant the browser must parse (the player's loop epoch)."""
    if not _EPOCH.fullmatch(value):
        return [f"{where}: {value!r} is not an instant browsers read reliably; use {EPOCH_FORM}"]
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as e:
        return [f"{where}: {value!r} is not a real date and time ({e})"]
    return []


def list_role_format_problems(
    role_format: str, image_tag: str, names: tuple[str, ...]
) -> list[str]:
    """Return the problems of text.role_format and text.image_tag (how tags are written)."""
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(role_format) if f is not None]
    except ValueError as e:
        fields = [f"<{e}>"]
    if fields != ["role"] or "{{" in role_format or "}}" in role_format:
        return [
            f"text.role_format: must contain {{role}} exactly once and no other {{ or }}, "
            f'e.g. "[{{role}}]"; got {role_format!r}'
        ]
    problems = []
    if not role_format.replace("{role}", "").strip():
        problems.append('text.role_format: needs marks around {role}, e.g. "[{role}]"')
    for key, value in (("role_format", role_format), ("image_tag", image_tag)):
        if _has_control(value):
            problems.append(f"text.{key}: must be one line without control characters")
    if not image_tag.strip():
        problems.append("text.image_tag: must not be empty")
    for name in names:
        if role_format.format(role=name) == image_tag:
            problems.append(f"text.image_tag: {image_tag!r} is also the tag of the role {name!r}")
    return problems


def list_label_problems(value: str, where: str, max_chars: int) -> list[str]:
    """Return the problems of a text the player shows on one line (the title, a role label)."""
    if not value.strip():
        return [f"{where}: must not be blank"]
    if _has_control(value):
        return [f"{where}: must be one line without control characters, got {value!r}"]
    if len(value) > max_chars:
        return [f"{where}: must be at most {max_chars} characters, got {len(value)}"]
    return []


def list_qr_problems(url: str, day_key: bool) -> list[str]:
    """Return the problems of a public_url the link page's QR code must hold."""
    import segno

    from ghosts_render.archive.media import QR_ERROR

    longest = f"{url}{'&' if '?' in url else '?'}day=2026-01-01" if day_key else url
    try:
        if len(longest.encode("utf-8")) > 3000:  # more than any QR code holds: skip the encoder
            raise segno.DataOverflowError
        segno.make(longest, error=QR_ERROR, boost_error=False)
    except segno.DataOverflowError:
        return [
            f"player.public_url: {len(url)} characters is more than the link page's QR code can "
            "hold (about 1,600 at its error-correction level); use a shorter URL"
        ]
    return []


def list_font_problems(path: Path, where: str) -> list[str]:
    """Return the problems of a font file: a known suffix and the bytes of that format."""
    magic = FONT_MAGIC.get(path.suffix.lower())
    if magic is None:
        return [f"{where}: {path} is not a .woff2, .woff, .ttf or .otf font"]
    if not path.is_file():
        return [f"{where}: {path} is not a file"]
    try:
        with path.open("rb") as fh:
            head = fh.read(4)
    except OSError as e:
        return [f"{where}: cannot read {path} ({e.strerror or e})"]
    if head not in magic:
        return [
            f"{where}: {path} is not a {path.suffix.lower()[1:]} font (its first bytes are wrong)"
        ]
    return []


def load_small_text(path: Path, where: str, problems: list[str]) -> str | None:
    """Read a small UTF-8 text file (prompts, about page); record why not and return None."""
    try:
        if not path.is_file():
            problems.append(f"{where}: {path} is not a file")
            return None
        if path.stat().st_size > MAX_TEXT_FILE_BYTES:
            problems.append(f"{where}: {path} is larger than {MAX_TEXT_FILE_BYTES >> 20} MiB")
            return None
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        problems.append(f"{where}: {path} is not UTF-8 text (byte {e.start}); save it as UTF-8")
    except OSError as e:
        problems.append(f"{where}: cannot read {path} ({e.strerror or e})")
    return None


def _has_control(value: str) -> bool:
    return any(unicodedata.category(c) == "Cc" for c in value)
