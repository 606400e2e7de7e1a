"""Pure parts of the text stage: the original's tag regexes, run planning, progress, prompts."""

from __future__ import annotations

import dataclasses
import zlib

import pytest

from ghosts_render.config import DEFAULT_ROLES, RunConfig, TextConfig
from ghosts_render.render.text.parse import (
    Piece,
    compile_patterns,
    parse_first_piece,
    parse_piece,
)
from ghosts_render.render.text.runs import (
    STAT_KEYS,
    RunProgress,
    TextProgress,
    format_prompt,
    hash_text_render,
    hash_text_settings,
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
    messages = [{"raw": f"[artist] m{i}"} for i in range(count)]
    return RunProgress(length, messages, ended_early=ended)


def _progress(runs, turns, **text):
    cfg = dataclasses.replace(_cfg(**text), turns=turns)
    return TextProgress(cfg, runs, dict.fromkeys(STAT_KEYS, 0))


def test_needs_fill_turns_and_grow_when_a_run_ends_early():
    progress = _progress([_run(5, 1), _run(5, 1), _run(5, 1)], 12)
    assert [progress.need(i) for i in range(3)] == [5, 5, 2]
    assert progress.active == [0, 1, 2] and progress.count_done() == 3
    progress = _progress([_run(5, 3, ended=True), _run(5, 1), _run(5, 1)], 12)
    assert [progress.need(i) for i in range(3)] == [3, 5, 4]  # the shortfall moves on
    progress = _progress([_run(5, 3, ended=True), _run(5, 1, ended=True), _run(5, 1)], 12)
    assert len(progress.runs) == 4  # 3 + 1 + 5 < 12: a fourth run is opened
    assert [progress.need(i) for i in range(4)] == [3, 1, 5, 3]
    assert progress.active == [2, 3] and progress.count_done() == 3 + 1 + 1 + 1


def test_a_run_that_ends_early_moves_the_need_to_later_runs_after_the_round():
    progress = _progress([_run(5, 2), _run(5, 1), _run(5, 1)], 12)
    piece = parse_piece("[artist] hi", BRACKETS)
    progress.add_message(0, piece)
    progress.end_early(1, "no tag here")
    progress.add_message(2, piece)
    progress.end_round()
    assert [progress.need(i) for i in range(3)] == [5, 1, 5] and len(progress.runs) == 4
    assert progress.need(3) == 1 and progress.active == [0, 2]  # run 3 is its prompt alone
    assert progress.count_done() == 3 + 1 + 2 + 1
    assert (progress.stats["rounds"], progress.stats["runs_ended_early"]) == (1, 1)
    assert progress.runs[1].last_output == "no tag here"


def test_conversation_is_runs_in_order_truncated_to_turns():
    progress = _progress([_run(3, 3), _run(4, 2, ended=True), _run(5, 4)], 7)
    assert [(r, m["raw"]) for r, m in progress.list_messages()] == [
        (0, "[artist] m0"),
        (0, "[artist] m1"),
        (0, "[artist] m2"),
        (1, "[artist] m0"),
        (1, "[artist] m1"),
        (2, "[artist] m0"),
        (2, "[artist] m1"),
    ]


def test_silent_streaks_are_found_through_the_runs_that_went_silent():
    def progress():
        silent = [_run(5, 1, True), _run(5, 1, True), _run(5, 3, True), _run(5, 1, True)]
        return _progress([*silent, _run(5, 1, True), _run(5, 1), _run(1, 1)], 40)

    streak = progress()
    streak.end_early(5, "x")
    assert streak.has_silent_streak(3)
    assert not streak.has_silent_streak(3)  # each run that went silent is looked at once
    streak = progress()
    streak.end_early(5, "x")
    assert not streak.has_silent_streak(4)
    assert progress().runs[2].silent is False and progress().runs[3].silent is True


def test_prompt_is_the_last_memory_raw_lines_plus_a_newline():
    messages = _run(9, 4).messages
    assert format_prompt(messages, 1) == "[artist] m3\n"
    assert format_prompt(messages, 2) == "[artist] m2\n[artist] m3\n"
    assert format_prompt(messages, 10) == "[artist] m0\n[artist] m1\n[artist] m2\n[artist] m3\n"


def _fate(run: int, message: int, attempt: int) -> str:
    """What a model writes for one message, drawn from its own seed: mostly a message."""
    u = zlib.crc32(f"{run}/{message}/{attempt}".encode()) % 100
    return "ends" if u < 8 else "retry" if u < 12 else "message"


def _simulate(progress: TextProgress, after_round=None) -> None:
    """Play a text render without a model: ``_fate`` decides what each active run gets."""
    piece = Piece("artist", "hi", "[artist] hi", False, True)
    while progress.active:
        for r in progress.active:
            run = progress.runs[r]
            fate = _fate(r, len(run.messages), run.attempt)
            if fate == "message":
                progress.add_message(r, piece)
            elif fate == "retry":
                progress.retry(r)
            else:
                progress.end_early(r, "no tag")
        progress.end_round()
        if after_round is not None:
            after_round(progress)


def _check_against_the_definition(progress: TextProgress, *, no_spare_runs=True) -> None:
    """Recompute needs, active runs and messages done over every run, as defined."""
    turns, needs, before = progress._cfg.turns, [], 0
    for run in progress.runs:
        needs.append(max(0, min(run.expected, turns - before)))
        before += run.expected
    assert before >= turns  # runs are opened until they can fill every turn
    if no_spare_runs:  # ... and no further
        assert before - progress.runs[-1].expected < turns
    assert [progress.need(i) for i in range(len(needs))] == needs
    active = [
        i for i, r in enumerate(progress.runs) if not r.finished and len(r.messages) < needs[i]
    ]
    assert progress.active == active
    done = sum(min(len(r.messages), n) for r, n in zip(progress.runs, needs, strict=True))
    assert progress.count_done() == done


@pytest.mark.parametrize(
    ("turns", "text"),
    [
        (300, {}),
        (37, {"run_length": 6}),
        (3, {}),
        (90, {"run_length": 0}),
        (200, {"run_length": 1}),
    ],
)
def test_progress_kept_round_by_round_matches_its_definition(turns, text):
    progress = _progress([], turns, **text)
    _check_against_the_definition(progress)
    _simulate(progress, _check_against_the_definition)
    assert progress.count_done() == turns == len(progress.list_messages())
    if progress.stats["rounds"] > 10:  # the simulation did end runs early
        assert progress.stats["runs_ended_early"] > 0


def test_progress_resumed_from_json_and_with_fewer_turns_matches_its_definition():
    whole = _progress([], 300)
    snapshots = []
    _simulate(whole, lambda p: snapshots.append(p.to_json()))
    for turns in (300, 120):
        cfg = dataclasses.replace(whole._cfg, turns=turns)
        resumed = TextProgress.from_json(cfg, snapshots[3])

        def check(progress, spare=turns < 300):
            _check_against_the_definition(progress, no_spare_runs=not spare)

        check(resumed)
        _simulate(resumed, check)
        assert resumed.list_messages() == whole.list_messages()[:turns]


class _CountingRuns(list):
    """A run list that counts how often runs are looked at, one by one or all in a row."""

    touches = 0

    def __getitem__(self, index):
        self.touches += 1
        return super().__getitem__(index)

    def __iter__(self):
        self.touches += len(self)
        return super().__iter__()


def _touches_to_plan(turns: int) -> tuple[int, int]:
    runs = _CountingRuns()
    progress = _progress(runs, turns)
    _simulate(progress)
    assert progress.count_done() == turns
    return runs.touches, progress.stats["rounds"]


def test_planning_touches_runs_in_proportion_to_turns_not_turns_squared():
    small, small_rounds = _touches_to_plan(12_500)
    large, large_rounds = _touches_to_plan(50_000)
    assert small_rounds > 20 and large_rounds > 20
    # every message, retry and opened run costs a few touches; re-reading every run each round
    # would cost rounds x runs (> 50 000 x 20 / 20 here), and 16 x as much for 4 x the turns
    assert large < 8 * 50_000
    assert large < 4.5 * small


def test_fingerprint_changes_with_what_shapes_the_text():
    cfg = _cfg()
    assert hash_text_settings(cfg) == hash_text_settings(_cfg())
    assert hash_text_settings(dataclasses.replace(cfg, seed=1)) != hash_text_settings(cfg)
    hotter = dataclasses.replace(cfg, text=TextConfig(temperature=0.5))
    assert hash_text_settings(hotter) != hash_text_settings(cfg)
    assert hash_text_settings(dataclasses.replace(cfg, turns=5)) == hash_text_settings(cfg)
    hot = hash_text_render(hotter, {"model": 1})
    assert hash_text_render(cfg, {"model": 1}) == hash_text_render(_cfg(), {"model": 1})
    assert hot != hash_text_render(cfg, {"model": 1})
    assert hash_text_render(cfg, {"model": 2}) != hash_text_render(cfg, {"model": 1})
    assert hash_text_render(dataclasses.replace(cfg, turns=5), {"model": 1}) != hash_text_render(
        cfg, {"model": 1}
    )
    sounds_and_pacing = dataclasses.replace(cfg, sounds=None, pacing=None, player=None)
    assert hash_text_render(sounds_and_pacing, {"model": 1}) == hash_text_render(cfg, {"model": 1})
