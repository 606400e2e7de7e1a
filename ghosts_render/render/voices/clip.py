"""One message's voice clip: text to speak, synthesis, effects, loudness, MP3, read-back check.

Everything random comes from one generator per message, seeded by the render's seed and the
message's id, so a clip is the same bytes in any process and in any order of rendering (resume
after a crash, re-synthesis of one edited message). The MP3 is mono at the voice's own rate
(22.05 kHz for Piper's medium voices), VBR: it plays in every browser, Safari and iOS included
(Ogg Opus does not play in Safari), and VBR MP3 decodes to exactly the frames encoded.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from dataclasses import dataclass

import numpy as np

from ghosts_render.config_voices import RoleVoiceConfig, VoicesConfig
from ghosts_render.render.sounds.dsp import apply_fades
from ghosts_render.render.sounds.finish import EncodedSound, encode_normalised
from ghosts_render.render.voices.effects import apply_effects
from ghosts_render.render.voices.piper_voice import PiperModel

FADE_IN_MS, FADE_OUT_MS = 5.0, 30.0
# Characters never spoken: symbols and pictographs (an emoji would be read out by its name,
# "grinning face"), their joiners, variation selectors and skin-tone modifiers, private-use,
# unassigned and control characters.
_DROPPED_CATEGORIES = {"So", "Sk", "Co", "Cn", "Cs", "Cc", "Cf", "Me"}
_SELECTORS = re.compile("[\ufe00-\ufe0f\U000e0100-\U000e01ef]")
_SPACES = re.compile(r"\s+")
_RAW_PHONEMES = re.compile(r"\[{2,}|\]{2,}")  # piper reads [[ ... ]] as phonemes, not words


@dataclass(frozen=True, slots=True)
class Clip:
    """One finished voice clip: MP3 bytes, content-addressed name, length and figures.

    ``duration_ms`` is exact: the clip is padded with silence to whole milliseconds' worth of
    frames, so it decodes to ``duration_ms * sample_rate / 1000`` frames, no more, no less.
    """

    data: bytes
    name: str  # <16 hex of sha256>.mp3
    duration_ms: int
    figures: dict[str, object]


def plan_voice_text(text: str) -> str:
    """Return what is to be spoken of a message: no emoji or symbols, spaces collapsed.

    "" means the message has no voice: nothing left, or nothing but punctuation ("...").
    """
    text = _RAW_PHONEMES.sub(lambda m: m.group(0)[0], _SELECTORS.sub("", text))
    kept = "".join(
        " " if unicodedata.category(ch) in _DROPPED_CATEGORIES and not ch.isspace() else ch
        for ch in text
    )
    kept = _SPACES.sub(" ", kept).strip()
    if not any(unicodedata.category(ch)[0] in "LN" for ch in kept):
        return ""
    return kept


def plan_clip_rng(seed: int, message_id: str) -> np.random.Generator:
    """Return the message's generator: every random draw of its clip comes from it."""
    digest = hashlib.sha256(f"ghosts-render/voices/{seed}/{message_id}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest, "big"))


def plan_frame_step(sample_rate: int) -> int:
    """Return the fewest frames that last a whole number of milliseconds (441 at 22.05 kHz)."""
    return sample_rate // math.gcd(sample_rate, 1000)


def render_clip(
    model: PiperModel,
    text: str,
    *,
    role: RoleVoiceConfig,
    voices: VoicesConfig,
    seed: int,
    message_id: str,
) -> Clip | None:
    """Speak a message's text in the role's voice; None when there is nothing to speak."""
    spoken = plan_voice_text(text)
    if not spoken:
        return None
    rng = plan_clip_rng(seed, message_id)
    length_scale = role.length_scale if role.length_scale > 0 else model.defaults["length_scale"]
    sentences = model.synthesize(
        spoken,
        speaker_id=model.speaker_id(role.speaker),
        # A pitch factor p plays the clip p times faster: synthesise p times slower to keep pace.
        length_scale=length_scale * role.pitch,
        noise_scale=_own(role.noise_scale, model.defaults["noise_scale"]),
        noise_w_scale=_own(role.noise_w_scale, model.defaults["noise_w_scale"]),
        rng=rng,
    )
    if not sentences:
        return None
    rate = model.sample_rate
    # The pitch effect stretches everything by 1/pitch, the pauses too: they start pitch as long.
    samples = join_sentences(sentences, rate, voices.sentence_pause * role.pitch)
    samples = apply_effects(samples, rate, role, rng)
    samples = apply_fades(samples, FADE_IN_MS, FADE_OUT_MS, rate)
    sound = _encode(samples, rate, voices, message_id)
    figures = sound.figures()
    figures["text_sha256"] = hashlib.sha256(spoken.encode("utf-8")).hexdigest()
    return Clip(data=sound.data, name=sound.name, duration_ms=sound.duration_ms, figures=figures)


TP_MARGIN_DB = 0.05


def _encode(samples: np.ndarray, rate: int, voices: VoicesConfig, message_id: str) -> EncodedSound:
    """Pad to whole milliseconds, normalise and encode the clip as MP3 (read back and checked)."""
    samples = np.pad(samples, (0, -len(samples) % plan_frame_step(rate)))
    return encode_normalised(
        samples,
        rate,
        target_lufs=voices.target_lufs,
        # The encoder's loop lets a decoded peak pass its ceiling by up to TP_MARGIN_DB: aim
        # that much lower, so no clip ever passes the configured ceiling.
        ceiling_dbtp=voices.true_peak_dbtp - TP_MARGIN_DB,
        compression=voices.mp3_quality / 10,  # libsndfile's level: LAME's VBR quality / 10
        what=f"the voice clip of message {message_id}",
        ceiling_key="voices.true_peak_dbtp",
        match_decoded=True,
    )


def _own(value: float, default: float) -> float:
    """Return a role's setting, or the voice's own where the role says -1 (unset)."""
    return value if value >= 0 else default


def join_sentences(sentences: list[np.ndarray], sample_rate: int, pause_s: float) -> np.ndarray:
    """Return the sentences one after another with pause_s of silence between them."""
    gap = np.zeros(int(round(pause_s * sample_rate)))
    parts: list[np.ndarray] = []
    for i, sentence in enumerate(sentences):
        if i:
            parts.append(gap)
        parts.append(np.asarray(sentence, dtype=np.float64))
    return np.concatenate(parts)
