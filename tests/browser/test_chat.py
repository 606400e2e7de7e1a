"""The chat page in real Chromium: sync, writing bubble, sound, lightbox, scrolling, safety."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest

# Records every play() of a media element (the real play still runs): lets a test see sounds.
PLAY_LOG = """
window.__plays = [];
const realPlay = HTMLMediaElement.prototype.play;
HTMLMediaElement.prototype.play = function () {
  window.__plays.push(this.getAttribute('src') || '');
  return realPlay.call(this);
};
"""


def when(h: Any, doc: dict[str, Any], pos: int, loop: int = 3) -> int:
    """Wall-clock ms at which clock sync shows loop position `pos` (ms) in loop number `loop`."""
    return h.EPOCH_MS + loop * doc["duration"] + pos


def chat(archive: Path) -> str:
    """The file:// URL of an archive's chat page."""
    return (archive / "index.html").as_uri()


def sounds_played(page: Any) -> list[str]:
    """Sources played so far, without the silent primer clip."""
    return [s for s in page.evaluate("window.__plays") if not s.startswith("data:")]


def scroll_metrics(page: Any) -> dict[str, float]:
    return page.evaluate(
        """() => { const s = document.getElementById('scroll');
                   const gap = s.scrollHeight - s.scrollTop - s.clientHeight;
                   return {top: s.scrollTop, gap}; }"""
    )


# --------------------------------------------------------------------------- loading and sync


@pytest.mark.parametrize(
    "k, offset, loop", [(0, 200, 3), (50, 200, 3), (120, -400, 0), (299, 2000, 3), (200, 100, -2)]
)
def test_file_url_shows_the_wall_clock_moment(page, archive, harness, k, offset, loop):
    # loop -2: a device whose clock is before the epoch still agrees (negative modulo)
    doc = harness.load_doc(archive)
    pos = doc["messages"][k]["at"] + offset
    w = harness.open_at(page, chat(archive), when(harness, doc, pos, loop))
    want = harness.expected_at(doc, pos)
    got = harness.state(page)
    assert got["last"] == want["last"]
    assert got["writing"] == want["writing"]
    assert len(got["ids"]) == min(want["count"], doc["player"]["max_messages"])
    assert w.errors == []
    assert all(url.startswith(archive.as_uri() + "/") for url in w.requests), w.requests


def test_http_sub_path_loads_cleanly_and_only_asks_its_own_host(page, archive, server, harness):
    doc = harness.load_doc(archive)
    pos = doc["messages"][80]["writing_at"] + 300
    now = when(harness, doc, pos)
    server.set_date(now)  # the host's clock agrees with the device: no skew correction
    base = server.url(harness.SUB_PATH + "/")
    w = harness.open_at(page, base + "index.html", now)
    got = harness.state(page)
    want = harness.expected_at(doc, pos)
    assert (got["last"], got["writing"]) == (want["last"], want["writing"])
    assert w.errors == []
    assert w.requests, "no requests recorded"
    assert all(url.startswith(base) for url in w.requests), w.requests


def test_date_header_corrects_a_fast_device_clock(page, archive, server, harness):
    doc = harness.load_doc(archive)
    pos = doc["messages"][150]["at"] + 200
    now = when(harness, doc, pos) // 1000 * 1000
    server.set_date(now - 7 * 60 * 1000)  # the device clock is 7 minutes fast
    harness.open_at(page, server.url(harness.SUB_PATH + "/index.html"), now)
    # Corrected position: the header's second + 0.5 s (it truncates), i.e. 419.5 s earlier.
    want = harness.expected_at(doc, (now - 419_500 - harness.EPOCH_MS) % doc["duration"])
    assert harness.state(page)["last"] == want["last"]
    assert want["last"] != harness.expected_at(doc, pos)["last"]


