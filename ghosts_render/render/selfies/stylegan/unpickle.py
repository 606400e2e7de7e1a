"""Read NVIDIA-format StyleGAN network pickles without running any code they carry.

An official pickle rebuilds each network module by calling
``torch_utils.persistence._reconstruct_persistent_obj(meta)``, whose ``meta`` holds the module's
source code (which the official loader executes), its class name, its constructor arguments and
its ``__dict__``. Here that call, and ``dnnlib.util.EasyDict``, are mapped to harmless stand-ins
that only record names, arguments and tensors; the embedded source is never looked at. Every
other global a pickle asks for must be on a short allowlist (tensor and numpy rebuilding), or the
file is refused before anything it names is called.

The work a file can cause is bounded by its content: before unpickling, its opcodes are scanned
(scan.py) so that objects shared through pickle's memo cannot make any walk exponential; while
recovering modules, settings and the module tree are walked with shared parts memoised by id and
capped in size and depth.
"""

from __future__ import annotations

import io
import pickle
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ghosts_render.errors import ModelLoadError
from ghosts_render.render.selfies.stylegan.scan import check_pickle_size

if TYPE_CHECKING:
    from torch import Tensor

REFUSAL = (
    "this file wants to call {name}; refusing to load it "
    "(network pickles are read without running code)"
)
PERSISTENT_HOOK = ("torch_utils.persistence", "_reconstruct_persistent_obj")
EASYDICT = ("dnnlib.util", "EasyDict")
STORAGE_BYTES = ("torch.storage", "_load_from_bytes")
ZIP_MAGIC = b"PK\x03\x04"
# Caps far above any official network (a module's settings are a few dozen values nested three
# deep; a generator is under a hundred modules, four deep), far below what could hurt.
MAX_SETTING_VALUES = 10_000  # values in one module's settings, a shared one once per use
MAX_SETTING_DEPTH = 16
MAX_MODULES = 10_000  # modules in one module's tree, a shared one once per use
MAX_MODULE_DEPTH = 16


@dataclass(frozen=True)
class Recovered:
    """One network module as the pickle describes it: class name, constructor args, tensors."""

    class_name: str
    init_args: tuple
    init_kwargs: dict
    attrs: dict
    params: dict[str, Tensor]
    buffers: dict[str, Tensor]
    children: dict[str, Recovered]
    non_persistent: frozenset[str] = field(default_factory=frozenset)
    tree_size: int = 1  # modules in this tree, a shared one once per use
    tree_depth: int = 1

    def __setstate__(self, state: object) -> None:
        """Refuse pickle's BUILD on a recovered module: it would rewrite a frozen record."""
        raise ModelLoadError("this file rewrites a network module after building it")

    def state_dict(self) -> dict[str, Tensor]:
        """Return every parameter and persistent buffer under its official dotted name."""
        out: dict[str, Tensor] = dict(self.params)
        out.update({k: v for k, v in self.buffers.items() if k not in self.non_persistent})
        for name, child in self.children.items():
            out.update({f"{name}.{k}": v for k, v in child.state_dict().items()})
        return out


class _EasyDictStandIn(dict):
    """Takes the place of dnnlib.util.EasyDict: a plain dict, nothing more."""

    def __setstate__(self, state: object) -> None:
        """Ignore instance state; an EasyDict keeps everything in its items."""


def load_pickle(path: Path) -> Recovered:
    """Return the generator of a network pickle: G_ema of a training snapshot, or a bare one."""
    path = Path(path)
    data = _unpickle(path)
    if isinstance(data, dict):
        if "G_ema" not in data:
            keys = ", ".join(sorted(str(k) for k in data)) or "none"
            raise ModelLoadError(
                f"{path}: this pickle has no generator (no 'G_ema' entry; it has: {keys}); "
                "use a network-snapshot-*.pkl written by StyleGAN3 or StyleGAN2-ADA training"
            )
        data = data["G_ema"]
    if not isinstance(data, Recovered):
        raise ModelLoadError(
            f"{path}: this pickle holds a {type(data).__name__}, not a StyleGAN network; use a "
            "network-snapshot-*.pkl written by StyleGAN3 or StyleGAN2-ADA training"
        )
    if data.class_name != "Generator" or not {"mapping", "synthesis"} <= set(data.children):
        raise ModelLoadError(
            f"{path}: this pickle holds a {data.class_name}, not a StyleGAN generator (one with "
            "a mapping and a synthesis network); use the generator pickle (G_ema of a snapshot)"
        )
    return data


