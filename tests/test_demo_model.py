"""The bundled demo text model and its corpus: shape, and sampled lines in the original's format."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoTokenizer, GPT2LMHeadModel, LogitsProcessorList

from ghosts_render.config import (
    DEFAULT_PROMPTS,
    DEFAULT_ROLES,
    DEMO_TEXT_MODEL,
    RunConfig,
    TextConfig,
)
from ghosts_render.render.text.runs import draw_uniforms
from ghosts_render.render.text.stage import (
    RowSampler,
    TextModel,
    generate_conversation,
    load_text_model,
)

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


@pytest.fixture(scope="module")
def text_model() -> TextModel:
    return load_text_model(DEMO_TEXT_MODEL, None, "cpu")


def sample_rows(model: TextModel, prompts: list[str], text: TextConfig) -> list[str]:
    """Return one continuation per prompt, sampled the way a render samples its rows.

    One left-padded batch, the render's own RowSampler with each row drawing from its own seeded
    stream, stopping at the first token that holds a line break (or end-of-text).
    """
    encoded = [model.tokenizer.encode(p, add_special_tokens=False) for p in prompts]
    width = max(len(e) for e in encoded)
    ids = torch.full((len(encoded), width), model.pad_id, dtype=torch.long)
    mask = torch.zeros((len(encoded), width), dtype=torch.long)
    for row, e in enumerate(encoded):
        ids[row, width - len(e) :] = torch.tensor(e, dtype=torch.long)
        mask[row, width - len(e) :] = 1
    streams = [draw_uniforms(0, row, 0, 0, 0, text.max_new_tokens) for row in range(len(encoded))]
    sampler = RowSampler(torch.from_numpy(np.stack(streams)), width, text)
    with torch.inference_mode():
        out = model.model.generate(
            input_ids=ids,
            attention_mask=mask,
            logits_processor=LogitsProcessorList([sampler]),
            do_sample=False,
            num_beams=1,
            max_new_tokens=text.max_new_tokens,
            eos_token_id=model.stop_ids,
            pad_token_id=model.pad_id,
        )
    stops = set(model.stop_ids)
    rows = []
    for new in out[:, width:].tolist():
        end = next((i + 1 for i, t in enumerate(new) if t in stops), len(new))
        rows.append(model.tokenizer.decode(new[:end], skip_special_tokens=True))
    return rows


def test_demo_model_writes_valid_role_lines(text_model: TextModel) -> None:
    # Six rows per default prompt with the default sampling (T 1.3, top-k 6, top-p 0.7).
    text = TextConfig()
    generated = sample_rows(text_model, [p + "\n" for p in DEFAULT_PROMPTS for _ in range(6)], text)
    # a message ends at its line break; a row that hit the token cap or end-of-text wrote none
    parsed = [parse_first_message(g.split("\n", 1)[0]) if "\n" in g else None for g in generated]
    valid = [m for m in parsed if m is not None]
    invalid = [g for g, m in zip(generated, parsed, strict=True) if m is None]
    assert len(valid) >= 0.95 * len(generated), invalid
    assert {sender for sender, _ in valid} == set(ROLES)
    assert any("[image]" in text for _, text in valid)
    assert len(set(generated)) > len(generated) // 2  # seeded rows differ from each other


def test_demo_conversation_plans_about_one_selfie_in_ten(text_model: TextModel) -> None:
    # What a render plans: the real text stage with the default sampling (T 1.3, top-k 6,
    # top-p 0.7), which makes the corpus's selfie tag about twice as common (README).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cfg = RunConfig(turns=200, seed=5, roles=DEFAULT_ROLES)
        result = generate_conversation(text_model, cfg)
    finally:
        torch.set_num_threads(threads)
    messages = result.messages
    assert len(messages) == 200
    assert {m.sender for m in messages if not m.new_run} == set(ROLES)
    selfies = sum(m.selfie for m in messages) / len(messages)
    assert 0.05 <= selfies <= 0.18, f"{selfies:.1%} of messages carry a selfie"
