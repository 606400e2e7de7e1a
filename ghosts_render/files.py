"""Files both halves write and read: atomic writes, JSON the archive's way, SHA-256 of a file.

``write_atomic`` is the one way this package writes a file: the bytes go to a temporary file in
the same folder, are flushed to disk, and only then take the final name (``os.replace``), so a
reader sees the old content or the new, never half of it; if anything fails the temporary file is
removed. The file gets the permissions any file the user makes gets (0666 less the umask).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from ghosts_render.errors import ArchiveError


def sha256_file(path: Path) -> str:
    """Return the hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_umask() -> int:
    """Return the process umask without changing it (Linux reports it; elsewhere set and reset)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write ``data`` (str as UTF-8) to ``path`` all-or-nothing; create the folder if needed."""
    path = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as fh:
            # mkstemp makes owner-only files; give the result a normal file's permissions.
            os.fchmod(fh.fileno(), 0o666 & ~read_umask())
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def dump_json(data: Any, *, sort_keys: bool = False) -> str:
    """Serialise JSON the archive's way: indent 2, UTF-8 text, newline-terminated, no NaN.

    NaN and Infinity are not JSON (browsers' ``JSON.parse`` refuses them), so they raise a
    ValueError instead of being written.
    """
    try:
        text = json.dumps(data, indent=2, ensure_ascii=False, sort_keys=sort_keys, allow_nan=False)
    except ValueError as e:
        raise ValueError(
            f"cannot write JSON holding NaN or Infinity ({e}); JSON has no such numbers"
        ) from None
    return text + "\n"


def write_json(path: Path, data: Any, *, sort_keys: bool = False) -> None:
    """Write JSON atomically (see ``dump_json`` and ``write_atomic``)."""
    try:
        text = dump_json(data, sort_keys=sort_keys)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None
    write_atomic(path, text)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def read_json(path: Path, what: str, fix: str = "restore it or render again") -> Any:
    """Read a JSON file (NaN and Infinity refused) or raise an ArchiveError that names it;
    ``fix`` says what to do about a damaged file."""
    try:
        return json.loads(path.read_text(encoding="utf-8"), parse_constant=_refuse_constant)
    except FileNotFoundError:
        raise ArchiveError(f"{path} does not exist: is this a ghosts-render {what}?") from None
    except (OSError, ValueError) as e:
        raise ArchiveError(f"{path} is not readable JSON ({e}): {fix}") from None
