"""The chat's URL parameters in real Chromium: nonsense is ignored, extremes are clamped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


def chat(archive: Path) -> str:
    """The file:// URL of an archive's chat page."""
    return (archive / "index.html").as_uri()


def when(h: Any, doc: dict[str, Any], pos: int, loop: int = 3) -> int:
    """Wall-clock ms at which clock sync shows loop position `pos` (ms) in loop number `loop`."""
    return h.EPOCH_MS + loop * doc["duration"] + pos


# Counts documents left, in sessionStorage (it outlives a reload). beforeunload runs inside
# location.reload() itself, so the count is right as soon as page.clock.run_for returns, while
# the reload's own load event may come later.
COUNT_UNLOADS = """
addEventListener('beforeunload', () => {
  const n = Number(sessionStorage.getItem('test:unloads') || 0);
  sessionStorage.setItem('test:unloads', String(n + 1));
});
"""


def unloads(page: Any) -> int:
    """How many times the page was left (reloaded) since it was first opened."""
    return int(page.evaluate("Number(sessionStorage.getItem('test:unloads') || 0)"))


@pytest.fixture(scope="module")
def quiet_archive(make_archive: Any, harness: Any) -> Path:
    """An archive with long quiet gaps (10 to 40 s between a message and the next bubble)."""
    return make_archive("quiet", harness.conversation(harness.synthetic_messages(30, slow=10)))


@pytest.mark.parametrize("hours", ["-1", "0.0001", "0", "nonsense"])
def test_reload_below_an_hour_never_reloads_within_minutes(page, quiet_archive, harness, hours):
    doc = harness.load_doc(quiet_archive)
    page.add_init_script(COUNT_UNLOADS)
    now = when(harness, doc, doc["messages"][3]["at"] + 10)
    harness.open_at(page, chat(quiet_archive) + f"?kiosk=1&reload={hours}", now)
    assert unloads(page) == 0
    for _ in range(60):  # ten minutes, with quiet moments in every one of them
        page.clock.run_for(10_000)
        assert unloads(page) == 0


def test_reload_after_an_hour_at_a_quiet_moment(page, quiet_archive, harness):
    doc = harness.load_doc(quiet_archive)
    page.add_init_script(COUNT_UNLOADS)
    now = when(harness, doc, doc["messages"][3]["at"] + 10)
    harness.open_at(page, chat(quiet_archive) + "?kiosk=1&reload=0.5", now)
    page.clock.run_for(59 * 60 * 1000)
    assert unloads(page) == 0, "half an hour is clamped to one hour"
    with page.expect_navigation(wait_until="load"):
        page.clock.run_for(5 * 60 * 1000)
    assert unloads(page) == 1


@pytest.mark.parametrize("fragment", ["%", "%E0%A4%A", "m00%zz"])
def test_a_malformed_fragment_is_ignored(page, archive, harness, fragment):
    doc = harness.load_doc(archive)
    pos = doc["messages"][90]["at"] + 100
    w = harness.open_at(page, chat(archive) + "#" + fragment, when(harness, doc, pos))
    assert page.get_attribute("html", "data-player") == "ready"
    assert harness.state(page)["last"] == harness.expected_at(doc, pos)["last"]
    page.evaluate("location.hash = '%'")  # and while the chat plays
    page.clock.run_for(1000)
    assert page.is_hidden("#notice")
    assert w.errors == []


def test_a_time_beyond_the_loop_opens_at_its_end(page, archive, harness):
    doc = harness.load_doc(archive)
    last = doc["messages"][-1]["id"]
    for t in ("1e300", "99:59:59", "999999999999"):
        harness.open_at(page, chat(archive) + f"?t={t}", harness.EPOCH_MS)
        assert harness.state(page)["last"] == last, t
    harness.open_at(page, chat(archive) + "?t=-5:00", harness.EPOCH_MS)
    assert harness.state(page)["ids"] == []  # a negative time: the start of the loop
    assert harness.state(page)["writing"] == doc["messages"][0]["sender"]


@pytest.mark.parametrize("offset", ["1e300", "-1e300", "4e9", "Infinity", "NaN", "twelve"])
def test_an_absurd_clock_offset_is_ignored(page, archive, harness, offset):
    doc = harness.load_doc(archive)
    pos = doc["messages"][120]["at"] + 100
    w = harness.open_at(page, chat(archive) + f"?offset={offset}", when(harness, doc, pos))
    assert harness.state(page)["last"] == harness.expected_at(doc, pos)["last"]
    assert w.errors == []


def test_a_large_but_possible_offset_still_shows_a_moment(page, archive, harness):
    # A dead clock battery: the device believes it is 1970. 56 years are corrected, not ignored.
    doc = harness.load_doc(archive)
    now = when(harness, doc, doc["messages"][200]["at"] + 100) // 1000 * 1000
    device = 86_400_000  # 1970-01-02
    harness.open_at(page, chat(archive) + f"?offset={(now - device) // 1000}", device)
    want = harness.expected_at(doc, (now - harness.EPOCH_MS) % doc["duration"])
    assert harness.state(page)["last"] == want["last"]
