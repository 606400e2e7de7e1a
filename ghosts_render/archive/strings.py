"""The one table of words the player and the pages show (site_template/strings/<lang>.toml).

English is the base: a shipped language replaces its keys, and the artist's own file
(``[player] strings``) replaces any key on top, so a language that is not shipped needs only
the words it has. Templates read the flat table as ``t["chat.sound"]``; the browser reads the
same table from assets/strings.js (site.py writes it) through ``Ghosts.t("chat.sound")``.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ghosts_render.errors import ConfigError

BASE_LANG = "en"


def strings_dir() -> Path:
    """site_template/strings/, wherever the templates are."""
    from ghosts_render.archive.site import template_dir

    return template_dir() / "strings"


def shipped_langs() -> tuple[str, ...]:
    """The languages that ship with ghosts-render (the file names in site_template/strings/)."""
    return tuple(sorted(p.stem for p in strings_dir().glob("*.toml")))


def flatten(table: Mapping[str, Any], where: str, prefix: str = "") -> dict[str, str]:
    """Turn nested TOML tables into "table.key" -> text; anything but text is one clear error."""
    out: dict[str, str] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, where, f"{name}."))
        elif isinstance(value, str):
            out[name] = value
        else:
            raise ConfigError(f"{where}: {name} should be a text in quotes, got {value!r}")
    return out


def read_strings_file(path: Path) -> dict[str, str]:
    """Read one strings table (UTF-8 TOML); raise ConfigError saying what is wrong."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"strings file {path} does not exist (player.strings)") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"strings file {path} cannot be read as UTF-8 TOML: {e}") from None
    return flatten(data, str(path))


def load_strings(lang: str, override: Path | None = None) -> dict[str, str]:
    """Return the table for ``lang``: English, the shipped language over it, the artist's file on
    top. A language that is not shipped needs the artist's file (else its words would be English
    under another ``<html lang>``)."""
    table = read_strings_file(strings_dir() / f"{BASE_LANG}.toml")
    if lang != BASE_LANG:
        shipped = strings_dir() / f"{lang}.toml"
        if shipped.is_file():
            table.update(read_strings_file(shipped))
        elif override is None:
            raise ConfigError(
                f'player.lang: "{lang}" is not shipped ({", ".join(shipped_langs())}): '
                "give its words in a file with [player] strings"
            )
    if override is not None:
        own = read_strings_file(override)
        unknown = sorted(set(own) - set(table))
        if unknown:
            raise ConfigError(
                f"strings file {override}: unknown key(s) {', '.join(unknown[:5])} "
                f"(the keys are those of {strings_dir() / 'en.toml'})"
            )
        table.update(own)
    return table
