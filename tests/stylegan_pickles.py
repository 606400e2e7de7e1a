"""Test helpers that write official-format StyleGAN pickles without NVIDIA's code.

An official pickle rebuilds each module by calling
``torch_utils.persistence._reconstruct_persistent_obj(meta)``; ``Persistent`` re-emits that call
with a meta dict, and ``official_names`` registers the two official module names so pickle can
write (and the tests read back) such files. Nothing here is NVIDIA's code.
"""

from __future__ import annotations

import contextlib
import pickle
import sys
import types
from collections.abc import Iterator
from pathlib import Path

DATA = Path(__file__).parent / "data" / "stylegan"


class Persistent:
    """Re-emits the official persistence call with a meta dict, as a training snapshot holds."""

    def __init__(self, meta: dict) -> None:
        self.meta = meta

    def __reduce__(self) -> tuple:
        return (_hook, (self.meta,))


def _hook(meta: dict) -> Persistent:
    return Persistent(meta)


class EasyDict(dict):
    pass


@contextlib.contextmanager
def official_names() -> Iterator[None]:
    """Register the official module names while the block runs; remove them afterwards."""
    persistence = types.ModuleType("torch_utils.persistence")
    util = types.ModuleType("dnnlib.util")
    _hook.__module__, _hook.__qualname__ = "torch_utils.persistence", "_reconstruct_persistent_obj"
    EasyDict.__module__, EasyDict.__qualname__ = "dnnlib.util", "EasyDict"
    persistence._reconstruct_persistent_obj = _hook  # type: ignore[attr-defined]
    util.EasyDict = EasyDict  # type: ignore[attr-defined]
    modules = {
        "torch_utils": types.ModuleType("torch_utils"),
        "dnnlib": types.ModuleType("dnnlib"),
        "torch_utils.persistence": persistence,
        "dnnlib.util": util,
    }
    saved = {name: sys.modules.get(name) for name in modules}
    sys.modules.update(modules)
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = old


def read_raw(path: Path) -> object:
    """Unpickle a trusted fixture with the stand-ins (meta dicts stay editable)."""
    return pickle.loads(path.read_bytes())


def module_meta(class_name: str, src: str = "# placeholder", **state: object) -> Persistent:
    """Return an official-format module record with empty parts unless ``state`` gives them."""
    base = {
        "_parameters": {},
        "_buffers": {},
        "_modules": {},
        "_init_args": (),
        "_init_kwargs": EasyDict(),
        "training": False,
    }
    base.update(state)
    return Persistent(
        {"type": "class", "version": 6, "module_src": src, "class_name": class_name, "state": base}
    )


def write_pickle(tmp_path: Path, obj: object, name: str = "net.pkl", protocol: int = 4) -> Path:
    """Pickle ``obj`` to ``tmp_path/name`` and return the path."""
    path = tmp_path / name
    path.write_bytes(pickle.dumps(obj, protocol=protocol))
    return path


def generator_with(fixture: str, tmp_path: Path, **init_kwargs: object) -> Path:
    """Write a copy of a fixture's generator with some init kwargs replaced; return its path."""
    with official_names():
        raw = read_raw(DATA / f"{fixture}.pkl")
        G = raw["G_ema"] if isinstance(raw, dict) else raw
        assert isinstance(G, Persistent)
        G.meta["state"]["_init_kwargs"].update(init_kwargs)
        return write_pickle(tmp_path, G, f"{fixture}-edited.pkl")
