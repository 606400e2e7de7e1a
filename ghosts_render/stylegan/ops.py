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
import time
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

# Largest intermediate (bytes) one group of planes may need; small groups keep the working set in
# cache on a CPU and let the allocator reuse memory. A GPU wants few, large launches instead.
CPU_GROUP_BYTES = 6 * 2**20
CUDA_GROUP_BYTES = 1024 * 2**20


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
    """Samples [start, start+length) of x along dim, zeros where that range leaves x."""
    size = x.shape[dim]
    first = min(max(start, 0), size)
    stop = max(min(size, start + length), first)
    lo = min(max(0, -start), length)
    hi = length - lo - (stop - first)
    x = x.narrow(dim, first, stop - first)
    if lo or hi:
        x = F.pad(x, [0, 0] * (x.ndim - 1 - dim) + [lo, hi])
    return x


def upsample_axis(
    planes: torch.Tensor, bank: torch.Tensor, offset: int, out_len: int, dim: int
) -> torch.Tensor:
    """Polyphase upsampling of planes [P, 1, H, W] along dim 2 (rows) or 3 (columns)."""
    factor, length = bank.shape
    steps = -(-out_len // factor)
    x = _take(planes, dim, offset, steps + length - 1)
    if dim == 3:
        y = F.conv2d(x, bank.view(factor, 1, 1, length))  # [P, factor, H, steps]
        y = y.permute(0, 2, 3, 1).reshape(x.shape[0], 1, x.shape[2], steps * factor)
        return y[..., :out_len]
    y = F.conv2d(x, bank.view(factor, 1, length, 1))  # [P, factor, steps, W]
    y = y.transpose(1, 2).reshape(x.shape[0], 1, steps * factor, x.shape[3])
    return y[:, :, :out_len]


def downsample(planes: torch.Tensor, taps: torch.Tensor | None, factor: int) -> torch.Tensor:
    """Low-pass filter planes [P, 1, H, W] (1D taps on each axis, 2D at once), then decimate."""
    if taps is None:
        return planes[:, :, ::factor, ::factor]
    kernel = taps.flip(list(range(taps.ndim)))
    if taps.ndim == 2:
        return F.conv2d(planes, kernel[None, None], stride=factor)
    planes = F.conv2d(planes, kernel.view(1, 1, 1, -1), stride=(1, factor))
    return F.conv2d(planes, kernel.view(1, 1, -1, 1), stride=(factor, 1))


def output_size(size: int, up: int, down: int, pad: tuple[int, int], up_taps: int, dn_taps: int):
    """Length of one axis after filtered_lrelu."""
    return (size * up + pad[0] + pad[1] - (up_taps - 1) - (dn_taps - 1) + (down - 1)) // down


# --- the fused op -----------------------------------------------------------------------------


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
) -> torch.Tensor:
    """Bias, upsample, pad, filter, leaky ReLU * gain, clamp, filter, downsample, polyphase.

    x [N, C, H, W]; padding (left, right, top, bottom) at the upsampled rate, negative crops;
    `up_filter` 1D (separable) or None, `down_filter` 1D, 2D (radial) or None.
    """
    if up_filter is not None and up_filter.ndim != 1:
        raise ValueError("the upsampling filter must be one-dimensional (separable)")
    n, c, h, w = x.shape
    px0, px1, py0, py1 = (int(p) for p in padding)
    ut = 1 if up_filter is None else up_filter.shape[0]
    dt = 1 if down_filter is None else down_filter.shape[-1]
    up_w, up_h = w * up + px0 + px1 - ut + 1, h * up + py0 + py1 - ut + 1
    taps = x.new_ones([1]) if up_filter is None else up_filter.to(x.dtype)
    bank_w, off_w = polyphase_bank(taps * (up * gain), up, px0)
    bank_h, off_h = polyphase_bank(taps * up, up, py0)
    fd = None if down_filter is None else down_filter.to(x.dtype)
    if bias is not None:
        x = x + bias.to(x.dtype).view(1, -1, 1, 1)
    planes = x.reshape(n * c, 1, h, w)
    out_h = output_size(h, up, down, (py0, py1), ut, dt)
    out_w = output_size(w, up, down, (px0, px1), ut, dt)
    out = x.new_empty([n * c, 1, out_h, out_w])
    budget = group_bytes or (CUDA_GROUP_BYTES if x.is_cuda else CPU_GROUP_BYTES)
    group = max(1, budget // (4 * up_w * up_h))
    for first in range(0, n * c, group):
        part = planes[first : first + group]
        if up > 1 or ut > 1 or px0 or px1:
            part = upsample_axis(part, bank_w, off_w, up_w, dim=3)
        else:
            part = part * gain
        if up > 1 or ut > 1 or py0 or py1:
            part = upsample_axis(part, bank_h, off_h, up_h, dim=2)
        if slope != 1:
            part = F.leaky_relu(part, slope)
        if clamp is not None:
            part = part.clamp(-clamp, clamp)
        out[first : first + group] = downsample(part, fd, down)
    return out.view(n, c, out_h, out_w)


def filtered_lrelu_reference(
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
) -> torch.Tensor:
    """The same op done the obvious, slow way: insert zeros, convolve at full rate, subsample."""
    n, c, h, w = x.shape
    px0, px1, py0, py1 = (int(p) for p in padding)
    if bias is not None:
        x = x + bias.view(1, -1, 1, 1)
    spread = x.new_zeros([n, c, h * up, w * up])
    spread[:, :, ::up, ::up] = x
    spread = F.pad(spread, [px0, px1, py0, py1])
    k2 = x.new_ones([1, 1]) if up_filter is None else torch.outer(up_filter, up_filter)
    k2 = k2.to(x.dtype) * up**2
    spread = F.conv2d(spread, k2.flip(0, 1).expand(c, 1, *k2.shape).contiguous(), groups=c)
    act = F.leaky_relu(spread, slope) * gain
    if clamp is not None:
        act = act.clamp(-clamp, clamp)
    if down_filter is not None:
        k2 = down_filter if down_filter.ndim == 2 else torch.outer(down_filter, down_filter)
        act = F.conv2d(act, k2.flip(0, 1).expand(c, 1, *k2.shape).contiguous(), groups=c)
    return act[:, :, ::down, ::down]


def bench_filtered_lrelu(
    size: int = 148, channels: int = 64, up: int = 2, radial: bool = False, repeats: int = 3
) -> dict[str, float]:
    """Seconds per call, polyphase op versus the straightforward one, on a StyleGAN3-like layer."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn([1, channels, size, size], generator=gen)
    fu = torch.from_numpy(design_lowpass(6 * up, 8.0, 8.0, 32.0 * up / 2))
    fd = torch.from_numpy(design_lowpass(12, 8.0, 8.0, 32.0, radial=radial))
    pad = (9, 8, 9, 8) if up == 2 else (-6, -9, -6, -9)
    args = (x, None, fu, fd, up, 2, pad, math.sqrt(2), 0.2, 256.0)
    result = {}
    for name, fn in (("polyphase_s", filtered_lrelu), ("reference_s", filtered_lrelu_reference)):
        fn(*args)
        start = time.perf_counter()
        for _ in range(repeats):
            fn(*args)
        result[name] = (time.perf_counter() - start) / repeats
    return result
