"""Tiny real GPT-2s for the text tests: a byte-level BPE and a 2-layer model on a role corpus."""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import ByteLevelBPETokenizer
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

CORPUS = Path(__file__).parent / "data" / "text" / "corpus.txt"
EOT = "<|endoftext|>"


def corpus_lines() -> list[str]:
    """Return the test corpus's lines, newlines kept."""
    return CORPUS.read_text(encoding="utf-8").splitlines(keepends=True)


def train_bpe() -> ByteLevelBPETokenizer:
    """Train a ~400-token byte-level BPE on the corpus (milliseconds)."""
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        corpus_lines(), vocab_size=400, min_frequency=2, special_tokens=[EOT], show_progress=False
    )
    return bpe


def write_tokenizer(bpe: ByteLevelBPETokenizer, folder: Path) -> PreTrainedTokenizerFast:
    """Save the BPE as tokenizer.json + tokenizer_config.json in ``folder``; return it wrapped."""
    bpe.save(str(folder / "tokenizer.json"))
    tok = PreTrainedTokenizerFast(
        tokenizer_file=str(folder / "tokenizer.json"),
        eos_token=EOT,
        bos_token=EOT,
        unk_token=EOT,
        pad_token=EOT,
    )
    tok.save_pretrained(folder)
    return tok


def build_gpt2(vocab_size: int) -> GPT2LMHeadModel:
    """Return a seeded 2-layer, 32-wide GPT-2 with 128 positions."""
    torch.manual_seed(0)
    config = GPT2Config(
        n_layer=2,
        n_head=2,
        n_embd=32,
        n_positions=128,
        vocab_size=vocab_size,
        bos_token_id=0,
        eos_token_id=0,
    )
    return GPT2LMHeadModel(config)
