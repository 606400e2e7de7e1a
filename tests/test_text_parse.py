"""Pure parts of the text stage: the original's tag regexes, run planning, needs, prompts."""

from __future__ import annotations

import dataclasses

import pytest

from ghosts_render.config import DEFAULT_ROLES, RunConfig, TextConfig
from ghosts_render.render.text.parse import compile_patterns, parse_first_piece, parse_piece
from ghosts_render.render.text.runs import (
    count_silent_runs,
    format_prompt,
    hash_text_settings,
    plan_message_order,
    plan_needs,
    plan_run,
)

ROLES = ("artist", "scientist")
BRACKETS = compile_patterns("[{role}]", "[image]")

# (generated text, expected (sender, text, raw, selfie, valid) or None for "no tagged piece")
PARSE_CASES = [
    ("[artist] I am here.", ("artist", "I am here.", "[artist] I am here.", False, True)),
    ("[Artist] Hello", ("artist", "Hello", "[Artist] Hello", False, True)),
    ("[SCIENTIST] data", ("scientist", "data", "[SCIENTIST] data", False, True)),
    ("[foo] who am I", ("foo", "who am I", "[foo] who am I", False, False)),
    ("[artist]", ("artist", "", "[artist]", False, False)),
    ("[artist]   ", ("artist", "", "[artist]", False, False)),
    ("[artist] [image]", ("artist", "", "[artist] [image]", True, True)),
    (
        "[scientist] [image] Look  at   my desk",
        ("scientist", "Look at my desk", "[scientist] [image] Look  at   my desk", True, True),
    ),
    ("[artist] two  spaces", ("artist", "two spaces", "[artist] two  spaces", False, True)),
    ("some words first [scientist] hi", ("scientist", "hi", "[scientist] hi", False, True)),
    ("[artist] one [scientist] two", ("artist", "one", "[artist] one", False, True)),
    ("[image] only a picture", None),
    ("[image]", None),
    ("no tag at all", None),
    ("", None),
    ("[two words] hi", None),
]


@pytest.mark.parametrize(("generated", "expected"), PARSE_CASES)
def test_parse_first_piece_follows_the_original_regexes(generated, expected):
    piece = parse_first_piece(generated, BRACKETS)
    if expected is None:
        assert piece is None
        return
    sender, text, raw, selfie, valid = expected
    assert (piece.sender, piece.text, piece.raw, piece.selfie) == (sender, text, raw, selfie)
    assert piece.is_valid(ROLES) is valid


CUSTOM_CASES = [
    # role_format "{role}>" as the theater-chat export wrote lines
    ("{role}>", "[image]", "artist> hello there", ("artist", "hello there", False)),
    ("{role}>", "[image]", "I said scientist> yes", ("scientist", "yes", False)),
    ("{role}>", "[image]", "xartist> no", ("xartist", "no", False)),
    ("{role}>", "[image]", "artist> [image]", ("artist", "", True)),
    ("{role}>", "[image]", "no marker here", None),
    ("<{role}>", "<img>", "<artist> <img> me", ("artist", "me", True)),
    ("<{role}>", "<img>", "<img> alone", None),
    ("[{ROLE}:]".replace("{ROLE}", "{role}"), "[image]", "[ARTIST:] hi", ("artist", "hi", False)),
]


@pytest.mark.parametrize(("role_format", "image_tag", "generated", "expected"), CUSTOM_CASES)
def test_parse_custom_role_formats(role_format, image_tag, generated, expected):
    piece = parse_first_piece(generated, compile_patterns(role_format, image_tag))
    if expected is None:
        assert piece is None
    else:
        assert (piece.sender, piece.text, piece.selfie) == expected


def test_a_tag_inside_a_word_is_not_a_tag_for_an_open_format():
    # Without a word boundary, "{role}>" would split "artist" into one-letter pieces.
    piece = parse_first_piece("my artist> hi", compile_patterns("{role}>", "[image]"))
    assert piece.raw == "artist> hi"


def test_prompt_lines_parse_like_generated_pieces():
    piece = parse_piece("  [scientist] Are you still there?\n", BRACKETS)
    assert (piece.sender, piece.text, piece.raw) == (
        "scientist",
        "Are you still there?",
        "[scientist] Are you still there?",
    )


