"""The artist's fonts in an archive: assets/fonts/fonts.json names them, in order.

The names end up in assets/fonts.css as URLs, so each must be a plain file name in assets/fonts/
(no folder, no ``..``) of a font format browsers load; anything else is one clear line.
"""

from __future__ import annotations

import json
from pathlib import Path

from ghosts_render.archive.paths import resolve_file_inside
from ghosts_render.errors import ArchiveError

FONT_FORMATS = {".woff2": "woff2", ".woff": "woff", ".ttf": "truetype", ".otf": "opentype"}


def read_font_names(archive_dir: Path) -> list[str]:
    """Read assets/fonts/fonts.json: the font files in order (each a plain name in that folder)."""
    path = resolve_file_inside(archive_dir, "assets/fonts/fonts.json")
    if path is None:
        return []
    where = archive_dir / "assets" / "fonts" / "fonts.json"
    try:
        names = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as e:
        raise ArchiveError(f"{where} is not readable JSON ({e}): fix it or delete it") from None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ArchiveError(
            f'{where} should be a list of font file names, e.g. ["body.woff2"]: fix it or delete it'
        )
    for name in names:
        if (
            Path(name).name != name
            or name.startswith(".")
            or "\\" in name
            or (Path(name).suffix.lower() not in FONT_FORMATS)
        ):
            raise ArchiveError(
                f"{where} names {name!r}, which is not a font file of assets/fonts/ (a .woff2, "
                ".woff, .ttf or .otf name, no folders): fix it or delete it"
            )
    return [n for n in names if resolve_file_inside(archive_dir, f"assets/fonts/{n}")]
