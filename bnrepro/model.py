"""The networks: an MLP and a small conv net, for K runs at once.

One module holds K runs of the same architecture (K = 1 for a single run); each run
has its own parameters (a block of the flat buffer, see params.py), its own init
seed, dropout masks and BN statistics. Hidden layer l computes

    z = W_l h (+ b_l)  -> BN(z) if bn=pre  -> a = g(z)  -> BN(a) if bn=post  -> dropout

and `taps` collects z, the nonlinearity's input, for the probes. Layouts: MLP
activations are [K, B, F] (batched matmul); conv activations are [B, K*C, H, W]
(grouped convolution, groups=K). Evaluation feeds one shared [N, C, H, W] input to
all runs: the first layer then is a single matmul / convolution over the runs'
concatenated weights.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from . import rng
from .config import Activation, Affine, Arch, BNPlacement, Init, ModelConfig, NormKind, uses_bn
from .norms import BatchNormBase, BatchRenorm, PaperBatchNorm, TorchBatchNorm, renorm_schedule
from .params import Layout, Slot

ACTIVATIONS = {Activation.sigmoid: torch.sigmoid, Activation.tanh: torch.tanh, Activation.relu: torch.relu}


def layer_tag(index: int) -> str:
    """Layers are numbered from 1 (first hidden) to depth + 1 (the output layer)."""
    return f"layer_{index:02d}"


class StackedNet(nn.Module):
    def __init__(self, cfgs: list[ModelConfig], seeds: list[int], input_shape: tuple, classes: int):
        super().__init__()
        m = cfgs[0]  # the architecture is shared by all runs of a group
        self.K = K = len(cfgs)
        self.arch, self.depth, self.width = m.arch, m.depth, m.width
        self.bn = m.bn if uses_bn(m) else BNPlacement.none
        self.activation_name = m.activation
        self.activation = ACTIVATIONS[m.activation]
        self.pool_every, self.kernel = m.pool_every, m.conv_kernel
        has_bias = (self.bn != BNPlacement.pre) if m.bias is None else m.bias

        layout = Layout(K)
        mlp = m.arch == Arch.mlp
        self.hidden: list[dict[str, Slot | None]] = []
        fan_in = math.prod(input_shape) if mlp else input_shape[0]
        k_size = m.conv_kernel
        has_bn = self.bn != BNPlacement.none
        learn_gamma = has_bn and m.bn_affine == Affine.learn
        learn_beta = has_bn and m.bn_affine != Affine.none
        for index in range(1, m.depth + 1):
            tag, W = layer_tag(index), m.width
            self.hidden.append({  # views: what bmm / baddbmm / conv2d / batch_norm take
                "weight": layout.add(f"{tag}.weight", "weight", (fan_in, W)) if mlp else
                layout.add(f"{tag}.weight", "weight", (W, fan_in, k_size, k_size), (K * W, fan_in, k_size, k_size)),
                "bias": layout.add(f"{tag}.bias", "bias", (W,), (K, 1, W) if mlp else (K * W,)) if has_bias else None,
                "gamma": layout.add(f"{tag}.gamma", "gamma", (W,), (K * W,)) if learn_gamma else None,
                "beta": layout.add(f"{tag}.beta", "beta", (W,), (K * W,)) if learn_beta else None,
            })
            fan_in = W
        out_tag = layer_tag(m.depth + 1)
        self.out_weight = layout.add(f"{out_tag}.weight", "weight", (m.width, classes))
        self.out_bias = layout.add(f"{out_tag}.bias", "bias", (classes,), (K, 1, classes))
        self.layout = layout
        self.theta = nn.Parameter(_initial_values(layout, cfgs, seeds, [h["weight"].name for h in self.hidden]))

        self.norms = nn.ModuleList([_make_norm(m, K * m.width) for _ in range(m.depth)] if has_bn else [])
        # gamma when it is not learned: fixed (bn_affine=fixed_gamma) or absent (none)
        fixed = torch.full((K * m.width,), m.bn_gamma) if m.bn_affine == Affine.fixed_gamma else None
        self.register_buffer("fixed_gamma", fixed)
        self.register_buffer("seeds", torch.tensor(seeds, dtype=torch.int64))
        self.register_buffer("dropout_p", torch.tensor([c.dropout for c in cfgs], dtype=torch.float32))
        self.use_dropout = any(c.dropout > 0 for c in cfgs)
        self._views: dict[str, torch.Tensor] = {}  # slot views of theta, during a forward pass
        self._norm_mode, self._step = "train", None  # what BN layers do, during a forward pass

    # ---- what the probes and optimizer need ----
    def weight_slots(self) -> list[Slot]:
        return [layer["weight"] for layer in self.hidden] + [self.out_weight]

    def p(self, slot: Slot | None) -> torch.Tensor | None:
        return None if slot is None else self._views[slot.name]

    # ---- forward ----
    def forward(self, x: torch.Tensor, *, train: bool, step: torch.Tensor | None = None,
                taps: list | None = None, stats="moving") -> torch.Tensor:
        """x: [K, B, C, H, W] (each run its own batch) or [N, C, H, W] (shared) -> logits [K, B, classes].

        stats: when not training, how BN normalizes: "moving", "population" or ("batch", n)
        (see norms.py)."""
        self._norm_mode = "train" if train else stats
        self._step = step
        shared = x.dim() == 4
        mlp = self.arch == Arch.mlp
        self._views = self.layout.split(self.theta)
        h = (x.flatten(-3) if mlp else x if shared else x.transpose(0, 1).flatten(1, 2))
        for l, layer in enumerate(self.hidden):
            first_shared = shared and l == 0
            z = self._linear(layer, h, first_shared) if mlp else self._conv(layer, h, first_shared)
            if self.bn == BNPlacement.pre:
                z = self._norm(l, layer, z)
            if taps is not None:
                taps.append(z if mlp else z.unflatten(1, (self.K, -1)).transpose(0, 1))
            h = self.activation(z)
            if self.bn == BNPlacement.post:
                h = self._norm(l, layer, h)
            if train and self.use_dropout:
                h = self._dropout(h, l, step)
            if not mlp and (l + 1) % self.pool_every == 0:
                h = F.max_pool2d(h, 2)
        if not mlp:  # global average pool, back to [K, B, C]
            h = h.mean(dim=(2, 3)).unflatten(1, (self.K, -1)).transpose(0, 1)
        logits = torch.baddbmm(self.p(self.out_bias), h, self.p(self.out_weight))
        self._views = {}
        return logits

    def _linear(self, layer: dict, h: torch.Tensor, shared: bool) -> torch.Tensor:
        w, b = self.p(layer["weight"]), self.p(layer["bias"])  # [K, in, out], [K, 1, out]
        if shared:  # h [N, in]: one matmul against all runs' weights side by side
            z = h @ w.permute(1, 0, 2).flatten(1)
            if b is not None:
                z = z + b.flatten()
            return z.unflatten(1, (self.K, -1)).transpose(0, 1)
        return torch.bmm(h, w) if b is None else torch.baddbmm(b, h, w)

    def _conv(self, layer: dict, h: torch.Tensor, shared: bool) -> torch.Tensor:
        w, b = self.p(layer["weight"]), self.p(layer["bias"])  # [K*C_out, C_in, k, k], [K*C_out]
        return F.conv2d(h, w, b, padding=self.kernel // 2, groups=1 if shared else self.K)

    def _norm(self, l: int, layer: dict, z: torch.Tensor) -> torch.Tensor:
        gamma = self.p(layer["gamma"]) if layer["gamma"] is not None else self.fixed_gamma  # [K*F]
        beta = self.p(layer["beta"])

        def norm(x: torch.Tensor) -> torch.Tensor:
            return self.norms[l](x, gamma, beta, self._norm_mode, self._step)

        if self.arch != Arch.mlp:
            return norm(z)
        K, B, F_ = z.shape  # [K, B, F] -> [B, K*F]: one channel per (run, unit)
        if K == 1:
            return norm(z.squeeze(0)).unsqueeze(0)
        return norm(z.transpose(0, 1).reshape(B, K * F_)).view(B, K, F_).transpose(0, 1)

    @torch.no_grad()
    def set_population_statistics(self, batches) -> None:
        """Algorithm 2: normalize each training mini-batch [K, B, C, H, W] with its own
        statistics (as in training, without touching the running averages) and set every
        BN layer's population mean and variance from the recorded batch statistics."""
        for norm in self.norms:
            norm.recorded = []
        for x in batches:
            self(x, train=False, stats=("batch", None))
        for norm in self.norms:
            norm.set_population()

    def _dropout(self, h: torch.Tensor, l: int, step: torch.Tensor) -> torch.Tensor:
        # Masks are a hash of (run seed, step, layer, element): see rng.py.
        if self.arch == Arch.mlp:
            K, B, F_ = h.shape
            shape, seeds, p = (1, B, F_), self.seeds.view(K, 1, 1), self.dropout_p.view(K, 1, 1)
            grouped = h
        else:
            grouped = h.unflatten(1, (self.K, -1)).flatten(2)  # [B, K, C*H*W]
            B, K, E = grouped.shape
            shape, seeds, p = (B, 1, E), self.seeds.view(1, K, 1), self.dropout_p.view(1, K, 1)
        element = torch.arange(math.prod(shape), device=h.device).view(shape)
        keep = rng.uniform(seeds, rng.STREAM_DROPOUT, step, l, element) >= p
        out = grouped * keep / (1 - p)
        return out if self.arch == Arch.mlp else out.view_as(h)