def test_time_zones_show_the_same_message_at_the_same_instant(new_context, archive, harness):
    doc = harness.load_doc(archive)
    instant = harness.ms("2026-03-29T01:00:30Z")  # the European switch to summer time
    pos = (instant - harness.EPOCH_MS) % doc["duration"]
    seen = {}
    for tz in ("Europe/Berlin", "America/New_York", "Asia/Kolkata"):
        page = new_context(timezone_id=tz).new_page()
        harness.open_at(page, chat(archive), instant)
        last = harness.state(page)["last"]
        stamp = page.eval_on_selector(
            f'[data-message-id="{last}"] time', "t => [t.dateTime, t.textContent]"
        )
        seen[tz] = (last, *stamp)
    lasts = {v[0] for v in seen.values()}
    assert lasts == {harness.expected_at(doc, pos)["last"]}
    assert len({v[1] for v in seen.values()}) == 1, "the same instant in every zone"
    assert len({v[2] for v in seen.values()}) == 3, "shown in each reader's local time"


def test_local_sync_starts_at_the_beginning(page, archive, harness):
    doc = harness.load_doc(archive)
    harness.open_at(page, chat(archive) + "?sync=local", harness.EPOCH_MS + 1)
    first = doc["messages"][0]
    assert harness.state(page) == {"ids": [], "last": None, "writing": first["sender"]}
    page.clock.run_for(first["at"] + 1)
    assert harness.state(page)["last"] == first["id"]


def test_permalinks_to_a_message_and_to_a_time(page, new_context, archive, harness):
    doc = harness.load_doc(archive)
    target = doc["messages"][120]
    harness.open_at(page, chat(archive) + f"#{target['id']}", harness.EPOCH_MS)
    assert harness.state(page)["last"] == target["id"]
    assert page.eval_on_selector(f"#{target['id']}", "e => e.classList.contains('msg--target')")
    other = new_context().new_page()
    harness.open_at(other, chat(archive) + "?t=0:10:00", harness.EPOCH_MS)
    assert harness.state(other)["last"] == harness.expected_at(doc, 600_000)["last"]
    other.click("#moment")
    assert "t=0%3A10%3A00" in other.url or "t=0:10:00" in other.url


def test_loop_wraps_cleanly(page, archive, harness):
    doc = harness.load_doc(archive)
    harness.open_at(page, chat(archive), when(harness, doc, doc["duration"] - 1))
    assert harness.state(page)["last"] == doc["messages"][-1]["id"]
    page.clock.run_for(2)
    after = harness.state(page)
    assert after["ids"] == [] and after["writing"] == doc["messages"][0]["sender"]
    page.clock.run_for(doc["messages"][1]["at"])
    ids = harness.state(page)["ids"]
    assert ids == ["m00000", "m00001"]


# --------------------------------------------------------------------------- bubbles


def test_writing_bubble_is_shown_exactly_from_writing_at_to_at(page, archive, harness):
    doc = harness.load_doc(archive)
    prev, nxt = doc["messages"][40], doc["messages"][41]
    harness.open_at(page, chat(archive), when(harness, doc, nxt["writing_at"] - 1))
    assert harness.state(page) | {"ids": None} == {"ids": None, "last": prev["id"], "writing": None}
    page.clock.run_for(1)  # = writing_at
    assert harness.state(page)["writing"] == nxt["sender"]
    side = doc["roles"][nxt["sender"]]["side"]
    assert page.eval_on_selector("[data-writing]", f"e => e.classList.contains('msg--{side}')")
    assert page.get_attribute("[data-writing]", "aria-hidden") == "true"
    page.clock.run_for(nxt["at"] - nxt["writing_at"] - 1)  # = at - 1
    assert harness.state(page) | {"ids": None} == {
        "ids": None,
        "last": prev["id"],
        "writing": nxt["sender"],
    }
    page.clock.run_for(1)  # = at
    assert harness.state(page) | {"ids": None} == {"ids": None, "last": nxt["id"], "writing": None}


