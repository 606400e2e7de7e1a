"""The bundled demo text model and its corpus: shape, and sampled lines in the original's format."""

from __future__ import annotations

import importlib.util
import math
import re
from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer, GPT2LMHeadModel, LogitsProcessor, LogitsProcessorList

from ghosts_render.config import DEFAULT_PROMPTS, DEFAULT_ROLES, DEMO_TEXT_MODEL, RunConfig
from ghosts_render.render.text.stage import generate_conversation, load_text_model

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "data" / "demo-corpus"
ROLES = ("artist", "scientist")
# the original's regexes for role_format "[{role}]", image tag "[image]": split before every tag
# but [image], keep pieces that hold a tag, the tag names the sender
SPLIT = re.compile(r"(?=\[\w+\])(?!\[image\])")
ROLE = re.compile(r"(?!\[image\])\[\w+\]")
SENDER = re.compile(r"(?!\[image\])\[(?P<sender>\w+)\]")


def parse_first_message(generated: str) -> tuple[str, str] | None:
    """Return (sender, text) of the first tagged piece if the original would accept it."""
    pieces = [p.strip(" ") for p in SPLIT.split(generated) if ROLE.search(p)]
    if not pieces:
        return None
    match = SENDER.search(pieces[0])
    assert match is not None
    sender, text = match.group("sender").lower(), ROLE.sub("", pieces[0]).strip()
    return (sender, text) if sender in ROLES and text else None


def corpus_lines(name: str) -> list[str]:
    return (CORPUS / name).read_text(encoding="utf-8").splitlines()


# --- corpus ---------------------------------------------------------------------------------


def test_corpus_is_big_enough_and_has_exactly_two_roles() -> None:
    assert (CORPUS / "train.txt").stat().st_size >= 50_000
    for name in ("train.txt", "val.txt"):
        lines = corpus_lines(name)
        bad = [line for line in lines if not re.fullmatch(r"\[(artist|scientist)\] \S.*", line)]
        assert bad == [], f"{name}: lines not in `[role] text` form: {bad[:3]}"
        senders = {SENDER.match(line).group("sender") for line in lines}  # type: ignore[union-attr]
        assert senders == set(ROLES)


def test_corpus_image_tag_share_and_placement() -> None:
    lines = corpus_lines("train.txt")
    tagged = [line for line in lines if "[image]" in line]
    assert 0.05 <= len(tagged) / len(lines) <= 0.15
    assert all(re.fullmatch(r"\[\w+\] \[image\]( \S.*)?", line) for line in tagged)
    assert any(line.endswith("] [image]") for line in tagged)  # a selfie on its own
    assert any(not line.endswith("] [image]") for line in tagged)  # a selfie with a caption


def test_corpus_holds_the_default_prompts_and_same_speaker_turns() -> None:
    lines = corpus_lines("train.txt")
    assert set(DEFAULT_PROMPTS) <= set(lines)
    senders = [SENDER.match(line).group("sender") for line in lines]  # type: ignore[union-attr]
    repeats = sum(a == b for a, b in zip(senders, senders[1:], strict=False)) / len(lines)
    assert 0.1 <= repeats <= 0.3


