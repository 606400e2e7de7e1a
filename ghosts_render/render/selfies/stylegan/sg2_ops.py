"""Tensor operations of the StyleGAN2 generator: FIR resampling, modulated convolution, bias/act.

Written from the published maths (Karras et al. 2020, "Analyzing and Improving the Image Quality
of StyleGAN", and the ADA paper). Resampling by two is done the cheap way: a transposed
convolution visits only the real input samples (no multiplying inserted zeros), then the FIR
filter runs once on the result, and the window is cut where the official "zero-insert, pad,
filter, convolve" definition puts it.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

LRELU_SLOPE = 0.2
ACTIVATION_GAIN = {"linear": 1.0, "lrelu": math.sqrt(2.0), "relu": math.sqrt(2.0)}


def make_fir_kernel(taps: list[float] | tuple[float, ...]) -> torch.Tensor:
    """Return the 2-D low-pass kernel for a 1-D tap list: outer product, normalised to sum 1."""
    f = torch.as_tensor(taps, dtype=torch.float32)
    if f.ndim == 1 and f.numel() < 8:
        f = torch.outer(f, f)
    return f / f.sum()


def apply_bias_act(
    x: torch.Tensor, bias: torch.Tensor | None, act: str, gain: float, clamp: float | None
) -> torch.Tensor:
    """Add a per-channel bias, apply the activation, scale by gain, clamp to +-clamp."""
    x = x + bias.reshape([1, -1] + [1] * (x.ndim - 2)) if bias is not None else x.clone()
    if act == "lrelu":
        F.leaky_relu_(x, LRELU_SLOPE)
    elif act == "relu":
        F.relu_(x)
    elif act != "linear":
        raise ValueError(f"unsupported activation {act!r}")
    if gain != 1:
        x.mul_(gain)
    if clamp is not None and clamp >= 0:
        x.clamp_(-clamp, clamp)
    return x


def _fir_2d(x: torch.Tensor, kernel: torch.Tensor, pad: int = 0) -> torch.Tensor:
    """True (flipped) 2-D convolution of every channel with the same FIR kernel, zero-padded."""
    channels = x.shape[1]
    if kernel.ndim == 1:  # separable taps: rows, then columns
        k = kernel.flip(0).to(x.dtype)
        rows = k.reshape(1, 1, 1, -1).repeat(channels, 1, 1, 1)
        x = F.conv2d(x, rows, padding=(0, pad), groups=channels)
        cols = k.reshape(1, 1, -1, 1).repeat(channels, 1, 1, 1)
        return F.conv2d(x, cols, padding=(pad, 0), groups=channels)
    k = kernel.flip([0, 1]).to(x.dtype)
    return F.conv2d(x, k[None, None].repeat(channels, 1, 1, 1), padding=pad, groups=channels)


def _pad_or_crop(x: torch.Tensor, before: int, after: int) -> torch.Tensor:
    """Pad (positive) or crop (negative) the two spatial axes by the same amounts."""
    if before < 0 or after < 0:
        end_y = x.shape[2] + min(after, 0)
        end_x = x.shape[3] + min(after, 0)
        x = x[:, :, max(-before, 0) : end_y, max(-before, 0) : end_x]
    if before > 0 or after > 0:
        x = F.pad(x, [max(before, 0), max(after, 0)] * 2)
    return x


def _taps(kernel: torch.Tensor) -> int:
    return int(kernel.shape[-1])


def upsample_image(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Double the size of every channel with the FIR kernel (gain 4), as the official upsample2d."""
    taps = _taps(kernel)
    channels = x.shape[1]
    # y[j] = (zero-inserted x * f)[j + taps - 1 - pad_lo] with pad_lo = (taps + 1) // 2.
    offset = taps - 1 - (taps + 1) // 2
    if kernel.ndim == 2:
        weight = (kernel * 4).to(x.dtype)[None, None].repeat(channels, 1, 1, 1)
        full = F.conv_transpose2d(x, weight, stride=2, groups=channels)
    else:
        taps_1d = (kernel * 2).to(x.dtype)
        rows = taps_1d.reshape(1, 1, 1, -1).repeat(channels, 1, 1, 1)
        cols = taps_1d.reshape(1, 1, -1, 1).repeat(channels, 1, 1, 1)
        full = F.conv_transpose2d(x, rows, stride=(1, 2), groups=channels)
        full = F.conv_transpose2d(full, cols, stride=(2, 1), groups=channels)
    size = x.shape[2] * 2
    return full[:, :, offset : offset + size, offset : offset + size]


def conv_up2(
    x: torch.Tensor, weight: torch.Tensor, kernel: torch.Tensor, groups: int = 1
) -> torch.Tensor:
    """Upsample by two and convolve with ``weight`` (true convolution), then FIR-filter (gain 4).

    ``weight`` is laid out for a transposed convolution: [in, out / groups, k, k]. Equals the
    official definition: insert zeros, pad by k//2 + (taps+1)//2 before and k//2 + (taps-2)//2
    after, filter with ``kernel``, then convolve with the weight.
    """
    k = weight.shape[-1]
    taps = _taps(kernel)
    size = x.shape[2] * 2
    pad = k // 2
    shift = k + taps - 2 - (pad + (taps + 1) // 2)  # y[j] = (u * w * f)[j + shift]
    full = F.conv_transpose2d(x, weight, stride=2, groups=groups)  # u * w: 2n - 1 + k - 1 long
    before = taps - 1 - shift
    after = (size - 1 + shift) - (full.shape[2] - 1)
    gain_kernel = kernel * (4 if kernel.ndim == 2 else 2)
    if before == after and before >= 0:  # the usual case (3x3 weight, 4 taps): pad inside
        return _fir_2d(full, gain_kernel, pad=before)
    return _fir_2d(_pad_or_crop(full, before, after), gain_kernel)


def modulated_conv(
    x: torch.Tensor,
    weight: torch.Tensor,
    styles: torch.Tensor,
    demodulate: bool,
    up_kernel: torch.Tensor | None = None,
) -> torch.Tensor:
    """Convolve each sample with ``weight`` modulated by its styles (and demodulated).

    Each sample gets its own weights (scaled by its styles, then normalised per output channel),
    and the whole batch runs as one grouped convolution, one group per sample.
    """
    n, c_in, h, w = x.shape
    c_out, _, k, _ = weight.shape
    wmod = weight.unsqueeze(0) * styles.reshape(n, 1, c_in, 1, 1)  # [N, out, in, k, k]
    if demodulate:
        wmod = wmod * (wmod.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt().reshape(n, c_out, 1, 1, 1)
    x = x.reshape(1, n * c_in, h, w)
    if up_kernel is not None:
        wmod = wmod.transpose(1, 2).reshape(n * c_in, c_out, k, k)
        x = conv_up2(x, wmod, up_kernel, groups=n)
    else:
        x = F.conv2d(x, wmod.reshape(n * c_out, c_in, k, k), padding=k // 2, groups=n)
    return x.reshape(n, c_out, *x.shape[2:])
