"""Our own StyleGAN2 generator (StyleGAN2-ADA and the StyleGAN3 repository's --cfg=stylegan2).

Built from the constructor keyword arguments an official pickle records; its state-dict names
are the official ones, so the pickle's tensors load strictly. Inference only, float32.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from ghosts_render.errors import ModelLoadError
from ghosts_render.render.selfies import NOISE_MODES
from ghosts_render.render.selfies.stylegan import limits
from ghosts_render.render.selfies.stylegan.sg2_ops import (
    ACTIVATION_GAIN,
    apply_bias_act,
    make_fir_kernel,
    modulated_conv,
    upsample_image,
)

MAPPING_KEYS = {
    "num_layers",
    "embed_features",
    "layer_features",
    "activation",
    "lr_multiplier",
    "w_avg_beta",
}
SYNTHESIS_KEYS = {
    "channel_base",
    "channel_max",
    "num_fp16_res",
    "architecture",
    "resample_filter",
    "conv_clamp",
    "use_fp16",
    "fp16_channels_last",
    "fused_modconv_default",
    "kernel_size",
    "use_noise",
    "activation",
    "channels_last",
}


class _Dense(torch.nn.Module):
    """Fully connected layer with the learning-rate-equalised weight and bias gains."""

    def __init__(
        self,
        n_in: int,
        n_out: int,
        act: str = "linear",
        lr_mul: float = 1.0,
        bias_init: float = 0.0,
    ) -> None:
        super().__init__()
        self.act = act
        self.weight = torch.nn.Parameter(torch.randn([n_out, n_in]) / lr_mul)
        self.bias = torch.nn.Parameter(torch.full([n_out], float(bias_init)))
        self.weight_gain = lr_mul / math.sqrt(n_in)
        self.bias_gain = lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x.matmul((self.weight * self.weight_gain).t())
        bias = self.bias * self.bias_gain if self.bias_gain != 1 else self.bias
        return apply_bias_act(y, bias, self.act, ACTIVATION_GAIN[self.act], None)


def _normalize(x: torch.Tensor) -> torch.Tensor:
    return x * (x.square().mean(dim=1, keepdim=True) + 1e-8).rsqrt()


class _Mapping(torch.nn.Module):
    """z (and label) -> w, broadcast to every style input, with truncation toward w_avg."""

    w_avg: torch.Tensor  # registered buffer

    def __init__(
        self,
        z_dim: int,
        c_dim: int,
        w_dim: int,
        num_ws: int,
        num_layers: int = 8,
        embed_features: int | None = None,
        layer_features: int | None = None,
        activation: str = "lrelu",
        lr_multiplier: float = 0.01,
        w_avg_beta: float | None = 0.995,
    ) -> None:
        super().__init__()
        self.z_dim, self.c_dim, self.num_ws, self.num_layers = z_dim, c_dim, num_ws, num_layers
        embed = 0 if c_dim == 0 else (w_dim if embed_features is None else embed_features)
        hidden = w_dim if layer_features is None else layer_features
        sizes = [z_dim + embed] + [hidden] * (num_layers - 1) + [w_dim]
        if c_dim > 0:
            self.embed = _Dense(c_dim, embed)
        for i in range(num_layers):
            setattr(self, f"fc{i}", _Dense(sizes[i], sizes[i + 1], activation, lr_multiplier))
        self.has_w_avg = w_avg_beta is not None
        if self.has_w_avg:
            self.register_buffer("w_avg", torch.zeros([w_dim]))

    def forward(
        self,
        z: torch.Tensor,
        c: torch.Tensor,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
    ) -> torch.Tensor:
        parts = []
        if self.z_dim > 0:
            parts.append(_normalize(z.to(torch.float32)))
        if self.c_dim > 0:
            parts.append(_normalize(self.embed(c.to(torch.float32))))
        x = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)
        ws = x.unsqueeze(1).repeat([1, self.num_ws, 1])
        if truncation_psi != 1:
            if not self.has_w_avg:
                raise ValueError("this network keeps no average w, so it cannot be truncated")
            cut = self.num_ws if truncation_cutoff is None else truncation_cutoff
            ws[:, :cut] = self.w_avg.lerp(ws[:, :cut], truncation_psi)
        return ws


class _StyledConv(torch.nn.Module):
    """3x3 modulated convolution (optionally upsampling), noise, bias, leaky ReLU, clamp."""

    resample_filter: torch.Tensor  # registered buffers
    noise_const: torch.Tensor

    def __init__(
        self,
        c_in: int,
        c_out: int,
        w_dim: int,
        resolution: int,
        up: bool,
        taps: list[float],
        conv_clamp: float | None,
        kernel_size: int = 3,
        use_noise: bool = True,
        activation: str = "lrelu",
    ) -> None:
        super().__init__()
        self.up, self.resolution, self.use_noise = up, resolution, use_noise
        self.activation, self.conv_clamp = activation, conv_clamp
        self.register_buffer("resample_filter", make_fir_kernel(taps))
        self.affine = _Dense(w_dim, c_in, bias_init=1.0)
        self.weight = torch.nn.Parameter(torch.randn([c_out, c_in, kernel_size, kernel_size]))
        if use_noise:
            self.register_buffer("noise_const", torch.randn([resolution, resolution]))
            self.noise_strength = torch.nn.Parameter(torch.zeros([]))
        self.bias = torch.nn.Parameter(torch.zeros([c_out]))

    def forward(
        self, x: torch.Tensor, w: torch.Tensor, noise_mode: str, gain: float = 1.0
    ) -> torch.Tensor:
        styles = self.affine(w)
        kernel = self.resample_filter if self.up else None
        x = modulated_conv(x, self.weight, styles, demodulate=True, up_kernel=kernel)
        if self.use_noise and noise_mode == "const":
            x = x + self.noise_const * self.noise_strength
        elif self.use_noise and noise_mode == "random":
            shape = [x.shape[0], 1, self.resolution, self.resolution]
            x = x + torch.randn(shape, device=x.device) * self.noise_strength
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return apply_bias_act(
            x, self.bias, self.activation, ACTIVATION_GAIN[self.activation] * gain, clamp
        )


class _RGBOut(torch.nn.Module):
    """1x1 modulated convolution to image channels, without demodulation."""

    def __init__(self, c_in: int, c_out: int, w_dim: int, conv_clamp: float | None) -> None:
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = _Dense(w_dim, c_in, bias_init=1.0)
        self.weight = torch.nn.Parameter(torch.randn([c_out, c_in, 1, 1]))
        self.bias = torch.nn.Parameter(torch.zeros([c_out]))
        self.weight_gain = 1 / math.sqrt(c_in)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv(x, self.weight, styles, demodulate=False)
        return apply_bias_act(x, self.bias, "linear", 1.0, self.conv_clamp)


class _ResidualUp(torch.nn.Module):
    """The 'resnet' architecture's shortcut: 1x1 convolution, then FIR upsampling."""

    resample_filter: torch.Tensor  # registered buffer

    def __init__(self, c_in: int, c_out: int, taps: list[float]) -> None:
        super().__init__()
        self.register_buffer("resample_filter", make_fir_kernel(taps))
        self.weight = torch.nn.Parameter(torch.randn([c_out, c_in, 1, 1]))
        self.weight_gain = 1 / math.sqrt(c_in)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.nn.functional.conv2d(x, self.weight * self.weight_gain)
        return upsample_image(x, self.resample_filter) * math.sqrt(0.5)


