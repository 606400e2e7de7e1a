"""Hostile network pickles: work and memory stay bounded by the file's content; one clear error.

Every file here is crafted with the standard ``pickle`` module and the stand-ins in
stylegan_pickles.py. Loads that would run away if a guard regressed run in a subprocess with a
memory cap and a timeout, so a regression fails the test instead of hanging the suite.
"""

from __future__ import annotations

import io
import os
import pickle
import pickletools
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import stylegan_pickles
import torch
from stylegan_pickles import DATA, EasyDict, Persistent, generator_with, module_meta, write_pickle

from ghosts_render.errors import ModelLoadError
from ghosts_render.render.selfies.stylegan import load_network
from ghosts_render.render.selfies.stylegan.scan import MAX_TREE_NODES, check_pickle_size
from ghosts_render.render.selfies.stylegan.unpickle import load_pickle

ROOT = Path(__file__).resolve().parents[1]
# Loads a network under a cap on address space (beyond what importing torch maps) and prints
# the ModelLoadError; any other outcome exits non-zero.
_CAPPED_LOAD = """
import resource, sys
import torch
from ghosts_render.errors import ModelLoadError
from ghosts_render.render.selfies.stylegan import load_network
vm = next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmSize"))
resource.setrlimit(resource.RLIMIT_AS, (vm + int(sys.argv[2]), resource.RLIM_INFINITY))
try:
    load_network(sys.argv[1])
except ModelLoadError as e:
    print(e)
    sys.exit(0)
sys.exit("it loaded")
"""


@pytest.fixture
def official_names() -> Iterator[None]:
    with stylegan_pickles.official_names():
        yield


def _capped_load(path: Path, extra_bytes: int = 2 * 2**30) -> str:
    """Return the one-line error of loading ``path`` in a subprocess with bounded memory."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", _CAPPED_LOAD, str(path), str(extra_bytes)],
        capture_output=True,
        text=True,
        timeout=300,  # a guard against hanging forever if the bound regresses, not a timing
        env=env,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.strip()


def _shared_nest(depth: int) -> list:
    """A list of two references to a list of two references to ... (2**depth leaves as a tree)."""
    nest: list = []
    for _ in range(depth):
        nest = [nest, nest]
    return nest


def _generator(**state: object) -> Persistent:
    parts = {"mapping": module_meta("MappingNetwork"), "synthesis": module_meta("Synthesis")}
    return module_meta("Generator", _modules=parts, **state)


# --- issue: shared references made loading exponential ---


def test_a_shared_reference_bomb_in_module_settings_fails_at_once(
    official_names: None, tmp_path: Path
) -> None:
    kwargs = EasyDict(z_dim=512, mapping_kwargs=EasyDict(layers=_shared_nest(40)))
    path = write_pickle(tmp_path, {"G_ema": _generator(_init_kwargs=kwargs)})
    assert path.stat().st_size < 2000  # a tiny file that walks as 2**40 nodes
    error = _capped_load(path)
    assert error.startswith(f"{path}: its objects refer to each other so often")
    assert "refusing to load it" in error and "\n" not in error


def test_the_opcode_scan_counts_shared_objects_once_per_use() -> None:
    check_pickle_size(pickle.dumps(_shared_nest(19), protocol=4))  # 2**20 nodes: allowed
    for protocol in (0, 2, 4, 5):
        with pytest.raises(ModelLoadError, match="refer to each other so often"):
            check_pickle_size(pickle.dumps(_shared_nest(21), protocol=protocol))
    assert 2**20 < MAX_TREE_NODES < 2**22


def test_a_shared_tuple_bomb_used_as_a_key_is_refused_before_hashing(tmp_path: Path) -> None:
    # memo 0 = (); memo n = (memo n-1, memo n-1) up to 60; then {memo 60: 1}. Written opcode by
    # opcode: building the key in Python would take as long as hashing it (2**60 steps).
    steps = b"".join(bytes([0x68, n, 0x68, n, 0x86, 0x71, n + 1, 0x30]) for n in range(60))
    raw = b"\x80\x02}" + b")q\x000" + steps + b"h\x3cK\x01s."
    pickletools.dis(raw, out=io.StringIO())  # a well-formed pickle
    path = tmp_path / "keys.pkl"
    path.write_bytes(raw)
    assert "refer to each other so often" in _capped_load(path)


def test_module_settings_are_measured_with_shared_parts_once_per_use(
    official_names: None, tmp_path: Path
) -> None:
    kwargs = EasyDict(z_dim=512, mapping_kwargs=EasyDict(layers=_shared_nest(14)))
    path = write_pickle(tmp_path, {"G_ema": _generator(_init_kwargs=kwargs)})
    with pytest.raises(ModelLoadError, match=r"settings in this file hold over 10,000 values"):
        load_pickle(path)
    kwargs["mapping_kwargs"]["layers"] = _shared_nest(10)  # 2**11 values: fine
    assert load_pickle(write_pickle(tmp_path, _generator(_init_kwargs=kwargs))).class_name


def test_deeply_nested_settings_are_refused(official_names: None, tmp_path: Path) -> None:
    deep: list = []
    for _ in range(100):
        deep = [deep]
    path = write_pickle(tmp_path, _generator(_init_kwargs=EasyDict(z_dim=512, deep=deep)))
    with pytest.raises(ModelLoadError, match="nest over 16 deep"):
        load_pickle(path)


def test_settings_that_contain_themselves_are_refused(official_names: None, tmp_path: Path) -> None:
    loop: list = [1]
    loop.append(loop)
    path = write_pickle(tmp_path, _generator(_init_kwargs=EasyDict(z_dim=512, loop=loop)))
    with pytest.raises(ModelLoadError, match="settings in this file contain themselves"):
        load_pickle(path)


def test_a_module_shared_many_times_over_is_refused(official_names: None, tmp_path: Path) -> None:
    part = module_meta("Leaf")
    for _ in range(13):  # 2**14 modules as a tree, which state_dict() would walk
        part = module_meta("Pair", _modules={"a": part, "b": part})
    G = module_meta("Generator", _modules={"mapping": part, "synthesis": part})
    path = write_pickle(tmp_path, G)
    with pytest.raises(ModelLoadError, match="built of over 10,000 modules"):
        load_pickle(path)


class _Rebuilt(Persistent):
    """A module record followed by pickle's BUILD, which would rewrite the recovered module."""

    def __reduce__(self) -> tuple:
        return (*super().__reduce__(), {"children": {}})


