"""The README's Layout section names every module and package of the tree, and nothing else."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _layout_block() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Layout", 1)[1]
    return section.split("```", 2)[1].strip("\n").splitlines()


def _named() -> tuple[set[str], set[str]]:
    """Return the folders and the .py files the Layout block names, as paths from the root."""
    folders: set[str] = set()
    files: set[str] = set()
    stack: list[tuple[int, str]] = []  # (indent, folder path)
    for line in _layout_block():
        indent = len(line) - len(line.lstrip(" "))
        first = line.split()[0] if line.split() else ""
        continued = line[:indent].strip() == "" and indent >= 31  # a description's next line
        if not continued:
            while stack and stack[-1][0] >= indent:
                stack.pop()
        parent = stack[-1][1] + "/" if stack else ""
        if first.endswith("/") and not continued:
            folder = parent + first.rstrip("/")
            folders.add(folder)
            stack.append((indent, folder))
            parent = folder + "/"
        for name in re.findall(r"\b([a-z0-9_]+\.py)\b", line):
            files.add(parent + name)
    return folders, files


def test_the_layout_names_every_module_and_package() -> None:
    folders, files = _named()
    package = ROOT / "ghosts_render"
    real_files = {
        p.relative_to(ROOT).as_posix()
        for p in package.rglob("*.py")
        if p.name not in ("__init__.py", "__main__.py")
    }
    real_folders = {p.parent.relative_to(ROOT).as_posix() for p in package.rglob("__init__.py")} | {
        "ghosts_render/demo"
    }
    named_py = {f for f in files if f.startswith("ghosts_render/")}
    assert named_py == real_files, (
        f"missing from README: {sorted(real_files - named_py)}; "
        f"named but absent: {sorted(named_py - real_files)}"
    )
    named_pkg = {f for f in folders if f.startswith("ghosts_render")}
    assert named_pkg == real_folders, (
        f"missing from README: {sorted(real_folders - named_pkg)}; "
        f"named but absent: {sorted(named_pkg - real_folders)}"
    )


def test_every_top_level_folder_in_the_layout_exists() -> None:
    folders, _ = _named()
    for folder in folders:
        assert (ROOT / folder).is_dir(), f"README Layout names {folder}/, which does not exist"
