"""`ghosts-render studio` refuses what it must: a port in use, a second studio, another site.

Each test runs the real command on a copy of the shared demo render; the page itself is driven in
Chromium by tests/browser/test_studio.py.
"""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from studio_process import (
    copy_render,
    list_files,
    read_url,
    running_studio,
    start_studio,
    stop_studio,
)

from ghosts_render.archive.check import check_archive


@pytest.fixture
def show(demo_render: Path, tmp_path: Path) -> Path:
    """A copy of the demo render (with its curation folder) to curate."""
    return copy_render(demo_render, tmp_path / "show")


def _sidecar(archive: Path) -> Path:
    return archive.with_name(archive.name + ".curation")


def _request(
    url: str, method: str, path: str, body: object = None, headers: dict[str, str] | None = None
) -> tuple[int, dict]:
    """Send one request to the studio at ``url``; return (status, JSON answer)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    data = None if body is None else json.dumps(body).encode()
    try:
        conn.request(method, path, body=data, headers=headers or {})
        res = conn.getresponse()
        return res.status, json.loads(res.read() or b"null")
    finally:
        conn.close()


def refused_line(proc: subprocess.Popen) -> str:
    """Wait for a studio that refused to start; return its one line (exit 1, nothing on stdout)."""
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_a_port_in_use_is_one_line_naming_it_and_nothing_is_written(show):
    before = list_files(show, _sidecar(show))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = start_studio(show, "--port", str(port))
        line = refused_line(proc)
    assert line.startswith("ghosts-render: error: ")
    assert f"port {port} " in line and "--port" in line
    assert list_files(show, _sidecar(show)) == before


def test_a_second_studio_on_one_archive_is_the_lock_line(show):
    with running_studio(show):
        proc = start_studio(show, "--port", "0")
        line = refused_line(proc)
    assert "is open in the studio (pid " in line and str(show.resolve()) in line


def test_an_invalid_archive_is_the_checks_line_and_nothing_is_written(show):
    doc = json.loads((show / "conversation.json").read_text(encoding="utf-8"))
    del doc["messages"][3]["text"]
    (show / "conversation.json").write_text(json.dumps(doc), encoding="utf-8")
    before = list_files(show, _sidecar(show))
    proc = start_studio(show, "--port", "0")
    line = refused_line(proc)
    assert "problem(s): message #3 (" in line
    assert list_files(show, _sidecar(show)) == before


@pytest.mark.parametrize("port", ["-1", "65536"])
def test_a_port_out_of_range_is_one_line(show, port):
    proc = start_studio(show, "--port", port)
    line = refused_line(proc)
    assert f"--port {port} is not a port" in line


def test_only_the_studios_own_page_may_change_the_archive(show):
    with running_studio(show) as url:
        port = urlsplit(url).port
        own = f"http://127.0.0.1:{port}"
        first = json.loads((show / "conversation.json").read_text(encoding="utf-8"))["messages"][0]
        edit = {"id": first["id"], "text": "changed by another site"}
        json_type = {"Content-Type": "application/json"}
        refused = [
            # a page elsewhere posting to the studio (CSRF)
            ("POST", "/api/edit", edit, {**json_type, "Origin": "http://example.com"}),
            ("POST", "/api/edit", edit, {**json_type, "Origin": "null"}),
            ("POST", "/api/edit", edit, json_type),  # no Origin at all
            ("POST", "/api/edit", edit, {"Content-Type": "text/plain", "Origin": own}),
            ("POST", "/api/undo", {}, {**json_type, "Origin": f"http://localhost:{port + 1}"}),
            # a DNS-rebinding page: its own host name, pointed at 127.0.0.1
            ("GET", "/api/state", None, {"Host": f"evil.example:{port}"}),
            ("POST", "/api/edit", edit, {**json_type, "Origin": own, "Host": "evil.example"}),
            ("GET", "/archive/index.html", None, {"Host": f"evil.example:{port}"}),
        ]
        for method, path, body, headers in refused:
            status, answer = _request(url, method, path, body, headers)
            assert status == 403, (method, path, headers)
            assert answer["error"]
        status, state = _request(url, "GET", "/api/state")
        assert status == 200 and state["messages"][0]["text"] == first["text"]
    assert "changed by another site" not in (show / "conversation.json").read_text("utf-8")
    assert not (_sidecar(show) / "history.jsonl").exists() or not (
        (_sidecar(show) / "history.jsonl").read_text("utf-8").strip()
    )
    check_archive(show)


def test_a_bad_request_is_one_line_and_changes_nothing(show):
    before = (show / "conversation.json").read_bytes()
    with running_studio(show) as url:
        own = {"Content-Type": "application/json", "Origin": url.rstrip("/")}
        for body in ({"id": "m99999", "text": "x"}, {"id": 3, "text": "x"}, {"text": "x"}, []):
            status, answer = _request(url, "POST", "/api/edit", body, own)
            assert status == 400, body
            assert "\n" not in answer["error"]
        status, _ = _request(url, "POST", "/api/nothing", {}, own)
        assert status == 404
    assert (show / "conversation.json").read_bytes() == before


def test_ctrl_c_stops_the_studio_and_lets_the_archive_go(show):
    proc = start_studio(show, "--port", "0")
    url = read_url(proc)
    assert url.startswith("http://127.0.0.1:") and url.endswith("/")
    code, _, err = stop_studio(proc)
    assert code == 0, err
    with running_studio(show):  # the lock is free again
        pass
