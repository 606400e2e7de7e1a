"""The studio page in real Chromium, against the real `ghosts-render studio` on a demo render copy.

Search and filters narrow the transcript; edit, delete, re-roll and pick, and undo change the
archive's files as the command-line verbs would (the archive checks after each); then the player,
served by the studio from the archive folder, plays the curated piece.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from studio_process import copy_render, running_studio

from ghosts_render.archive.check import check_archive


@pytest.fixture
def show(demo_render: Path, tmp_path: Path) -> Path:
    """A copy of the demo render (with its curation folder) to curate."""
    return copy_render(demo_render, tmp_path / "show")


@pytest.fixture
def page(new_context: Any) -> Any:
    """A desktop-sized page: the studio is a working page for the artist's own screen."""
    return new_context(viewport={"width": 1280, "height": 900}, timezone_id="UTC").new_page()


def _messages(archive: Path) -> list[dict[str, Any]]:
    return json.loads((archive / "conversation.json").read_text(encoding="utf-8"))["messages"]


def _open(page: Any, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("html[data-ready]", state="attached")


def _shown(page: Any) -> list[str]:
    return page.eval_on_selector_all("#list .msg", "rows => rows.map(r => r.dataset.id)")


def _settle(page: Any) -> None:
    """Wait until the page is no longer busy with a request."""
    page.wait_for_selector("body[aria-busy=false]", state="attached")


def _row(page: Any, message_id: str) -> Any:
    return page.locator(f'.msg[data-id="{message_id}"]')


def test_search_and_filters_narrow_the_transcript(page, show, harness):
    messages = _messages(show)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    with running_studio(show) as url:
        _open(page, url)
        assert _shown(page) == [m["id"] for m in messages]
        row = _row(page, messages[3]["id"])
        assert row.locator(".text").inner_text() == messages[3]["text"]
        assert row.locator(".sender").inner_text() == messages[3]["sender"]
        assert (
            row.locator("a.play").get_attribute("href") == f"archive/index.html#{messages[3]['id']}"
        )

        word = "painting"
        page.fill("#q", word.upper())
        expect = [m["id"] for m in messages if word in m["text"].lower()]
        assert 0 < len(expect) < len(messages)
        page.wait_for_function(
            "n => document.querySelectorAll('#list .msg').length === n", arg=len(expect)
        )
        assert _shown(page) == expect
        page.fill("#q", "")

        page.select_option("#f-sender", "scientist")
        assert _shown(page) == [m["id"] for m in messages if m["sender"] == "scientist"]
        page.select_option("#f-run", "1")
        both = [m["id"] for m in messages if m["sender"] == "scientist" and m["run"] == 1]
        assert both and _shown(page) == both
        page.select_option("#f-sender", "")
        page.select_option("#f-run", "")
        page.check("#f-selfie")
        with_selfie = [m for m in messages if m.get("selfie")]
        assert with_selfie and _shown(page) == [m["id"] for m in with_selfie]
        thumb = _row(page, with_selfie[0]["id"]).locator("img.thumb")
        assert thumb.get_attribute("src") == "archive/" + with_selfie[0]["selfie"]["src"]
        thumb.scroll_into_view_if_needed()
        page.wait_for_function(
            "img => img.complete && img.naturalWidth > 0", arg=thumb.element_handle()
        )
        # A search runs 120 ms after its last keystroke; a filter applied before then draws the
        # list with the search box as it is, so the waiting search must not redraw it again
        # later, replacing the rows under the visitor's pointer.
        page.evaluate(
            """() => {
              const q = document.getElementById('q'), f = document.getElementById('f-selfie');
              q.value = 'a'; q.dispatchEvent(new Event('input'));
              f.checked = false; f.dispatchEvent(new Event('change'));
            }"""
        )
        drawn = page.locator("#list .msg").first.element_handle()
        page.wait_for_timeout(400)  # well past the search's 120 ms
        assert drawn.evaluate("row => row.isConnected")
        page.get_by_role("button", name="History").click()
        assert harness.axe_violations(page) == []
    assert not errors


def test_edit_delete_reroll_pick_undo_then_the_player_plays_it(page, show):
    messages = _messages(show)
    edited, deleted, rerolled = messages[6], messages[5], messages[9]
    new_text = "The studio changed this line by hand."
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    with running_studio(show) as url:
        _open(page, url)

        # a refused edit shows the verb's one line and changes nothing
        before = (show / "conversation.json").read_bytes()
        _row(page, edited["id"]).get_by_role("button", name="Edit").click()
        _row(page, edited["id"]).get_by_role("button", name="Save").click()
        _settle(page)
        assert page.locator("#error").inner_text() == (
            f"{edited['id']} already says that: nothing to change"
        )
        assert (show / "conversation.json").read_bytes() == before

        # edit inline (Enter saves)
        _row(page, edited["id"]).locator("textarea").fill(new_text)
        _row(page, edited["id"]).locator("textarea").press("Enter")
        _settle(page)
        assert page.locator("#error").is_hidden()
        after = {m["id"]: m for m in _messages(show)}
        assert after[edited["id"]]["text"] == new_text
        assert _row(page, edited["id"]).locator(".text").inner_text() == new_text
        check_archive(show)

        # delete, confirmed
        _row(page, deleted["id"]).get_by_role("button", name="Delete").click()
        _row(page, deleted["id"]).get_by_role("button", name="Delete it").click()
        _settle(page)
        assert deleted["id"] not in {m["id"] for m in _messages(show)}
        assert _row(page, deleted["id"]).count() == 0
        check_archive(show)

        # re-roll: four candidates side by side, pick the third with one click
        _row(page, rerolled["id"]).get_by_role("button", name="Re-roll").click()
        _row(page, rerolled["id"]).get_by_role("button", name="Generate").click()
        _settle(page)
        candidates = _row(page, rerolled["id"]).locator(".candidate")
        assert candidates.count() == 4
        boxes = [candidates.nth(i).bounding_box() for i in range(2)]
        assert boxes[0]["y"] == boxes[1]["y"] and boxes[0]["x"] < boxes[1]["x"]  # side by side
        picked = candidates.nth(2).locator("li").first.inner_text()
        candidates.nth(2).get_by_role("button", name="Pick 3").click()
        _settle(page)
        assert page.locator("#error").is_hidden(), page.locator("#error").inner_text()
        now = {m["id"]: m for m in _messages(show)}
        assert picked.endswith(now[rerolled["id"]]["text"])
        check_archive(show)

        # undo the pick: the old text is back; the history lists every step
        page.get_by_role("button", name="Undo").click()
        _settle(page)
        assert {m["id"]: m for m in _messages(show)}[rerolled["id"]]["text"] == rerolled["text"]
        check_archive(show)
        page.get_by_role("button", name="History").click()
        steps = page.locator("#steps li")
        assert steps.count() == 4
        assert "undone" in steps.nth(1).get_attribute("class")

        # re-roll to the end of its run: each candidate is the rest of the run, picked as one step
        now = _messages(show)
        tail = [m for m in now if m["run"] == 1][-2:]
        row = _row(page, tail[0]["id"])
        row.get_by_role("button", name="Re-roll").click()
        row.get_by_label("number of candidates").fill("2")
        row.get_by_label("to the end of its run").check()
        row.get_by_role("button", name="Generate").click()
        _settle(page)
        assert page.locator("#error").is_hidden(), page.locator("#error").inner_text()
        first = row.locator(".candidate").first.locator("li")
        assert row.locator(".candidate").count() == 2 and first.count() == 2
        lines = [first.nth(i).inner_text() for i in range(2)]
        row.get_by_role("button", name="Pick 1").click()
        _settle(page)
        assert page.locator("#error").is_hidden(), page.locator("#error").inner_text()
        after = {m["id"]: m for m in _messages(show)}
        for line, old in zip(lines, tail, strict=True):
            assert line.startswith(old["id"] + " ") and line.endswith(after[old["id"]]["text"])
        assert [m["id"] for m in _messages(show)] == [m["id"] for m in now]
        check_archive(show)

        # play from here: the player, served from the archive folder, plays the curated piece
        with page.context.expect_page() as opened:
            _row(page, edited["id"]).get_by_role("link", name="Play from here").click()
        player = opened.value
        player.on("pageerror", lambda e: errors.append(str(e)))
        player.wait_for_selector("html[data-player][data-clock]", state="attached")
        player.wait_for_selector(f'[role=log] [data-message-id="{edited["id"]}"]')
        log = player.locator("[role=log]").inner_text()
        assert new_text in log
        assert deleted["text"] not in log
        assert player.locator(f'[data-message-id="{deleted["id"]}"]').count() == 0
        assert player.locator(f'[data-message-id="{messages[4]["id"]}"]').count() == 1
    assert not errors


def test_flagged_messages_are_marked_and_a_selfie_is_picked_from_the_grid(page, show, tmp_path):
    messages = _messages(show)
    blocklist = tmp_path / "blocklist.txt"
    blocklist.write_text("# screened for the show\npainting\n", encoding="utf-8")
    flagged = [m["id"] for m in messages if "painting" in m["text"].lower()]
    target = next(m for m in messages if m.get("selfie"))
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    with running_studio(show, "--blocklist", str(blocklist)) as url:
        _open(page, url)
        assert flagged and page.locator(".msg.flagged").count() == len(flagged)
        page.check("#f-flagged")
        assert _shown(page) == flagged
        assert _row(page, flagged[0]).locator("mark.flag").inner_text() == "flagged: painting"
        page.uncheck("#f-flagged")

        row = _row(page, target["id"])
        row.get_by_role("button", name="Selfies").click()
        row.get_by_label("number of selfie candidates").fill("4")
        row.get_by_role("button", name="Generate").click()
        _settle(page)
        assert page.locator("#error").is_hidden(), page.locator("#error").inner_text()
        images = row.locator(".selfies img")
        assert images.count() == 4
        for i in range(4):
            page.wait_for_function(
                "img => img.complete && img.naturalWidth > 0", arg=images.nth(i).element_handle()
            )
        label = row.locator(".selfies button").nth(1).get_attribute("aria-label")
        seed = int(label.rsplit("seed ", 1)[1].rstrip(")"))
        row.locator(".selfies button").nth(1).click()
        _settle(page)
        assert page.locator("#error").is_hidden(), page.locator("#error").inner_text()
        now = {m["id"]: m for m in _messages(show)}[target["id"]]
        assert now["selfie"]["seed"] == seed != target["selfie"]["seed"]
        assert now["text"] == target["text"]
        thumb = _row(page, target["id"]).locator("img.thumb")
        assert thumb.get_attribute("src") == "archive/" + now["selfie"]["src"]
        check_archive(show)
    assert not errors


def test_a_long_night_stays_quick_to_search(page, harness, tmp_path):
    """2500 messages: the page holds one page of rows, and a keystroke rebuilds only that."""
    from ghosts_render.archive.rebuild import rebuild_site

    show = tmp_path / "long"
    doc = harness.conversation(harness.synthetic_messages(2500))
    harness.build_archive(show, doc)
    rebuild_site(show)  # the manifest a hand-made archive gets
    with running_studio(show) as url:
        _open(page, url)
        assert page.locator("#count").inner_text() == "2500 messages"
        assert page.locator("#list .msg").count() == 100
        assert page.locator("#page").inner_text() == "page 1 of 25"
        page.get_by_role("button", name="Next").click()
        assert _shown(page)[0] == "m00100"
        page.fill("#q", "#2499")
        page.wait_for_function("() => document.querySelectorAll('#list .msg').length === 1")
        assert _shown(page) == ["m02499"]
        page.fill("#q", "echo")
        expect = [m["id"] for m in doc["messages"] if "echo" in m["text"]]
        page.wait_for_function(
            "n => document.querySelector('#count').textContent === n + ' of 2500 messages'",
            arg=len(expect),
        )
        assert _shown(page) == expect[:100]
        assert harness.cdp_metrics(page)["Nodes"] < 5000
