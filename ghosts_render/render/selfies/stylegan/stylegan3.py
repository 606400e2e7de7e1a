"""Our own StyleGAN3 generator (configs T and R), built from a network's init kwargs alone.

Every per-layer number (sizes, sampling rates, cutoffs, paddings, filters) is derived from the
generator's init kwargs the way NVIDIA's training code derives it, so the parameter and buffer
names and shapes equal those of an official `G_ema` and its weights load strictly. The filtered
leaky ReLU runs polyphase (ops.py). Rendering is float32 on every device.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ghosts_render.errors import ModelLoadError
from ghosts_render.render.selfies import NOISE_MODES
from ghosts_render.render.selfies.stylegan import limits, ops

SYNTHESIS_DEFAULTS = {
    "channel_base": 32768,
    "channel_max": 512,
    "num_layers": 14,
    "num_critical": 2,
    "first_cutoff": 2,
    "first_stopband": 2**2.1,
    "last_stopband_rel": 2**0.3,
    "margin_size": 10,
    "output_scale": 0.25,
    "num_fp16_res": 4,  # accepted for compatibility; we always render in float32
    "conv_kernel": 3,
    "filter_size": 6,
    "lrelu_upsampling": 2,
    "use_radial_filters": False,
    "conv_clamp": 256,
    "magnitude_ema_beta": 0.999,
}
MAPPING_DEFAULTS = {"num_layers": 2, "lr_multiplier": 0.01, "w_avg_beta": 0.998}


@dataclass(frozen=True)
class LayerPlan:
    """One synthesis layer: its shapes, sampling rates and resampling settings."""

    name: str
    in_channels: int
    out_channels: int
    in_size: int
    out_size: int
    kernel: int
    is_torgb: bool
    up: int
    down: int
    up_taps: int
    down_taps: int
    radial: bool
    padding: tuple[int, int, int, int]
    tmp_rate: int
    in_cutoff: float
    out_cutoff: float
    in_half_width: float
    out_half_width: float


@dataclass(frozen=True)
class SynthesisPlan:
    """The Fourier-feature input and every layer after it."""

    input_channels: int
    input_size: int
    input_rate: float
    input_bandwidth: float
    layers: tuple[LayerPlan, ...]


def plan_synthesis(img_resolution: int, img_channels: int, settings: dict) -> SynthesisPlan:
    """Per-layer cutoffs, stopbands, rates, sizes and channels: a geometric ramp to the image."""
    s = settings
    count, critical = s["num_layers"], s["num_critical"]
    ramp = np.minimum(np.arange(count + 1) / (count - critical), 1)
    last_cutoff = img_resolution / 2
    last_stop = last_cutoff * s["last_stopband_rel"]
    cutoffs = s["first_cutoff"] * (last_cutoff / s["first_cutoff"]) ** ramp
    stops = s["first_stopband"] * (last_stop / s["first_stopband"]) ** ramp
    rates = np.exp2(np.ceil(np.log2(np.minimum(stops * 2, img_resolution))))
    half_widths = np.maximum(stops, rates / 2) - cutoffs
    sizes = rates + s["margin_size"] * 2
    sizes[-2:] = img_resolution
    channels = np.rint(np.minimum((s["channel_base"] / 2) / cutoffs, s["channel_max"]))
    channels[-1] = img_channels
    layers = []
    for idx in range(count + 1):
        prev = max(idx - 1, 0)
        is_torgb = idx == count
        in_rate, out_rate = int(rates[prev]), int(rates[idx])
        tmp_rate = max(in_rate, out_rate) * (1 if is_torgb else s["lrelu_upsampling"])
        up, down = int(np.rint(tmp_rate / in_rate)), int(np.rint(tmp_rate / out_rate))
        up_taps = s["filter_size"] * up if up > 1 and not is_torgb else 1
        down_taps = s["filter_size"] * down if down > 1 and not is_torgb else 1
        kernel = 1 if is_torgb else s["conv_kernel"]
        in_size, out_size = int(sizes[prev]), int(sizes[idx])
        total = (out_size - 1) * down + 1 - (in_size + kernel - 1) * up + up_taps + down_taps - 2
        lo = (total + up) // 2
        layers.append(LayerPlan(
            name=f"L{idx}_{out_size}_{int(channels[idx])}",
            in_channels=int(channels[prev]), out_channels=int(channels[idx]),
            in_size=in_size, out_size=out_size, kernel=kernel, is_torgb=is_torgb,
            up=up, down=down, up_taps=up_taps, down_taps=down_taps,
            radial=bool(s["use_radial_filters"]) and idx < count - critical,
            padding=(lo, total - lo, lo, total - lo), tmp_rate=tmp_rate,
            in_cutoff=float(cutoffs[prev]), out_cutoff=float(cutoffs[idx]),
            in_half_width=float(half_widths[prev]), out_half_width=float(half_widths[idx]),
        ))  # fmt: skip
    return SynthesisPlan(
        input_channels=int(channels[0]), input_size=int(sizes[0]),
        input_rate=float(rates[0]), input_bandwidth=float(cutoffs[0]), layers=tuple(layers),
    )  # fmt: skip


class _Dense(torch.nn.Module):
    """Fully connected layer with equalised learning rate (runtime weight and bias gains)."""

    def __init__(self, n_in, n_out, lrelu=False, lr_multiplier=1.0, weight_init=1.0, bias_init=0.0):
        super().__init__()
        self.lrelu = lrelu
        self.weight = torch.nn.Parameter(torch.randn([n_out, n_in]) * (weight_init / lr_multiplier))
        start = torch.as_tensor(np.broadcast_to(np.float32(bias_init), [n_out]).copy())
        self.bias = torch.nn.Parameter(start / lr_multiplier)
        self.weight_gain = lr_multiplier / math.sqrt(n_in)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight * self.weight_gain
        b = self.bias * self.bias_gain if self.bias_gain != 1 else self.bias
        if not self.lrelu:
            return torch.addmm(b.unsqueeze(0), x, w.t())
        return F.leaky_relu(x.matmul(w.t()) + b, 0.2) * math.sqrt(2)


class _Mapping(torch.nn.Module):
    """z (and label) -> w, broadcast to every layer, with truncation toward the running mean."""

    w_avg: torch.Tensor  # registered buffer

    def __init__(self, z_dim, c_dim, w_dim, num_ws, num_layers, lr_multiplier, w_avg_beta):
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = z_dim, c_dim, w_dim, num_ws
        self.num_layers = num_layers
        if c_dim > 0:
            self.embed = _Dense(c_dim, w_dim)
        widths = [z_dim + (w_dim if c_dim > 0 else 0)] + [w_dim] * num_layers
        for idx in range(num_layers):
            dense = _Dense(widths[idx], widths[idx + 1], lrelu=True, lr_multiplier=lr_multiplier)
            self.add_module(f"fc{idx}", dense)
        self.register_buffer("w_avg", torch.zeros([w_dim]))

    def forward(self, z, c=None, truncation_psi=1.0, truncation_cutoff=None) -> torch.Tensor:
        x = _unit_rms(z.to(torch.float32))
        if self.c_dim > 0:
            if c is None:
                raise ValueError("this network is conditional: pass a class label")
            x = torch.cat([x, _unit_rms(self.embed(c.to(torch.float32)))], dim=1)
        for idx in range(self.num_layers):
            x = getattr(self, f"fc{idx}")(x)
        ws = x.unsqueeze(1).repeat([1, self.num_ws, 1])
        if truncation_psi != 1:
            stop = self.num_ws if truncation_cutoff is None else truncation_cutoff
            ws[:, :stop] = self.w_avg.lerp(ws[:, :stop], truncation_psi)
        return ws


def _unit_rms(x: torch.Tensor) -> torch.Tensor:
    return x * (x.square().mean(1, keepdim=True) + 1e-8).rsqrt()


class _FourierInput(torch.nn.Module):
    """Sinusoids of fixed random frequencies, rotated and shifted per image by an affine of w."""

    transform: torch.Tensor  # registered buffers
    freqs: torch.Tensor
    phases: torch.Tensor

    def __init__(self, w_dim, channels, size, rate, bandwidth):
        super().__init__()
        self.channels, self.size, self.rate, self.bandwidth = channels, size, rate, bandwidth
        direction = torch.randn([channels, 2])
        radius = direction.square().sum(dim=1, keepdim=True).sqrt()
        freqs = direction / (radius * radius.square().exp().pow(0.25)) * bandwidth
        self.weight = torch.nn.Parameter(torch.randn([channels, channels]))
        self.affine = _Dense(w_dim, 4, weight_init=0.0, bias_init=[1, 0, 0, 0])
        self.register_buffer("transform", torch.eye(3, 3))
        self.register_buffer("freqs", freqs)
        self.register_buffer("phases", torch.rand([channels]) - 0.5)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        t = self.affine(w)
        t = t / t[:, :2].norm(dim=1, keepdim=True)
        n = w.shape[0]
        rot = torch.eye(3, device=w.device).repeat([n, 1, 1])
        rot[:, 0, 0], rot[:, 0, 1], rot[:, 1, 0], rot[:, 1, 1] = t[:, 0], -t[:, 1], t[:, 1], t[:, 0]
        shift = torch.eye(3, device=w.device).repeat([n, 1, 1])
        shift[:, 0, 2], shift[:, 1, 2] = -t[:, 2], -t[:, 3]
        m = rot @ shift @ self.transform.unsqueeze(0)
        phases = self.phases.unsqueeze(0) + (self.freqs.unsqueeze(0) @ m[:, :2, 2:]).squeeze(2)
        freqs = self.freqs.unsqueeze(0) @ m[:, :2, :2]  # [N, C, 2]
        span = self.rate / 2 - self.bandwidth
        amp = (1 - (freqs.norm(dim=2) - self.bandwidth) / span).clamp(0, 1)
        pos = (np.arange(self.size) + 0.5 - self.size / 2) / self.rate
        pos = torch.as_tensor(pos, dtype=torch.float32, device=w.device)
        fx, fy = freqs[..., 0, None, None], freqs[..., 1, None, None]
        arg = fx * pos.view(1, 1, 1, -1) + fy * pos.view(1, 1, -1, 1) + phases[..., None, None]
        waves = torch.sin(arg * (2 * np.pi)) * amp[..., None, None]
        mix = self.weight / np.sqrt(self.channels)
        return torch.einsum("nchw,dc->ndhw", waves, mix).contiguous()


class _AliasFreeLayer(torch.nn.Module):
    """Modulated conv (demodulated, input gain from the magnitude EMA), then filtered lrelu."""

    magnitude_ema: torch.Tensor  # registered buffers
    up_filter: torch.Tensor | None
    down_filter: torch.Tensor | None

    def __init__(self, w_dim: int, plan: LayerPlan, conv_clamp, magnitude_ema_beta):
        super().__init__()
        self.plan, self.conv_clamp = plan, conv_clamp
        self.magnitude_ema_beta = magnitude_ema_beta
        k = plan.kernel
        self.affine = _Dense(w_dim, plan.in_channels, bias_init=1.0)
        self.weight = torch.nn.Parameter(torch.randn([plan.out_channels, plan.in_channels, k, k]))
        self.bias = torch.nn.Parameter(torch.zeros([plan.out_channels]))
        self.register_buffer("magnitude_ema", torch.ones([]))
        up = ops.design_lowpass(plan.up_taps, plan.in_cutoff, plan.in_half_width * 2, plan.tmp_rate)
        down = ops.design_lowpass(
            plan.down_taps, plan.out_cutoff, plan.out_half_width * 2, plan.tmp_rate, plan.radial
        )
        self.register_buffer("up_filter", None if up is None else torch.from_numpy(up))
        self.register_buffer("down_filter", None if down is None else torch.from_numpy(down))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        p = self.plan
        styles = self.affine(w)
        weight: torch.Tensor = self.weight
        if p.is_torgb:
            styles = styles * (1 / np.sqrt(p.in_channels * p.kernel**2))
        else:
            weight = weight * weight.square().mean([1, 2, 3], keepdim=True).rsqrt()
            styles = styles * styles.square().mean(1, keepdim=True).rsqrt()
        x = x * (styles * self.magnitude_ema.rsqrt()).unsqueeze(2).unsqueeze(3)
        x = F.conv2d(x, weight, padding=p.kernel - 1)
        if not p.is_torgb:
            energy = styles.square() @ weight.square().sum([2, 3]).t()  # [N, out]
            x = x * (energy + 1e-8).rsqrt().unsqueeze(2).unsqueeze(3)
        return ops.filtered_lrelu(
            x, self.bias, self.up_filter, self.down_filter, p.up, p.down, p.padding,
            gain=1.0 if p.is_torgb else math.sqrt(2), slope=1.0 if p.is_torgb else 0.2,
            clamp=self.conv_clamp,
        )  # fmt: skip


class _Synthesis(torch.nn.Module):
    """Fourier input, then the alias-free layers, then the output scale."""

    def __init__(self, w_dim: int, plan: SynthesisPlan, settings: dict):
        super().__init__()
        self.plan, self.output_scale = plan, settings["output_scale"]
        self.num_ws = len(plan.layers) + 1
        self.input = _FourierInput(
            w_dim, plan.input_channels, plan.input_size, plan.input_rate, plan.input_bandwidth
        )
        self.layer_names = [layer.name for layer in plan.layers]
        for layer in plan.layers:
            module = _AliasFreeLayer(
                w_dim, layer, settings["conv_clamp"], settings["magnitude_ema_beta"]
            )
            self.add_module(layer.name, module)

    def forward(self, ws: torch.Tensor) -> torch.Tensor:
        per_layer = ws.to(torch.float32).unbind(dim=1)
        x = self.input(per_layer[0])
        for name, w in zip(self.layer_names, per_layer[1:], strict=True):
            x = getattr(self, name)(x, w)
        if self.output_scale != 1:
            x = x * self.output_scale
        return x.to(torch.float32)


def _plain(value):
    """A JSON-able copy of an init kwarg (numpy scalars and tuples become Python values)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _check_settings(s: dict) -> None:
    """Refuse synthesis settings out of sane bounds before any layer is planned or built."""
    limits.check_common(s)
    layers = limits.check_int(s, "num_layers", 1, limits.MAX_LAYERS)
    limits.check_int(s, "num_critical", 0, layers - 1)
    for key, high in (("channel_base", 2**30), ("channel_max", limits.MAX_DIM)):
        limits.check_int(s, key, 1, high)
    for key, high in (("conv_kernel", 15), ("filter_size", 16), ("lrelu_upsampling", 8)):
        limits.check_int(s, key, 1, high)
    limits.check_int(s, "margin_size", 0, 256)
    for key in ("first_cutoff", "first_stopband", "last_stopband_rel", "output_scale"):
        limits.check_number(s, key, SYNTHESIS_DEFAULTS[key])
    limits.check_number(s, "magnitude_ema_beta", 0.999, high=1.0)
    if s["conv_clamp"] is not None:
        limits.check_number(s, "conv_clamp", 256)


