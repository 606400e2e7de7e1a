"""The slow reference for the polyphase filtered leaky ReLU: the op done the obvious way.

Tests compare ``ghosts_render.render.selfies.stylegan.ops.filtered_lrelu`` against it: insert
zeros, convolve at the full upsampled rate, apply the leaky ReLU there, filter again, keep every
``down``-th sample, as "Alias-Free Generative Adversarial Networks" (Karras et al. 2021,
https://arxiv.org/abs/2106.12423) describes the filtered nonlinearity. Too slow for rendering.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


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
