"""Screening with the demo model: a blocklist render holds no match and its manifest counts the
rejections; resume stays exact; `check --blocklist` lists matches. The blocked words are the
ones the demo model wrote in the session's reference render (`demo_render`), so every test here
rejects real candidates (each asserts it did)."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from demo_render import SEED, finish, start_render
from typer.testing import CliRunner

from ghosts_render.blocklist import list_blocked, load_blocklist
from ghosts_render.cli import app
from ghosts_render.config import (
    DEFAULT_PROMPTS,
    DEFAULT_ROLES,
    DEMO_TEXT_MODEL,
    RunConfig,
    TextConfig,
)
from ghosts_render.errors import StageError
from ghosts_render.files import sha256_file
from ghosts_render.render.fingerprint import hash_inputs
from ghosts_render.render.text.runs import TextProgress, hash_text_settings
from ghosts_render.render.text.stage import generate_conversation, load_text_model

TURNS = 20  # the screened render: the reference render's first runs, screened
pytestmark = pytest.mark.skipif(
    not (DEMO_TEXT_MODEL / "model.safetensors").is_file(), reason="the demo model is not built"
)


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


@pytest.fixture(scope="module")
def written(demo_render: Path) -> dict[str, Any]:
    """Words and a phrase the demo model wrote in the reference render's first TURNS messages."""
    messages = json.loads((demo_render / "conversation.json").read_text())["messages"]
    generated = [m["text"] for m in messages[:TURNS] if not m.get("new_run")]
    in_prompts = {w for p in DEFAULT_PROMPTS for w in _words(p)}
    counts = Counter(w for t in generated for w in set(_words(t)) if len(w) >= 5)
    words = [w for w, _ in counts.most_common() if w not in in_prompts][:3]
    pairs = re.findall(r"\b(?=([a-z]{3,}) ([a-z]{3,})\b)", generated[0].lower())
    phrase = next(pair for pair in pairs if not in_prompts >= set(pair))
    assert len(words) == 3
    return {"words": words, "phrase": phrase, "messages": messages}


def _write_blocklist(folder: Path, written: dict[str, Any]) -> Path:
    """A blocklist in every form: a word in capitals, a word, a /regex/, a spaced-out phrase."""
    first, second, third = written["words"]
    path = folder / "blocklist.txt"
    path.write_text(
        "# words the demo model writes\n\n"
        f"{first.upper()}\n{second}\n/\\b{third}\\b/\n"
        f"{written['phrase'][0]}  \t {written['phrase'][1].capitalize()}\n",
        encoding="utf-8",
    )
    return path


def _first_term(text: str, written: dict[str, Any]) -> int | None:
    """Return the index of the first blocklist line (file order) the text shows, or None:
    worked out here from the words, not by the blocklist module."""
    words = set(_words(text))
    for i, word in enumerate(written["words"]):
        if word in words:
            return i
    first, second = written["phrase"]
    return 3 if re.search(rf"\b{first}\s+{second}\b", text, re.IGNORECASE) else None


def _shows(text: str, written: dict[str, Any]) -> bool:
    return _first_term(text, written) is not None


def test_a_blocklist_render_holds_no_match_and_the_manifest_counts_the_rejections(
    written: dict[str, Any], tmp_path: Path
) -> None:
    reference = written["messages"][:TURNS]
    assert any(_shows(m["text"], written) for m in reference if not m.get("new_run"))
    blocklist = _write_blocklist(tmp_path, written)
    config = tmp_path / "ghosts.toml"
    config.write_text('[text]\nblocklist = "blocklist.txt"\n', encoding="utf-8")
    out = tmp_path / "out"
    args = ("--config", str(config), "--turns", str(TURNS), "--seed", str(SEED))
    finish(start_render(out, *args, cwd=tmp_path))

    messages = json.loads((out / "conversation.json").read_text())["messages"]
    assert len(messages) == TURNS
    assert not [m["id"] for m in messages if _shows(m["text"], written)]
    assert list_blocked(messages, load_blocklist(blocklist)) == []
    manifest = json.loads((out / "manifest.json").read_text())
    screening = manifest["screening"]
    assert screening == {
        "blocklist": str(blocklist),
        "rejected": screening["rejected"],
        "sha256": sha256_file(blocklist),
        "terms": 4,
    }
    assert screening["rejected"] > 0
    assert "# words" not in (out / "manifest.json").read_text()  # the terms stay out

    result = CliRunner().invoke(app, ["check", str(out), "--blocklist", str(blocklist)])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{out}: ok\n"


