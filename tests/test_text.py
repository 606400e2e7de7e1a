"""Generating conversations with a tiny GPT-2 trained in the fixture on a role-format corpus."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from tiny_gpt2 import build_gpt2, corpus_lines, train_bpe, write_tokenizer

from ghosts_render.bench.naive_text import generate_naive
from ghosts_render.config import DEFAULT_ROLES, DEMO_TEXT_MODEL, RoleConfig, RunConfig, TextConfig
from ghosts_render.errors import StageError
from ghosts_render.render.text import stage as text_stage
from ghosts_render.render.text.parse import compile_patterns, parse_first_piece
from ghosts_render.render.text.runs import RunProgress, TextProgress, plan_run
from ghosts_render.render.text.stage import (
    RowSampler,
    TextMessage,
    generate_conversation,
    load_text_model,
)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Train and generate on one thread: steady speed on a busy 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _train(folder: Path, steps: int = 100) -> None:
    """Train a 42k-parameter GPT-2 on the corpus until it writes `[role] text` lines (~5 s)."""
    tok = write_tokenizer(train_bpe(), folder)
    data = torch.tensor([i for line in corpus_lines() for i in tok.encode(line)])
    model = build_gpt2(len(tok))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(0)
    for _ in range(steps):
        starts = torch.randint(0, len(data) - 65, (16,), generator=g)
        x = torch.stack([data[int(s) : int(s) + 64] for s in starts])
        loss = model(input_ids=x, labels=x).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.save_pretrained(folder)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("trained")
    _train(folder)
    return load_text_model(folder, None, "cpu")


def _cfg(turns=30, seed=3, roles=DEFAULT_ROLES, **text) -> RunConfig:
    text.setdefault("run_length", 6)
    return RunConfig(turns=turns, seed=seed, roles=roles, text=TextConfig(**text))


def test_conversation_has_exactly_turns_valid_messages_in_run_order(tiny):
    cfg = _cfg(turns=37)
    result = generate_conversation(tiny, cfg)
    msgs = result.messages
    assert len(msgs) == 37
    assert all(isinstance(m, TextMessage) for m in msgs)
    runs = [m.run for m in msgs]
    assert runs == sorted(runs) and runs[0] == 0
    for i, m in enumerate(msgs):
        assert m.new_run == (i == 0 or runs[i - 1] != m.run)
        assert m.sender in cfg.role_names()
        assert "\n" not in m.raw and "[image]" not in m.text and m.text == m.text.strip()
        assert m.selfie == ("[image]" in m.raw)
        assert m.text or m.selfie
        if m.new_run:
            assert m.raw in cfg.text.prompts
    generated = [m for m in msgs if not m.new_run]
    assert len(generated) > 20
    assert len({m.text for m in generated}) > 10
    stats = result.stats
    assert stats.rounds >= 5 and stats.generate_calls == stats.rounds  # batch_size 0: one call
    assert 0 < stats.decode_steps <= stats.rounds * cfg.text.max_new_tokens
    assert stats.new_tokens >= len(generated) * 3  # at least "[", role, "]" per message
    assert stats.seconds > 0


def test_same_seed_same_messages_other_seed_other_messages(tiny):
    a = generate_conversation(tiny, _cfg(turns=20))
    b = generate_conversation(tiny, _cfg(turns=20))
    c = generate_conversation(tiny, _cfg(turns=20, seed=4))
    assert a.messages == b.messages
    assert a.messages != c.messages


def test_batch_size_never_changes_a_message(tiny):
    whole = generate_conversation(tiny, _cfg(turns=24))
    one = generate_conversation(tiny, _cfg(turns=24, batch_size=1))
    three = generate_conversation(tiny, _cfg(turns=24, batch_size=3))
    assert one.messages == whole.messages == three.messages
    assert one.stats.generate_calls > three.stats.generate_calls > whole.stats.generate_calls


def test_a_message_text_does_not_depend_on_its_batch_mates(tiny):
    cfg = _cfg()
    enc = tiny.tokenizer.encode
    target = text_stage.Row(5, 1, 0, 0, enc("[artist] Are you there?\n"))
    mates = [
        text_stage.Row(1, 3, 0, 0, enc("[scientist] The data looks warm today. Warm?\n")),
        text_stage.Row(2, 1, 2, 1, enc("[artist] I\n")),
    ]
    stats = {"generate_calls": 0, "decode_steps": 0, "new_tokens": 0}
    alone = text_stage.generate_rows(tiny, cfg, [target], stats)
    for batch in ([*mates, target], [mates[0], target, mates[1]]):
        assert text_stage.generate_rows(tiny, cfg, batch, stats)[batch.index(target)] == alone[0]
    other_attempt = dataclasses.replace(target, attempt=1)
    assert text_stage.generate_rows(tiny, cfg, [other_attempt], stats) != alone
    rerolled = dataclasses.replace(target, reroll=True)
    assert text_stage.generate_rows(tiny, cfg, [rerolled], stats) != alone


def _saved(states: list[dict]):
    """Return an on_round that keeps each round's progress as a resume file would hold it."""
    return lambda progress: states.append(json.loads(json.dumps(progress.to_json())))


