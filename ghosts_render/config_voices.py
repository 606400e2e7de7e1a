"""Spoken messages in the configuration: the ``[voices]`` table and each role's voice.

A role names its voice with the shorthand ``voice = "models/x.onnx"`` or a ``[roles.X.voice]``
table. Values are checked like every other key (``list_voice_problems``). Voice files are found
only when voices are on (``resolve_role_voices``), so a config with voices off never needs the
optional extra: a role's own ``model``, else ``[voices] model``, else ``models/<role>.onnx`` if it
exists, else the bundled demo voice with a preset per role that tells the roles apart.
A voice is a Piper voice: ``X.onnx`` with ``X.onnx.json`` beside it (its speakers are read from
there, so a speaker the voice does not have is said here, before any model loads).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ghosts_render.errors import GhostsError

MAX_VOICE_JSON_BYTES = 4 << 20  # a Piper voice's .onnx.json is a few KB of phoneme ids


@dataclass(frozen=True, slots=True, kw_only=True)
class VoicesConfig:  # TOML [voices]
    enabled: bool = False
    model: str = (
        ""  # default voice for roles without their own ("" = models/<role>.onnx, else demo)
    )
    target_lufs: float = -20.0  # BS.1770 momentary max (the project's own meter)
    true_peak_dbtp: float = -1.0
    sentence_pause: float = 0.35  # s of silence between sentences
    delay: float = 0.15  # s after the notification sound ends before the voice starts
    listen_pause: tuple[float, float] = (0.4, 1.0)  # s from a clip's end to the next writing bubble
    mp3_quality: int = 6  # LAME VBR V0 (best) .. V9; V6 ~ 40 kbit/s at 22.05 kHz
    threads: int = 0  # clips rendered at once, each on one CPU thread; 0 = one per core


@dataclass(frozen=True, slots=True, kw_only=True)
class RoleVoiceConfig:  # TOML [roles.X.voice] table, or the shorthand  voice = "models/x.onnx"
    model: str = ""  # resolved to an absolute path when voices are on
    speaker: str = ""  # multi-speaker voices: a name of speaker_id_map or an id as text
    length_scale: float = 0.0  # 0 = the voice's own (.onnx.json inference); >1 slower
    noise_scale: float = -1.0  # -1 = the voice's own
    noise_w_scale: float = -1.0  # -1 = the voice's own
    pitch: float = 1.0  # pitch and formant factor, 1 = off; 0.5..2
    reverb: float = 0.0  # RT60 seconds, 0 = off
    reverb_mix: float = 0.3  # 0..1 wet share
    ring_hz: float = 0.0  # ring modulation frequency, 0 = off
    ring_mix: float = 0.5
    crush_bits: int = 0  # bit-crush depth 2..16, 0 = off
    crush_hold: int = 1  # sample-and-hold factor (1 = off)


# The bundled demo voice speaks for every role, told apart by these settings: the first role
# dry and a little quick, the second slower, pitched down, in a long reverb; further roles
# alternate.
DEMO_PRESETS = (
    RoleVoiceConfig(length_scale=0.95),
    RoleVoiceConfig(length_scale=1.1, pitch=0.88, reverb=1.6, reverb_mix=0.25),
)

MAX_SECONDS = 60.0  # sentence pause, delay and listen pause; longer ones are mistakes
MAX_RING_HZ = 5000.0  # below the Nyquist frequency of a 22.05 kHz voice, with room
MAX_THREADS = 1024

Build = Callable[..., Any]  # config._build: (cls, table, where, problems, **fixed) -> instance


def build_role_voice(value: Any, where: str, problems: list[str], build: Build) -> RoleVoiceConfig:
    """Read a role's ``voice``: a path (the shorthand) or a table of RoleVoiceConfig keys."""
    if value is None:
        return RoleVoiceConfig()
    if isinstance(value, str):
        return RoleVoiceConfig(model=value)
    if not isinstance(value, Mapping):
        problems.append(
            f'{where}: expected a voice file such as "models/artist.onnx" or a '
            f"[{where}] table, got {value!r}"
        )
        return RoleVoiceConfig()
    speaker = value.get("speaker")
    if isinstance(speaker, int) and not isinstance(speaker, bool):  # an id: speaker = 1
        value = {**value, "speaker": str(speaker)}
    voice: RoleVoiceConfig = build(RoleVoiceConfig, value, where, problems)
    return voice