def test_check_lists_every_matching_message_and_exits_1(
    written: dict[str, Any], demo_render: Path, tmp_path: Path
) -> None:
    archive = tmp_path / "copy"
    shutil.copytree(demo_render, archive)
    blocklist = _write_blocklist(tmp_path, written)
    terms = load_blocklist(blocklist).terms
    result = CliRunner().invoke(app, ["check", str(archive), "--blocklist", str(blocklist)])
    assert result.exit_code == 1
    expected = [
        f"{m['id']}\t{m['sender']}\t{terms[i]}"
        for m in written["messages"]
        if (i := _first_term(m["text"], written)) is not None
    ]
    assert result.stdout.splitlines() == expected
    assert len(expected) >= 4 and terms[3] in result.stdout  # the phrase is found too
    assert f"{len(expected)} message(s) of {archive} match the blocklist" in result.stderr
    assert "ok" not in result.stdout


def test_check_without_a_match_says_ok_and_a_broken_check_stays_as_it_is(
    demo_render: Path, tmp_path: Path
) -> None:
    archive = tmp_path / "copy"
    shutil.copytree(demo_render, archive)
    clean = tmp_path / "clean.txt"
    clean.write_text("zebra\n/qu{5}x/\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["check", str(archive), "--blocklist", str(clean)])
    assert (result.exit_code, result.stdout) == (0, f"{archive}: ok\n")
    broken = tmp_path / "broken.txt"
    broken.write_text("zebra\n/(foo/\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["check", str(archive), "--blocklist", str(broken)])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"ghosts-render: error: {broken} line 2: /(foo/ is not a valid regular expression "
        "(missing ), unterminated subpattern at position 0): fix it or write the word without "
        "slashes"
    )
    (archive / "index.html").unlink()
    result = CliRunner().invoke(app, ["check", str(archive), "--blocklist", str(clean)])
    assert result.exit_code == 1 and "index.html is missing" in result.stderr


@pytest.fixture(scope="module")
def demo_model():
    return load_text_model(DEMO_TEXT_MODEL, None, "cpu")


def _cfg(blocklist: Path, **text: Any) -> RunConfig:
    return RunConfig(
        turns=12, seed=SEED, roles=DEFAULT_ROLES, text=TextConfig(blocklist=str(blocklist), **text)
    )


def test_resume_with_a_blocklist_gives_the_same_messages_and_count(
    written: dict[str, Any], demo_model: Any, tmp_path: Path
) -> None:
    cfg = _cfg(_write_blocklist(tmp_path, written))
    states: list[dict] = []
    whole = generate_conversation(
        demo_model, cfg, on_round=lambda p: states.append(json.loads(json.dumps(p.to_json())))
    )
    assert whole.stats.blocked > 0 and whole.stats.retries >= 1
    assert not [m for m in whole.messages if not m.new_run and _shows(m.text, written)]
    middle = next(s for s in states if 0 < s["stats"]["blocked"] < whole.stats.blocked)
    resumed = generate_conversation(demo_model, cfg, state=middle)
    assert resumed.messages == whole.messages
    assert resumed.stats.blocked == whole.stats.blocked


def test_another_blocklist_content_is_other_text_and_another_render(
    written: dict[str, Any], demo_model: Any, tmp_path: Path
) -> None:
    path = _write_blocklist(tmp_path, written)
    cfg = _cfg(path)
    state = TextProgress.start(cfg).to_json()
    settings, inputs = hash_text_settings(cfg), hash_inputs(cfg)
    assert settings != hash_text_settings(dataclasses.replace(cfg, text=TextConfig()))
    path.write_text(path.read_text() + "zebra\n", encoding="utf-8")  # same path, new content
    assert hash_text_settings(cfg) != settings
    assert hash_inputs(cfg) != inputs
    with pytest.raises(StageError, match="other \\[text\\] settings"):
        generate_conversation(demo_model, cfg, state=state)


def test_a_blocklist_that_rejects_every_attempt_says_so(demo_model: Any, tmp_path: Path) -> None:
    path = tmp_path / "everything.txt"
    path.write_text("/\\w/\n", encoding="utf-8")
    with pytest.raises(StageError) as e:
        generate_conversation(demo_model, _cfg(path, max_attempts=3))
    message = str(e.value)
    assert "wrote no message that passes the blocklist in 3 attempts" in message
    assert f"the blocklist {path} rejected 3 of them, the last for the term '/\\\\w/'" in message
    assert "shorten the blocklist, or raise text.max_attempts" in message