def test_grouping_sender_labels_and_timestamps(page, archive, harness):
    doc = harness.load_doc(archive)
    pos = doc["messages"][60]["at"] + 100
    now = when(harness, doc, pos)
    harness.open_at(page, chat(archive), now)
    rows = page.eval_on_selector_all(
        "[role=log] [data-message-id]",
        """els => els.map(e => ({id: e.dataset.messageId,
            spaced: e.classList.contains('msg--spaced'),
            label: e.querySelector('.msg__sender').textContent,
            shown: e.querySelector('.msg__sender').getBoundingClientRect().width > 1,
            dt: e.querySelector('time').dateTime, text: e.querySelector('time').textContent}))""",
    )
    by_id = {m["id"]: m for m in doc["messages"]}
    for i, row in enumerate(rows):
        m = by_id[row["id"]]
        k = int(row["id"][1:])
        changed = k == 0 or doc["messages"][k - 1]["sender"] != m["sender"]
        assert row["spaced"] == changed
        assert row["label"] == doc["roles"][m["sender"]]["label"]  # always there for screen readers
        assert row["shown"] == (changed or i == 0)
        shown_at = now - pos + m["at"]
        assert row["dt"] == harness_iso(shown_at)
        assert row["text"] == harness_hhmm(shown_at)


def harness_iso(ms: int) -> str:
    from datetime import datetime

    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def harness_hhmm(ms: int) -> str:
    from datetime import datetime

    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%H:%M")


# --------------------------------------------------------------------------- sound


def test_sound_only_after_unmute_and_never_for_backlog(page, archive, harness):
    doc = harness.load_doc(archive)
    msgs = doc["messages"]
    page.add_init_script(PLAY_LOG)
    harness.open_at(page, chat(archive), when(harness, doc, msgs[100]["at"] + 100))
    assert page.get_attribute("#mute", "aria-pressed") == "false"
    page.clock.run_for(msgs[101]["at"] - msgs[100]["at"])  # a live message while muted
    assert harness.state(page)["last"] == msgs[101]["id"]
    assert sounds_played(page) == []

    page.click("#mute")
    page.wait_for_timeout(300)  # media promises settle in real time, not on the fake clock
    assert page.get_attribute("#mute", "aria-pressed") == "true"
    assert page.evaluate("localStorage.getItem('ghosts:muted')") == "0"
    page.clock.run_for(msgs[102]["at"] - msgs[101]["at"])
    assert harness.state(page)["last"] == msgs[102]["id"]
    assert sounds_played(page) == [msgs[102]["sound"]["src"]]

    # The laptop lid closes for two hours: timers are skipped, then everything is due at once.
    page.clock.fast_forward(2 * 3600 * 1000)
    page.wait_for_timeout(50)
    assert harness.state(page)["last"] != msgs[102]["id"]
    assert sounds_played(page) == [msgs[102]["sound"]["src"]], "backlog must be silent"


def test_sound_setting_survives_a_reload_but_backlog_stays_silent(page, archive, harness):
    doc = harness.load_doc(archive)
    msgs = doc["messages"]
    page.add_init_script(PLAY_LOG)
    harness.open_at(page, chat(archive), when(harness, doc, msgs[30]["at"] + 100))
    page.click("#mute")
    page.reload()
    page.wait_for_selector("html[data-player][data-clock]", state="attached")
    assert page.get_attribute("#mute", "aria-pressed") == "true"
    assert len(harness.state(page)["ids"]) > 1
    assert sounds_played(page) == []


def test_blocked_play_shows_the_tap_for_sound_hint(page, archive, harness):
    doc = harness.load_doc(archive)
    # The browser refuses playback (as iOS does without a primed element).
    page.add_init_script(
        "HTMLMediaElement.prototype.play = function () {"
        " return Promise.reject(new DOMException('blocked', 'NotAllowedError')); };"
    )
    harness.open_at(page, chat(archive), when(harness, doc, msgs_at(doc, 12)))
    assert page.is_hidden("#hint")
    page.click("#mute")
    page.wait_for_selector("#hint", state="visible")


def test_kiosk_asks_for_a_tap_when_autoplay_is_blocked_then_plays(page, archive, harness):
    doc = harness.load_doc(archive)
    msgs = doc["messages"]
    page.add_init_script(PLAY_LOG)
    url = chat(archive) + "?kiosk=1"
    harness.open_at(page, url, when(harness, doc, msgs[40]["at"] + 100))
    page.wait_for_selector("#hint", state="visible")  # headless Chromium's default policy
    page.mouse.click(200, 300)  # any tap on the kiosk unlocks sound
    page.wait_for_selector("#hint", state="hidden")
    page.clock.run_for(msgs[41]["at"] - msgs[40]["at"])
    assert sounds_played(page) == [msgs[41]["sound"]["src"]]