def _make_norm(m: ModelConfig, channels: int) -> BatchNormBase:
    if m.norm == NormKind.torch:
        return TorchBatchNorm(channels, m.bn_eps, m.bn_momentum)
    if m.norm == NormKind.paper:
        return PaperBatchNorm(channels, m.bn_eps, m.bn_momentum)
    schedule = renorm_schedule(m.renorm_rmax, m.renorm_dmax, m.renorm_warmup, m.renorm_rmax_at, m.renorm_dmax_at)
    return BatchRenorm(channels, m.bn_eps, m.renorm_rate, schedule)


def _initial_values(layout: Layout, cfgs: list[ModelConfig], seeds: list[int],
                    hidden_weights: list[str]) -> torch.Tensor:
    """Each run draws its parameters, in layout order, from its own generator: a run's
    initial weights are the same alone or batched, on any device. The hidden layers'
    weights are then multiplied by model.weight_scale."""
    per_run = []
    for cfg, seed in zip(cfgs, seeds):
        gen = torch.Generator().manual_seed(seed)
        values = {name: _init(slot, cfg, gen) for name, slot in layout.slots.items()}
        for name in hidden_weights:
            values[name] = values[name] * cfg.weight_scale
        per_run.append(values)
    return torch.cat([torch.stack([values[name] for values in per_run]).flatten()
                      for name in layout.slots])


def _init(slot: Slot, cfg: ModelConfig, gen: torch.Generator) -> torch.Tensor:
    if slot.kind == "gamma":
        return torch.ones(slot.shape)
    if slot.kind != "weight":
        return torch.zeros(slot.shape)
    if len(slot.shape) == 2:  # [in, out]
        fan_in, fan_out = slot.shape
    else:  # [C_out, C_in, k, k]
        receptive = math.prod(slot.shape[2:])
        fan_in, fan_out = slot.shape[1] * receptive, slot.shape[0] * receptive
    std = {
        Init.gaussian: cfg.init_std,
        Init.xavier: cfg.init_gain * math.sqrt(2.0 / (fan_in + fan_out)),
        Init.kaiming: cfg.init_gain * math.sqrt(2.0 / fan_in),
    }[cfg.init]
    return torch.randn(slot.shape, generator=gen) * std
