"""``ghosts-render preview``: serve an archive on 127.0.0.1 for a look before uploading.

Only regular files inside the archive's real path are served: no folder listings (``/`` is
index.html), nothing through a symbolic link that leads elsewhere, and only to requests whose
Host is 127.0.0.1 or localhost, so a web page cannot reach the server by DNS rebinding
(https://en.wikipedia.org/wiki/DNS_rebinding). docs/archive-format.md, Safety.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ghosts_render.archive.paths import resolve_file_inside
from ghosts_render.errors import ArchiveError, GhostsError

_LOCAL_HOST = re.compile(r"(127\.0\.0\.1|localhost)(:\d{1,5})?", re.IGNORECASE)


class ArchiveHandler(http.server.SimpleHTTPRequestHandler):
    """Serve the files of one archive, and nothing else."""

    root: Path  # set per server by bind_server
    _file: Path | None = None  # the file this request serves, once checked

    def send_head(self) -> Any:
        """Answer with a regular file of the archive, 404 for anything else, 421 for other hosts."""
        host = self.headers.get("Host", "")
        if not _LOCAL_HOST.fullmatch(host):
            self.send_error(421, "this preview answers only to 127.0.0.1 and localhost")
            return None
        fs_path = Path(self.translate_path(self.path))
        rel = fs_path.relative_to(Path(self.directory)).as_posix()
        if rel in ("", "."):
            rel = "index.html"
        try:
            path = resolve_file_inside(self.root, rel)
        except (GhostsError, ValueError):
            path = None
        if path is None:
            self.send_error(404, "not a file of this archive")
            return None
        self._file = path
        return super().send_head()

    def translate_path(self, path: str) -> str:
        """The checked file once send_head found one; the base class's mapping before that."""
        return str(self._file) if self._file else super().translate_path(path)

    def list_directory(self, path: Any) -> None:
        """Never list a folder."""
        self.send_error(404, "not a file of this archive")


def bind_server(archive: Path, port: int) -> http.server.ThreadingHTTPServer:
    """Open the preview server for ``archive`` on 127.0.0.1:``port`` (0 = any free port)."""
    if not (archive / "index.html").is_file():
        raise ArchiveError(f"{archive} has no index.html: give a rendered archive folder")
    if not 0 <= port <= 65535:
        raise ArchiveError(f"--port {port} is not a port: give 1 to 65535, or 0 for any free one")
    root = archive.resolve()
    handler = type("Handler", (ArchiveHandler,), {"root": root})
    try:
        return http.server.ThreadingHTTPServer(
            ("127.0.0.1", port), functools.partial(handler, directory=str(root))
        )
    except OSError as e:
        raise ArchiveError(
            f"cannot serve on 127.0.0.1:{port} ({e.strerror}); try --port 0"
        ) from None


def serve(archive: Path, port: int, announce: Callable[[str], None]) -> None:
    """Serve ``archive`` on 127.0.0.1 until interrupted."""
    with bind_server(archive, port) as server:
        announce(f"http://127.0.0.1:{server.server_address[1]}/")
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()