def _check_plan(plan: SynthesisPlan) -> None:
    """Refuse a plan with empty layers, huge filters or huge feature maps (damaged settings)."""
    for layer in plan.layers:
        ok = min(layer.in_channels, layer.out_channels) >= 1 and layer.in_channels <= 2**16
        ok = ok and max(layer.up_taps, layer.down_taps) <= limits.MAX_FILTER_TAPS
        ok = ok and 1 <= layer.in_size <= 2 * limits.MAX_RESOLUTION and layer.tmp_rate >= 1
        if not ok:
            raise ModelLoadError(
                f"its settings give layer {layer.name} {layer.in_channels}->"
                f"{layer.out_channels} channels, "
                f"{max(layer.up_taps, layer.down_taps)}-tap filters and {layer.in_size}² "
                "pixels, beyond any StyleGAN3; the file is damaged or not a StyleGAN3 network"
            )


class StyleGAN3Generator(torch.nn.Module):
    """StyleGAN3 (T or R) generator; forward(z, c) -> float32 images [N, C, H, W], about [-1, 1]."""

    def __init__(
        self, z_dim, c_dim, w_dim, img_resolution, img_channels, mapping_kwargs=None, **kw
    ):
        super().__init__()
        unknown = sorted(set(kw) - set(SYNTHESIS_DEFAULTS))
        unknown_map = sorted(set(mapping_kwargs or {}) - set(MAPPING_DEFAULTS))
        if unknown or unknown_map:
            raise ModelLoadError(
                f"this StyleGAN3 network uses settings ghosts-render does not know: "
                f"{', '.join(unknown + unknown_map)}; it may come from a newer or modified "
                "StyleGAN3 code base — export it with standard settings or report it"
            )
        self.init_kwargs = _plain({
            "z_dim": z_dim, "c_dim": c_dim, "w_dim": w_dim, "img_resolution": img_resolution,
            "img_channels": img_channels, "mapping_kwargs": dict(mapping_kwargs or {}), **kw,
        })  # fmt: skip
        settings = {**SYNTHESIS_DEFAULTS, **self.init_kwargs}
        _check_settings(settings)
        self.z_dim, self.c_dim, self.w_dim = int(z_dim), int(c_dim), int(w_dim)
        self.img_resolution, self.img_channels = int(img_resolution), int(img_channels)
        self.kind = "stylegan3-r" if settings["use_radial_filters"] else "stylegan3-t"
        plan = plan_synthesis(self.img_resolution, self.img_channels, settings)
        _check_plan(plan)
        self.synthesis = _Synthesis(self.w_dim, plan, settings)
        self.num_ws = self.synthesis.num_ws
        mapping = {**MAPPING_DEFAULTS, **self.init_kwargs["mapping_kwargs"]}
        self.mapping = _Mapping(self.z_dim, self.c_dim, self.w_dim, self.num_ws, **mapping)

    def forward(
        self, z, c=None, truncation_psi=1.0, truncation_cutoff=None, noise_mode="const"
    ) -> torch.Tensor:
        """Images for latents z [N, z_dim]; StyleGAN3 has no noise inputs, so noise_mode is moot."""
        if noise_mode not in NOISE_MODES:
            raise ValueError(
                f"noise_mode must be one of {', '.join(NOISE_MODES)}, not {noise_mode!r}"
            )
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        return self.synthesis(ws)
