"""Test options, markers, the shared demo render, and a guard on the package's logger.

--slow opts into long tests; gpu tests skip without CUDA; --shuffle SEED runs the tests in a
seeded random order. `demo_render` renders the demo once per session (tests read it or copy it).
`demo_render_started` starts that render without waiting, so a test can render beside it;
`curated_copy` is a private copy of it, sidecar included, for tests that change an archive.
`voiced_render` is one small render with voices (the tiny test voice), shared the same way.
Every test starts with the `ghosts_render` logger as it found it: the CLI configures that logger,
and a test must not pass that on to the next one.
"""

from __future__ import annotations

import logging
import random
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from demo_render import ARGS, VOICED_ARGS, VOICED_CONFIG, finish, start_render, stop_render


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--slow", action="store_true", help="also run tests marked slow")
    parser.addoption(
        "--shuffle",
        type=int,
        metavar="SEED",
        help="run the tests in an order shuffled with SEED (no test may depend on another's order)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    seed = config.getoption("--shuffle")
    if seed is not None:
        random.Random(seed).shuffle(items)
    run_slow = config.getoption("--slow")
    cuda = None
    for item in items:
        if "slow" in item.keywords and not run_slow:
            item.add_marker(pytest.mark.skip(reason="slow: pass --slow to run"))
        if "gpu" in item.keywords:
            if cuda is None:
                import torch

                cuda = torch.cuda.is_available()
            if not cuda:
                item.add_marker(pytest.mark.skip(reason="gpu: no CUDA device"))


@pytest.fixture(autouse=True)
def _restore_package_logger() -> Iterator[None]:
    """Put the `ghosts_render` logger's handlers, level, propagation back after every test."""
    logger = logging.getLogger("ghosts_render")
    saved = (list(logger.handlers), logger.level, logger.propagate, logger.disabled)
    yield
    handlers, level, logger.propagate, logger.disabled = saved
    logger.handlers[:] = handlers
    logger.setLevel(level)  # setLevel, not .level: it also clears the loggers' level caches


@pytest.fixture(scope="session")
def demo_render_started(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[subprocess.Popen, Path]]:
    """Start the shared render and return (process, out) at once: a test can render beside it."""
    base = tmp_path_factory.mktemp("demo-render")
    out = base / "out"
    proc = start_render(out, *ARGS, cwd=base)
    yield proc, out
    stop_render(proc)  # a session that never waited for it leaves nothing running


@pytest.fixture(scope="session")
def demo_render(demo_render_started: tuple[subprocess.Popen, Path]) -> Path:
    """One uninterrupted `ghosts-render --turns 60 --seed 7` on the demo models; read or copy it."""
    proc, out = demo_render_started
    stdout = finish(proc)
    assert stdout.strip() == str(out)
    return out


@pytest.fixture(scope="session")
def voiced_render(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One uninterrupted 16-turn render with voices (needs the voices extra, which `make test`
    installs); read it or copy it."""
    for module in ("piper", "onnx", "onnxruntime"):
        pytest.importorskip(module, reason="voices need the extra: pip install '.[voices]'")
    base = tmp_path_factory.mktemp("voiced-render")
    (base / "ghosts.toml").write_text(VOICED_CONFIG)
    finish(start_render(base / "out", *VOICED_ARGS, cwd=base))
    return base / "out"


@pytest.fixture
def curated_copy(demo_render: Path, tmp_path: Path) -> Path:
    """A private copy of the demo render at tmp/out, with its sidecar at tmp/out.curation."""
    from ghosts_render.curate.sidecar import sidecar_dir

    out = tmp_path / "out"
    shutil.copytree(demo_render, out)
    if sidecar_dir(demo_render).is_dir():
        shutil.copytree(sidecar_dir(demo_render), sidecar_dir(out))
    return out
