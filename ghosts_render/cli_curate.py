"""The curation verbs: ``edit``, ``delete``, ``undo``, ``history``, ``reroll``, ``studio``.

cli.py imports this module at its bottom, which registers the commands on its ``app``. Each verb
is one recorded step made through ``curate.history.apply_change``: the archive stays a valid,
uploadable folder, and the history lives beside it in ``ARCHIVE.curation/``, never inside it.
``studio`` serves a page that makes the same steps through the same functions. docs/curating.md.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ghosts_render.cli import app
from ghosts_render.errors import CurationError

if TYPE_CHECKING:
    from ghosts_render.curate.history import Step

ArchiveArg = Annotated[Path, typer.Argument(help="An archive folder (holds conversation.json).")]
DEFAULT_SELFIE_CANDIDATES = 9  # a contact sheet of 3 by 3
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
    """Replace one message's text; its selfie and sound stay, its voice (in an archive with
    voices) reads the new text, the player is rebuilt, and the step is recorded in
    ARCHIVE.curation/ (`ghosts-render undo` reverts it)."""
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


@app.command()
def reroll(
    archive: ArchiveArg,
    message_id: MessageArg,
    candidates: Annotated[
        int | None,
        typer.Option(
            help="How many candidates to make: 1 to 64 (default 4 texts; 9 selfies with --selfie)."
        ),
    ] = None,
    pick: Annotated[
        int | None,
        typer.Option(
            metavar="K",
            help="Put candidate K (numbered as printed) in place of the message, as one step "
            "that `ghosts-render undo` takes back.",
        ),
    ] = None,
    run: Annotated[
        bool,
        typer.Option(
            "--run",
            help="Re-roll from the message to the end of its run: each candidate is the whole "
            "rest of the run (same ids).",
        ),
    ] = False,
    selfie: Annotated[
        bool,
        typer.Option(
            "--selfie",
            help="Re-pick the message's selfie instead of its text: candidate seeds of the "
            "role's network as one contact sheet (its path is printed).",
        ),
    ] = False,
    model: Annotated[
        Path | None,
        typer.Option(
            help="Write the text with this model folder instead of the archive's own, on "
            "purpose (a pick must name the same one)."
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON for scripts instead of numbered lines.")
    ] = False,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
) -> None:
    """Re-roll a message: make candidates from the archive's own models, then --pick one.

    Candidates are kept beside the archive (ARCHIVE.curation/candidates/); the same command
    gives the same candidates. A pick changes that message (with --run, the rest of its run) and
    nothing else, then rebuilds timing, player and manifest.
    """
    if selfie:
        _reroll_selfie(archive, message_id, candidates, pick, run, model, as_json, device)
        return
    from ghosts_render.curate import reroll as text

    if pick is not None:
        if candidates is not None:
            raise CurationError(
                "--candidates makes new candidates and --pick installs one made earlier: "
                "give one of them"
            )
        step = text.pick_candidate(
            archive, message_id, pick, model=model, run=run or None, device=device
        )
        _echo_step(step, as_json)
        return
    found = text.generate_candidates(
        archive,
        message_id,
        text.DEFAULT_CANDIDATES if candidates is None else candidates,
        run=run,
        model=model,
        device=device,
    )
    if as_json:
        typer.echo(json.dumps(found.to_json(), ensure_ascii=False, indent=2))
        return
    for line in text.format_candidate_lines(found):
        typer.echo(line)


def _reroll_selfie(
    archive: Path,
    message_id: str,
    candidates: int | None,
    pick: int | None,
    run: bool,
    model: Path | None,
    as_json: bool,
    device: str,
) -> None:
    """``reroll --selfie``: a contact sheet of selfie candidates, or the pick of one."""
    from ghosts_render.curate import selfies

    if run or model is not None:
        raise CurationError(
            f"--selfie re-picks one message's selfie: it takes no {'--run' if run else '--model'}"
        )
    if pick is not None:
        if candidates is not None:
            raise CurationError(
                "--candidates makes new candidates and --pick installs one made earlier: "
                "give one of them"
            )
        _echo_step(selfies.pick_selfie(archive, message_id, pick), as_json)
        return
    n = DEFAULT_SELFIE_CANDIDATES if candidates is None else candidates
    found = selfies.generate_selfie_candidates(archive, message_id, n, device=device)
    if as_json:
        typer.echo(json.dumps({"sheet": str(found.sheet), "seeds": list(found.seeds)}))
        return
    typer.echo(str(found.sheet))


def _echo_step(step: Step, as_json: bool) -> None:
    typer.echo(json.dumps(asdict(step)) if as_json else format_step(step))


@app.command()
def studio(
    archive: ArchiveArg,
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0 = any free port).")] = 8001,
    blocklist: Annotated[
        Path | None,
        typer.Option(
            help="Mark the messages this blocklist matches (default: the render's "
            "[text] blocklist, if it had one)."
        ),
    ] = None,
    device: Annotated[
        str, typer.Option(help="Where re-rolls run: auto, cpu, cuda or cuda:N.")
    ] = "auto",
) -> None:
    """Serve a curation page for an archive on 127.0.0.1 and print its URL (Ctrl-C stops)."""
    from ghosts_render.studio.serve import serve_studio

    serve_studio(archive, port, typer.echo, blocklist=blocklist, device=device)
