"""The media a picked text candidate needs: the selfie it gains, the sound of a new sender.

A picked message keeps what still fits and gets the rest new (docs/curating.md, Re-rolling):

- selfie: a candidate with the image tag keeps the message's selfie when the same role already
  had one, else gets one from the role's network with a fresh seed (``stage_selfie``, seeds from
  ``plan_fresh_seeds``: none the archive uses or a step took out); one without the tag loses it;
- sound: the same sender keeps its sound; another sender gets one of its sounds the archive
  already has, chosen by the message id, or, when it has none, the sound stage's first deal;
- voice: an archive rendered with voices reads every new text aloud again in its (new) sender's
  voice (``stage_voice``), so a clip never says words the message no longer has.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ghosts_render.archive.model import Message
from ghosts_render.config import RunConfig
from ghosts_render.curate.sidecar import staging_dir
from ghosts_render.curate.textgen import Written
from ghosts_render.errors import CurationError, GhostsError


def stage_picked(
    archive: Path,
    cfg: RunConfig,
    messages: Sequence[dict[str, Any]],
    current: Sequence[dict[str, Any]],
    chosen: Sequence[Written],
    device: str,
) -> tuple[list[dict[str, Any]], dict[str, Path]]:
    """Return the records that replace ``current`` with the ``chosen`` messages, and the media
    staged for them (archive path -> staged file), as a ``Change`` takes them."""
    from ghosts_render.curate.selfie_network import list_used_seeds, plan_fresh_seeds
    from ghosts_render.curate.selfies import stage_selfie

    gains = [
        old["id"]
        for old, w in zip(current, chosen, strict=True)
        if w.selfie and not (old.get("selfie") and old["sender"] == w.sender)
    ]
    used = list_used_seeds(archive, {"messages": messages})
    seeds = plan_fresh_seeds(cfg.seed, gains, used)
    replaced = {old["id"] for old in current}
    kept = [m for m in messages if m["id"] not in replaced]
    after: list[dict[str, Any]] = []
    media: dict[str, Path] = {}
    for old, w in zip(current, chosen, strict=True):
        new = {**old, "sender": w.sender, "text": w.text}
        if not w.selfie:
            new.pop("selfie", None)
        elif old["id"] in seeds:
            new["selfie"], staged = stage_selfie(
                archive, cfg, w.sender, seeds[old["id"]], old["id"], device
            )
            media.update(staged)
        if w.sender != old["sender"]:
            new["sound"], staged = stage_sound(archive, cfg, kept, w.sender, old["id"])
            media.update(staged)
        if (new["sender"], new["text"]) != (old["sender"], old["text"]):
            new, staged = stage_voice(archive, cfg, new)
            media.update(staged)
        after.append(Message.from_json(new).to_json())  # the render's key order
    return after, media


def stage_sound(
    archive: Path, cfg: RunConfig, kept: Sequence[Mapping[str, Any]], sender: str, message_id: str
) -> tuple[dict[str, Any], dict[str, Path]]:
    """Return a sound for a message that changed sender, and what must be staged for it.

    One of the sender's sounds the archive already has, chosen by the message id; when the
    sender has none (a role silent until now), the one the sound stage deals it first.
    """
    own = {
        m["sound"]["src"]: m["sound"]
        for m in kept
        if m.get("sender") == sender and isinstance(m.get("sound"), Mapping)
    }
    if own:
        pool = [own[src] for src in sorted(own)]
        index = int(hashlib.sha256(message_id.encode()).hexdigest(), 16) % len(pool)
        return dict(pool[index]), {}
    from ghosts_render.render.sounds.stage import SoundJob, render_sounds

    staging = staging_dir(archive) / message_id
    try:
        result = render_sounds([SoundJob(message_id=message_id, sender=sender)], cfg, staging)
    except (GhostsError, OSError) as e:
        raise CurationError(
            f"cannot render a sound for {sender} ({e}); nothing was changed"
        ) from None
    sound = result.by_message[message_id]
    staged = {} if (archive / sound.src).is_file() else {sound.src: staging / sound.src}
    return sound.to_json(), staged


def read_voices_config(archive: Path) -> RunConfig | None:
    """Return the configuration an archive was rendered with when it was rendered with voices
    (what an edit needs to read its new text aloud); None for a silent or hand-made archive."""
    from ghosts_render.archive.folder import read_manifest
    from ghosts_render.config import read_recorded_config

    if not (archive / "manifest.json").is_file():
        return None
    manifest = read_manifest(archive)
    recorded = manifest.get("config")
    voices = recorded.get("voices") if isinstance(recorded, Mapping) else None
    if not (isinstance(voices, Mapping) and voices.get("enabled") is True):
        return None
    return read_recorded_config(recorded, str(archive / "manifest.json"))


def stage_voice(
    archive: Path, cfg: RunConfig | None, record: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Path]]:
    """Return ``record`` with its voice read anew from its text and sender, and what must be
    staged for it; unchanged when the archive was rendered without voices.

    The clip is seeded by the message id, like the render's, so the same text in the same voice
    gives the same file. Its ``at`` is provisional (after the message's sound and the delay):
    the rebuild re-plans it with the rest of the timeline unless the archive keeps its times.
    """
    from ghosts_render.timeline import plan_speech_pacing, plan_voice_at

    speech = plan_speech_pacing(cfg.voices if cfg is not None else None)
    if cfg is None or speech is None:  # rendered without voices
        return record, {}
    from ghosts_render.render.voices.stage import render_message_voice

    mid, sender = record["id"], record["sender"]
    staging = staging_dir(archive) / f"{mid}-voice"
    try:
        voice, _ = render_message_voice(cfg, staging, mid, sender, record["text"])
    except (GhostsError, OSError) as e:
        raise CurationError(
            f"cannot read {mid} aloud in {sender}'s voice ({e}); nothing was changed"
        ) from None
    new = {k: v for k, v in record.items() if k != "voice"}
    if voice is None:  # nothing left to say (a selfie alone, an emoji)
        return new, {}
    sound = record.get("sound")
    sound_ms = sound.get("duration_ms", 0) if isinstance(sound, Mapping) else 0
    at = plan_voice_at(record["at"], sound_ms or 0, speech)
    new["voice"] = {**voice.to_json(), "at": at}
    staged = {} if (archive / voice.src).is_file() else {voice.src: staging / voice.src}
    return new, staged


def list_stale_voices(
    archive: Path, messages: Sequence[Mapping[str, Any]], manifest: Mapping[str, Any] | None
) -> list[str]:
    """Return the ids of voiced messages whose clip says another text than theirs now (their
    text was changed in conversation.json by hand, not with ``edit``).

    What a clip says is known from the manifest (each rendered clip's ``text_sha256``) and from
    the curation history (each clip a step read aloud); a clip known from neither is trusted.
    """
    from ghosts_render.curate.history import read_records
    from ghosts_render.render.voices.clip import plan_voice_text

    def spoken(text: Any) -> str:
        return hashlib.sha256(plan_voice_text(str(text)).encode("utf-8")).hexdigest()

    said: dict[str, set[str]] = {}
    voices = manifest.get("voices") if isinstance(manifest, Mapping) else None
    clips = voices.get("clips_by_file") if isinstance(voices, Mapping) else None
    for src, figures in (clips if isinstance(clips, Mapping) else {}).items():
        if isinstance(figures, Mapping) and isinstance(figures.get("text_sha256"), str):
            said.setdefault(src, set()).add(figures["text_sha256"])
    try:
        records = read_records(archive)
    except GhostsError:  # a damaged history: what the manifest knows is enough for a warning
        records = []
    for record in records:  # a clip a step read aloud (an undo brings back what was there)
        read_aloud = record.get("media_in", ()) if record.get("action") != "undo" else ()
        for message in record.get("after", ()):
            voice = message.get("voice") if isinstance(message, Mapping) else None
            if isinstance(voice, Mapping) and voice.get("src") in read_aloud:
                said.setdefault(voice["src"], set()).add(spoken(message.get("text", "")))
    stale = []
    for message in messages:
        voice = message.get("voice")
        known = said.get(str(voice.get("src"))) if isinstance(voice, Mapping) else None
        if known and spoken(message.get("text", "")) not in known:
            stale.append(str(message.get("id")))
    return stale