def test_resume_from_a_saved_round_gives_the_same_conversation(tiny):
    cfg = _cfg(turns=30, temperature=1.5, top_k=0, top_p=1.0, max_attempts=8)
    states: list[dict] = []
    whole = generate_conversation(tiny, cfg, on_round=_saved(states))
    assert len(states) == whole.stats.rounds >= 3
    assert [s["stats"]["rounds"] for s in states] == list(range(1, len(states) + 1))

    class Stop(Exception):
        pass

    def stop_after_two(progress):
        if progress.stats["rounds"] == 2:
            _saved(saved)(progress)
            raise Stop

    saved: list[dict] = []
    with pytest.raises(Stop):
        generate_conversation(tiny, cfg, on_round=stop_after_two)
    assert saved[0]["runs"] == states[1]["runs"]
    resumed = generate_conversation(tiny, cfg, state=saved[0])
    assert resumed.messages == whole.messages
    assert resumed.stats.rounds == whole.stats.rounds
    assert resumed.stats.new_tokens == whole.stats.new_tokens
    late = generate_conversation(tiny, cfg, state=states[-2])
    assert late.messages == whole.messages


def test_resume_with_another_seed_is_refused(tiny):
    states: list[dict] = []
    generate_conversation(tiny, _cfg(turns=12), on_round=_saved(states))
    with pytest.raises(StageError, match="--fresh"):
        generate_conversation(tiny, _cfg(turns=12, seed=99), state=states[0])
    with pytest.raises(StageError, match="another version"):
        generate_conversation(tiny, _cfg(turns=12), state={"format": "something else"})
    damaged = {**states[0], "runs": [{"length": 3}]}
    with pytest.raises(StageError, match="damaged.*--fresh"):
        generate_conversation(tiny, _cfg(turns=12), state=damaged)


def test_runs_that_end_early_are_filled_by_later_runs(tiny):
    # Hot sampling makes some rows write no role tag: those runs end and later runs fill in.
    cfg = _cfg(turns=30, temperature=1.5, top_k=0, top_p=1.0, max_attempts=8)
    result = generate_conversation(tiny, cfg)
    assert result.stats.runs_ended_early > 0
    assert len(result.messages) == 30
    counts: dict[int, int] = {}
    for m in result.messages:
        counts[m.run] = counts.get(m.run, 0) + 1
    planned = [plan_run(cfg, r).length for r in range(len(counts))]
    assert sorted(counts) == list(range(len(counts)))
    assert any(counts[r] < planned[r] for r in range(len(counts) - 1))  # ended before its length
    at_full_length = next(k for k in range(1, 99) if sum(planned[:k]) >= 30)
    assert len(counts) > at_full_length  # later runs filled the shortfall


