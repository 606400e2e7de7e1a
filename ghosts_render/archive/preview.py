"""``ghosts-render preview``: serve an archive on 127.0.0.1 for a look before uploading."""

from __future__ import annotations

import contextlib
import functools
import http.server
from collections.abc import Callable
from pathlib import Path

from ghosts_render.errors import ArchiveError


def serve(archive: Path, port: int, announce: Callable[[str], None]) -> None:
    """Serve ``archive`` on 127.0.0.1 until interrupted."""
    if not (archive / "index.html").is_file():
        raise ArchiveError(f"{archive} has no index.html: give a rendered archive folder")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(archive))
    try:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    except OSError as e:
        raise ArchiveError(
            f"cannot serve on 127.0.0.1:{port} ({e.strerror}); try --port 0"
        ) from None
    with server:
        announce(f"http://127.0.0.1:{server.server_address[1]}/")
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()