def test_rewriting_a_recovered_module_is_refused(official_names: None, tmp_path: Path) -> None:
    rewritten = _Rebuilt(_generator().meta)
    path = write_pickle(tmp_path, {"G_ema": rewritten})
    assert b"b" in pickle.dumps(rewritten, protocol=4)[-4:]  # it ends in BUILD
    with pytest.raises(ModelLoadError, match="rewrites a network module after building it"):
        load_pickle(path)


# --- issue: settings allocated before the weights were checked ---


@pytest.mark.parametrize(
    ("fixture", "setting", "message"),
    [
        ("stylegan2-ada-cond-bare", {"z_dim": 62500, "w_dim": 4096}, "z_dim=62500 is not"),
        ("stylegan3-t", {"img_resolution": 2**14}, "img_resolution=16384 is not"),
        ("stylegan2-ada-orig-bare", {"img_resolution": 2**14}, "img_resolution=16384 is not"),
        ("stylegan3-t", {"z_dim": -5}, "z_dim=-5 is not a whole number from 1 to 16384"),
        ("stylegan3-t", {"img_channels": 0}, "img_channels=0 is not"),
        ("stylegan3-t", {"c_dim": 1.5}, "c_dim=1.5 is not"),
        ("stylegan3-t", {"num_critical": 14}, "num_critical=14 is not"),
        ("stylegan3-t", {"lrelu_upsampling": 10**6}, "lrelu_upsampling=1000000 is not"),
        ("stylegan3-t", {"first_cutoff": float("nan")}, "first_cutoff=nan is not"),
        ("stylegan3-t", {"img_resolution": 4096}, "beyond any StyleGAN3"),
        ("stylegan2-ada-orig-bare", {"img_resolution": 4096}, "4096² layers no channels"),
        ("stylegan2-ada", {"synthesis_kwargs": [1]}, "synthesis_kwargs is a list"),
    ],
)
def test_settings_beyond_sane_limits_are_refused_before_building(
    fixture: str, setting: dict, message: str, tmp_path: Path
) -> None:
    path = generator_with(fixture, tmp_path, **setting)
    with pytest.raises(ModelLoadError) as err:
        load_network(path)
    assert str(err.value).startswith(f"{path}: ") and message in str(err.value)
    assert "\n" not in str(err.value)


def test_settings_that_do_not_fit_the_weights_fail_before_allocating(tmp_path: Path) -> None:
    # Within the limits, but a real build would need 8 GB of 16384x16384 mapping layers; the
    # network is first built on the meta device, so this fails under a 2 GB cap.
    path = generator_with("stylegan2-ada", tmp_path, z_dim=16384, w_dim=16384)
    error = _capped_load(path)
    assert error.startswith(f"{path}: the weights do not fit a stylegan2 generator")
    assert "wrong shape: mapping.fc0.bias, mapping.fc0.weight" in error


def test_a_weight_stretched_over_too_little_data_is_refused(tmp_path: Path) -> None:
    with stylegan_pickles.official_names():
        G = stylegan_pickles.read_raw(DATA / "stylegan2-ada-orig-bare.pkl")
        assert isinstance(G, Persistent)
        fc0 = G.meta["state"]["_modules"]["mapping"].meta["state"]["_modules"]["fc0"]
        weight = fc0.meta["state"]["_parameters"]["weight"]
        stretched = torch.zeros(1).expand(weight.shape)
        fc0.meta["state"]["_parameters"]["weight"] = torch.nn.Parameter(stretched)
        path = write_pickle(tmp_path, G)
    with pytest.raises(ModelLoadError, match=r"weight mapping\.fc0\.weight claims \(8, 8\)"):
        load_network(path)
