"""The blocklist: words, phrases and /regular expressions/ a shown message must not contain.

The file is UTF-8 text, one entry per line (docs/configuration.md, Blocklist):

- ``word`` or ``a phrase``: matched case-insensitively as whole words: "art" matches "Art!" but
  not "artist" (a term's edge that is punctuation needs no boundary: "!!!" is in "wow!!!"); a
  phrase's inner spaces match any run of whitespace. Word boundaries are Unicode's (a letter or
  digit of any script continues a word), and both sides are compared after Unicode case folding
  and NFKC normalisation, so "STRASSE" matches "straße" and a full-width "ａｒｔ" matches "art".
- ``/regex/``: a Python regular expression, searched case-insensitively anywhere in the text
  as it is (write ``\\b`` for word boundaries yourself).
- blank lines, and lines whose first non-blank character is ``#``, are ignored. To block a
  term that starts with ``#``, write it as a regex: ``/#tag/``.

Python's ``re`` has no time limit, so a regular expression that backtracks exponentially would
hang a render. Guards: the file is at most 1 MiB and 10,000 entries, a regex at most 300
characters, and a regex that repeats a repetition without bound (``(a+)+``, ``(a*){2,}``) is
refused at load time; a possessive quantifier or an atomic group (``(a++)+``, ``(?>a+)+``) is
accepted. That catches the common shape, not every slow regex (``(a|aa)+`` passes). A regex that
matches the empty text (it would block every message) is refused too.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from ghosts_render.errors import ConfigError

MAX_BYTES = 1 << 20  # a blocklist is a list of words: 1 MiB is plenty
MAX_ENTRIES = 10_000  # words, phrases and regexes together
MAX_REGEX_CHARS = 300  # one regex, between its slashes
MAX_OPEN_REPEAT = 10  # a repeat with a higher maximum counts as open-ended (nested: refused)

_WORD_RUN = re.compile(r"\w+")


class BlockedMessage(NamedTuple):
    """A message that matches the blocklist: its id, its sender and the term as written."""

    id: str
    sender: str
    term: str


@dataclass(frozen=True, slots=True)
class _Entry:
    term: str  # as written in the file
    line: int  # 1-based
    pattern: re.Pattern[str]
    literal: bool  # a word or phrase: searched in the folded text; a regex: in the text


@dataclass(frozen=True, slots=True)
class Blocklist:
    """A loaded blocklist: ``find(text)`` returns the first entry (file order) that matches."""

    path: Path
    sha256: str  # of the file's bytes
    entries: tuple[_Entry, ...]
    # Literal entries by the first word of their folded form: a whole-word match needs that word
    # as a whole word of the folded text, so only entries keyed by a word of the text are tried.
    _by_word: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    _always: tuple[int, ...] = ()  # regexes, and literal entries without a word character

    @property
    def terms(self) -> tuple[str, ...]:
        """Every entry as written, in file order."""
        return tuple(e.term for e in self.entries)

    def find(self, text: str) -> str | None:
        """Return the first entry (as written in the file) that ``text`` matches, or None."""
        folded = fold(text)
        tried = set(self._always)
        for word in set(_WORD_RUN.findall(folded)):
            tried.update(self._by_word.get(word, ()))
        for i in sorted(tried):
            entry = self.entries[i]
            if entry.pattern.search(folded if entry.literal else text):
                return entry.term
        return None


def fold(text: str) -> str:
    """Return ``text`` as words and phrases are compared: NFKC-normalised, case-folded."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


def load_blocklist(path: Path) -> Blocklist:
    """Read and check a blocklist file; one ConfigError line names the file (and line) if bad."""
    data = _read_bytes(path)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ConfigError(
            f"{path} is not UTF-8 text (byte {e.start}): save the blocklist as UTF-8"
        ) from None
    entries: list[_Entry] = []
    for number, line in enumerate(text.split("\n"), start=1):
        term = line.strip()
        if not term or term.startswith("#"):
            continue
        if len(entries) == MAX_ENTRIES:
            raise ConfigError(
                f"{path} line {number}: more than {MAX_ENTRIES} entries: a blocklist is a list "
                "of words and phrases; join related words into one /regex/ or split the list"
            )
        entries.append(_parse_entry(term, number, path))
    return _index(path, hashlib.sha256(data).hexdigest(), entries)


def list_blocked(
    messages: Iterable[Mapping[str, Any]], blocklist: Blocklist
) -> list[BlockedMessage]:
    """Return every message (conversation.json records) whose text matches, in order."""
    found = []
    for m in messages:
        text = m.get("text")
        term = blocklist.find(text) if isinstance(text, str) else None
        if term is not None:
            found.append(BlockedMessage(str(m.get("id", "")), str(m.get("sender", "")), term))
    return found


