"""Open the studio: check the archive, bind 127.0.0.1:PORT, hold the curation lock, serve.

First a step a crash interrupted is finished or rolled back (as every verb does); then the
archive is checked, the blocklist loaded and the port bound, so a bad archive, a bad blocklist or
a port in use stops it before anything is written. The lock is the one the command-line verbs
take for each change: while the studio runs, a second studio or a verb from another terminal on
the same archive stops with the lock's one line. werkzeug's own server serves one request at a
time (one artist; a model generation simply holds the others); Ctrl-C stops it and lets the
lock go.
"""

from __future__ import annotations

import errno
import logging
import socket
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from werkzeug.serving import WSGIRequestHandler, make_server

from ghosts_render.archive.check import check_archive
from ghosts_render.archive.folder import read_manifest
from ghosts_render.config import read_recorded_config
from ghosts_render.errors import ConfigError
from ghosts_render.studio.app import Studio, create_app

log = logging.getLogger(__name__)


class _QuietHandler(WSGIRequestHandler):
    """werkzeug's handler without a log line per request (errors are still logged)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


@contextmanager
def bind_port(port: int) -> Iterator[socket.socket]:
    """A listening socket on 127.0.0.1:``port`` (0 = any free port), closed on exit."""
    if not 0 <= port <= 65535:
        raise ConfigError(f"--port {port} is not a port: give 1 to 65535, or 0 for any free one")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restart after Ctrl-C
        sock.bind(("127.0.0.1", port))
        sock.listen(64)
    except OSError as e:
        sock.close()
        if e.errno == errno.EADDRINUSE:
            raise ConfigError(
                f"port {port} on 127.0.0.1 is in use (another program, or another studio): "
                "choose another with --port P, or --port 0 for any free one"
            ) from None
        raise ConfigError(
            f"cannot serve on 127.0.0.1:{port} ({e.strerror}): choose another with --port P"
        ) from None
    with sock:
        yield sock


def serve_studio(
    archive: Path,
    port: int,
    announce: Callable[[str], None],
    *,
    blocklist: Path | None = None,
    device: str = "auto",
) -> None:
    """Serve the studio for ``archive`` until Ctrl-C; ``announce`` gets its URL."""
    from ghosts_render.curate.history import recover_interrupted
    from ghosts_render.curate.sidecar import STUDIO, lock_archive

    recover_interrupted(archive)  # a step a crash interrupted: finished or rolled back, as verbs do
    check_archive(archive)
    flag, blocklist_name = load_flagger(archive, blocklist)
    with bind_port(port) as sock, lock_archive(archive, STUDIO):
        bound = sock.getsockname()[1]
        studio = Studio(
            archive=archive.resolve(),
            port=bound,
            device=device,
            flag=flag,
            blocklist_name=blocklist_name,
        )
        server = make_server(
            "127.0.0.1",
            bound,
            create_app(studio),
            threaded=False,
            request_handler=_QuietHandler,
            fd=sock.fileno(),
        )
        try:
            announce(f"http://127.0.0.1:{bound}/")
            server.serve_forever()  # returns on Ctrl-C: werkzeug catches it
        except KeyboardInterrupt:  # Ctrl-C before serve_forever began
            pass
        finally:
            server.server_close()


def load_flagger(
    archive: Path, blocklist: Path | None
) -> tuple[Callable[[list[dict[str, Any]]], Mapping[str, list[str]]] | None, str]:
    """The blocklist check the page marks messages with, and its file's path ('' = none).

    ``--blocklist FILE`` when given, else the ``[text] blocklist`` the render recorded (when it
    had one and the file is still there; a missing one is a warning, not a refusal).
    """
    from ghosts_render.blocklist import list_blocked, load_blocklist

    path = blocklist or find_recorded_blocklist(archive)
    if path is None:
        return None, ""
    loaded = load_blocklist(path)

    def flag(messages: list[dict[str, Any]]) -> Mapping[str, list[str]]:
        return {found.id: [found.term] for found in list_blocked(messages, loaded)}

    return flag, str(path)


def find_recorded_blocklist(archive: Path) -> Path | None:
    """The blocklist file the archive's render used, if it had one and it is still there."""
    manifest = read_manifest(archive)
    config = manifest.get("config")
    if not isinstance(config, Mapping):
        return None
    recorded = read_recorded_config(config, f"{archive / 'manifest.json'}").text.blocklist
    if not recorded:
        return None
    if not Path(recorded).is_file():
        log.warning(
            "the render's blocklist %s is gone: no message is marked (give --blocklist FILE)",
            recorded,
        )
        return None
    return Path(recorded)