def plain_voices(config: dict[str, Any]) -> dict[str, Any]:
    """Leave voice settings at their defaults out of ``RunConfig.to_dict()``'s data, so a render
    without voices records (and fingerprints) its configuration exactly as before voices."""
    if config.get("voices") == dataclasses.asdict(VoicesConfig()) | {"listen_pause": [0.4, 1.0]}:
        del config["voices"]
    default_voice = dataclasses.asdict(RoleVoiceConfig())
    for role in config.get("roles", []):
        if role.get("voice") == default_voice:
            del role["voice"]
    return config


def list_voice_problems(voices: VoicesConfig, roles: Any, problems: list[str]) -> None:
    """Check the [voices] table and every role's voice settings (not the files)."""
    v = voices
    if not -40 <= v.target_lufs <= -6:
        problems.append(f"voices.target_lufs: must be between -40 and -6, got {v.target_lufs}")
    if not -20 <= v.true_peak_dbtp <= 0:
        problems.append(f"voices.true_peak_dbtp: must be between -20 and 0, got {v.true_peak_dbtp}")
    for key in ("sentence_pause", "delay"):
        if not 0 <= getattr(v, key) <= MAX_SECONDS:
            problems.append(
                f"voices.{key}: must be 0 to {MAX_SECONDS:.0f} seconds, got {getattr(v, key)}"
            )
    low_high = v.listen_pause
    if len(low_high) != 2 or not 0 <= low_high[0] <= low_high[1] <= MAX_SECONDS:
        problems.append(
            "voices.listen_pause: must be [low, high] seconds with 0 <= low <= high <= "
            f"{MAX_SECONDS:.0f}, got {list(low_high)}"
        )
    if not 0 <= v.mp3_quality <= 9:
        problems.append(
            f"voices.mp3_quality: must be 0 (best) to 9 (smallest), got {v.mp3_quality}"
        )
    if not 0 <= v.threads <= MAX_THREADS:
        problems.append(f"voices.threads: must be 0 (one per core) or more, got {v.threads}")
    for role in roles:
        _role_voice_problems(role.voice, f"roles.{role.name}.voice", problems)


def _role_voice_problems(r: RoleVoiceConfig, where: str, problems: list[str]) -> None:
    own = "(the voice's own)"
    ls, nw = r.length_scale, r.noise_w_scale
    checks = (
        ("length_scale", ls == 0 or 0.25 <= ls <= 4, f"0 {own} or 0.25 to 4"),
        ("noise_scale", r.noise_scale == -1 or 0 <= r.noise_scale <= 2, f"-1 {own} or 0 to 2"),
        ("noise_w_scale", nw == -1 or 0 <= nw <= 2, f"-1 {own} or 0 to 2"),
        ("pitch", 0.5 <= r.pitch <= 2, "0.5 to 2 (1 = off)"),
        ("reverb", 0 <= r.reverb <= 10, "0 (off) to 10 seconds"),
        ("reverb_mix", 0 <= r.reverb_mix <= 1, "0 to 1"),
        ("ring_hz", 0 <= r.ring_hz <= MAX_RING_HZ, f"0 (off) to {MAX_RING_HZ:.0f} Hz"),
        ("ring_mix", 0 <= r.ring_mix <= 1, "0 to 1"),
        ("crush_bits", r.crush_bits == 0 or 2 <= r.crush_bits <= 16, "0 (off) or 2 to 16"),
        ("crush_hold", r.crush_hold >= 1, "1 (off) or more"),
    )  # fmt: skip
    for key, ok, allowed in checks:
        if not ok:
            problems.append(f"{where}.{key}: must be {allowed}, got {getattr(r, key)}")


