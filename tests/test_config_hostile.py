"""Hostile configs: every value that would crash a render later is refused up front, in one line.

Each case here once passed validation (and ``--dry-run``) and failed later, often hours later,
after the text stage, with a traceback or a half-written archive.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ghosts_render.cli import app
from ghosts_render.config import load_config
from ghosts_render.errors import ConfigError, ModelLoadError

runner = CliRunner()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ghosts.toml"
    path.write_text(text, encoding="utf-8")
    return path


def refused(tmp_path: Path, toml: str) -> str:
    """Return the one-line ConfigError a config raises (the test fails if it is accepted)."""
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, toml))
    message = str(e.value)
    assert "\n" not in message
    assert str(tmp_path / "ghosts.toml") in message
    return message


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("[pacing]\nbase_time = nan\n", "pacing.base_time: must be a finite number"),
        ("[pacing]\nletter_time = inf\n", "pacing.letter_time: must be a finite number"),
        ("[text]\ntemperature = nan\n", "text.temperature: must be a finite number"),
        ("[text]\nrun_deviation = [0.5, inf]\n", "text.run_deviation: must be a finite number"),
        ("[pacing]\nread_deviation = [nan, 1.0]\n", "pacing.read_deviation: must be a finite"),
        ("[selfies]\ntruncation_psi = -inf\n", "selfies.truncation_psi: must be a finite"),
        ("[sounds]\ntrue_peak_dbtp = nan\n", "sounds.true_peak_dbtp: must be a finite number"),
        ("[pacing]\nclosing_pause = -inf\n", "pacing.closing_pause: must be a finite number"),
    ],
)
def test_every_number_must_be_finite(tmp_path, toml, expected):
    assert expected in refused(tmp_path, toml)


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("[text]\ntemperature = 1e-300\n", "text.temperature: must be 0.01 to 100"),
        ("[pacing]\nletter_time = 1e300\n", "pacing.letter_time: must be 0 to 3600 seconds"),
        ("[pacing]\nsame_sender_pause = [1.0, 1e300]\n", "pacing.same_sender_pause"),
        ("[pacing]\nwrite_deviation = [1.0, 1e9]\n", "high <= 10"),
        ("[sounds]\ntrue_peak_dbtp = -1e300\n", "sounds.true_peak_dbtp: must be between -20"),
        ("[selfies]\ntruncation_psi = 1e10\n", "selfies.truncation_psi: must be -2 to 2"),
        ("[selfies]\nwebp_size = 1000000\n", "selfies.webp_size: must be 16 to 4096"),
        ("[player]\nmax_messages = -5\n", "player.max_messages: must be at least 1"),
        ('[player]\nsync = "soon"\n', "player.sync"),
    ],
)
def test_every_number_must_be_in_its_range(tmp_path, toml, expected):
    assert expected in refused(tmp_path, toml)


@pytest.mark.parametrize(
    "color",
    [
        "rgb(99999999999999999999,0,0)",
        "rgb(256, 0, 0)",
        "rgb(50%, 0, 0)",
        "rgb(1.5, 0, 0)",
        "hsl(400, 50%, 50%)",
        "hsl(10, 150%, 50%)",
        "rgba(0, 0, 0, 0.5)",
        "transparent",
        "ghostly",
        "#12345",
        "",
    ],
)
def test_role_colours_must_be_ones_the_player_and_icons_read(tmp_path, color):
    message = refused(tmp_path, f'[roles.artist]\ncolor = "{color}"\n[roles.scientist]\n')
    assert "roles.artist.color:" in message


@pytest.mark.parametrize(
    "color",
    [
        "cyan",
        "RebeccaPurple",
        "#0ff",
        "#00FFFFcc",
        "rgb(0, 255, 255)",
        "rgb(0%,100%,100%)",
        "hsl(180, 100%, 50%)",
    ],
)
def test_role_colours_in_every_documented_form_are_accepted(tmp_path, color):
    cfg = load_config(write(tmp_path, f'[roles.artist]\ncolor = "{color}"\n[roles.scientist]\n'))
    assert cfg.roles[0].color == color


def test_a_public_url_the_qr_code_cannot_hold_is_refused(tmp_path):
    long_url = "https://gallery.example/" + "a" * 2900
    assert "player.public_url: 2924 characters" in refused(
        tmp_path, f'[player]\npublic_url = "{long_url}"\n'
    )
    fits = "https://gallery.example/" + "a" * 1600
    assert load_config(write(tmp_path, f'[player]\npublic_url = "{fits}"\n')).player.public_url
    # With a day key every QR code also holds ?day=YYYY-MM-DD: that must fit too.
    days = 'valid_from = "2026-05-01"\nvalid_until = "2026-05-02"\nday_key = true\n'
    edge = "https://gallery.example/" + "a" * 1635
    load_config(write(tmp_path, f'[player]\npublic_url = "{edge}"\n'))
    assert "player.public_url" in refused(tmp_path, f'[player]\npublic_url = "{edge}"\n{days}')


@pytest.mark.parametrize(
    ("role_format", "expected"),
    [
        ("<{role}>{0}", "no other { or }"),
        ("<{role}>{who}", "no other { or }"),
        ("{role}{role}", "exactly once"),
        ("[{role}]}}", "no other { or }"),
        ("[{role]", "exactly once"),
        ("{role}", "needs marks around {role}"),
        ("[{role}]\\n", "one line"),
    ],
)
def test_role_format_has_exactly_one_role_field_and_nothing_else(tmp_path, role_format, expected):
    message = refused(tmp_path, f'[text]\nrole_format = "{role_format}"\n')
    assert "text.role_format" in message and expected in message


def test_image_tag_must_not_be_a_role_tag(tmp_path):
    toml = '[text]\nimage_tag = "[image]"\nprompts = ["[image] hi"]\n[roles.image]\n'
    assert "text.image_tag: '[image]' is also the tag of the role 'image'" in refused(
        tmp_path, toml
    )


def test_prompts_must_be_one_line(tmp_path):
    message = refused(tmp_path, '[text]\nprompts = ["[artist] hi\\n[scientist] there"]\n')
    assert "text.prompts[0]:" in message and "must be one line" in message


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "is not a file"),  # /dev/zero: endless, and not a regular file
        ("folder", "is not a file"),
        (b"\xff\xfe[\x00]\x00", "is not UTF-8 text"),
        (b"[" + b'"[artist] hi",' * 80_000 + b'"[artist] hi"]', "larger than 1 MiB"),
        (b'{"artist": "hi"}', "JSON list of strings"),
        (b"[1, 2]", "JSON list of strings"),
        (b"[artist] hi", "is not a JSON file"),
    ],
)
def test_prompts_file_must_be_a_small_utf8_json_list_of_strings(tmp_path, content, expected):
    if content is None:
        path = "/dev/zero"
    elif content == "folder":
        (tmp_path / "prompts").mkdir()
        path = "prompts"
    else:
        (tmp_path / "prompts.json").write_bytes(content)
        path = "prompts.json"
    message = refused(tmp_path, f'[text]\nprompts_file = "{path}"\n')
    assert "text.prompts_file:" in message and expected in message


@pytest.mark.parametrize("name", ["Artist", "ARTIST", "my-role", "r\u00f4le", "a" * 41])
def test_role_names_are_lowercase_ascii_and_the_message_says_so(tmp_path, name):
    toml = f'[roles."{name}"]\n[roles.scientist]\n[text]\nprompts = ["[scientist] hi"]\n'
    message = refused(tmp_path, toml)
    assert f"roles.{name}: a role name must be 1-40 lowercase letters a-z, digits or _" in message


def test_a_prompt_tag_in_capitals_names_the_role_it_is_read_as(tmp_path):
    # The model's tags are read in lowercase: "[Ghost]" is the role "ghost", and the message
    # must not say that "Ghost" is missing from a list that shows it.
    message = refused(tmp_path, '[text]\nprompts = ["[Ghost] boo"]\n')
    assert "names the role 'ghost'" in message
    cfg = load_config(write(tmp_path, '[text]\nprompts = ["[Artist] hi"]\n'))
    assert cfg.text.prompts == ("[Artist] hi",)


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('title = ""\n', "title: must not be blank"),
        ('title = "   "\n', "title: must not be blank"),
        ('title = "two\\nlines"\n', "title: must be one line"),
        (f'title = "{"t" * 201}"\n', "title: must be at most 200 characters"),
        ('[roles.artist]\nlabel = "  "\n[roles.scientist]\n', "roles.artist.label: must not be"),
        (f'[roles.artist]\nlabel = "{"l" * 61}"\n[roles.scientist]\n', "at most 60 characters"),
    ],
)
def test_titles_and_labels_are_checked_before_any_work(tmp_path, toml, expected):
    assert expected in refused(tmp_path, toml)


@pytest.mark.parametrize(
    "epoch",
    [
        "20260101T000000Z",  # ISO 8601 basic format: Date.parse gives NaN, the player used 1970
        "2026-01-01 00:00:00Z",
        "2026-01-01T00:00:00",  # no zone: browsers read it as local time
        "2026-01-01T00:00:00.5Z",
        "2026-13-01T00:00:00Z",
        "2026-01-01T00:00:00+0200",
    ],
)
def test_epoch_is_a_form_every_browser_parses(tmp_path, epoch):
    message = refused(tmp_path, f'[player]\nepoch = "{epoch}"\n')
    assert "player.epoch" in message


@pytest.mark.parametrize("epoch", ["2026-01-01T00:00:00Z", "2026-06-30T18:30:00.250+02:00"])
def test_epoch_in_the_browser_form_is_accepted(tmp_path, epoch):
    assert load_config(write(tmp_path, f'[player]\nepoch = "{epoch}"\n')).player.epoch == epoch


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("body.ttf", b"this is a text file, not a font\n", "is not a ttf font"),
        ("body.woff2", b"wOFF" + bytes(40), "is not a woff2 font"),
        ("body.svg", b"<svg/>", "is not a .woff2, .woff, .ttf or .otf font"),
    ],
)
def test_fonts_must_be_real_fonts(tmp_path, name, content, expected):
    (tmp_path / name).write_bytes(content)
    message = refused(tmp_path, f'[player]\nfonts = ["{name}"]\n')
    assert "player.fonts:" in message and expected in message


def test_fonts_with_the_right_first_bytes_are_accepted_and_more_than_two_refused(tmp_path):
    fonts = {"a.woff2": b"wOF2", "b.woff": b"wOFF", "c.ttf": b"\x00\x01\x00\x00", "d.otf": b"OTTO"}
    for name, magic in fonts.items():
        (tmp_path / name).write_bytes(magic + bytes(60))
    cfg = load_config(write(tmp_path, '[player]\nfonts = ["a.woff2", "d.otf"]\n'))
    assert len(cfg.player.fonts) == 2
    listed = ", ".join(f'"{n}"' for n in fonts)
    assert "player.fonts: at most 2" in refused(tmp_path, f"[player]\nfonts = [{listed}]\n")


@pytest.mark.parametrize(
    ("content", "expected"),
    [(b"# About\n\n\xe9t\xe9\n", "is not UTF-8 text"), (None, "is not a file")],
)
def test_about_page_must_be_readable_utf8(tmp_path, content, expected):
    path = "/dev/zero"
    if content is not None:
        (tmp_path / "about.md").write_bytes(content)
        path = "about.md"
    message = refused(tmp_path, f'[player]\nabout = "{path}"\n')
    assert "player.about:" in message and expected in message


# The whole command: refused before anything is written, and --dry-run refuses it too.


def run_cli(tmp_path: Path, *args: str) -> tuple[int, list[str]]:
    result = runner.invoke(app, ["--out", str(tmp_path / "out"), "-q", *args])
    return result.exit_code, [line for line in result.stderr.splitlines() if line.strip()]


@pytest.mark.parametrize(
    "toml",
    [
        "[text]\ntemperature = nan\n",
        '[roles.artist]\ncolor = "rgb(99999999999999999999,0,0)"\n[roles.scientist]\n',
        '[player]\nepoch = "20260101T000000Z"\n',
        'title = " "\n',
    ],
)
@pytest.mark.parametrize("dry_run", [True, False])
def test_the_command_refuses_hostile_configs_before_writing(tmp_path, toml, dry_run):
    write(tmp_path, toml)
    args = ["--config", str(tmp_path / "ghosts.toml"), "--turns", "4"]
    code, lines = run_cli(tmp_path, *args, *(["--dry-run"] if dry_run else []))
    assert code == 1, lines
    assert len([line for line in lines if "error:" in line]) == 1, lines
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.partial").exists()


def test_a_broken_selfie_network_fails_before_the_text_stage(tmp_path):
    (tmp_path / "artist.pkl").write_bytes(b"\x80\x04this is no network")
    write(tmp_path, '[roles.artist]\nselfies = "artist.pkl"\n[roles.scientist]\n')
    code, lines = run_cli(tmp_path, "--config", str(tmp_path / "ghosts.toml"), "--turns", "4")
    errors = [line for line in lines if "error:" in line]
    assert code == 1 and len(errors) == 1, lines
    assert "roles.artist.selfies:" in errors[0]
    # Nothing was started: no unfinished render holding a text stage's work.
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.partial").exists()


def test_a_large_network_is_read_and_recognised_without_being_built(tmp_path, monkeypatch):
    from ghosts_render.config import DEMO_SELFIES_DIR
    from ghosts_render.render import pipeline
    from ghosts_render.render.selfies import stage as selfie_stage

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(selfie_stage, "PREFLIGHT_FULL_LOAD_BYTES", 0)  # every network is "large"
    cfg = load_config(None)
    pipeline._preflight(cfg)  # the demo's exported networks pass the header check
    settings = json.loads((DEMO_SELFIES_DIR / "artist.json").read_text())
    (tmp_path / "odd.safetensors").write_bytes(
        (DEMO_SELFIES_DIR / "artist.safetensors").read_bytes()
    )
    (tmp_path / "odd.json").write_text(json.dumps({**settings, "kind": "stylegan9"}))
    (tmp_path / "odd.pkl").write_bytes(b"\x80\x04this is no network")
    for name in ("odd.safetensors", "odd.pkl"):
        toml = f'[roles.artist]\nselfies = "{name}"\n[roles.scientist]\n'
        with pytest.raises(ModelLoadError, match=f"roles.artist.selfies: .*{name}"):
            pipeline._preflight(load_config(write(tmp_path, toml)))


def test_dry_run_estimates_are_right_for_small_renders(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plans = {}
    for turns in ("10", "2000"):
        result = runner.invoke(app, ["--turns", turns, "--dry-run"])
        assert result.exit_code == 0, result.output
        plans[turns] = json.loads(result.stdout)["plan"]
    small, full = plans["10"], plans["2000"]
    assert small["expected_runs"] == 1
    assert 2 < small["expected_minutes"] < 4  # ten messages of about 17 s each
    assert small["expected_hours"] > 0
    assert 100 <= full["expected_runs"] <= 106  # 2000 turns in runs of 15-25
    assert 9 < full["expected_hours"] < 10.5
    assert abs(full["expected_minutes"] - full["expected_hours"] * 60) < 1


def test_an_endless_or_deeply_nested_config_file_is_one_line(tmp_path):
    # the file is read at most 1 MiB deep, so a device such as /dev/zero cannot fill memory
    big = write(tmp_path, "# padding\n" * 200_000 + 'title = "big"\n')
    with pytest.raises(ConfigError, match="larger than 1 MiB, too large for a config file"):
        load_config(big)
    deep = write(tmp_path, "a = " + "[" * 50_000 + "]" * 50_000 + "\n")
    with pytest.raises(ConfigError, match="nests arrays or tables too deeply"):
        load_config(deep)
    latin = write(tmp_path, "")
    latin.write_bytes(b'title = "caf\xe9"\n')
    with pytest.raises(ConfigError, match=r"is not UTF-8 text \(byte 12\)"):
        load_config(latin)