def test_progress_reports_grow_to_turns(tiny):
    seen: list[int] = []
    generate_conversation(tiny, _cfg(turns=18), on_progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == 18 and seen[0] < 18


def test_a_role_the_model_never_writes_stops_after_max_attempts(tiny):
    roles = (RoleConfig(name="poet"), RoleConfig(name="painter"))
    cfg = _cfg(turns=10, roles=roles, prompts=("[poet] hello", "[painter] hello"), max_attempts=3)
    with pytest.raises(StageError) as info:
        generate_conversation(tiny, cfg)
    message = str(info.value)
    assert "no message from a known role (poet, painter) in 3 attempts" in message
    assert "role_format" in message and str(tiny.path) in message


def test_a_tag_format_the_model_never_writes_is_a_clear_error(tiny):
    cfg = _cfg(
        turns=40, role_format="<{role}>", prompts=("<artist> hi", "<scientist> hi"), max_attempts=4
    )
    with pytest.raises(StageError, match=r"wrote no role tag like '<artist>' in 4 runs in a row"):
        generate_conversation(tiny, cfg)


def test_best_of_prefers_a_valid_candidate_that_does_not_repeat_the_run(tiny):
    cfg = _cfg(best_of=3)
    patterns = compile_patterns("[{role}]", "[image]")
    said = [{"raw": "[artist] Are you there?"}, {"raw": "[scientist] I am here."}]
    progress = TextProgress(cfg, [RunProgress(9, said, attempt=2)], {"retries": 0})
    run = progress.runs[0]

    def apply(outputs):
        pieces = [parse_first_piece(t, patterns) for t in outputs]
        text_stage._apply_outputs(tiny, cfg, progress, 0, outputs, pieces)

    apply(["no tag", "[scientist] I am here.", "[artist] Hello."])
    assert run.messages[-1]["raw"] == "[artist] Hello." and run.attempt == 0
    apply(["[foo] x", "[scientist] I am here.", "nothing"])
    assert run.messages[-1]["raw"] == "[scientist] I am here."  # a repeat beats nothing
    apply(["[foo] x", "y"])
    assert run.attempt == 1 and progress.stats["retries"] == 1 and not run.ended_early


def test_best_of_conversations_are_complete_and_deterministic(tiny):
    cfg = _cfg(turns=16, best_of=3)
    a = generate_conversation(tiny, cfg)
    assert a.messages == generate_conversation(tiny, cfg).messages
    assert len(a.messages) == 16
    single = generate_conversation(tiny, _cfg(turns=16))
    assert a.stats.new_tokens > single.stats.new_tokens


def test_prompt_keeps_the_newest_tokens_that_leave_room_to_write(tiny):
    cfg = _cfg(memory=50, max_new_tokens=64)
    long = [{"raw": f"[artist] I made drawing number {i} of the room."} for i in range(40)]
    ids = text_stage.format_prompt_ids(tiny, cfg.text, long)
    assert len(ids) == tiny.n_positions - 64
    tail = tiny.tokenizer.encode(
        "[artist] I made drawing number 39 of the room.\n", add_special_tokens=False
    )
    assert ids[-len(tail) :] == tail
    short = text_stage.format_prompt_ids(tiny, cfg.text, long[:1])
    assert tiny.tokenizer.decode(short) == long[0]["raw"] + "\n"


def test_row_sampler_applies_temperature_top_k_top_p_then_its_own_uniform():
    probs = torch.tensor([[0.05, 0.5, 0.15, 0.3]])
    scores = probs.log()

    def pick(u, **kw):
        text = TextConfig(**{"temperature": 1.0, "top_k": 0, "top_p": 1.0, **kw})
        sampler = RowSampler(torch.tensor([[u]], dtype=torch.float64), 3, text)
        out = sampler(torch.zeros((1, 3), dtype=torch.long), scores.clone())
        assert torch.isinf(out).sum() == 3
        return int(out.argmax())

    # top_p 0.7 keeps tokens 1 and 3 (0.5 + 0.3), renormalised to 0.625 / 0.375
    assert [pick(u, top_p=0.7) for u in (0.0, 0.62, 0.63, 0.999)] == [1, 1, 3, 3]
    # no filtering: cumulative 0.5, 0.8, 0.95, 1.0 in rank order 1, 3, 2, 0
    assert [pick(u) for u in (0.49, 0.51, 0.9, 0.97)] == [1, 3, 2, 0]
    assert {pick(u / 10, top_k=1) for u in range(10)} == {1}
    assert [pick(u, top_k=2) for u in (0.62, 0.63)] == [1, 3]
    # a low temperature sharpens: 0.5 vs 0.3 becomes 0.5**10 vs 0.3**10
    assert pick(0.9, temperature=0.1) == 1


def test_naive_baseline_generates_full_length_samples(tiny):
    stats = generate_naive(tiny, _cfg(), 3)
    assert stats.generate_calls >= 2
    assert stats.new_tokens == 2 * stats.decode_steps
    # no early stop: each call runs to 128 tokens in all, and prompts here are short
    assert stats.decode_steps >= stats.generate_calls * (128 - 40)
    again = generate_naive(tiny, _cfg(), 3)
    assert (again.generate_calls, again.decode_steps) == (stats.generate_calls, stats.decode_steps)


DEMO_WEIGHTS = DEMO_TEXT_MODEL / "model.safetensors"


@pytest.mark.skipif(not DEMO_WEIGHTS.is_file(), reason="the demo text model is not built yet")
def test_the_shipped_demo_model_writes_a_conversation_with_the_defaults():
    demo = load_text_model(DEMO_WEIGHTS.parent, None, "cpu")
    cfg = RunConfig(turns=60, seed=0, roles=DEFAULT_ROLES)
    result = generate_conversation(demo, cfg)
    generated = [m for m in result.messages if not m.new_run]
    assert len(result.messages) == 60 and len(generated) >= 50
    assert {m.sender for m in generated} == {"artist", "scientist"}
    assert any(m.selfie for m in generated)
    assert result.stats.retries + result.stats.runs_ended_early <= 6


def _render(out: Path, *args: str, cwd: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "ghosts_render", "--out", str(out), *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _finish(proc: subprocess.Popen) -> str:
    """Wait for a render; return its stderr."""
    _, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr.decode()
    return stderr.decode()


def test_a_render_stopped_after_its_text_keeps_it_for_other_selfie_and_pacing_settings(tmp_path):
    args = ("--turns", "16", "--seed", "2")  # selfies at messages 1, 10 and 13
    out, work = tmp_path / "out", tmp_path / "out.partial"
    first = _render(out, *args, cwd=tmp_path)
    texts = work / "state" / "text"
    while not (texts.is_dir() and any(p.suffixes == [".json"] for p in texts.iterdir())):
        assert first.poll() is None, "the render finished before its text could be kept"
        time.sleep(0.01)
    first.send_signal(signal.SIGKILL)  # a late failure: after the text stage, before the end
    first.communicate()
    assert not out.exists()
    (tmp_path / "ghosts.toml").write_text(
        "[pacing]\nbase_time = 4.0\n[selfies]\njpeg_quality = 80\n"
    )
    fresh = _render(tmp_path / "fresh", *args, cwd=tmp_path)  # beside the resumed one
    stderr = _finish(_render(out, *args, cwd=tmp_path))
    assert "text: 16 messages from an earlier try" in stderr
    _finish(fresh)
    conversation = (out / "conversation.json").read_bytes()
    assert conversation == (tmp_path / "fresh" / "conversation.json").read_bytes()