def _unpickle(path: Path) -> Any:
    """Unpickle a file with the restricted unpickler; every failure is one clear ModelLoadError."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ModelLoadError(f"{path}: no such file; check the network path") from None
    except OSError as e:
        raise ModelLoadError(f"{path}: cannot read the file ({e.strerror or e})") from None
    if raw.startswith(ZIP_MAGIC):
        raise ModelLoadError(
            f"{path}: this is a zip file (a torch.save checkpoint?), not a StyleGAN network "
            "pickle; use a network-snapshot-*.pkl written by StyleGAN3 or StyleGAN2-ADA training"
        )
    try:
        check_pickle_size(raw)
        return _RestrictedUnpickler(io.BytesIO(raw), path).load()
    except ModelLoadError as e:
        if str(e).startswith(f"{path}: "):
            raise
        raise ModelLoadError(f"{path}: {e}") from None
    except EOFError:
        raise ModelLoadError(
            f"{path}: the file ends too early (an incomplete download or copy?); copy it again"
        ) from None
    except (
        pickle.UnpicklingError,
        ValueError,
        TypeError,
        KeyError,
        AttributeError,
        IndexError,
        RuntimeError,
        MemoryError,
        OverflowError,
        UnicodeDecodeError,
    ) as e:
        detail = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
        if "truncated" in detail:
            raise ModelLoadError(
                f"{path}: the file ends too early (an incomplete download or copy?); copy it again"
            ) from None
        raise ModelLoadError(
            f"{path}: not a readable network pickle ({detail}); use a network-snapshot-*.pkl "
            "written by StyleGAN3 or StyleGAN2-ADA training"
        ) from None


class _RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only allowlisted globals and runs no code from the file."""

    def __init__(self, file: io.BytesIO, path: Path) -> None:
        super().__init__(file)
        self.path = path

    def find_class(self, module: str, name: str) -> Any:
        """Return the stand-in or allowlisted object for a global, or refuse the file."""
        key = (module, name)
        if key == PERSISTENT_HOOK:
            return _recover_module
        if key == EASYDICT:
            return _EasyDictStandIn
        if key == STORAGE_BYTES:
            return self._load_storage_bytes
        allowed = _allowed_globals().get(key)
        if allowed is not None:
            return allowed
        hint = ""
        if module.startswith("dnnlib.tflib"):
            hint = " (this is a TensorFlow-era StyleGAN pickle; convert it to a PyTorch one first)"
        raise ModelLoadError(f"{self.path}: " + REFUSAL.format(name=f"{module}.{name}") + hint)

    def persistent_load(self, pid: Any) -> Any:
        """Refuse persistent ids: network pickles never use them."""
        raise ModelLoadError(
            f"{self.path}: this file refers to outside objects (persistent ids); it is not a "
            "StyleGAN network pickle"
        )

    def _load_storage_bytes(self, data: bytes) -> Any:
        """Decode one embedded tensor storage with torch's weights-only loader."""
        import torch

        if not isinstance(data, bytes | bytearray):
            raise ModelLoadError(f"{self.path}: a tensor in this file has no data; not loadable")
        try:
            return torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
        except pickle.UnpicklingError as e:
            detail = str(e).strip().splitlines()[0][:200] if str(e).strip() else "not plain data"
            raise ModelLoadError(
                f"{self.path}: a tensor in this file carries something other than numbers "
                f"({detail}); refusing to load it (network pickles are read without running code)"
            ) from None


def _allowed_globals() -> dict[tuple[str, str], Any]:
    """Return the globals a network pickle may name: tensor, numpy and container rebuilding."""
    import numpy as np
    import torch._utils

    ndarray_reconstruct = np.ndarray.__reduce__(np.zeros(1))[0]
    scalar = np.float64(0).__reduce__()[0]
    allowed: dict[tuple[str, str], Any] = {
        ("collections", "OrderedDict"): OrderedDict,
        ("builtins", "set"): set,
        ("builtins", "frozenset"): frozenset,
        ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
        ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
        ("numpy", "dtype"): np.dtype,
        ("numpy", "ndarray"): np.ndarray,
    }
    for name in ("_rebuild_tensor", "_rebuild_parameter_with_state"):
        if hasattr(torch._utils, name):
            allowed[("torch._utils", name)] = getattr(torch._utils, name)
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):  # numpy 1.x and 2.x names
        allowed[(module, "_reconstruct")] = ndarray_reconstruct
        allowed[(module, "scalar")] = scalar
    return allowed


