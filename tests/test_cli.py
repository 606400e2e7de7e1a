"""The command line: instant help, dry runs, and one clear line for every bad input."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ghosts_render.cli import app

runner = CliRunner()
VERBS = ("site", "check", "selfie", "export", "bench", "preview", "reroll")
DATA = Path(__file__).parent / "data" / "stylegan"


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
    for verb in VERBS:
        assert verb in result.stdout


@pytest.mark.parametrize("verb", VERBS)
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


def test_turns_beyond_the_maximum_are_one_clear_line_before_any_work(tmp_path):
    code, lines = run_cli(tmp_path, "--turns", "1000000000")
    assert_clean_failure(tmp_path, code, lines, "turns: at most 100000")


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('[text]\nmodel = "missing"\n', "text.model:"),
        ('[text]\nrole_format = "<who>"\n', "{role}"),
        ('[text]\nprompts = ["no tag here"]\n', "does not start with a role tag"),
        ("wat = 1\n", "wat: unknown key"),
        ("[pacing]\nbase_time = nan\n", "pacing.base_time: must be a finite number"),
        ("[pacing]\nwrite_deviation = [0.5, inf]\n", "pacing.write_deviation: must be a finite"),
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


def test_an_invocation_leaves_the_package_logger_as_it_found_it(tmp_path):
    logger = logging.getLogger("ghosts_render")
    before = (logger.handlers[:], logger.level, logger.propagate)
    for args in (["-v", "--turns", "0"], ["check", str(tmp_path)], ["--dry-run", "-q"]):
        runner.invoke(app, ["--out", str(tmp_path / "out"), *args])
        assert (logger.handlers, logger.level, logger.propagate) == before, args


def test_an_error_in_a_subcommand_is_one_line_and_exit_1(tmp_path):
    result = runner.invoke(app, ["check", str(tmp_path / "nowhere")])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith("ghosts-render: error: ") and "nowhere" in result.stderr


def test_selfie_refuses_an_unknown_noise_mode_before_loading_anything(tmp_path):
    result = runner.invoke(app, ["selfie", str(tmp_path / "nowhere.pkl"), "--noise-mode", "loud"])
    assert result.exit_code == 2
    assert "'loud' is not one of 'const', 'random', 'none'" in result.stderr
    assert not (tmp_path / "selfies").exists()


def test_export_writes_a_network_that_renders_the_same_images(tmp_path):
    import numpy as np

    from ghosts_render.render.selfies.stylegan import generate_images, load_network

    pickle = DATA / "stylegan3-t.pkl"
    out = tmp_path / "nets" / "artist.safetensors"
    result = runner.invoke(app, ["export", str(pickle), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout.split() == [str(out), str(out.with_suffix(".json"))]
    assert sorted(p.name for p in out.parent.iterdir()) == ["artist.json", "artist.safetensors"]
    exported, original = load_network(out, "cpu"), load_network(pickle, "cpu")
    np.testing.assert_array_equal(
        generate_images(exported, [0, 7], 0.7, "const", "cpu"),
        generate_images(original, [0, 7], 0.7, "const", "cpu"),
    )


def test_export_never_replaces_an_existing_file(tmp_path):
    (tmp_path / "net.json").write_text("mine")
    result = runner.invoke(
        app, ["export", str(DATA / "stylegan3-t.pkl"), "--out", str(tmp_path / "net")]
    )
    assert result.exit_code == 1
    assert "already exist" in result.stderr and "net.json" in result.stderr
    assert (tmp_path / "net.json").read_text() == "mine"
    assert [p.name for p in tmp_path.iterdir()] == ["net.json"]


def test_export_of_a_missing_network_is_one_clear_line(tmp_path):
    result = runner.invoke(app, ["export", str(tmp_path / "gone.pkl")])
    assert result.exit_code == 1
    assert "gone.pkl: no such file" in result.stderr
    assert list(tmp_path.iterdir()) == []
