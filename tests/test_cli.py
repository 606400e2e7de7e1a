"""The command line: instant help, dry runs, and one clear line for every bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ghosts_render.cli import app

runner = CliRunner()


def test_module_help_runs_without_loading_torch():
    code = (
        "import sys, ghosts_render.cli as c\n"
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    result = subprocess.run(
        [sys.executable, "-m", "ghosts_render", "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    for option in ("--turns", "--config", "--out", "--seed", "--device", "--fresh", "--dry-run"):
        assert option in result.stdout
    for verb in ("site", "check", "selfie", "bench", "preview"):
        assert verb in result.stdout


@pytest.mark.parametrize("verb", ["site", "check", "selfie", "bench", "preview"])
def test_every_subcommand_has_help(verb):
    result = runner.invoke(app, [verb, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_dry_run_prints_the_plan_and_touches_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["--turns", "300", "--dry-run", "--seed", "4"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["config"]["seed"] == 4 and data["config"]["turns"] == 300
    assert data["plan"]["demo_models"]
    assert list(tmp_path.iterdir()) == []


def run_cli(tmp_path, *args):
    """Run the render in-process; return (exit code, stderr lines)."""
    result = runner.invoke(app, ["--out", str(tmp_path / "out"), "-q", *args])
    return result.exit_code, [line for line in result.stderr.splitlines() if line.strip()]


def assert_clean_failure(tmp_path, code, lines, expected):
    """Exit 1, one error line naming the problem (warnings may precede it), nothing written."""
    assert code == 1, lines
    errors = [line for line in lines if "error:" in line]
    assert len(errors) == 1, lines
    assert expected in errors[0]
    assert all(line.startswith("ghosts-render: ") for line in lines), lines
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "out.partial").exists()


@pytest.mark.parametrize("turns", ["0", "-5"])
def test_turns_must_be_positive(tmp_path, turns):
    code, lines = run_cli(tmp_path, "--turns", turns)
    assert_clean_failure(tmp_path, code, lines, "turns: must be at least 1")


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('[text]\nmodel = "missing"\n', "text.model:"),
        ('[text]\nrole_format = "<who>"\n', "{role}"),
        ('[text]\nprompts = ["no tag here"]\n', "does not start with a role tag"),
        ("wat = 1\n", "wat: unknown key"),
    ],
)
def test_bad_config_fails_cleanly(tmp_path, toml, expected):
    (tmp_path / "ghosts.toml").write_text(toml)
    code, lines = run_cli(tmp_path, "--config", str(tmp_path / "ghosts.toml"))
    assert_clean_failure(tmp_path, code, lines, expected)


def test_a_folder_with_no_weights_fails_cleanly(tmp_path):
    (tmp_path / "lm").mkdir()
    (tmp_path / "ghosts.toml").write_text('[text]\nmodel = "lm"\n')
    code, lines = run_cli(tmp_path, "--config", str(tmp_path / "ghosts.toml"))
    assert_clean_failure(tmp_path, code, lines, "lm")


def test_a_model_with_no_tokenizer_anywhere_fails_cleanly(tmp_path):
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(n_layer=1, n_head=1, n_embd=8, vocab_size=64, n_positions=32)
    GPT2LMHeadModel(config).save_pretrained(tmp_path / "lm")
    (tmp_path / "ghosts.toml").write_text('[text]\nmodel = "lm"\n')
    code, lines = run_cli(tmp_path, "--config", str(tmp_path / "ghosts.toml"))
    assert_clean_failure(tmp_path, code, lines, "tokenizer")


def test_a_model_that_never_writes_a_known_role_fails_cleanly(tmp_path):
    # The demo model writes [artist] and [scientist]; these roles never appear.
    toml = (
        '[text]\nprompts = ["[ghost] hello?", "[spirit] who is there?"]\nmax_attempts = 3\n'
        "[roles.ghost]\n[roles.spirit]\n"
    )
    (tmp_path / "ghosts.toml").write_text(toml)
    code, lines = run_cli(tmp_path, "--config", str(tmp_path / "ghosts.toml"), "--turns", "20")
    assert_clean_failure(tmp_path, code, lines, "3 attempts")


def test_never_overwrites_a_folder_that_is_not_an_archive(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    code, lines = run_cli(tmp_path, "--turns", "5")
    errors = [line for line in lines if "error:" in line]
    assert code == 1 and len(errors) == 1 and "not a ghosts-render archive" in errors[0]
    assert (out / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    assert not Path(str(out) + ".partial").exists()
