"""Configuration: defaults, the demo fallback, and every problem reported at once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ghosts_render.config import DEMO_TEXT_MODEL, RunConfig, load_config, read_recorded_config
from ghosts_render.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ghosts.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_are_the_original_works(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = load_config(None)
    assert (cfg.text.temperature, cfg.text.top_k, cfg.text.top_p) == (1.3, 6, 0.7)
    assert cfg.text.memory == 1
    assert cfg.role_names() == ("artist", "scientist")
    assert cfg.pacing.read_deviation == (0.35, 0.55)
    assert cfg.sounds.mode == "procedural"


def test_missing_default_models_fall_back_to_the_demo_loudly(tmp_path, monkeypatch, caplog):
    monkeypatch.chdir(tmp_path)
    cfg = load_config(None)
    assert Path(cfg.text.model) == DEMO_TEXT_MODEL
    assert "text.model" in cfg.demo
    assert "roles.artist.selfies" in cfg.demo
    assert "DEMO" in caplog.text


def test_existing_default_model_path_is_used(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models" / "gpt2").mkdir(parents=True)
    cfg = load_config(None)
    assert Path(cfg.text.model) == tmp_path / "models" / "gpt2"
    assert "text.model" not in cfg.demo


def test_relative_paths_are_relative_to_the_config_file(tmp_path, monkeypatch):
    monkeypatch.chdir("/")
    (tmp_path / "lm").mkdir()
    cfg = load_config(write(tmp_path, '[text]\nmodel = "lm"\n'))
    assert cfg.text.model == str(tmp_path / "lm")


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('[text]\nmodel = "nowhere"\n', "text.model: "),
        ('[text]\ntokenizer = "nowhere"\n', "text.tokenizer: "),
        ('[text]\nrole_format = "[who]"\n', "must contain {role} exactly once"),
        ('[text]\nprompts = ["hello there"]\n', "does not start with a role tag"),
        ('[text]\nprompts = ["[ghost] boo"]\n', "not one of the roles"),
        ("colour = 1\n", "colour: unknown key"),
        ("[text]\ntemprature = 1.0\n", "text.temprature: unknown key"),
        ('[text]\ntop_k = "six"\n', "text.top_k: expected an integer"),
        ("[text]\ntop_p = 0\n", "text.top_p: must be in (0, 1]"),
        ("[pacing]\nread_deviation = [0.6, 0.1]\n", "pacing.read_deviation"),
        ('[roles.artist]\nside = "up"\n', "roles.artist.side"),
        ('[roles.artist]\nselfies = "gone.pkl"\n', "roles.artist.selfies: "),
        ('[sounds]\nmode = "loud"\n', "sounds.mode"),
        ('[sounds]\nmode = "folder"\nfolder = "none"\n', "sounds.folder"),
        ('[player]\nepoch = "yesterday"\n', "player.epoch"),
        ('[player]\npublic_url = "gallery.example"\n', "should start with https://"),
        ("[player]\nday_key = true\n", "'day_key' needs 'valid_from'"),
        ('[player]\nwifi = "gallery"\n', "player.wifi: expected a table"),
        ('[player]\nhours = "Tu-Su 10:00-18:00"\ntimezone = "Mars/Base"\n', "player.timezone"),
        ("[text]\nmodel = \n", "is not valid TOML"),
    ],
)
def test_bad_config_is_one_clear_error(tmp_path, toml, expected):
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, toml))
    assert expected in str(e.value)
    assert "\n" not in str(e.value)
    assert str(tmp_path / "ghosts.toml") in str(e.value)


def test_every_problem_is_reported_at_once(tmp_path):
    toml = 'nope = 1\n[text]\ntop_k = -1\nmemory = 0\n[player]\nsync = "never"\n'
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, toml))
    message = str(e.value)
    assert "4 problems" in message
    for part in ("nope", "text.top_k", "text.memory", "player.sync"):
        assert part in message


@pytest.mark.parametrize("turns", [0, -5])
def test_turns_must_be_positive(tmp_path, monkeypatch, turns):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="turns: must be at least 1"):
        load_config(None, turns=turns)


def test_overrides_win_over_the_file(tmp_path):
    cfg = load_config(write(tmp_path, "seed = 5\n"), seed=9, turns=12)
    assert (cfg.seed, cfg.turns) == (9, 12)


def test_roles_keep_their_order_and_defaults(tmp_path):
    toml = '[roles.scientist]\ncolor = "red"\n[roles.artist]\n[roles.ghost]\nside = "right"\n'
    cfg = load_config(write(tmp_path, toml + '[text]\nprompts = ["[ghost] boo"]\n'))
    assert cfg.role_names() == ("scientist", "artist", "ghost")
    assert cfg.roles[0].color == "red" and cfg.roles[0].side == "left"
    assert cfg.roles[1].side == "right"  # the default artist keeps its side
    assert cfg.roles[2].label == "ghost"


def test_prompts_file_is_a_json_list(tmp_path):
    (tmp_path / "prompts.json").write_text(json.dumps(["[artist] hi", "[scientist] yes"]))
    cfg = load_config(write(tmp_path, '[text]\nprompts_file = "prompts.json"\n'))
    assert cfg.text.prompts == ("[artist] hi", "[scientist] yes")
    (tmp_path / "prompts.json").write_text('{"not": "a list"}')
    with pytest.raises(ConfigError, match="JSON list of strings"):
        load_config(write(tmp_path, '[text]\nprompts_file = "prompts.json"\n'))


def test_resolved_config_is_plain_data(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = load_config(None).to_dict()
    assert json.loads(json.dumps(data)) == data
    assert isinstance(RunConfig().to_dict()["roles"], list)


def test_every_config_key_is_documented():
    from dataclasses import fields

    from ghosts_render.config import (
        PacingConfig,
        PlayerConfig,
        RoleConfig,
        SelfieConfig,
        SoundConfig,
        TextConfig,
    )
    from ghosts_render.config_voices import RoleVoiceConfig, VoicesConfig

    doc = (Path(__file__).parent.parent / "docs" / "configuration.md").read_text()
    for cls in (
        *(TextConfig, PacingConfig, RoleConfig, SelfieConfig, SoundConfig, PlayerConfig),
        *(VoicesConfig, RoleVoiceConfig),
    ):
        for f in fields(cls):
            if f.name != "name":
                assert f"\n{f.name} = " in doc, f"{cls.__name__}.{f.name} missing from the docs"


def test_a_recorded_config_reads_back_to_the_same_config(tmp_path):
    (tmp_path / "ghosts.toml").write_text(
        "seed = 5\n[text]\ntemperature = 0.9\nrun_deviation = [0.5, 2]\n"
        "[pacing]\nletter_time = 0.1\n"
        '[roles.artist]\nside = "left"\n[roles.scientist]\ncolor = "red"\n'
    )
    cfg = load_config(tmp_path / "ghosts.toml", turns=12)
    assert read_recorded_config(cfg.to_dict(), "manifest.json") == cfg


def test_a_damaged_recorded_config_is_one_clear_error():
    cfg = load_config(None, turns=3).to_dict()
    cfg["pacing"]["letter_time"] = "slow"
    with pytest.raises(ConfigError, match=r"^manifest.json has 1 problem: pacing.letter_time"):
        read_recorded_config(cfg, "manifest.json")


def test_a_relative_config_path_gives_absolute_paths(tmp_path, monkeypatch):
    """The manifest records the config's paths; reroll and check read them from elsewhere."""
    (tmp_path / "model").mkdir()
    (tmp_path / "ghosts.toml").write_text('[text]\nmodel = "model"\n')
    monkeypatch.chdir(tmp_path)
    cfg = load_config(Path("ghosts.toml"), turns=3)
    assert Path(cfg.text.model).is_absolute()
    assert Path(cfg.text.model) == tmp_path / "model"