# --------------------------------------------------------------------------- lightbox, scrolling


def test_lightbox_keyboard_flow_and_axe(page, archive, harness):
    doc = harness.load_doc(archive)
    harness.open_at(page, chat(archive), when(harness, doc, msgs_at(doc, 60)))
    opener = page.locator(".msg__selfie").last
    opener.focus()
    page.keyboard.press("Enter")
    assert page.evaluate("document.getElementById('lightbox').open")
    assert page.evaluate("document.getElementById('lightbox').contains(document.activeElement)")
    for _ in range(3):  # focus stays inside the modal dialog
        page.keyboard.press("Tab")
        outside = page.evaluate(
            "!document.getElementById('lightbox').contains(document.activeElement)"
            " && document.activeElement !== document.body"
        )
        assert not outside
    big = page.eval_on_selector("#lightbox img", "i => [i.getAttribute('src'), i.alt]")
    assert big[0].endswith(".jpg") and big[1].startswith("AI-generated selfie")
    assert harness.axe_violations(page) == []
    page.keyboard.press("Escape")
    assert not page.evaluate("document.getElementById('lightbox').open")
    assert page.evaluate("document.activeElement.classList.contains('msg__selfie')")
    assert page.evaluate("document.activeElement") == opener.evaluate("e => e")
    opener.click()
    page.mouse.click(5, 5)  # the backdrop
    assert not page.evaluate("document.getElementById('lightbox').open")


def test_axe_runs_once_a_fade_has_ended(page, archive, harness):
    # On a loaded machine axe once ran while the lightbox was still fading in and found its close
    # button too faint. A slow fade makes that moment certain: axe must wait for it to end.
    doc = harness.load_doc(archive)
    harness.open_at(page, chat(archive), when(harness, doc, msgs_at(doc, 60)))
    page.locator(".msg__selfie").last.click()
    page.eval_on_selector(
        "#lightbox-close", "b => b.animate([{opacity: 0.1}, {opacity: 0.2}], {duration: 4000})"
    )
    assert harness.axe_violations(page) == []
    assert page.eval_on_selector("#lightbox-close", "b => getComputedStyle(b).opacity") == "1"


def msgs_at(doc: dict[str, Any], k: int) -> int:
    return int(doc["messages"][k]["at"]) + 100


def test_tab_reaches_the_conversation_selfies_and_controls(page, archive, harness):
    doc = harness.load_doc(archive)
    harness.open_at(page, chat(archive), when(harness, doc, msgs_at(doc, 20)))
    reached = []
    for _ in range(12):
        page.keyboard.press("Tab")
        reached.append(
            page.evaluate(
                "() => { const a = document.activeElement;"
                " return a.id || a.className || a.tagName; }"
            )
        )
    for want in ("scroll", "msg__selfie", "mute", "pause", "moment"):
        assert want in reached, reached
    assert reached.index("scroll") < reached.index("msg__selfie") < reached.index("mute")


def test_autoscroll_only_at_the_bottom_and_new_messages_pill(page, archive, harness):
    doc = harness.load_doc(archive)
    msgs = doc["messages"]
    harness.open_at(page, chat(archive), when(harness, doc, msgs[150]["at"]))
    assert scroll_metrics(page)["gap"] <= 24
    page.clock.run_for(msgs[151]["at"] - msgs[150]["at"])
    assert scroll_metrics(page)["gap"] <= 24, "at the bottom it follows new messages"
    assert page.is_hidden("#pill")

    page.eval_on_selector("#scroll", "s => { s.scrollTop = 300; }")
    top_id = top_visible(page)
    page.clock.run_for(msgs[153]["at"] - msgs[151]["at"])  # two more (the oldest are trimmed)
    assert top_visible(page) == top_id, "the reader's place is kept"
    assert page.is_visible("#pill")
    assert page.text_content("#pill") == "2 new messages ↓"
    page.click("#pill")
    assert scroll_metrics(page)["gap"] <= 24
    assert page.is_hidden("#pill")


