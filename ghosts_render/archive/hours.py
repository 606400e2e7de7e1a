"""A venue's opening hours (`[player] hours`), in the subset of OpenStreetMap's opening_hours the
player reads (https://wiki.openstreetmap.org/wiki/Key:opening_hours).

    "Tu-Su 10:00-18:00"                    Tuesday to Sunday
    "Mo-Fr 09:00-17:00; Sa 10:00-14:00"    rules separated by ";"
    "Th 10:00-12:00,14:00-20:00"           several spans in a day
    "Fr-Mo 12:00-24:00"                    a day range may wrap past Sunday
    "10:00-18:00"                          every day

A later rule that names a day replaces what earlier rules said of it (as in opening_hours). A span
ends after it starts, on the same day (24:00 at the latest). site_template/assets/player-hours.js
reads the same text in the browser; this module is what the config and `check` refuse with.
"""

from __future__ import annotations

import re

DAYS = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")  # index 0 = Monday, as date.weekday()
_DAY_PART = re.compile(r"(?P<days>[A-Za-z]{2}(?:-[A-Za-z]{2})?(?:,[A-Za-z]{2}(?:-[A-Za-z]{2})?)*)")
_SPAN = re.compile(r"(\d{2}):(\d{2})-(\d{2}):(\d{2})")

Week = tuple[tuple[tuple[int, int], ...], ...]  # per weekday (Mo..Su): (start, end) minutes


def _day(name: str, rule: str) -> int:
    try:
        return DAYS.index(name[:1].upper() + name[1:].lower())
    except ValueError:
        raise ValueError(f"{name!r} in {rule!r} is not a day (Mo Tu We Th Fr Sa Su)") from None


def _days(text: str, rule: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        first, _, last = part.partition("-")
        a = _day(first, rule)
        b = _day(last, rule) if last else a
        out += [(a + i) % 7 for i in range((b - a) % 7 + 1)]
    return out


def _minutes(h: str, m: str, rule: str) -> int:
    hours, minutes = int(h), int(m)
    if minutes > 59 or hours > 24 or (hours == 24 and minutes):
        raise ValueError(f"{h}:{m} in {rule!r} is not a time of day (00:00 to 24:00)")
    return hours * 60 + minutes


def parse_hours(text: str) -> Week:
    """Return the opening spans of each weekday; raise ValueError with what is wrong."""
    week: list[tuple[tuple[int, int], ...]] = [()] * 7
    rules = [r.strip() for r in text.split(";")]
    if not any(rules):
        raise ValueError('no opening times: write them like "Tu-Su 10:00-18:00"')
    for rule in rules:
        if not rule:
            continue
        head, _, tail = rule.partition(" ")
        days = list(range(7))
        if _DAY_PART.fullmatch(head) and not _SPAN.fullmatch(head):
            days, rule_times = _days(head, rule), tail.strip()
        else:
            rule_times = rule
        spans = []
        for part in rule_times.split(","):
            match = _SPAN.fullmatch(part.strip())
            if not match:
                raise ValueError(
                    f'{rule!r} should be days and times like "Tu-Su 10:00-18:00" '
                    "(days Mo Tu We Th Fr Sa Su, times HH:MM-HH:MM)"
                )
            start = _minutes(match[1], match[2], rule)
            end = _minutes(match[3], match[4], rule)
            if end <= start:
                raise ValueError(
                    f"{part.strip()!r} in {rule!r} ends before it starts: a span ends on its own "
                    "day (24:00 at the latest)"
                )
            spans.append((start, end))
        spans.sort()
        if any(a[1] > b[0] for a, b in zip(spans, spans[1:], strict=False)):
            raise ValueError(f"{rule!r} has overlapping times")
        for d in days:
            week[d] = tuple(spans)
    if not any(week):
        raise ValueError(f"{text!r} opens on no day")
    return tuple(week)