def test_committed_corpus_is_what_the_seeded_script_writes() -> None:
    spec = importlib.util.spec_from_file_location(
        "write_demo_corpus", ROOT / "scripts" / "write_demo_corpus.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    train = (CORPUS / "train.txt").read_text(encoding="utf-8")
    assert module.generate_corpus(120_000, 0) == train
    assert module.generate_corpus(120_000, 1) != train


# --- shipped model --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo() -> tuple[GPT2LMHeadModel, object]:
    tok = AutoTokenizer.from_pretrained(DEMO_TEXT_MODEL, local_files_only=True, padding_side="left")
    model = GPT2LMHeadModel.from_pretrained(DEMO_TEXT_MODEL, local_files_only=True)
    return model.eval(), tok


def test_demo_folder_is_a_small_transformers_gpt2(demo) -> None:
    model, tok = demo
    names = {p.name for p in DEMO_TEXT_MODEL.iterdir()}
    assert {"config.json", "model.safetensors", "generation_config.json", "tokenizer.json"} <= names
    assert sum(p.stat().st_size for p in DEMO_TEXT_MODEL.iterdir()) < 8_000_000
    assert 0.5e6 < sum(p.numel() for p in model.parameters()) < 2e6
    assert model.config.n_positions == 256 and model.config.vocab_size == len(tok)
    assert tok.eos_token == "<|endoftext|>" and model.config.eos_token_id == tok.eos_token_id
    line = "[scientist] [image] The gallery is a server with windows.\n"
    assert tok.decode(tok(line)["input_ids"]) == line


class RowSampler(LogitsProcessor):
    """Temperature -> top-k -> top-p sampling from one seeded generator per row."""

    def __init__(self, seeds: list[int], temperature: float, top_k: int, top_p: float) -> None:
        self.gens = [torch.Generator().manual_seed(s) for s in seeds]
        self.temperature, self.top_k, self.top_p = temperature, top_k, top_p

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        top, idx = torch.topk(scores / self.temperature, self.top_k, dim=-1)
        probs = top.softmax(-1)
        probs = probs.masked_fill(probs.cumsum(-1) - probs >= self.top_p, 0.0)
        out = torch.full_like(scores, -math.inf)
        for row, gen in enumerate(self.gens):
            out[row, idx[row, torch.multinomial(probs[row], 1, generator=gen)]] = 0.0
        return out


def test_demo_model_writes_valid_role_lines(demo) -> None:
    model, tok = demo
    newline_ids = [i for t, i in tok.get_vocab().items() if "Ċ" in t]  # byte-level "\n"
    rows = 6  # samples per default prompt; all prompts go in one left-padded batch
    prompts = [prompt + "\n" for prompt in DEFAULT_PROMPTS for _ in range(rows)]
    enc = tok(prompts, return_tensors="pt", padding=True)
    sampler = RowSampler(list(range(len(prompts))), 1.3, 6, 0.7)
    with torch.no_grad():
        out = model.generate(
            **enc,
            do_sample=False,
            logits_processor=LogitsProcessorList([sampler]),
            max_new_tokens=64,
            eos_token_id=newline_ids + [tok.eos_token_id],
            pad_token_id=tok.eos_token_id,
        )
    new = out[:, enc["input_ids"].shape[1] :]
    generated = tok.batch_decode(new, skip_special_tokens=True)
    parsed = [parse_first_message(g) if g.endswith("\n") else None for g in generated]
    valid = [m for m in parsed if m is not None]
    invalid = [g for g, m in zip(generated, parsed, strict=True) if m is None]
    assert len(valid) >= 0.95 * len(generated), invalid
    assert {sender for sender, _ in valid} == set(ROLES)
    assert any("[image]" in text for _, text in valid)
    assert len(set(generated)) > len(generated) // 2  # seeded rows differ from each other


def test_demo_conversation_plans_about_one_selfie_in_ten() -> None:
    # What a render plans: the real text stage with the default sampling (T 1.3, top-k 6,
    # top-p 0.7), which makes the corpus's selfie tag about twice as common (README).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = load_text_model(DEMO_TEXT_MODEL, None, "cpu")
        result = generate_conversation(model, RunConfig(turns=200, seed=5, roles=DEFAULT_ROLES))
    finally:
        torch.set_num_threads(threads)
    messages = result.messages
    assert len(messages) == 200
    assert {m.sender for m in messages if not m.new_run} == set(ROLES)
    selfies = sum(m.selfie for m in messages) / len(messages)
    assert 0.05 <= selfies <= 0.18, f"{selfies:.1%} of messages carry a selfie"
