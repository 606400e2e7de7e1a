"""Alias-free resampling for StyleGAN3: low-pass filter design and a polyphase filtered leaky ReLU.

The filtered leaky ReLU upsamples a feature map with a FIR filter, applies a leaky ReLU at the
higher rate, low-pass filters again and keeps every `down`-th sample. Done literally, that means
convolving images full of inserted zeros and then throwing most outputs away. Here each output
phase of the upsampler is its own short filter over the original samples (nothing is multiplied
by an inserted zero), the downsampler only computes the samples it keeps, and the work is cut
into groups of feature planes small enough to stay in cache.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

# Largest intermediate (bytes) one group of planes may need; small groups keep the working set in
# cache on a CPU and let the allocator reuse memory. A GPU wants few, large launches instead.
CPU_GROUP_BYTES = 6 * 2**20
CUDA_GROUP_BYTES = 1024 * 2**20
# Output rows per band on a CPU: large planes are cut into bands so each step stays in cache.
CPU_BAND_ROWS = 64


# --- filter design ---------------------------------------------------------------------------


def kaiser_beta_for(numtaps: int, width: float) -> float:
    """Kaiser window shape parameter for a filter of `numtaps` and normalised transition width."""
    atten = 2.285 * (numtaps - 1) * math.pi * width + 7.95
    if atten > 50:
        return 0.1102 * (atten - 8.7)
    if atten > 21:
        return 0.5842 * (atten - 21) ** 0.4 + 0.07886 * (atten - 21)
    return 0.0


def bessel_j1(x: np.ndarray) -> np.ndarray:
    """Bessel function of the first kind, order one (Bessel's integral, periodic trapezoid rule)."""
    tau = np.arange(256) * (2 * np.pi / 256)
    x = np.asarray(x, dtype=np.float64)
    return np.cos(tau - x[..., None] * np.sin(tau)).mean(axis=-1)


def design_lowpass(
    numtaps: int, cutoff: float, width: float, fs: float, radial: bool = False
) -> np.ndarray | None:
    """Kaiser-windowed low-pass FIR (1D, or a radially symmetric 2D jinc); None for one tap."""
    if numtaps < 1:
        raise ValueError(f"a filter needs at least one tap, got {numtaps}")
    if numtaps == 1:
        return None
    beta = kaiser_beta_for(numtaps, width / (fs / 2))
    window = np.kaiser(numtaps, beta)
    offsets = np.arange(numtaps) - (numtaps - 1) / 2
    if not radial:
        taps = (2 * cutoff / fs) * np.sinc((2 * cutoff / fs) * offsets) * window
        return (taps / taps.sum()).astype(np.float32)
    pos = offsets / fs
    r = np.hypot(pos[None, :], pos[:, None])
    safe_r = np.where(r == 0, 1.0, r)
    jinc = np.where(r == 0, cutoff, bessel_j1(2 * np.pi * cutoff * safe_r) / (np.pi * safe_r))
    taps = jinc * np.outer(window, window)
    return (taps / taps.sum()).astype(np.float32)


# --- polyphase building blocks ----------------------------------------------------------------


def polyphase_bank(taps: torch.Tensor, factor: int, pad_lo: int) -> tuple[torch.Tensor, int]:
    """Split an upsampling filter into one short filter per output phase.

    Returns (bank [factor, length], first input offset): output sample `factor*t + r` equals
    sum_l bank[r, l] * x[t + offset + l], which is zero-insertion upsampling by `factor`, padding by
    `pad_lo` and true convolution with `taps`, without touching the inserted zeros.
    """
    if taps.shape[0] == 0:
        raise ValueError("an upsampling filter needs at least one tap")
    flipped = taps.flip(0)
    phases = []
    for r in range(factor):
        first = (pad_lo - r) % factor
        start = (r + first - pad_lo) // factor
        phases.append((start, flipped[first::factor]))
    offset = min(start for start, _ in phases)
    length = max(start - offset + len(sub) for start, sub in phases)
    bank = taps.new_zeros([factor, max(length, 1)])
    for r, (start, sub) in enumerate(phases):
        bank[r, start - offset : start - offset + len(sub)] = sub
    return bank, offset


def _take(x: torch.Tensor, dim: int, start: int, length: int) -> torch.Tensor:
    """A contiguous copy of samples [start, start+length) of x along dim, zeros outside x."""
    size = x.shape[dim]
    first = min(max(start, 0), size)
    stop = max(min(size, start + length), first)
    lo = min(max(0, -start), length)
    hi = length - lo - (stop - first)
    shape = list(x.shape)
    shape[dim] = length
    out = x.new_empty(shape)
    if lo:
        out.narrow(dim, 0, lo).zero_()
    if hi:
        out.narrow(dim, length - hi, hi).zero_()
    out.narrow(dim, lo, stop - first).copy_(x.narrow(dim, first, stop - first))
    return out


def tile_matrix(bank: torch.Tensor, steps: int) -> torch.Tensor:
    """Dense block [factor*steps, steps+length-1] applying a polyphase bank to `steps` inputs.

    Row `factor*s + r` holds phase r's filter, shifted by s: one matrix product then yields a whole
    tile of upsampled samples, already interleaved in output order.
    """
    factor, length = bank.shape
    rows = torch.arange(factor * steps, device=bank.device)
    cols = (rows // factor)[:, None] + torch.arange(length, device=bank.device)[None, :]
    block = bank.new_zeros([factor * steps, steps + length - 1])
    block[rows[:, None], cols] = bank[rows % factor]
    return block


def upsample_rows(
    x: torch.Tensor, bank: torch.Tensor, offset: int, out_len: int, tile: int = 8
) -> torch.Tensor:
    """Polyphase upsampling of x [..., H, W] along H into out_len rows, as tiled matrix products."""
    factor, length = bank.shape
    steps = -(-out_len // factor)
    tile = max(1, min(tile, steps))
    count = -(-steps // tile)
    block = tile_matrix(bank, tile)
    x = _take(x, x.ndim - 2, offset, count * tile + length - 1)
    windows = x.unfold(-2, block.shape[1], tile).transpose(-1, -2)  # [..., count, in, W]
    y = torch.matmul(block, windows).flatten(-3, -2)  # [..., count*tile*factor, W]
    return y.narrow(-2, 0, out_len)


def downsample_planes(planes: torch.Tensor, taps: torch.Tensor | None, factor: int) -> torch.Tensor:
    """Low-pass filter planes [1, P, H, W] (1D taps on each axis, 2D at once), then decimate."""
    if taps is None:
        return planes[:, :, ::factor, ::factor]
    count = planes.shape[1]
    kernel = taps.flip(list(range(taps.ndim)))
    if taps.ndim == 2:
        return F.conv2d(planes, kernel.expand(count, 1, *kernel.shape), stride=factor, groups=count)
    length = kernel.shape[0]
    planes = F.conv2d(
        planes, kernel.view(1, 1, 1, length).expand(count, 1, 1, length),
        stride=(1, factor), groups=count,
    )  # fmt: skip
    return F.conv2d(
        planes, kernel.view(1, 1, length, 1).expand(count, 1, length, 1),
        stride=(factor, 1), groups=count,
    )  # fmt: skip


def output_size(size: int, up: int, down: int, pad: tuple[int, int], up_taps: int, dn_taps: int):
    """Length of one axis after filtered_lrelu."""
    return (size * up + pad[0] + pad[1] - (up_taps - 1) - (dn_taps - 1) + (down - 1)) // down


# --- the fused op -----------------------------------------------------------------------------


def split_bands(planes: torch.Tensor, start: int, step: int, length: int, count: int):
    """Overlapping row bands of planes [1, P, H, W] -> [1, P*count, length, W], zeros outside."""
    span = _take(planes, 2, start, (count - 1) * step + length)
    bands = span.unfold(2, length, step).transpose(-1, -2)  # [1, P, count, length, W]
    return bands.reshape(1, -1, length, planes.shape[3])


def filtered_lrelu(
    x: torch.Tensor,
    bias: torch.Tensor | None,
    up_filter: torch.Tensor | None,
    down_filter: torch.Tensor | None,
    up: int,
    down: int,
    padding: Sequence[int],
    gain: float,
    slope: float,
    clamp: float | None,
    group_bytes: int | None = None,
    band_rows: int | None = None,
) -> torch.Tensor:
    """Bias, upsample, pad, filter, leaky ReLU * gain, clamp, filter, downsample, polyphase.

    x [N, C, H, W]; padding (left, right, top, bottom) at the upsampled rate, negative crops;
    `up_filter` 1D (separable) or None, `down_filter` 1D, 2D (radial) or None. The work runs
    over bands of `band_rows` output rows, in groups of about `group_bytes` of upsampled data.
    """
    if up_filter is not None and up_filter.ndim != 1:
        raise ValueError("the upsampling filter must be one-dimensional (separable)")
    n, c, h, w = x.shape
    px0, px1, py0, py1 = (int(p) for p in padding)
    ut = 1 if up_filter is None else up_filter.shape[0]
    dt = 1 if down_filter is None else down_filter.shape[-1]
    out_h = output_size(h, up, down, (py0, py1), ut, dt)
    out_w = output_size(w, up, down, (px0, px1), ut, dt)
    taps = x.new_ones([1]) if up_filter is None else up_filter.to(x.dtype)
    bank_w, off_w = polyphase_bank(taps * (up * gain), up, px0)
    bank_h, off_h = polyphase_bank(taps * up, up, py0)
    if bias is not None:
        x = x + bias.to(x.dtype).view(1, -1, 1, 1)
    count = -(-out_h // (band_rows or (out_h if x.is_cuda else CPU_BAND_ROWS)))
    rows = -(-out_h // count)
    rows = -(-rows // up) * up  # a band must start on an input sample: whole polyphase cycles
    count = -(-out_h // rows)
    band_tmp = down * (rows - 1) + dt  # upsampled rows one band needs
    band_in = -(-band_tmp // up) + bank_h.shape[1] - 1
    bands = split_bands(x.reshape(1, n * c, h, w), off_h, rows * down // up, band_in, count)
    up_w = w * up + px0 + px1 - ut + 1
    identity = up == 1 and ut == 1 and not any((px0, px1, py0, py1))
    out = x.new_empty([1, bands.shape[1], rows, out_w])
    budget = group_bytes or (CUDA_GROUP_BYTES if x.is_cuda else CPU_GROUP_BYTES)
    group = max(1, budget // (x.element_size() * up_w * band_tmp))
    fd = None if down_filter is None else down_filter.to(x.dtype)
    for first in range(0, bands.shape[1], group):
        part = bands[:, first : first + group]
        if identity:
            part = part * gain
        else:
            part = upsample_rows(part.transpose(2, 3), bank_w, off_w, up_w)  # [1, g, W', rows]
            part = upsample_rows(part.transpose(2, 3), bank_h, 0, band_tmp)  # [1, g, rows', W']
        if slope != 1:
            part = F.leaky_relu_(part, slope)
        if clamp is not None:
            part = part.clamp_(-clamp, clamp)
        out[:, first : first + group] = downsample_planes(part, fd, down)
    return out.view(n, c, count * rows, out_w)[:, :, :out_h]
