"""The curation verbs: ``edit``, ``delete``, ``undo``, ``history`` (docs/curating.md).

cli.py imports this module at its bottom, which registers the commands on its ``app``. Each verb
is one recorded step made through ``curate.history.apply_change``: the archive stays a valid,
uploadable folder, and the history lives beside it in ``ARCHIVE.curation/``, never inside it.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ghosts_render.cli import app

if TYPE_CHECKING:
    from ghosts_render.curate.history import Step

ArchiveArg = Annotated[Path, typer.Argument(help="An archive folder (holds conversation.json).")]
MessageArg = Annotated[
    str, typer.Argument(help="A message id such as m00012 (the transcript links end in #ID).")
]


def format_step(step: Step) -> str:
    """One line per step: number, time, action, ids, note, and whether it was undone."""
    ids = ",".join(step.ids) or "-"
    fields = [str(step.n), step.time, step.action, ids, step.note or "-"]
    return "  ".join(fields) + ("  (undone)" if step.undone else "")


@app.command()
def edit(
    archive: ArchiveArg,
    message_id: MessageArg,
    text: Annotated[str, typer.Argument(help="The new text, on one line (quote it).")],
) -> None:
    """Replace one message's text; its selfie and sound stay, the player is rebuilt, and the
    step is recorded in ARCHIVE.curation/ (`ghosts-render undo` reverts it)."""
    from ghosts_render.curate.edit import edit_message

    typer.echo(format_step(edit_message(archive, message_id, text)))


@app.command()
def delete(archive: ArchiveArg, message_id: MessageArg) -> None:
    """Remove one message; its media move to ARCHIVE.curation/removed/ (never deleted), the
    player is rebuilt, and `ghosts-render undo` brings it all back."""
    from ghosts_render.curate.edit import delete_message

    typer.echo(format_step(delete_message(archive, message_id)))


@app.command()
def undo(archive: ArchiveArg) -> None:
    """Undo the latest curation step not undone yet (run it again to go further back): media
    come back from ARCHIVE.curation/removed/, and the undo is itself recorded in the history."""
    from ghosts_render.curate.history import undo_step

    step = undo_step(archive)
    typer.echo(format_step(step) if step else f"{archive}: nothing to undo")


@app.command()
def history(
    archive: ArchiveArg,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per step, for scripts.")
    ] = False,
) -> None:
    """List the curation steps of an archive, oldest first: number, time (UTC), action, message
    ids, note, and "(undone)" for a step an undo reverted. The full record (texts before and
    after) is in ARCHIVE.curation/history.jsonl, which is never published."""
    from ghosts_render.curate.history import read_history, recover_interrupted

    recover_interrupted(archive)
    for step in read_history(archive):
        typer.echo(json.dumps(asdict(step)) if as_json else format_step(step))
