"""The wheel carries what an installed ghosts-render needs: player, studio, demo models."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_wheel_contains_the_player_the_studio_and_the_demo_models(tmp_path):
    # Built from a copy of the sources: a build/ folder left in the checkout would otherwise
    # lend the wheel files that the packaging settings no longer include.
    src = tmp_path / "src"
    shutil.copytree(
        ROOT,
        src,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "build", "*.egg-info", "__pycache__", "output*", ".*cache"
        ),
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            str(src),
        ],
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )
    (wheel,) = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for template in (ROOT / "site_template").rglob("*"):
        if template.is_file():
            rel = template.relative_to(ROOT / "site_template").as_posix()
            assert f"ghosts_render/site_template/{rel}" in names
    for demo in (ROOT / "ghosts_render" / "demo").rglob("*"):
        if demo.is_file() and "__pycache__" not in demo.parts:
            assert demo.relative_to(ROOT).as_posix() in names
    for page in (ROOT / "ghosts_render" / "studio").rglob("*"):
        if page.is_file() and "__pycache__" not in page.parts:
            assert page.relative_to(ROOT).as_posix() in names  # the studio's page and scripts
    for module in (ROOT / "ghosts_render").rglob("*.py"):  # every module, new packages too
        assert module.relative_to(ROOT).as_posix() in names
    assert "ghosts_render/demo/text/model.safetensors" in names
    assert "ghosts_render/demo/selfies/artist.safetensors" in names
    # Voices come from the optional extra (the demo voice is its own package); the test voice
    # stays with the tests.
    assert "ghosts_render/render/voices/piper_voice.py" in names
    assert not [n for n in names if n.endswith((".onnx", ".onnx.json"))]
