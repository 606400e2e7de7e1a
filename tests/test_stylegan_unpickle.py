"""The restricted unpickler: official-format pickles load, booby-trapped ones are refused unrun."""

from __future__ import annotations

import pickle
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import stylegan_pickles
import torch

from ghosts_render.errors import ModelLoadError
from ghosts_render.render.selfies.stylegan import detect_kind
from ghosts_render.render.selfies.stylegan.unpickle import Recovered, load_pickle

DATA = stylegan_pickles.DATA
KINDS = {
    "stylegan3-t": "stylegan3-t",
    "stylegan3-r-cond": "stylegan3-r",
    "stylegan2-sg3repo": "stylegan2",
    "stylegan2-ada": "stylegan2",
    "stylegan2-ada-cond-bare": "stylegan2",
    "stylegan2-ada-resnet-bare": "stylegan2",
    "stylegan2-ada-orig-bare": "stylegan2",
}


@pytest.fixture
def official_names() -> Iterator[None]:
    """Register the official module names so pickle can write (and our helper read) them."""
    with stylegan_pickles.official_names():
        yield


_Persistent = stylegan_pickles.Persistent
_EasyDict = stylegan_pickles.EasyDict
_read_raw = stylegan_pickles.read_raw
_module_meta = stylegan_pickles.module_meta
_write = stylegan_pickles.write_pickle


# --- the fixtures load ---


@pytest.mark.parametrize("name", sorted(KINDS))
def test_every_fixture_loads_as_a_generator_of_its_kind(name: str) -> None:
    rec = load_pickle(DATA / f"{name}.pkl")
    assert rec.class_name == "Generator"
    assert {"mapping", "synthesis"} <= set(rec.children)
    assert detect_kind(rec) == KINDS[name]
    state = rec.state_dict()
    assert "mapping.w_avg" in state and all(isinstance(v, torch.Tensor) for v in state.values())
    assert rec.init_kwargs["img_resolution"] == rec.attrs["img_resolution"]
    assert type(rec.init_kwargs["mapping_kwargs"]) is dict  # EasyDict became a plain dict


def test_a_snapshot_yields_g_ema_not_the_training_g(official_names: None) -> None:
    raw = _read_raw(DATA / "stylegan2-ada.pkl")
    assert isinstance(raw, dict) and set(raw) >= {"G", "D", "G_ema", "augment_pipe"}
    rec = load_pickle(DATA / "stylegan2-ada.pkl")
    loaded = rec.children["synthesis"].children["b4"].params["const"]

    def const_of(net: _Persistent) -> torch.Tensor:
        synthesis = net.meta["state"]["_modules"]["synthesis"]
        return synthesis.meta["state"]["_modules"]["b4"].meta["state"]["_parameters"]["const"]

    assert torch.equal(loaded, const_of(raw["G_ema"]))
    assert not torch.equal(loaded, const_of(raw["G"]))