def top_visible(page: Any) -> str:
    return page.evaluate(
        """() => { const s = document.getElementById('scroll').getBoundingClientRect();
           const e = [...document.querySelectorAll('[data-message-id]')]
             .find(e => e.getBoundingClientRect().bottom > s.top + 1);
           return e.dataset.messageId + '@' + Math.round(e.getBoundingClientRect().top); }"""
    )


def test_history_beyond_the_cap(page, archive, harness):
    doc = harness.load_doc(archive)
    harness.open_at(page, chat(archive), when(harness, doc, msgs_at(doc, 250)))
    assert len(harness.state(page)["ids"]) == 100
    page.eval_on_selector("#scroll", "s => { s.scrollTop = 0; }")
    first = harness.state(page)["ids"][0]
    page.click("#older")
    ids = harness.state(page)["ids"]
    assert len(ids) == 200 and ids[100] == first and ids[0] == "m00051"
    page.click("#older")  # the last 51 of this loop
    assert harness.state(page)["ids"][0] == "m00000"
    assert page.is_hidden("#older")
    page.eval_on_selector("#scroll", "s => { s.scrollTop = s.scrollHeight; }")
    # Back at the bottom, the extra history is let go (scroll events come with real frames).
    for _ in range(50):
        if len(harness.state(page)["ids"]) == 100:
            break
        page.wait_for_timeout(20)
    assert len(harness.state(page)["ids"]) == 100


def test_pause_freezes_the_view_and_resumes_silently(page, archive, harness):
    doc = harness.load_doc(archive)
    page.add_init_script(PLAY_LOG)
    harness.open_at(page, chat(archive), when(harness, doc, msgs_at(doc, 20)))
    page.click("#mute")
    page.wait_for_timeout(300)
    page.click("#pause")
    page.clock.run_for(doc["messages"][25]["at"] - doc["messages"][20]["at"])
    assert harness.state(page)["last"] == "m00020"
    page.click("#pause")
    assert harness.state(page)["last"] == "m00025"
    assert sounds_played(page) == []


# --------------------------------------------------------------------------- safety


HOSTILE = [
    "<script>window.__pwned = 1</script>",
    '<img src=x onerror="window.__pwned = 2">',
    '<a href="javascript:window.__pwned = 3">click me</a>',
    "\u202eevil\u202c reversed \u2066isolate\u2069 </script><script>window.__pwned=4</script>",
    "x" * 10_000,
    "   \n\t  ",
    "line\u2028separator\u2029para",
]


