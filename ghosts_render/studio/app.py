"""The studio's Flask app: the curation page, its JSON endpoints, and the archive's player.

Every endpoint that changes the archive calls the function its command-line verb calls
(edit_message, delete_message, undo_step, generate_candidates, pick_candidate,
generate_selfie_candidates, pick_selfie): the studio is a second face, not a second
implementation. Those functions save atomically and rebuild the player, so the folder stays a
valid archive after every click. A GhostsError becomes ``{"error": "<its one line>"}``.

Only the studio's own page may use it. A request whose Host is not ``127.0.0.1:PORT`` or
``localhost:PORT`` is refused (a DNS-rebinding page names its own host,
https://en.wikipedia.org/wiki/DNS_rebinding), and so is a POST whose Origin is not the studio's
own or whose body is not JSON: a page elsewhere cannot send one (a cross-origin JSON POST needs a
CORS preflight the studio never grants, and the browser sets Origin itself,
https://developer.mozilla.org/en-US/docs/Web/Security/Attacks/CSRF).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import (
    Flask,
    Response,
    abort,
    current_app,
    jsonify,
    render_template,
    request,
    send_file,
)
from werkzeug.exceptions import HTTPException

from ghosts_render.archive.folder import read_conversation
from ghosts_render.archive.paths import resolve_file_inside
from ghosts_render.errors import GhostsError

log = logging.getLogger(__name__)

# The page's own Content-Security-Policy: its scripts, styles and images come from the studio.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
)
# Served from the archive folder except the service worker: the studio's player must show every
# change at once, never a cached copy of the archive from before it.
NOT_SERVED = frozenset({"sw.js"})


@dataclass(frozen=True)
class Studio:
    """What the app serves: one archive, on one port, with an optional blocklist."""

    archive: Path
    port: int
    device: str = "auto"
    # message list -> {id: [matched terms]}; None when no blocklist is in use
    flag: Callable[[list[dict[str, Any]]], Mapping[str, list[str]]] | None = None
    blocklist_name: str = ""
    hosts: frozenset[str] = field(init=False)
    origins: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        hosts = frozenset(f"{h}:{self.port}" for h in ("127.0.0.1", "localhost"))
        object.__setattr__(self, "hosts", hosts)
        object.__setattr__(self, "origins", frozenset(f"http://{h}" for h in hosts))


def create_app(studio: Studio) -> Flask:
    """Build the Flask app for ``studio``."""
    app = Flask(__name__)
    app.config["studio"] = studio
    app.config["MAX_CONTENT_LENGTH"] = 1 << 20  # a message is at most 10,000 characters
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.before_request(_only_our_own_page)
    app.after_request(_headers)
    app.register_error_handler(GhostsError, _one_line)
    app.register_error_handler(Exception, _unexpected)
    _add_routes(app, studio)
    return app


def _only_our_own_page() -> Response | None:
    """Refuse a request from anywhere but the studio's own page (see the module docstring)."""
    studio = _studio()
    if request.host.lower() not in studio.hosts:
        return _refuse(f"this studio answers only to http://127.0.0.1:{studio.port}")
    if request.method not in ("GET", "HEAD"):
        if request.headers.get("Origin", "").lower() not in studio.origins:
            return _refuse("only the studio's own page may change the archive")
        if not request.is_json:
            return _refuse("the studio takes JSON requests only")
    return None


def _studio() -> Studio:
    studio: Studio = current_app.config["studio"]
    return studio


def _refuse(message: str) -> Response:
    response = jsonify(error=message)
    response.status_code = 403
    return response


def _headers(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    if not request.path.startswith("/archive/"):  # the player brings its own CSP
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Frame-Options"] = "DENY"
    return response


def _one_line(error: GhostsError) -> tuple[Response, int]:
    return jsonify(error=str(error)), 400


def _unexpected(error: Exception) -> Any:
    if isinstance(error, HTTPException):
        return jsonify(error=f"{error.code} {error.name}"), error.code or 500
    line = f"{request.path} failed ({type(error).__name__}: {error}): a bug, please report it"
    log.error("studio: %s", line)
    return jsonify(error=line), 500


def _add_routes(app: Flask, studio: Studio) -> None:
    from ghosts_render.studio import actions

    @app.get("/")
    def page() -> str:
        conversation = read_conversation(studio.archive)
        return render_template(
            "studio.html", title=conversation.get("title", ""), archive=str(studio.archive)
        )

    @app.get("/api/state")
    def state() -> Response:
        return jsonify(actions.read_state(studio))

    @app.post("/api/<verb>")
    def act(verb: str) -> Response:
        action = actions.ACTIONS.get(verb)
        if action is None:
            abort(404)
        return jsonify(action(studio, request.get_json(silent=True)))

    @app.get("/api/candidates/<message_id>")
    def candidates(message_id: str) -> Response:
        return jsonify(actions.read_text_candidates(studio, message_id))

    @app.get("/api/selfies/<message_id>")
    def selfies(message_id: str) -> Response:
        return jsonify(actions.read_selfie_candidates(studio, message_id))

    @app.get("/api/selfies/<message_id>/<int:k>")
    def selfie_image(message_id: str, k: int) -> Response:
        path = actions.find_selfie_candidate_image(studio, message_id, k)
        if path is None:
            abort(404)
        return send_file(path)

    @app.get("/archive/")
    @app.get("/archive/<path:rel>")
    def archive_file(rel: str = "index.html") -> Response:
        try:
            path = None if rel in NOT_SERVED else resolve_file_inside(studio.archive, rel)
        except (GhostsError, ValueError):
            path = None
        if path is None:
            abort(404)
        return send_file(path, conditional=False, etag=False)