def test_the_embedded_source_is_never_run(official_names: None, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    src = f"open({str(marker)!r}, 'w').write('the module source ran')\n"
    G = _module_meta(
        "Generator",
        src=src,
        _modules={
            "mapping": _module_meta("MappingNetwork", src=src),
            "synthesis": _module_meta("SynthesisNetwork", src=src),
        },
    )
    rec = load_pickle(_write(tmp_path, {"G_ema": G}))
    assert rec.class_name == "Generator" and not marker.exists()


def test_numpy_1_names_and_protocol_3_sets_load(official_names: None) -> None:
    raw = (DATA / "stylegan2-ada.pkl").read_bytes()
    assert b"cnumpy.core.multiarray\n" in raw and b"cbuiltins\nset\n" in raw
    assert load_pickle(DATA / "stylegan2-ada.pkl").attrs["z_dim"] == 32


# --- booby traps: refused with a message naming the global, and the payload never runs ---


def _text_pickle(module: str, name: str, arg: str) -> bytes:
    """Protocol-0 pickle that calls module.name(arg) on load."""
    return f"c{module}\n{name}\n(V{arg}\ntR.".encode()


TRAPS = [
    ("os", "system"),
    ("posix", "system"),
    ("subprocess", "getoutput"),
    ("builtins", "exec"),
    ("builtins", "eval"),
]


@pytest.mark.parametrize(("module", "name"), TRAPS)
def test_code_calling_globals_are_refused_and_do_not_run(
    module: str, name: str, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    arg = f"touch {marker}" if name in ("system", "getoutput") else f"open({str(marker)!r}, 'w')"
    path = tmp_path / "trap.pkl"
    path.write_bytes(_text_pickle(module, name, arg))
    with pytest.raises(ModelLoadError) as err:
        load_pickle(path)
    assert f"wants to call {module}.{name}; refusing to load it" in str(err.value)
    assert str(path) in str(err.value) and not marker.exists()


def test_the_trap_is_real_when_loaded_without_restriction(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    pickle.loads(_text_pickle("builtins", "eval", f"open({str(marker)!r}, 'w').close()"))
    assert marker.exists()  # what a plain pickle.load would have done


def test_popen_inside_a_snapshot_is_refused(official_names: None, tmp_path: Path) -> None:
    marker = tmp_path / "ran"

    class Popen:
        def __reduce__(self) -> tuple:
            return (subprocess.Popen, (["touch", str(marker)],))

    G = _module_meta("Generator", _init_kwargs=_EasyDict(payload=Popen()))
    path = _write(tmp_path, {"G": None, "G_ema": G}, protocol=3)
    with pytest.raises(ModelLoadError, match=r"wants to call subprocess\.Popen"):
        load_pickle(path)
    assert not marker.exists()


def test_importing_an_arbitrary_module_is_refused_before_import(tmp_path: Path) -> None:
    marker = tmp_path / "imported"
    (tmp_path / "ghosts_trap_module.py").write_text(
        f"open({str(marker)!r}, 'w').close()\ndef anything(*a):\n    return a\n"
    )
    sys.path.insert(0, str(tmp_path))
    try:
        for module, name in [
            ("ghosts_trap_module", "anything"),
            ("importlib", "import_module"),
            ("builtins", "__import__"),
        ]:
            path = tmp_path / "trap.pkl"
            path.write_bytes(_text_pickle(module, name, "ghosts_trap_module"))
            with pytest.raises(ModelLoadError, match=f"wants to call {module}.{name}"):
                load_pickle(path)
        assert not marker.exists() and "ghosts_trap_module" not in sys.modules
    finally:
        sys.path.remove(str(tmp_path))


def test_a_payload_hidden_in_tensor_bytes_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    payload = pickle.dumps(_Eval(f"open({str(marker)!r}, 'w').close()"), protocol=2)
    raw = b"\x80\x02ctorch.storage\n_load_from_bytes\nC" + bytes([len(payload)]) + payload
    raw += b"\x85R."
    assert len(payload) < 256
    path = tmp_path / "trap.pkl"
    path.write_bytes(raw)
    with pytest.raises(ModelLoadError, match="a tensor in this file carries something other"):
        load_pickle(path)
    assert not marker.exists()
    with pytest.raises(RuntimeError):  # torch's own hook: fails on the format only after running it
        torch.storage._load_from_bytes(payload)
    assert marker.exists()


class _Eval:
    def __init__(self, code: str) -> None:
        self.code = code

    def __reduce__(self) -> tuple:
        return (eval, (self.code,))


def test_tensorflow_era_pickles_get_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "karras2019.pkl"
    path.write_bytes(b"\x80\x02cdnnlib.tflib.network\nNetwork\n)\x81}b.")
    with pytest.raises(ModelLoadError, match="TensorFlow-era StyleGAN pickle"):
        load_pickle(path)


# --- files that are not (complete) network pickles ---


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="no such file"):
        load_pickle(tmp_path / "nope.pkl")


def test_not_a_pickle(tmp_path: Path) -> None:
    path = tmp_path / "notes.pkl"
    path.write_text("these are my notes, not a network\n")
    with pytest.raises(ModelLoadError, match="not a readable network pickle"):
        load_pickle(path)


def test_truncated_file(tmp_path: Path) -> None:
    raw = (DATA / "stylegan2-ada-orig-bare.pkl").read_bytes()
    path = tmp_path / "half.pkl"
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ModelLoadError, match="ends too early"):
        load_pickle(path)


def test_a_torch_zip_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "model.pkl"
    torch.save({"weight": torch.zeros(2)}, path)
    with pytest.raises(ModelLoadError, match="zip file"):
        load_pickle(path)


def test_a_pickle_without_a_generator(tmp_path: Path) -> None:
    path = _write(tmp_path, {"G": None, "D": None, "training_set_kwargs": {}})
    with pytest.raises(ModelLoadError, match=r"no generator \(no 'G_ema' entry; it has: D, G, "):
        load_pickle(path)
    with pytest.raises(ModelLoadError, match="holds a list, not a StyleGAN network"):
        load_pickle(_write(tmp_path, [1, 2, 3], "list.pkl"))


def test_a_discriminator_is_not_a_generator(official_names: None, tmp_path: Path) -> None:
    raw = _read_raw(DATA / "stylegan2-ada.pkl")
    assert isinstance(raw, dict)
    path = _write(tmp_path, raw["D"], "d.pkl")
    with pytest.raises(ModelLoadError, match="holds a Discriminator, not a StyleGAN generator"):
        load_pickle(path)


def test_state_dict_skips_non_persistent_buffers() -> None:
    leaf = Recovered(
        "Leaf",
        (),
        {},
        {},
        {"w": torch.ones(1)},
        {"kept": torch.zeros(1), "scratch": torch.zeros(2)},
        {},
        frozenset({"scratch"}),
    )
    root = Recovered("Root", (), {}, {}, {}, {}, {"leaf": leaf})
    assert sorted(root.state_dict()) == ["leaf.kept", "leaf.w"]


def test_loading_creates_no_official_modules() -> None:
    before = set(sys.modules)
    load_pickle(DATA / "stylegan3-t.pkl")
    new = {m for m in set(sys.modules) - before if m.split(".")[0] in ("torch_utils", "dnnlib")}
    assert not new and "torch_utils" not in sys.modules and "dnnlib" not in sys.modules


def _generator_meta(synthesis_parts: dict, **state: object) -> _Persistent:
    synthesis = _module_meta("SynthesisNetwork", _modules=synthesis_parts)
    parts = {"mapping": _module_meta("MappingNetwork"), "synthesis": synthesis}
    return _module_meta("Generator", _modules=parts, **state)


def test_an_unknown_generator_layout_is_refused(official_names: None, tmp_path: Path) -> None:
    from ghosts_render.render.selfies.stylegan import load_network

    path = _write(tmp_path, _generator_meta({"blocks": _module_meta("Block")}))
    with pytest.raises(ModelLoadError, match="neither a StyleGAN3 nor a StyleGAN2 generator"):
        load_network(path)


def test_a_generator_built_from_positional_args_is_refused(
    official_names: None, tmp_path: Path
) -> None:
    from ghosts_render.render.selfies.stylegan import load_network

    path = _write(
        tmp_path, _generator_meta({"b4": _module_meta("SynthesisBlock")}, _init_args=(8,))
    )
    with pytest.raises(ModelLoadError, match="built with positional arguments"):
        load_network(path)
