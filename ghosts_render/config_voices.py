"""The ``[voices]`` table and the per-role ``voice`` settings (spoken messages)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class VoicesConfig:
    """TOML ``[voices]``: spoken messages, off unless enabled (or ``--voices``)."""

    enabled: bool = False
    # the default voice for roles without their own ("" = models/<role>.onnx, else the demo voice)
    model: str = ""
    target_lufs: float = -20.0  # BS.1770 momentary max (the project's own meter)
    true_peak_dbtp: float = -1.0
    sentence_pause: float = 0.35  # s of silence between sentences
    delay: float = 0.15  # s after the notification sound ends before the voice starts
    listen_pause: tuple[float, float] = (0.4, 1.0)  # s from a clip's end to the next bubble
    mp3_quality: int = 6  # LAME VBR V0 (best) .. V9; V6 ~ 40 kbit/s at 22.05 kHz
    threads: int = 0  # onnxruntime intra-op threads; 0 = all cores


@dataclass(frozen=True, slots=True, kw_only=True)
class RoleVoiceConfig:
    """TOML ``[roles.X.voice]`` table, or the shorthand ``voice = "models/x.onnx"``."""

    model: str = ""  # resolved to an absolute path by config loading
    speaker: str = (
        ""  # multi-speaker voices: a name of speaker_id_map or an id as text; "" = default
    )
    length_scale: float = 0.0  # 0 = the voice's own (.onnx.json inference); >1 slower
    noise_scale: float = -1.0  # -1 = the voice's own
    noise_w_scale: float = -1.0  # -1 = the voice's own
    pitch: float = 1.0  # pitch+formant factor, 1 = off; 0.5..2
    reverb: float = 0.0  # RT60 seconds, 0 = off
    reverb_mix: float = 0.3  # 0..1 wet share
    ring_hz: float = 0.0  # ring modulation frequency, 0 = off
    ring_mix: float = 0.5
    crush_bits: int = 0  # bit-crush depth 2..16, 0 = off
    crush_hold: int = 1  # sample-and-hold factor (1 = off)
