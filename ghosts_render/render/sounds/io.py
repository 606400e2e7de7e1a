"""Sound files in and out: robust source loading (by content), resampling, trims, fades, MP3.

Loading never lets an exception escape: every file ends as a usable ``Source`` or a rejection
with a reason an artist can act on. tests/test_sound_inputs.py makes every awkward case (empty,
unreadable, mislabelled, silent, too short, truncated, clipped, odd rates, NaN, DC offset).
"""

from __future__ import annotations

import hashlib
import io
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ghosts_render.errors import StageError
from ghosts_render.files import sha256_file, write_atomic
from ghosts_render.render.sounds.dsp import SAMPLE_RATE_HZ, apply_fades, resample, trim_silence

try:
    import soundfile as sf
except (ImportError, OSError) as _error:  # no libsndfile: check_mp3_support says how to fix it
    sf = None
    SOUNDFILE_ERROR = str(_error)
else:
    SOUNDFILE_ERROR = ""

MAX_FILE_BYTES = 200 * 1024 * 1024
MAX_READ_S = 10.0  # seconds of audio used from one source
MAX_SCAN_S = 60.0  # how far to look for the first sound after a silent lead-in
MIN_SAMPLE_RATE_HZ = 4000
SILENT_PEAK = 10 ** (-60 / 20)  # -60 dBFS
MIN_TRIMMED_S = 0.05
MP3_COMPRESSION = 0.4  # libsndfile's VBR quality: LAME V4, about 9 KB/s mono
CONVERT_HINT = "convert it to WAV, FLAC, MP3 or OGG"


@dataclass(frozen=True, slots=True)
class Source:
    """One file of an artist's sound folder, after loading: usable (samples) or rejected."""

    name: str  # file name inside its folder
    sha256: str  # of the file's bytes ("" when it could not be read)
    reason: str = ""  # why it was rejected; "" = usable
    warnings: tuple[str, ...] = ()
    samples: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def usable(self) -> bool:
        """True when the file gave audio the stage can use."""
        return not self.reason


def check_mp3_support() -> None:
    """Raise StageError unless soundfile's libsndfile can write MP3."""
    if sf is None:
        raise StageError(
            f"sounds need soundfile with libsndfile, which cannot be loaded ({SOUNDFILE_ERROR}): "
            "run `pip install --force-reinstall soundfile`"
        )
    if "MP3" not in sf.available_formats() or "MPEG_LAYER_III" not in sf.available_subtypes("MP3"):
        raise StageError(
            f"the libsndfile in use ({sf.__libsndfile_version__}) cannot write MP3, which the "
            "player needs (libsndfile 1.1 or newer can): run `pip install --upgrade soundfile`, "
            "whose wheels bundle one that can"
        )


def list_source_files(folder: Path) -> list[Path]:
    """Return the folder's visible entries, sorted by name (hidden and AppleDouble skipped)."""
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