class _Block(torch.nn.Module):
    """One resolution of the synthesis network: (upsampling) convs, ToRGB, image skip."""

    resample_filter: torch.Tensor  # registered buffer

    def __init__(
        self,
        c_in: int,
        c_out: int,
        w_dim: int,
        resolution: int,
        img_channels: int,
        is_last: bool,
        architecture: str,
        taps: list[float],
        conv_clamp: float | None,
        layer_kwargs: dict[str, Any],
    ) -> None:
        super().__init__()
        self.first, self.architecture = c_in == 0, architecture
        self.register_buffer("resample_filter", make_fir_kernel(taps))
        if self.first:
            self.const = torch.nn.Parameter(torch.randn([c_out, resolution, resolution]))
        else:
            self.conv0 = _StyledConv(
                c_in, c_out, w_dim, resolution, True, taps, conv_clamp, **layer_kwargs
            )
        self.conv1 = _StyledConv(
            c_out, c_out, w_dim, resolution, False, taps, conv_clamp, **layer_kwargs
        )
        self.has_rgb = is_last or architecture == "skip"
        if self.has_rgb:
            self.torgb = _RGBOut(c_out, img_channels, w_dim, conv_clamp)
        if not self.first and architecture == "resnet":
            self.skip = _ResidualUp(c_in, c_out, taps)
        self.num_conv = 1 if self.first else 2

    def forward(
        self, x: torch.Tensor | None, img: torch.Tensor | None, ws: torch.Tensor, noise_mode: str
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        if x is None:
            x = self.const.unsqueeze(0).repeat([ws.shape[0], 1, 1, 1])
            x = self.conv1(x, ws[:, 0], noise_mode)
        elif self.architecture == "resnet":
            shortcut = self.skip(x)
            x = self.conv0(x, ws[:, 0], noise_mode)
            x = shortcut + self.conv1(x, ws[:, 1], noise_mode, gain=math.sqrt(0.5))
        else:
            x = self.conv0(x, ws[:, 0], noise_mode)
            x = self.conv1(x, ws[:, 1], noise_mode)
        if img is not None:
            img = upsample_image(img, self.resample_filter)
        if self.has_rgb:
            rgb = self.torgb(x, ws[:, self.num_conv])
            img = rgb if img is None else img + rgb
        return x, img


class _Synthesis(torch.nn.Module):
    """w per layer -> image, through blocks b4, b8, ... up to the output resolution."""

    def __init__(
        self, w_dim: int, img_resolution: int, img_channels: int, settings: dict[str, Any]
    ) -> None:
        super().__init__()
        self.resolutions = [2**i for i in range(2, int(np.log2(img_resolution)) + 1)]
        base, cap = settings.get("channel_base", 32768), settings.get("channel_max", 512)
        channels = {r: min(base // r, cap) for r in self.resolutions}
        layer_kwargs: dict[str, Any] = {
            k: settings[k] for k in ("kernel_size", "use_noise", "activation") if k in settings
        }
        self.num_ws = 0
        self.starts = []
        for res in self.resolutions:
            block = _Block(
                channels[res // 2] if res > 4 else 0,
                channels[res],
                w_dim,
                res,
                img_channels,
                res == img_resolution,
                settings.get("architecture", "skip"),
                list(settings.get("resample_filter", [1, 3, 3, 1])),
                settings["conv_clamp"],
                layer_kwargs,
            )
            setattr(self, f"b{res}", block)
            self.starts.append(self.num_ws)
            self.num_ws += block.num_conv
        self.num_ws += 1  # the last block's ToRGB

    def forward(self, ws: torch.Tensor, noise_mode: str) -> torch.Tensor:
        x = img = None
        for res, start in zip(self.resolutions, self.starts, strict=True):
            block = getattr(self, f"b{res}")
            x, img = block(x, img, ws[:, start : start + block.num_conv + 1], noise_mode)
        assert img is not None
        return img


class StyleGAN2Generator(torch.nn.Module):
    """StyleGAN2 generator built from an official pickle's Generator init kwargs."""

    kind = "stylegan2"

    def __init__(
        self,
        z_dim: int,
        c_dim: int,
        w_dim: int,
        img_resolution: int,
        img_channels: int,
        mapping_kwargs: dict | None = None,
        synthesis_kwargs: dict | None = None,
        **flat_synthesis_kwargs: Any,
    ) -> None:
        super().__init__()
        self.init_kwargs = _json_kwargs(
            dict(
                z_dim=z_dim,
                c_dim=c_dim,
                w_dim=w_dim,
                img_resolution=img_resolution,
                img_channels=img_channels,
                mapping_kwargs=mapping_kwargs or {},
                **({"synthesis_kwargs": synthesis_kwargs} if synthesis_kwargs is not None else {}),
                **flat_synthesis_kwargs,
            )
        )
        limits.check_common(self.init_kwargs)
        settings = _synthesis_settings(synthesis_kwargs, flat_synthesis_kwargs, img_resolution)
        mapping = dict(mapping_kwargs or {})
        _check_keys("mapping_kwargs", mapping, MAPPING_KEYS)
        self.z_dim, self.c_dim, self.w_dim = z_dim, c_dim, w_dim
        self.img_resolution, self.img_channels = img_resolution, img_channels
        self.synthesis = _Synthesis(w_dim, img_resolution, img_channels, settings)
        self.num_ws = self.synthesis.num_ws
        self.mapping = _Mapping(z_dim, c_dim, w_dim, self.num_ws, **mapping)

    def forward(
        self,
        z: torch.Tensor,
        c: torch.Tensor,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
        noise_mode: str = "const",
    ) -> torch.Tensor:
        """Return float32 images [N, C, H, W] in the official value range (about -1..1)."""
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        ws = self.mapping(z, c, truncation_psi, truncation_cutoff)
        return self.synthesis(ws, noise_mode)


def _synthesis_settings(nested: dict | None, flat: dict, img_resolution: int) -> dict[str, Any]:
    """Merge the two official layouts of synthesis settings, with each layout's defaults."""
    if img_resolution < 4 or img_resolution & (img_resolution - 1):
        raise ModelLoadError(
            f"StyleGAN2 needs a power-of-two resolution of at least 4, not {img_resolution}"
        )
    settings = dict(nested or {})
    settings.update(flat)
    _check_keys("synthesis settings", settings, SYNTHESIS_KEYS)
    base = limits.check_int(settings, "channel_base", 1, 2**30, default=32768)
    limits.check_int(settings, "channel_max", 1, limits.MAX_DIM, default=512)
    limits.check_int(settings, "kernel_size", 1, 15, default=3)
    if base // img_resolution < 1:
        raise ModelLoadError(
            f"its settings give the {img_resolution}² layers no channels (channel_base {base}); "
            "the file is damaged or not a StyleGAN2 network"
        )
    taps = settings.get("resample_filter", [1, 3, 3, 1])
    numbers = isinstance(taps, list | tuple) and all(
        isinstance(t, int | float) and not isinstance(t, bool) and math.isfinite(t) for t in taps
    )
    if not numbers or not 1 <= len(taps) <= limits.MAX_FILTER_TAPS or not sum(taps):
        raise ModelLoadError(
            f"its resample_filter {taps!r} is not a short list of numbers; the file is damaged"
        )
    if settings.get("conv_clamp") is not None:
        limits.check_number(settings, "conv_clamp", 256)
    # StyleGAN2-ADA nests them (its blocks default to no clamping); the StyleGAN3 repository
    # passes them flat and clamps at 256 by default.
    settings.setdefault("conv_clamp", None if nested is not None else 256)
    if settings.get("architecture", "skip") not in ("skip", "orig", "resnet"):
        raise ModelLoadError(f"unknown StyleGAN2 architecture {settings['architecture']!r}")
    return settings


def _check_keys(where: str, given: dict, known: set[str]) -> None:
    unknown = sorted(set(given) - known)
    if unknown:
        raise ModelLoadError(
            f"this StyleGAN2 network uses {where} ghosts-render does not know: "
            f"{', '.join(unknown)}; it cannot be rendered faithfully"
        )


def _json_kwargs(value: Any) -> Any:
    """Return the kwargs with tuples as lists and numpy numbers as Python ones (JSON-able)."""
    if isinstance(value, dict):
        return {str(k): _json_kwargs(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_kwargs(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value