def resolve_role_voices(
    voices: VoicesConfig,
    roles: tuple[Any, ...],
    resolve: Callable[[str], Path],
    demo: list[str],
    problems: list[str],
) -> tuple[VoicesConfig, tuple[Any, ...]]:
    """Give every role an absolute, checked voice file (only called with voices on).

    A role's own ``model``, else ``[voices] model``, else ``models/<role>.onnx`` when it exists,
    else the bundled demo voice (with its preset, when the role set no voice table of its own);
    ``roles.X.voice`` then joins ``demo``.
    """
    default = str(resolve(voices.model)) if voices.model else ""
    voices = dataclasses.replace(voices, model=default)
    resolved = []
    for index, role in enumerate(roles):
        where = f"roles.{role.name}.voice"
        voice = role.voice
        if voice.model:
            path = resolve(voice.model)
        elif default:
            path, where = Path(default), "voices.model"
        elif resolve(f"models/{role.name}.onnx").exists():
            path = resolve(f"models/{role.name}.onnx")
        else:
            demo_path = _demo_voice(where, problems)
            if demo_path is None:
                resolved.append(role)
                continue
            path = demo_path
            demo.append(where)
            if voice == RoleVoiceConfig():
                voice = DEMO_PRESETS[index % len(DEMO_PRESETS)]
        voice = dataclasses.replace(voice, model=str(path))
        found = list_voice_file_problems(path, voice.speaker, where)
        problems.extend(p for p in found if p not in problems)  # a shared voice: said once
        resolved.append(dataclasses.replace(role, voice=voice))
    return voices, tuple(resolved)


def _demo_voice(where: str, problems: list[str]) -> Path | None:
    from ghosts_render.render.voices.piper_voice import demo_voice_path

    try:
        return demo_voice_path()
    except GhostsError as e:  # the extra is not installed: its pip line
        problems.append(f"{where}: {e}")
        return None


def list_voice_file_problems(path: Path, speaker: str, where: str) -> list[str]:
    """Check that ``path`` is a Piper voice (X.onnx beside X.onnx.json) with ``speaker``."""
    if path.is_dir():
        onnx = sorted(p.name for p in path.glob("*.onnx"))
        inside = f" ({', '.join(onnx[:3])} is there)" if onnx else ""
        return [f"{where}: {path} is a folder: give the voice's X.onnx file inside it{inside}"]
    if not path.is_file():
        return [
            f"{where}: {path} does not exist (a Piper voice: X.onnx with X.onnx.json beside it)"
        ]
    config_path = path.with_name(path.name + ".json")
    fix = "give a Piper voice: X.onnx with the X.onnx.json it was exported with beside it"
    if not config_path.is_file():
        return [f"{where}: {path} is not a Piper voice: {config_path.name} is missing ({fix})"]
    try:
        with config_path.open("rb") as fh:
            config = json.loads(fh.read(MAX_VOICE_JSON_BYTES + 1))
    except (OSError, ValueError) as e:
        return [f"{where}: {config_path} is not a Piper voice config ({e}; {fix})"]
    if not isinstance(config, dict) or not isinstance(config.get("audio"), dict):
        return [f"{where}: {config_path} is not a Piper voice config (no 'audio' settings; {fix})"]
    if speaker:
        return _speaker_problems(config, speaker, f"{where}.speaker", path)
    return []


def _speaker_problems(config: dict[str, Any], speaker: str, where: str, path: Path) -> list[str]:
    names = config.get("speaker_id_map") or {}
    count = config.get("num_speakers", 1)
    count = count if isinstance(count, int) and not isinstance(count, bool) else 1
    if isinstance(names, dict) and speaker in names:
        return []
    if speaker.isdigit() and int(speaker) < count and count > 1:
        return []
    if count <= 1:
        return [f'{where}: {path.name} has one speaker only; remove speaker = "{speaker}"']
    listed = ", ".join(sorted(names)) if isinstance(names, dict) and names else ""
    known = f"names {listed} or ids 0 to {count - 1}" if listed else f"ids 0 to {count - 1}"
    return [f"{where}: {path.name} has no speaker {speaker!r} (it has {known})"]