def _recover_module(meta: Any) -> Recovered:
    """Stand-in for the persistence hook: record the module, never run its embedded source."""
    if not isinstance(meta, dict) or meta.get("type") != "class":
        raise ModelLoadError("a network module in this file is not in the StyleGAN format")
    state = meta.get("state")
    class_name = meta.get("class_name")
    if not isinstance(state, dict) or not isinstance(class_name, str):
        raise ModelLoadError("a network module in this file has no recorded state")
    params = {k: v for k, v in dict(state.get("_parameters") or {}).items() if v is not None}
    buffers = {k: v for k, v in dict(state.get("_buffers") or {}).items() if v is not None}
    children = {k: v for k, v in dict(state.get("_modules") or {}).items() if v is not None}
    for name, child in children.items():
        if not isinstance(child, Recovered):
            raise ModelLoadError(
                f"a {class_name} in this file has a part {name!r} of a kind StyleGAN does not use"
            )
    tree_size = 1 + sum(child.tree_size for child in children.values())
    tree_depth = 1 + max((child.tree_depth for child in children.values()), default=0)
    if tree_size > MAX_MODULES or tree_depth > MAX_MODULE_DEPTH:
        raise ModelLoadError(
            f"a {class_name} in this file is built of over {MAX_MODULES:,} modules or nested over "
            f"{MAX_MODULE_DEPTH} deep (parts shared many times over?); no StyleGAN network is"
        )
    init_args = state.get("_init_args", ())
    init_kwargs = state.get("_init_kwargs", {})
    settings = [v for k, v in state.items() if k in ("_init_args", "_init_kwargs")]
    _check_settings_size([*settings, *(v for k, v in state.items() if not k.startswith("_"))])
    return Recovered(
        class_name=class_name,
        init_args=tuple(_plain(init_args)) if isinstance(init_args, tuple | list) else (),
        init_kwargs=_plain(init_kwargs) if isinstance(init_kwargs, dict) else {},
        attrs={k: _plain(v) for k, v in state.items() if not k.startswith("_")},
        params={k: _tensor(v) for k, v in params.items()},
        buffers={k: _tensor(v) for k, v in buffers.items()},
        children=children,
        non_persistent=frozenset(state.get("_non_persistent_buffers_set") or ()),
        tree_size=tree_size,
        tree_depth=tree_depth,
    )


def _check_settings_size(values: list[Any]) -> None:
    """Refuse settings too big or deep as trees, or holding themselves; memoised by id."""
    sizes: dict[int, tuple[int, int]] = {}  # id -> (values as a tree, depth below)
    on_path: set[int] = set()
    too_big = ModelLoadError(
        f"a network module's settings in this file hold over {MAX_SETTING_VALUES:,} values or "
        f"nest over {MAX_SETTING_DEPTH} deep (values shared many times over?); no StyleGAN "
        "network has such settings"
    )

    def measure(value: Any, level: int) -> tuple[int, int]:
        if not isinstance(value, dict | list | tuple | set | frozenset):
            return 1, 0
        key = id(value)
        if key in on_path:
            raise ModelLoadError("a network module's settings in this file contain themselves")
        count, depth = sizes.get(key, (0, 0))
        if not count:
            if level >= MAX_SETTING_DEPTH:
                raise too_big
            on_path.add(key)
            items = [*value.keys(), *value.values()] if isinstance(value, dict) else list(value)
            count = 1
            for item in items:
                n, d = measure(item, level + 1)
                count, depth = count + n, max(depth, d + 1)
                if count > MAX_SETTING_VALUES:
                    raise too_big
            on_path.discard(key)
            sizes[key] = (count, depth)
        if level + depth > MAX_SETTING_DEPTH:
            raise too_big
        return count, depth

    total = sum(measure(value, 0)[0] for value in values)
    if total > MAX_SETTING_VALUES:
        raise too_big


def _tensor(value: Any) -> Tensor:
    """Return a plain tensor (parameters unwrapped), or refuse a non-tensor in a tensor slot."""
    import torch

    if not isinstance(value, torch.Tensor):
        raise ModelLoadError("a network weight in this file is not a tensor")
    return value.detach()


def _plain(value: Any) -> Any:
    """Return value with EasyDicts as dicts and numpy scalars as Python numbers, recursively."""
    import numpy as np

    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    if isinstance(value, np.generic):
        return value.item()
    return value
