"""The strings table: every shipped language has every word, and an artist's file is checked."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from ghosts_render.archive.strings import load_strings, shipped_langs, strings_dir
from ghosts_render.errors import ConfigError


def test_every_shipped_language_has_exactly_the_english_keys() -> None:
    english = load_strings("en")
    assert {"en", "de"} <= set(shipped_langs())
    for lang in shipped_langs():
        raw = tomllib.loads((strings_dir() / f"{lang}.toml").read_text(encoding="utf-8"))
        own = {f"{table}.{key}" for table, keys in raw.items() for key in keys}
        assert own == set(english), lang
        assert all(v.strip() for v in load_strings(lang).values()), lang
    assert load_strings("de")["chat.sound"] != english["chat.sound"]


def test_an_artists_file_replaces_words_and_names_a_new_language(tmp_path: Path) -> None:
    own = tmp_path / "fr.toml"
    own.write_text('[chat]\nsound = "son"\n', encoding="utf-8")
    table = load_strings("fr", own)
    assert table["chat.sound"] == "son"
    assert table["chat.pause"] == load_strings("en")["chat.pause"]  # not given: English


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[chat]\nsund = "son"\n', "unknown key(s) chat.sund"),
        ("[chat]\nsound = 3\n", "chat.sound should be a text"),
        ("[chat\n", "cannot be read as UTF-8 TOML"),
    ],
)
def test_a_bad_strings_file_is_one_clear_error(tmp_path: Path, text: str, expected: str) -> None:
    own = tmp_path / "s.toml"
    own.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_strings("en", own)
    assert expected in str(e.value) and str(own) in str(e.value)


def test_a_language_that_is_not_shipped_needs_a_strings_file() -> None:
    with pytest.raises(ConfigError) as e:
        load_strings("fr")
    assert 'player.lang: "fr" is not shipped' in str(e.value)
