"""The blocklist format: whole words, phrases, /regexes/, case, comments, and its bad input."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from ghosts_render.blocklist import (
    MAX_BYTES,
    MAX_ENTRIES,
    BlockedMessage,
    list_blocked,
    load_blocklist,
)
from ghosts_render.config import load_config, read_recorded_config
from ghosts_render.errors import ConfigError


def _load(tmp_path: Path, text: str):
    path = tmp_path / "blocklist.txt"
    path.write_text(text, encoding="utf-8")
    return load_blocklist(path)


def test_words_match_whole_words_only_in_any_case(tmp_path: Path) -> None:
    blocklist = _load(tmp_path, "art\n")
    assert blocklist.find("ART, again") == "art"
    assert blocklist.find("my art.") == "art"
    assert blocklist.find("(art)") == "art"
    assert blocklist.find("the artist") is None
    assert blocklist.find("smart") is None
    assert blocklist.find("art_work") is None  # _ continues a word, as in \w
    assert blocklist.find("") is None


def test_word_boundaries_are_unicode_aware(tmp_path: Path) -> None:
    blocklist = _load(tmp_path, "café\nSTRASSE\nнож\n")
    assert blocklist.find("un CAFÉ noir") == "café"
    assert blocklist.find("cafés") is None  # é is a letter: the word goes on
    assert blocklist.find("die Straße") == "STRASSE"  # case folding: ß is ss
    assert blocklist.find("НОЖ!") == "нож"
    assert blocklist.find("ножи") is None
    assert blocklist.find("ｃａｆé") == "café"  # full-width letters compare as their plain ones


def test_a_phrase_matches_across_any_whitespace_as_whole_words(tmp_path: Path) -> None:
    blocklist = _load(tmp_path, "costume room\n")
    assert blocklist.find("in the Costume  \t Room after") == "costume room"
    assert blocklist.find("costume\nroom") == "costume room"
    assert blocklist.find("costume rooms") is None
    assert blocklist.find("the costumeroom") is None
    assert blocklist.find("room costume") is None


def test_terms_with_punctuation_keep_their_edges(tmp_path: Path) -> None:
    blocklist = _load(tmp_path, "c++\ndon't\n!!!\n")
    assert blocklist.find("I write C++.") == "c++"
    assert blocklist.find("abc++") is None  # a word character at the edge needs a boundary
    assert blocklist.find("Don't go") == "don't"
    assert blocklist.find("wow!!!") == "!!!"


def test_a_regex_is_searched_anywhere_case_insensitively(tmp_path: Path) -> None:
    blocklist = _load(tmp_path, r"/serv(er|ers)\b/" + "\n/^i am/\n")
    assert blocklist.find("The SERVERS hum") == r"/serv(er|ers)\b/"
    assert blocklist.find("the serverless") is None
    assert blocklist.find("I AM here") == "/^i am/"
    assert blocklist.find("yes, I am here") is None


def test_comments_and_blank_lines_are_ignored_and_the_first_entry_in_file_order_is_named(
    tmp_path: Path,
) -> None:
    text = "# words the ghosts must not say\n\n   \n  # an indented comment\nviolet\n/vio/\n"
    blocklist = _load(tmp_path, text)
    assert blocklist.terms == ("violet", "/vio/")
    assert blocklist.find("# words the ghosts must not say") is None
    assert blocklist.find("in VIOLET") == "violet"  # both match: the file's first is named
    assert blocklist.find("a violin") == "/vio/"


def test_the_blocklist_records_its_content_hash(tmp_path: Path) -> None:
    first = _load(tmp_path, "art\n")
    assert first.sha256 == _load(tmp_path, "art\n").sha256
    assert first.sha256 != _load(tmp_path, "art\nviolet\n").sha256
    assert re.fullmatch(r"[0-9a-f]{64}", first.sha256)


def test_list_blocked_names_id_sender_and_term_in_order(tmp_path: Path) -> None:
    blocklist = _load(tmp_path, "violet\ncostume room\n")
    messages = [
        {"id": "m00000", "sender": "artist", "text": "Are you there?"},
        {"id": "m00001", "sender": "artist", "text": "the costume room after the rain"},
        {"id": "m00002", "sender": "scientist", "text": ""},
        {"id": "m00003", "sender": "scientist", "text": "Violet servers"},
    ]
    assert list_blocked(messages, blocklist) == [
        BlockedMessage("m00001", "artist", "costume room"),
        BlockedMessage("m00003", "scientist", "violet"),
    ]
    assert list_blocked(messages[:1], blocklist) == []


def test_a_broken_regex_is_one_line_naming_the_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as e:
        _load(tmp_path, "# comment\n\nart\nviolet\nservers\nmachine\n/(foo/\n")
    message = str(e.value)
    assert message == (
        f"{tmp_path / 'blocklist.txt'} line 7: /(foo/ is not a valid regular expression "
        "(missing ), unterminated subpattern at position 0): fix it or write the word without "
        "slashes"
    )
    assert "\n" not in message


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("//", "empty regular expression"),
        ("/a*/", "matches an empty text"),
        ("/(a+)+$/", "repeats a repetition without bound"),
        ("/(x|y*)*z/", "repeats a repetition without bound"),
        ("/(a+){50}/", "repeats a repetition without bound"),
        ("/" + "a" * 301 + "/", "more than 300"),
    ],
)
def test_regexes_that_would_block_everything_or_backtrack_exponentially_are_refused(
    tmp_path: Path, line: str, words: str
) -> None:
    with pytest.raises(ConfigError, match=words) as e:
        _load(tmp_path, f"art\n{line}\n")
    assert "blocklist.txt line 2: " in str(e.value)


def test_safe_repeats_are_accepted_and_stay_fast(tmp_path: Path) -> None:
    blocklist = _load(tmp_path, "/(a++)+$/\n/(?>a+)+b/\n/(\\w+\\s+){3}x/\n/(cd)+e?/\n")
    assert blocklist.find("xx cdcd") == "/(cd)+e?/"
    assert blocklist.find("a" * 5000 + "!") is None  # (a+)+$ would never finish on this


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"art\n\xff\xfe\n", "is not UTF-8 text (byte 4)"),
        (b"x" * (MAX_BYTES + 1), "larger than 1 MiB"),
        (b"w\n" * (MAX_ENTRIES + 1), f"line {MAX_ENTRIES + 1}: more than {MAX_ENTRIES} entries"),
    ],
)
def test_files_that_are_not_small_utf8_lists_are_refused(
    tmp_path: Path, content: bytes, words: str
) -> None:
    path = tmp_path / "blocklist.txt"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=re.escape(words)) as e:
        load_blocklist(path)
    assert str(path) in str(e.value) and "\n" not in str(e.value)


def test_a_missing_file_or_a_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_blocklist(tmp_path / "nope.txt")
    with pytest.raises(ConfigError, match="is not a file"):
        load_blocklist(tmp_path)


def test_a_byte_order_mark_and_windows_line_ends_are_read(tmp_path: Path) -> None:
    path = tmp_path / "blocklist.txt"
    path.write_bytes("\ufeffart\r\nviolet\r\n".encode())
    blocklist = load_blocklist(path)
    assert blocklist.terms == ("art", "violet")
    assert blocklist.find("Art") == "art"


def test_the_config_resolves_the_blocklist_beside_it_and_records_the_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir("/")
    (tmp_path / "blocklist.txt").write_text("violet\n", encoding="utf-8")
    config = tmp_path / "ghosts.toml"
    config.write_text('[text]\nblocklist = "blocklist.txt"\n', encoding="utf-8")
    cfg = load_config(config)
    assert cfg.text.blocklist == str(tmp_path / "blocklist.txt")
    assert read_recorded_config(cfg.to_dict(), "manifest.json") == cfg
    assert load_config(None).text.blocklist == ""  # no blocklist: no screening
    monkeypatch.chdir(tmp_path)
    assert load_config(Path("ghosts.toml")).text.blocklist == str(tmp_path / "blocklist.txt")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "has 1 problem: text.blocklist: {folder}/blocklist.txt does not exist"),
        (
            "art\n/(foo/\n",
            "has 1 problem: text.blocklist: {folder}/blocklist.txt line 2: /(foo/ is not a valid "
            "regular expression",
        ),
    ],
)
def test_a_missing_or_broken_blocklist_fails_at_config_time(
    tmp_path: Path, content: str | None, expected: str
) -> None:
    if content is not None:
        (tmp_path / "blocklist.txt").write_text(content, encoding="utf-8")
    config = tmp_path / "ghosts.toml"
    config.write_text('[text]\nblocklist = "blocklist.txt"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_config(config)
    assert expected.format(folder=tmp_path) in str(e.value)


def test_a_prompt_that_matches_is_kept_with_a_warning_naming_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "blocklist.txt").write_text("there\nartist\n", encoding="utf-8")
    config = tmp_path / "ghosts.toml"
    config.write_text(
        '[text]\nblocklist = "blocklist.txt"\nprompts = ["[artist] Are you there?", '
        '"[scientist] Where are you?"]\n',
        encoding="utf-8",
    )
    with caplog.at_level(logging.WARNING, logger="ghosts_render"):
        cfg = load_config(config)
    assert cfg.text.prompts[0] == "[artist] Are you there?"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    blocked = [w for w in warnings if "blocklist" in w]
    assert len(blocked) == 1  # the role tag is not the prompt's text: only "there" matches
    assert "text.prompts[0]" in blocked[0] and "'there'" in blocked[0]