def _cfg(**text) -> RunConfig:
    return RunConfig(turns=100, seed=7, text=TextConfig(**text), roles=DEFAULT_ROLES)


def test_runs_deal_prompts_as_a_deck_without_repeats():
    cfg = _cfg()
    n = len(cfg.text.prompts)
    first = [plan_run(cfg, i).prompt for i in range(n)]
    second = [plan_run(cfg, i).prompt for i in range(n, 2 * n)]
    assert sorted(first) == sorted(cfg.text.prompts)
    assert sorted(second) == sorted(cfg.text.prompts)
    assert first != second  # each deck is shuffled on its own
    assert [plan_run(cfg, i) for i in range(n)] == [plan_run(cfg, i) for i in range(n)]


def test_run_lengths_follow_run_length_and_deviation():
    cfg = _cfg(run_length=20, run_deviation=(0.75, 1.25))
    lengths = [plan_run(cfg, i).length for i in range(200)]
    assert min(lengths) >= 15 and max(lengths) <= 25
    assert len(set(lengths)) > 5
    assert plan_run(_cfg(run_length=1, run_deviation=(0.1, 0.2)), 0).length == 1
    endless = plan_run(dataclasses.replace(_cfg(run_length=0), turns=321), 3)
    assert endless.length == 321
    assert plan_run(dataclasses.replace(cfg, seed=8), 0) != plan_run(cfg, 0) or (
        plan_run(dataclasses.replace(cfg, seed=8), 1) != plan_run(cfg, 1)
    )


def _run(length, count, ended=False):
    return {
        "length": length,
        "messages": [{"raw": f"[artist] m{i}"} for i in range(count)],
        "attempt": 0,
        "ended_early": ended,
    }


def test_needs_fill_turns_and_grow_when_a_run_ends_early():
    runs = [_run(5, 1), _run(5, 1), _run(5, 1)]
    needs, total = plan_needs(runs, 12)
    assert needs == [5, 5, 2] and total == 15
    runs[0] = _run(5, 3, ended=True)  # ended after 3 messages: the shortfall moves on
    needs, total = plan_needs(runs, 12)
    assert needs == [3, 5, 4] and total == 13
    runs[1] = _run(5, 1, ended=True)
    needs, total = plan_needs(runs, 12)
    assert needs == [3, 1, 5] and total == 9  # 3 more turns need a fourth run


def test_conversation_is_runs_in_order_truncated_to_turns():
    runs = [_run(3, 3), _run(4, 2, ended=True), _run(5, 4)]
    pairs = plan_message_order(runs, 7)
    assert [(r, m["raw"]) for r, m in pairs] == [
        (0, "[artist] m0"),
        (0, "[artist] m1"),
        (0, "[artist] m2"),
        (1, "[artist] m0"),
        (1, "[artist] m1"),
        (2, "[artist] m0"),
        (2, "[artist] m1"),
    ]


def test_silent_runs_count_the_longest_streak():
    runs = [
        _run(5, 1, True),
        _run(5, 1, True),
        _run(5, 3, True),
        _run(5, 1, True),
        _run(5, 1, True),
        _run(5, 1, True),
        _run(1, 1),
    ]
    assert count_silent_runs(runs) == 3


def test_prompt_is_the_last_memory_raw_lines_plus_a_newline():
    run = _run(9, 4)
    assert format_prompt(run, 1) == "[artist] m3\n"
    assert format_prompt(run, 2) == "[artist] m2\n[artist] m3\n"
    assert format_prompt(run, 10) == "[artist] m0\n[artist] m1\n[artist] m2\n[artist] m3\n"


def test_fingerprint_changes_with_what_shapes_the_text():
    cfg = _cfg()
    assert hash_text_settings(cfg) == hash_text_settings(_cfg())
    assert hash_text_settings(dataclasses.replace(cfg, seed=1)) != hash_text_settings(cfg)
    hotter = dataclasses.replace(cfg, text=TextConfig(temperature=0.5))
    assert hash_text_settings(hotter) != hash_text_settings(cfg)
    assert hash_text_settings(dataclasses.replace(cfg, turns=5)) == hash_text_settings(cfg)