def _read_bytes(path: Path) -> bytes:
    try:
        if not path.is_file():
            what = "does not exist" if not path.exists() else "is not a file"
            raise ConfigError(f"blocklist {path} {what}: give a text file, one term per line")
        with path.open("rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except OSError as e:
        raise ConfigError(f"cannot read the blocklist {path} ({e.strerror or e})") from None
    if len(data) > MAX_BYTES:
        raise ConfigError(
            f"{path} is larger than {MAX_BYTES >> 20} MiB, too large for a blocklist: keep one "
            "word or phrase per line, or join related words into one /regex/"
        )
    return data


def _parse_entry(term: str, number: int, path: Path) -> _Entry:
    where = f"{path} line {number}: {term}"
    if len(term) >= 2 and term.startswith("/") and term.endswith("/"):
        return _Entry(term, number, _compile_regex(term[1:-1], where), literal=False)
    folded = fold(term)
    body = r"\s+".join(re.escape(w) for w in folded.split())
    # A word boundary where the term has a word character at its edge: "art" is not in
    # "artist", but "!!!" is in "wow!!!".
    head = r"(?<!\w)" if re.match(r"\w", folded) else ""
    tail = r"(?!\w)" if re.search(r"\w$", folded) else ""
    return _Entry(term, number, re.compile(head + body + tail), literal=True)


def _compile_regex(source: str, where: str) -> re.Pattern[str]:
    if not source:
        raise ConfigError(f"{where} is an empty regular expression: it would block every message")
    if len(source) > MAX_REGEX_CHARS:
        raise ConfigError(
            f"{where[:MAX_REGEX_CHARS]}… is a regular expression of {len(source)} characters, "
            f"more than {MAX_REGEX_CHARS}: split it into several lines"
        )
    try:
        pattern = re.compile(source, re.IGNORECASE)
    except (re.error, RecursionError, OverflowError) as e:
        raise ConfigError(
            f"{where} is not a valid regular expression ({e}): fix it or write the word "
            "without slashes"
        ) from None
    if _has_nested_repeat(source):
        raise ConfigError(
            f"{where} repeats a repetition without bound (like (a+)+), which can take "
            "exponential time on a long message: repeat once (a+ rather than (a+)+), or make "
            "the inner repeat possessive ((a++)+)"
        )
    if pattern.search(""):
        raise ConfigError(
            f"{where} matches an empty text, so it would block every message: make it match "
            "at least one character"
        )
    return pattern


def _has_nested_repeat(source: str) -> bool:
    """Whether a regex repeats something inside an open-ended repeat (``(a+)+``, ``(a|b*)*``).

    That is what backtracks exponentially when a match fails. A possessive repeat or an atomic
    group never gives back what it matched, so it ends the nesting.
    """
    from re import _constants as c  # type: ignore[attr-defined]
    from re import _parser  # type: ignore[attr-defined]

    def walk(items: Any, inside: bool) -> bool:
        for op, av in items:
            if op in (c.MAX_REPEAT, c.MIN_REPEAT):
                high, body = av[1], av[2]
                if inside and high > 1:
                    return True
                open_ended = high == c.MAXREPEAT or high > MAX_OPEN_REPEAT
                parts = [(body, inside or open_ended)]
            elif op == c.POSSESSIVE_REPEAT:
                parts = [(av[2], False)]
            elif op == c.ATOMIC_GROUP:
                parts = [(av, False)]
            elif op == c.SUBPATTERN:
                parts = [(av[3], inside)]
            elif op in (c.ASSERT, c.ASSERT_NOT):
                parts = [(av[1], inside)]
            elif op == c.BRANCH:
                parts = [(b, inside) for b in av[1]]
            elif op == c.GROUPREF_EXISTS:
                parts = [(b, inside) for b in av[1:] if b is not None]
            else:
                parts = []
            if any(walk(sub, flag) for sub, flag in parts):
                return True
        return False

    return walk(_parser.parse(source, re.IGNORECASE), False)


def _index(path: Path, sha256: str, entries: list[_Entry]) -> Blocklist:
    by_word: dict[str, list[int]] = {}
    always: list[int] = []
    for i, entry in enumerate(entries):
        first = _WORD_RUN.search(fold(entry.term)) if entry.literal else None
        if first is None:
            always.append(i)
        else:
            by_word.setdefault(first.group(), []).append(i)
    return Blocklist(
        path=path,
        sha256=sha256,
        entries=tuple(entries),
        _by_word={k: tuple(v) for k, v in by_word.items()},
        _always=tuple(always),
    )