def _file_problem(path: Path) -> str:
    """Return why a path cannot be a sound file, or ''."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return "cannot be read: a broken link or the file vanished"
    except OSError as e:
        return f"cannot be read ({e.strerror})"
    if path.is_dir():
        return "is a folder, not a sound file (sub-folders are not searched)"
    if not path.is_file():
        return "is not a regular file"
    if st.st_size == 0:
        return "is an empty file (0 bytes)"
    if st.st_size > MAX_FILE_BYTES:
        return f"is too big ({st.st_size // (1024 * 1024)} MB; the limit is 200 MB)"
    return ""


def _read_frames(snd: sf.SoundFile) -> tuple[np.ndarray, bool]:
    """Read up to MAX_READ_S from the first non-silent second (scanning MAX_SCAN_S)."""
    rate = snd.samplerate
    block = rate  # one second
    kept: list[np.ndarray] = []
    for _ in range(int(MAX_SCAN_S)):
        data = snd.read(frames=block, dtype="float64", always_2d=True)
        if len(data) == 0:
            break
        finite = np.nan_to_num(data, nan=0.0, posinf=0.0, neginf=0.0)
        heard = np.abs(finite - finite.mean(axis=0)).max() >= SILENT_PEAK
        kept = [*kept[-1:], data]  # the second before the first sound stays as lead-in
        if heard:
            break
    first = np.concatenate(kept) if kept else np.zeros((0, snd.channels))
    rest = int(MAX_READ_S * rate) - len(first)
    more = snd.read(frames=max(rest, 0), dtype="float64", always_2d=True)
    data = np.concatenate([first, more])
    long_file = bool(len(snd.read(frames=1, dtype="float64", always_2d=True)))
    return data, long_file


def _count_clipped_runs(data: np.ndarray) -> int:
    """Count flat-topped runs (3+ samples at the channel's full-scale peak)."""
    runs = 0
    for ch in data.T:
        peak = float(np.abs(ch).max())
        if peak < 0.99:
            continue
        at_peak = np.abs(ch) >= peak * 0.9999
        edges = np.diff(np.concatenate([[0], at_peak.astype(np.int8), [0]]))
        starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        runs += int(np.count_nonzero(stops - starts >= 3))
    return runs


def _clean(data: np.ndarray, warnings: list[str]) -> np.ndarray:
    """Repair what can be repaired in the raw frames (NaN, over-range, DC), warning each time."""
    bad = ~np.isfinite(data)
    if bad.any():
        warnings.append(f"{int(bad.sum())} NaN/infinite samples set to 0")
        data = np.where(bad, 0.0, data)
    peak = float(np.abs(data).max()) if data.size else 0.0
    if peak > 1.0:
        warnings.append(f"peaks at {peak:.2f}, above full scale: scaled down, not clipped")
        data = data / peak
    offset = data.mean(axis=0) if data.size else np.zeros(data.shape[1])
    if np.abs(offset).max(initial=0.0) > 0.001:
        if np.abs(offset).max() > 0.01:
            warnings.append(f"DC offset {float(np.abs(offset).max()):.3f} removed")
        data = data - offset
        data = data / max(1.0, float(np.abs(data).max()))  # removing DC may push a peak over 1
    runs = _count_clipped_runs(data)
    if runs >= 5:
        warnings.append(f"sounds clipped ({runs} flat-topped runs); used as it is")
    return data


def _downmix(data: np.ndarray, warnings: list[str]) -> np.ndarray:
    """Mix to mono; use the loudest channel when the channels cancel (> 12 dB lost)."""
    if data.shape[1] == 1:
        return data[:, 0]
    mono = data.mean(axis=1)
    rms = np.sqrt((data * data).mean(axis=0))
    loudest = int(np.argmax(rms))
    mono_rms = float(np.sqrt((mono * mono).mean()))
    if rms[loudest] > 0 and mono_rms < rms[loudest] * 10 ** (-12 / 20):
        warnings.append("channels cancel in a mono mix: the loudest channel is used alone")
        return data[:, loudest]
    return mono


@contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Hide the C decoders' notes (mpg123 prints "Illegal Audio-MPEG-Header" on fd 2)."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no usable fd 2: nothing to hide
        yield
        return
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _decode(path: Path, warnings: list[str]) -> tuple[np.ndarray, int] | str:
    """Open and read a file by content; return (frames, rate) or a rejection reason."""
    try:
        with _quiet_stderr(), sf.SoundFile(path) as snd:
            rate, frames_known = snd.samplerate, snd.frames
            if rate < MIN_SAMPLE_RATE_HZ:
                return f"has an implausible sample rate ({rate} Hz; at least 4000 Hz needed)"
            if "should be" in snd.extra_info:
                warnings.append("header sizes are wrong (a truncated file?): used what is there")
            data, long_file = _read_frames(snd)
    except (sf.LibsndfileError, RuntimeError, OSError, ValueError, TypeError, EOFError):
        return (
            "is unreadable or in an unsupported format (AAC/M4A, WMA and WebM are not "
            f"supported): {CONVERT_HINT}"
        )
    if frames_known == 0 or len(data) == 0:
        return "has no audio frames"
    if long_file:
        warnings.append(
            f"is longer than {MAX_READ_S:.0f} s: only its first {MAX_READ_S:.0f} s are used"
        )
    return data, rate


def load_source(path: Path) -> Source:
    """Load one sound file as mono 44.1 kHz float, trimmed and faded, or say why not."""
    problem = _file_problem(path)
    if problem:
        return Source(path.name, "", reason=problem)
    try:
        sha = sha256_file(path)
    except OSError as e:
        return Source(path.name, "", reason=f"cannot be read ({e.strerror})")
    warnings: list[str] = []
    decoded = _decode(path, warnings)
    if isinstance(decoded, str):
        return Source(path.name, sha, reason=decoded, warnings=tuple(warnings))
    data, rate = decoded
    data = _clean(data, warnings)
    if data.size == 0 or float(np.abs(data).max()) < SILENT_PEAK:
        return Source(
            path.name, sha, reason="is silent (peak below -60 dBFS)", warnings=tuple(warnings)
        )
    mono = resample(_downmix(data, warnings), rate, SAMPLE_RATE_HZ)
    trimmed = trim_silence(mono)
    if len(trimmed) < MIN_TRIMMED_S * SAMPLE_RATE_HZ:
        ms = 1000 * len(trimmed) / SAMPLE_RATE_HZ
        reason = f"is too short after trimming silence ({ms:.0f} ms; at least 50 ms needed)"
        return Source(path.name, sha, reason=reason, warnings=tuple(warnings))
    samples = apply_fades(trimmed, 2.0, 10.0)
    return Source(path.name, sha, warnings=tuple(warnings), samples=samples)


def encode_mp3(
    samples: np.ndarray,
    sample_rate_hz: int = SAMPLE_RATE_HZ,
    compression: float = MP3_COMPRESSION,
) -> bytes:
    """Encode mono float samples (already within full scale) as VBR MP3 bytes.

    ``compression`` is libsndfile's compression level, 0..1: LAME's VBR quality V0..V10 / 10.
    VBR MP3 carries the encoder delay and padding, so it decodes to exactly the frames written.
    """
    buf = io.BytesIO()
    sf.write(
        buf,
        np.asarray(samples, dtype=np.float64),
        sample_rate_hz,
        format="MP3",
        subtype="MPEG_LAYER_III",
        compression_level=compression,
        bitrate_mode="VARIABLE",
    )
    return buf.getvalue()


def decode_audio(data: bytes) -> tuple[np.ndarray, int, int]:
    """Decode audio bytes; return (mono samples, sample rate, channels)."""
    samples, rate = sf.read(io.BytesIO(data), dtype="float64", always_2d=True)
    return samples.mean(axis=1), rate, samples.shape[1]


def write_sound(folder: Path, name: str, data: bytes) -> bool:
    """Write data as folder/name unless an identical file is there; return True if written."""
    path = folder / name
    if path.is_file():
        try:
            if hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(data).digest():
                return False
        except OSError:
            pass
    write_atomic(path, data)
    return True