def test_hostile_text_is_rendered_as_text(page, make_archive, harness):
    msgs = harness.synthetic_messages(len(HOSTILE) + 2, selfie_every=0)
    for m, text in zip(msgs, HOSTILE, strict=False):
        m["text"] = text
    path = make_archive("hostile", harness.conversation(msgs))
    # Curate, then rebuild with the real command, as an artist would.
    doc = harness.load_doc(path)
    doc["messages"][0]["text"] = HOSTILE[0] + " (edited)"
    (path / "conversation.json").write_text(json.dumps(doc, ensure_ascii=False), "utf-8")
    run = subprocess.run(
        [sys.executable, "-m", "ghosts_render", "site", str(path)], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    w = harness.open_at(page, chat(path), when(harness, doc, msgs[-1]["at"] + 1))
    texts = page.eval_on_selector_all(
        "[role=log] [data-message-id]",
        "els => els.map(e => e.querySelector('.msg__text')).map(p => p ? p.textContent : null)",
    )
    assert texts[: len(HOSTILE)] == [doc["messages"][0]["text"], *HOSTILE[1:]]
    assert page.evaluate("window.__pwned") is None
    assert (
        page.eval_on_selector_all(
            "[role=log] script, [role=log] img, [role=log] a", "e => e.length"
        )
        == 0
    )
    assert page.evaluate("document.getElementById('scroll').scrollWidth") <= page.evaluate(
        "document.getElementById('scroll').clientWidth"
    ), "a 10 000 character line must wrap"
    assert dialogs == [] and w.errors == []


# --------------------------------------------------------------------------- long runs, a11y


def test_twelve_hours_keep_dom_and_heap_flat(page, make_archive, harness):
    # 300 messages at the original's pace (about 20 s each): a 1.5 h loop, wrapped 8 times.
    doc = harness.conversation(harness.synthetic_messages(300, slow=2, seed=3))
    path = make_archive("soak", doc)
    harness.open_at(page, chat(path), when(harness, doc, 0, loop=10))
    samples = []
    for hour in range(1, 13):
        page.clock.run_for(3600 * 1000)
        shown = len(harness.state(page)["ids"])
        metrics = harness.cdp_metrics(page)
        samples.append(metrics)
        print(f"hour {hour:2d}: {shown:3d} messages shown, " + ", ".join(
            f"{k} {v:,.0f}" for k, v in metrics.items()
        ))  # fmt: skip
        assert shown <= doc["player"]["max_messages"]
    first, last = samples[:6], samples[6:]
    for key, slack in (("Nodes", 1.1), ("JSHeapUsedSize", 1.25), ("JSEventListeners", 1.1)):
        assert max(m[key] for m in last) <= max(m[key] for m in first) * slack, key


def test_axe_finds_nothing_on_the_chat(page, archive, harness):
    doc = harness.load_doc(archive)
    pos = doc["messages"][70]["writing_at"] + 100  # the writing bubble is on screen too
    harness.open_at(page, chat(archive), when(harness, doc, pos))
    assert harness.state(page)["writing"]
    assert harness.axe_violations(page) == []


FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")  # fonts-dejavu-core (with chromium)


@pytest.mark.parametrize("motion", ["no-preference", "reduce"])
def test_breathing_font_only_on_screen_and_never_under_reduced_motion(
    new_context, make_archive, harness, motion
):
    if not FONT.exists():
        pytest.skip(f"{FONT} missing (apt-get install fonts-dejavu-core)")
    doc = harness.conversation(harness.synthetic_messages(80))
    path = make_archive("with-font", doc, fonts=(FONT,))
    page = new_context(reduced_motion=motion).new_page()
    harness.open_at(page, chat(path), when(harness, doc, doc["messages"][60]["writing_at"] + 50))
    page.wait_for_timeout(200)  # intersection callbacks come with real frames
    page.clock.run_for(1500)  # animation frames are on the fake clock
    seen = page.evaluate(
        """() => { const box = document.getElementById('scroll').getBoundingClientRect();
          return [...document.querySelectorAll('[data-message-id]')].map(e => {
            const r = e.getBoundingClientRect();
            return [r.bottom > box.top && r.top < box.bottom,
                    e.classList.contains('msg--breathing')]; }); }"""
    )
    assert [on for on, _ in seen] == [breathing for _, breathing in seen]
    assert 0 < sum(on for on, _ in seen) < len(seen)
    breath = page.evaluate("document.getElementById('log').style.getPropertyValue('--breath')")
    dots = page.eval_on_selector_all(
        "[data-writing] .dot", "ds => ds.map(d => getComputedStyle(d).animationName)"
    )
    if motion == "reduce":
        assert breath == "" and dots == ["none"] * 3
    else:
        assert breath != "" and "none" not in dots


# --------------------------------------------------------------------------- modes and failures


def test_kiosk_and_debug_modes(page, archive, harness):
    doc = harness.load_doc(archive)
    url = chat(archive) + "?kiosk=1&debug=1"
    harness.open_at(page, url, when(harness, doc, msgs_at(doc, 10)))
    assert page.evaluate("document.documentElement.classList.contains('kiosk')")
    assert page.is_hidden(".chat__nav")
    page.clock.run_for(1000)
    text = page.text_content("#debug")
    assert "position" in text and "m00010" in text and "elements" in text


DAY_KEYED = {"day_key": True, "valid_from": "2026-01-01", "valid_until": "2026-12-31"}


@pytest.mark.parametrize(
    "player, query",
    [({"valid_until": "2026-01-31"}, ""), (DAY_KEYED, "?day=2026-02-01")],
    ids=["exhibition-over", "yesterdays-link"],
)
def test_connection_lost(page, make_archive, harness, player, query):
    doc = harness.conversation(harness.synthetic_messages(20), **player)
    path = make_archive("lost-" + "-".join(player), doc)
    harness.open_at(page, chat(path) + query, harness.ms("2026-02-02T12:00:00Z"))
    assert page.is_visible(".chat__lost")
    assert harness.state(page)["writing"] is None
    page.clock.run_for(60_000)
    assert harness.state(page)["ids"] == []
    # The chat and lost.html say the same words: the resolved lost_text of conversation.js.
    words = page.text_content(".chat__lost-text")
    assert words and words == page.evaluate("window.GHOSTS_CONVERSATION.player.lost_text")
    page.goto((path / "lost.html").as_uri())
    assert page.text_content(".lost__bubble p") == words


def test_todays_link_is_not_lost(page, make_archive, harness):
    doc = harness.conversation(harness.synthetic_messages(20), **DAY_KEYED)
    path = make_archive("lost-today", doc)
    harness.open_at(page, chat(path) + "?day=2026-02-02", harness.ms("2026-02-02T12:00:00Z"))
    assert page.locator(".chat__lost").count() == 0
    assert harness.state(page)["ids"]


def test_a_newer_format_is_explained(page, archive, site_root, harness):
    newer = site_root / "newer"
    shutil.copytree(archive, newer)
    data = newer / "conversation.js"
    text, n = re.subn(r'"version":\s*1', '"version": 2', data.read_text("utf-8"), count=1)
    assert n == 1
    data.write_text(text, "utf-8")
    harness.open_at(page, chat(newer), harness.EPOCH_MS)
    assert page.get_attribute("html", "data-player") == "error"
    assert "newer ghosts-render" in page.text_content("#notice")


def test_without_javascript_the_page_points_to_the_transcript(new_context, archive):
    page = new_context(java_script_enabled=False).new_page()
    page.goto(chat(archive))
    assert (
        page.is_visible("noscript >> text=transcript")
        or page.locator("a[href='transcript.html']").first.is_visible()
    )


def test_a_random_favicon_from_the_variants(page, archive, harness):
    doc = harness.load_doc(archive)
    harness.open_at(page, chat(archive), when(harness, doc, 1000))
    link = page.eval_on_selector(
        "link[rel=icon]", "l => [l.getAttribute('href'), l.dataset.variants]"
    )
    variants = link[1].split()
    assert len(variants) > 1 and link[0] in variants


def test_missing_conversation_js_is_explained(page, archive, site_root, harness):
    broken = site_root / "broken"
    shutil.copytree(archive, broken)
    (broken / "conversation.js").unlink()
    harness.open_at(page, chat(broken), harness.EPOCH_MS)
    assert page.get_attribute("html", "data-player") == "error"
    assert "conversation.js was not found" in page.text_content("#notice")


def test_errors_do_not_stop_the_chat(page, archive, harness):
    doc = harness.load_doc(archive)
    harness.open_at(page, chat(archive), when(harness, doc, msgs_at(doc, 5)))
    # Bad data inside the player (a sender that cannot even be turned into text), and an
    # uncaught error from some other script on the page.
    page.evaluate(
        """() => {
          const bad = {toString() { throw new Error('unreadable sender'); }};
          window.GHOSTS_CONVERSATION.messages[7].sender = bad;
          document.body.addEventListener('boom', () => { throw new Error('boom'); });
          document.body.dispatchEvent(new Event('boom'));
        }"""
    )
    page.clock.run_for(doc["messages"][8]["at"] - doc["messages"][5]["at"])
    got = harness.state(page)
    assert got["last"] == "m00008"
    assert got["ids"][-3:] == ["m00006", "m00007", "m00008"]
    assert "could not be shown" in page.text_content('[data-message-id="m00007"]')
    assert "Something went wrong" in page.text_content("#notice")
