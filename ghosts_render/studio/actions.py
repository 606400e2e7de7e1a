"""What the studio's endpoints do: read the archive's state, and call the curation functions.

Each action takes the request's JSON object, checks its fields, calls the one function the
command-line verb calls, and returns what the page shows next (a change returns the whole new
state, so the page never guesses what a step did to the archive).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ghosts_render.archive.folder import read_conversation
from ghosts_render.errors import GhostsError

if TYPE_CHECKING:
    from ghosts_render.studio.app import Studio


class StudioRequestError(GhostsError):
    """A request the studio's page never sends: a missing or mistyped field."""


def read_state(studio: Studio) -> dict[str, Any]:
    """The page's whole view of the archive: roles, every message (flagged), and the history."""
    from ghosts_render.curate.history import read_history

    conversation = read_conversation(studio.archive)
    messages = conversation["messages"]
    flags = studio.flag(messages) if studio.flag else {}
    roles = conversation.get("roles", {})
    return {
        "title": conversation.get("title", ""),
        "archive": str(studio.archive),
        "blocklist": studio.blocklist_name,
        "roles": {
            name: {"label": role.get("label", name), "color": role.get("color", "")}
            for name, role in roles.items()
        },
        "messages": [format_message(m, flags.get(m["id"], [])) for m in messages],
        "history": [format_step(step) for step in reversed(read_history(studio.archive))],
    }


def format_message(message: dict[str, Any], flags: list[str]) -> dict[str, Any]:
    """One message as the page lists it (the selfie as its archive-relative JPEG path)."""
    selfie = message.get("selfie")
    return {
        "id": message["id"],
        "sender": message["sender"],
        "run": message.get("run", 0),
        "at": message["at"],
        "text": message["text"],
        "selfie": selfie["src"] if isinstance(selfie, dict) else None,
        "flags": flags,
    }


def format_step(step: Any) -> dict[str, Any]:
    """One history step as the page lists it."""
    return {
        "n": step.n,
        "time": step.time,
        "action": step.action,
        "ids": list(step.ids),
        "note": step.note,
        "undone": step.undone,
    }


def _object(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise StudioRequestError("the studio takes a JSON object")
    return data


def _get(data: Any, name: str, kind: type, default: Any = None) -> Any:
    value = _object(data).get(name, default)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise StudioRequestError(f"{name!r} must be a {kind.__name__}")
    return value


def _changed(studio: Studio, step: Any) -> dict[str, Any]:
    return {"step": None if step is None else format_step(step), "state": read_state(studio)}


def edit(studio: Studio, data: Any) -> dict[str, Any]:
    """Replace a message's text (``ghosts-render edit``)."""
    from ghosts_render.curate.edit import edit_message

    step = edit_message(studio.archive, _get(data, "id", str), _get(data, "text", str))
    return _changed(studio, step)


def delete(studio: Studio, data: Any) -> dict[str, Any]:
    """Delete a message (``ghosts-render delete``)."""
    from ghosts_render.curate.edit import delete_message

    return _changed(studio, delete_message(studio.archive, _get(data, "id", str)))


def undo(studio: Studio, data: Any) -> dict[str, Any]:
    """Undo the latest step not undone (``ghosts-render undo``); step None when there is none."""
    from ghosts_render.curate.history import undo_step

    _object(data)
    return _changed(studio, undo_step(studio.archive))


def format_candidates(candidates: Any) -> dict[str, Any]:
    """A text candidate set as the page shows it: numbered, each a list of messages."""
    return {
        "id": candidates.message_id,
        "run": candidates.run,
        "candidates": [
            [
                {"id": message_id, "sender": w.sender, "text": w.text, "selfie": w.selfie}
                for message_id, w in zip(candidates.ids, messages, strict=True)
            ]
            for messages in candidates.candidates
        ],
    }


def reroll(studio: Studio, data: Any) -> dict[str, Any]:
    """Generate text candidates (``ghosts-render reroll ID --candidates N [--run]``)."""
    from ghosts_render.curate.reroll import generate_candidates

    made = generate_candidates(
        studio.archive,
        _get(data, "id", str),
        _get(data, "n", int, 4),
        run=_get(data, "run", bool, False),
        device=studio.device,
    )
    return format_candidates(made)


def read_text_candidates(studio: Studio, message_id: str) -> dict[str, Any] | None:
    """The candidates kept for a message, None when there are none."""
    from ghosts_render.curate.reroll import read_candidates

    try:
        return format_candidates(read_candidates(studio.archive, message_id))
    except GhostsError:
        return None


def pick(studio: Studio, data: Any) -> dict[str, Any]:
    """Put text candidate K in place (``ghosts-render reroll ID --pick K``)."""
    from ghosts_render.curate.reroll import pick_candidate

    step = pick_candidate(
        studio.archive, _get(data, "id", str), _get(data, "k", int), device=studio.device
    )
    return _changed(studio, step)


def format_selfies(message_id: str, selfies: Any) -> dict[str, Any]:
    """Selfie candidates as the page shows them: numbered seeds, each image at its own URL."""
    return {
        "id": message_id,
        "candidates": [
            {"k": k, "seed": seed, "src": f"api/selfies/{message_id}/{k}"}
            for k, seed in enumerate(selfies.seeds, start=1)
        ],
    }


def generate_selfies(studio: Studio, data: Any) -> dict[str, Any]:
    """Render selfie candidates (``ghosts-render reroll ID --selfie --candidates N``)."""
    from ghosts_render.curate.selfies import generate_selfie_candidates

    message_id = _get(data, "id", str)
    made = generate_selfie_candidates(
        studio.archive, message_id, _get(data, "n", int, 9), device=studio.device
    )
    return format_selfies(message_id, made)


def read_selfie_candidates(studio: Studio, message_id: str) -> dict[str, Any] | None:
    """The selfie candidates kept for a message, None when there are none."""
    from ghosts_render.curate.selfies import read_selfie_candidates as read

    try:
        return format_selfies(message_id, read(studio.archive, message_id))
    except GhostsError:
        return None


def find_selfie_candidate_image(studio: Studio, message_id: str, k: int) -> Path | None:
    """The image file of selfie candidate K of a message, None when there is none."""
    from ghosts_render.curate.selfies import read_selfie_candidates as read

    try:
        made = read(studio.archive, message_id)
    except GhostsError:
        return None
    images = list(made.images)
    return images[k - 1] if 1 <= k <= len(images) and images[k - 1].is_file() else None


def pick_selfie(studio: Studio, data: Any) -> dict[str, Any]:
    """Install selfie candidate K (``ghosts-render reroll ID --selfie --pick K``)."""
    from ghosts_render.curate.selfies import pick_selfie as pick_one

    step = pick_one(studio.archive, _get(data, "id", str), _get(data, "k", int))
    return _changed(studio, step)


ACTIONS: dict[str, Callable[[Studio, Any], dict[str, Any]]] = {
    "edit": edit,
    "delete": delete,
    "undo": undo,
    "reroll": reroll,
    "pick": pick,
    "selfies": generate_selfies,
    "selfie-pick": pick_selfie,
}
