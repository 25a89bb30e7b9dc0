"""The networks: an MLP and a small conv net, for K runs at once.

One module holds K runs of the same architecture (K = 1 for a single run); each run
has its own parameters (a block of the flat buffer, see params.py), its own init
seed, dropout masks and BN statistics. Hidden layer l computes

    z = W_l h (+ b_l)  -> BN(z) if bn=pre  -> a = g(z)  -> BN(a) if bn=post  -> dropout

(model.input_bn: the raw inputs x -> BN(x) first, per input feature, a layer of its own),
and `taps` collects z, the nonlinearity's input, for the probes (`outputs` collects
a = g(z), `bn_inputs` what each BN layer normalizes). `vgg` is the conv net
in blocks: `pool_every` convs, a 2x2 max-pool, and the next block's channels doubled
(width, 2 width, 4 width, ...); its dropout (model.dropout) acts once, on the globally
pooled features before the classifier, as in Inception and VGG, not after every layer. The forward pass takes
its mode as an argument: "train" (batch statistics, running averages updated) or,
at evaluation, which statistics BN normalizes with (see norms.py). Layouts: MLP
activations are [K, B, F] (batched matmul; a single run's training step in 2-D, [B, F]:
_one_run); conv activations are [B, K*C, H, W] (grouped convolution, groups=K), stored
channels-last on the CPU. Evaluation feeds one shared [N, C, H, W] input to all runs:
the first layer then is a single matmul / convolution over the runs' concatenated
weights. model.arch=lstm: the LSTM of lstm.py (StackedNet(...) builds it).
"""

from __future__ import annotations

import math
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from . import rng
from ..config import (
    Activation,
    Affine,
    Arch,
    BatchNormConfig,
    BNPlacement,
    DropoutAt,
    Init,
    ModelConfig,
    has_norm_layer,
    uses_bn,
)
from .norms import Mode, make_norm
from .params import Layout, Slot


def _identity(z: torch.Tensor) -> torch.Tensor:
    return z


# linear: g(z) = z, a deep linear network (Santurkar et al.'s DLN)
ACTIVATIONS = {
    Activation.sigmoid: torch.sigmoid,
    Activation.tanh: torch.tanh,
    Activation.relu: torch.relu,
    Activation.linear: _identity,
}


def layer_tag(index: int) -> str:
    """Layers are numbered from 1 (first hidden) to depth + 1 (the output layer)."""
    return f"layer_{index:02d}"


class StackedNet(nn.Module):
    def __new__(cls, cfgs: list[ModelConfig] | None = None, *args, **kwargs):
        """model.arch=lstm builds the LSTM (stacked/lstm.py), a StackedNet with the same interface."""
        if cls is StackedNet and cfgs and cfgs[0].arch == Arch.lstm:
            from .lstm import StackedLSTM

            cls = StackedLSTM
        return super().__new__(cls)

    def __init__(self, cfgs: list[ModelConfig], seeds: list[int], input_shape: tuple, classes: int):
        super().__init__()
        shared = cfgs[0]  # the architecture is shared by all runs of a group
        self.K = K = len(cfgs)
        self.arch, self.depth, self.width = shared.arch, shared.depth, shared.width
        self.bn = shared.bn if has_norm_layer(shared) else BNPlacement.none  # where the norm layers sit
        normalizes = uses_bn(shared)  # they normalize (noise_only does not: bias kept, no gamma, beta)
        self.activation_name = shared.activation
        self.activation = ACTIVATIONS[shared.activation]
        self.pool_every, self.kernel = shared.pool_every, shared.conv_kernel
        has_bias = (self.bn != BNPlacement.pre or not normalizes) if shared.bias is None else shared.bias

        layout = Layout(K)
        mlp = shared.arch == Arch.mlp
        self.hidden: list[dict[str, Slot | None]] = []
        fan_in = math.prod(input_shape) if mlp else input_shape[0]
        k_size = shared.conv_kernel
        learn_gamma = normalizes and shared.bn_affine in (Affine.learn, Affine.no_beta)
        learn_beta = normalizes and shared.bn_affine in (Affine.learn, Affine.fixed_gamma)
        self.widths = layer_widths(shared)
        for index, W in enumerate(self.widths, start=1):
            tag = layer_tag(index)
            self.hidden.append(
                {  # views: what bmm / baddbmm / conv2d / batch_norm take
                    "weight": layout.add(f"{tag}.weight", "weight", (fan_in, W))
                    if mlp
                    else layout.add(
                        f"{tag}.weight", "weight", (W, fan_in, k_size, k_size), (K * W, fan_in, k_size, k_size)
                    ),
                    "bias": layout.add(f"{tag}.bias", "bias", (W,), (K, 1, W) if mlp else (K * W,))
                    if has_bias
                    else None,
                    "gamma": layout.add(f"{tag}.gamma", "gamma", (W,), (K * W,)) if learn_gamma else None,
                    "beta": layout.add(f"{tag}.beta", "beta", (W,), (K * W,)) if learn_beta else None,
                }
            )
            if shared.weight_norm:  # g of w = g v / ||v||, one per output unit (channel)
                layout.add(f"{tag}.gain", "gain", (W,), (K, 1, W) if mlp else (K * W, 1, 1, 1))
            fan_in = W
        self._add_output_layer(layout, fan_in, classes, shared.weight_norm)
        # model.input_bn: its gamma and beta come last in the layout, so every other parameter's
        # initial value is the same with and without it (ones and zeros draw no random numbers)
        features = math.prod(input_shape)
        self.input_affine = (
            {
                "gamma": layout.add("input.gamma", "gamma", (features,), (K * features,)),
                "beta": layout.add("input.beta", "beta", (features,), (K * features,)),
            }
            if shared.input_bn
            else None
        )
        self.params = nn.Parameter(_initial_values(layout, cfgs, seeds, [h["weight"].name for h in self.hidden]))

        self.norms = nn.ModuleList(
            [make_norm(shared.norm, K * W) for W in self.widths] if self.bn != BNPlacement.none else []
        )
        # gamma when it is not learned: fixed (bn_affine=fixed_gamma) or absent (none, no_beta learns it)
        fixed = (
            torch.full((K * max(self.widths),), shared.bn_gamma)
            if normalizes and shared.bn_affine == Affine.fixed_gamma
            else None
        )
        self.register_buffer("fixed_gamma", fixed)
        self.register_buffer("seeds", torch.tensor(seeds, dtype=torch.int64))
        for index, norm in enumerate(self.norms):
            norm.attach(self.seeds, index)
        self.input_norm = (
            make_norm(BatchNormConfig(group=shared.input_bn_group), K * features) if shared.input_bn else None
        )
        self.register_buffer("dropout_p", torch.tensor([c.dropout for c in cfgs], dtype=torch.float32))
        self.use_dropout = any(c.dropout > 0 for c in cfgs)
        self.dropout_layers = range(shared.depth - 1 if shared.dropout_at == DropoutAt.last else 0, shared.depth)
        self.grouped_conv: bool | None = None  # runs' convolutions as one grouped kernel; None: on a GPU only
        self.channels_last: bool | None = None  # conv activations [B, H, W, K*C] in memory; None: on the CPU only

    def _add_output_layer(self, layout: Layout, fan_in: int, classes: int, weight_norm: bool = False) -> None:
        """The linear classifier (layer depth + 1) closes the layout (with WeightNorm's gain g)."""
        out_tag = layer_tag(self.depth + 1)
        self.out_weight = layout.add(f"{out_tag}.weight", "weight", (fan_in, classes))
        self.out_bias = layout.add(f"{out_tag}.bias", "bias", (classes,), (self.K, 1, classes))
        if weight_norm:
            layout.add(f"{out_tag}.gain", "gain", (classes,), (self.K, 1, classes))
        self.weight_norm = weight_norm
        self.layout = layout

    # ---- what the probes and optimizer need ----
    def weight_slots(self) -> list[Slot]:
        return [layer["weight"] for layer in self.hidden] + [self.out_weight]

    @contextmanager
    def buffers_kept(self):
        """Every buffer (BN's running statistics) as it was before the block: a forward pass
        in training mode inside it leaves no trace (step 0's probe, run/measures.py)."""
        saved = {name: buffer.clone() for name, buffer in self.named_buffers()}
        try:
            yield
        finally:
            with torch.no_grad():
                for name, buffer in self.named_buffers():
                    buffer.copy_(saved[name])

    # ---- forward ----
    def forward(
        self,
        x: torch.Tensor,
        mode: Mode = "train",
        *,
        step: torch.Tensor | None = None,
        taps: list | None = None,
        outputs: list | None = None,
        bn_inputs: list | None = None,
        params: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """x: [K, B, C, H, W] (each run its own batch) or [N, C, H, W] (shared) -> logits [K, B, classes].

        mode: "train", or at evaluation how BN normalizes: "moving", "population" or
        ("batch", n) (see norms.py). step: the completed-steps counter (dropout masks and
        Batch Renorm's schedule read it). taps, outputs, bn_inputs: lists to collect each
        hidden layer's z, a = g(z) and BN's input (MLP layout [K, B, U]; conv [K, B, C, H, W]).
        params: evaluate at these flat parameters instead of the model's own (the measures
        of run/measures.py look at other points of the landscape; the model is not touched)."""
        training = mode == "train"
        shared = x.dim() == 4
        mlp = self.arch == Arch.mlp
        if mlp and self.K == 1 and not shared and taps is outputs is bn_inputs is None and self._plain_mlp(training):
            return self._one_run(x, mode, step, params)
        views = self.layout.split(self.params if params is None else params)
        if self.weight_norm:
            views = weight_normed(views, self.weight_slots())
        if self.input_norm is not None:  # per-run statistics: a shared input becomes one per run
            x = x.expand(self.K, *x.shape) if shared else x
            shared = False
        h = x.flatten(-3) if mlp else x if shared else x.transpose(0, 1).flatten(1, 2)
        if self.input_norm is not None:
            h = norm_runs(
                self.input_norm,
                h,
                _value(views, self.input_affine["gamma"]),
                _value(views, self.input_affine["beta"]),
                mode,
                step,
            )
        for index, layer in enumerate(self.hidden):
            first_shared = shared and index == 0
            z = self._linear(views, layer, h, first_shared) if mlp else self._conv(views, layer, h, first_shared)
            if self.bn == BNPlacement.pre:
                self._collect(bn_inputs, z)
                z = self._norm(views, index, layer, z, mode, step)
            self._collect(taps, z)
            h = self.activation(z)
            self._collect(outputs, h)
            if self.bn == BNPlacement.post:
                self._collect(bn_inputs, h)
                h = self._norm(views, index, layer, h, mode, step)
            if training and self.use_dropout and self.arch != Arch.vgg and index in self.dropout_layers:
                h = self._dropout(h, index, step)
            if not mlp and (index + 1) % self.pool_every == 0:
                h = F.max_pool2d(h, 2)
        if not mlp:  # global average pool, back to [K, B, C]
            h = h.mean(dim=(2, 3)).unflatten(1, (self.K, -1)).transpose(0, 1)
        if training and self.use_dropout and self.arch == Arch.vgg:  # before the classifier only
            h = self._dropout(h, self.depth, step)
        return torch.baddbmm(views[self.out_bias.name], h, views[self.out_weight.name])

    def _plain_mlp(self, training: bool) -> bool:
        """The MLP without the parts that need the runs' dimension (WeightNorm's per-run
        norms, BN of the inputs, dropout's per-run masks): _one_run computes it for K = 1."""
        return not self.weight_norm and self.input_norm is None and not (training and self.use_dropout)

    def _one_run(self, x: torch.Tensor, mode: Mode, step, params) -> torch.Tensor:
        """forward() for a single run's MLP on its own batch x [1, B, C, H, W], in 2-D:
        mm / addmm and BN on [B, U] instead of bmm / baddbmm on [1, B, U] and BN on a
        squeezed view (norm_runs). The same arithmetic: mm and a bmm of one matrix reach the
        same BLAS kernel (PyTorch's own loop serves bmm only below 400 multiply-adds per
        product); tests/test_model.py checks logits, gradient and BN statistics bit for bit.
        ~10 fewer operations and autograd nodes a step: one run at batch 60 is bound by
        per-operation overhead, not by its arithmetic."""
        views = self.layout.split(self.params if params is None else params, per_run=True)
        h = x.reshape(x.shape[1], -1)
        for index, layer in enumerate(self.hidden):
            w, b = views[layer["weight"].name], _value(views, layer["bias"])  # [in, out], [out]
            z = torch.mm(h, w) if b is None else torch.addmm(b, h, w)
            if self.bn == BNPlacement.pre:
                z = self._norm(views, index, layer, z, mode, step)
            h = self.activation(z)
            if self.bn == BNPlacement.post:
                h = self._norm(views, index, layer, h, mode, step)
        return torch.addmm(views[self.out_bias.name], h, views[self.out_weight.name]).unsqueeze(0)

    def _collect(self, into: list | None, v: torch.Tensor) -> None:
        if into is not None:
            into.append(v if self.arch == Arch.mlp else v.unflatten(1, (self.K, -1)).transpose(0, 1))

    def _linear(self, views: dict, layer: dict, h: torch.Tensor, shared: bool) -> torch.Tensor:
        w, b = _value(views, layer["weight"]), _value(views, layer["bias"])  # [K, in, out], [K, 1, out]
        if shared:  # h [N, in]: one matmul against all runs' weights side by side
            z = h @ w.permute(1, 0, 2).flatten(1)
            if b is not None:
                z = z + b.flatten()
            return z.unflatten(1, (self.K, -1)).transpose(0, 1)
        return torch.bmm(h, w) if b is None else torch.baddbmm(b, h, w)

    def _conv(self, views: dict, layer: dict, h: torch.Tensor, shared: bool) -> torch.Tensor:
        w, b = _value(views, layer["weight"]), _value(views, layer["bias"])  # [K*C_out, C_in, k, k], [K*C_out]
        pad = self.kernel // 2
        if self.channels_last if self.channels_last is not None else not h.is_cuda:
            h = channels_last(h)
        grouped = self.grouped_conv if self.grouped_conv is not None else h.is_cuda
        if shared or grouped or self.K == 1:
            return F.conv2d(h, w, b, padding=pad, groups=1 if shared else self.K)
        # On the CPU one convolution per run: ~1.9x faster than the grouped kernel in NCHW, as fast
        # in NHWC (fig3's net, 3-4 runs, 1 thread), and the same arithmetic as each run alone.
        biases = b.chunk(self.K) if b is not None else [None] * self.K
        return torch.cat(
            [F.conv2d(x, wk, bk, padding=pad) for x, wk, bk in zip(h.chunk(self.K, 1), w.chunk(self.K), biases)], 1
        )

    def _norm(
        self, views: dict, index: int, layer: dict, z: torch.Tensor, mode: Mode, step: torch.Tensor | None
    ) -> torch.Tensor:
        fixed = None if self.fixed_gamma is None else self.fixed_gamma[: self.K * self.widths[index]]
        gamma = _value(views, layer["gamma"]) if layer["gamma"] is not None else fixed  # [K*F]
        beta = _value(views, layer["beta"])
        norm = self.norms[index]
        if self.arch != Arch.mlp or z.dim() == 2:  # conv, or one MLP run's [B, U] (_one_run)
            return norm(z, gamma, beta, mode, step)
        return norm_runs(norm, z, gamma, beta, mode, step)

    @torch.no_grad()
    def set_population_statistics(self, batches) -> None:
        """Algorithm 2: normalize each training mini-batch [K, B, C, H, W] with its own
        statistics (as in training, without touching the running averages) and set every
        BN layer's population mean and variance from the recorded batch statistics."""
        every = [*self.norms] + ([self.input_norm] if self.input_norm is not None else [])
        for norm in every:
            norm.recorded = []
        for x in batches:
            self(x, ("batch", None))
        for norm in every:
            norm.set_population()

    def _dropout(self, h: torch.Tensor, index: int, step: torch.Tensor) -> torch.Tensor:
        # Masks are a hash of (run seed, step, layer, element): see rng.py.
        if h.dim() == 3:  # [K, B, F]: the MLP, and vgg's pooled features
            K, B, F_ = h.shape
            shape, seeds, p = (1, B, F_), self.seeds.view(K, 1, 1), self.dropout_p.view(K, 1, 1)
            grouped = h
        else:
            grouped = h.unflatten(1, (self.K, -1)).flatten(2)  # [B, K, C*H*W]
            B, K, E = grouped.shape
            shape, seeds, p = (B, 1, E), self.seeds.view(1, K, 1), self.dropout_p.view(1, K, 1)
        element = torch.arange(math.prod(shape), device=h.device).view(shape)
        keep = rng.uniform(seeds, rng.STREAM_DROPOUT, step, index, element) >= p
        out = grouped * keep / (1 - p)
        return out if h.dim() == 3 else out.view_as(h)


def weight_normed(views: dict, weights: list[Slot]) -> dict:
    """WeightNorm (Salimans and Kingma 2016), a reparametrization of the weights, not a
    normalization of activations: each output unit's (channel's) weight vector is w = g v / ||v||,
    v the weight slot and g its `.gain` slot (torch's weight_norm with dim 0)."""
    views = dict(views)
    for slot in weights:
        v = views[slot.name]  # MLP [K, in, out]: a unit is a column; conv [K*C_out, C_in, k, k]: a row
        dims = (1,) if v.dim() == 3 else tuple(range(1, v.dim()))
        views[slot.name] = v * (
            views[slot.name.replace(".weight", ".gain")] / torch.linalg.vector_norm(v, dim=dims, keepdim=True)
        )
    return views


def norm_runs(norm, z: torch.Tensor, gamma, beta, mode: Mode, step) -> torch.Tensor:
    """A norm layer over z [K, B, F] as [B, K*F]: one channel per (run, unit)."""
    K, B, units = z.shape
    if K == 1:
        return norm(z.squeeze(0), gamma, beta, mode, step).unsqueeze(0)
    channels = z.transpose(0, 1).reshape(B, K * units)
    return norm(channels, gamma, beta, mode, step).view(B, K, units).transpose(0, 1)


def layer_widths(cfg: ModelConfig) -> list[int]:
    """Units (channels) of each hidden layer: `width` everywhere, except vgg, whose block b
    (of `pool_every` convs) has width * 2^b channels."""
    if cfg.arch != Arch.vgg:
        return [cfg.width] * cfg.depth
    return [cfg.width * 2 ** (i // cfg.pool_every) for i in range(cfg.depth)]


def channels_last(h: torch.Tensor) -> torch.Tensor:
    """[N, C, H, W] stored as [N, H, W, C]: oneDNN's convolutions then need no reordering
    (fig3's net trains ~1.2x faster on the CPU). With one channel both layouts hold the same
    bytes and PyTorch would pick the other for the output; explicit strides settle it."""
    if h.shape[1] != 1:
        return h.contiguous(memory_format=torch.channels_last)
    _, _, height, width = h.shape
    return h.contiguous().as_strided(h.shape, (height * width, 1, width, 1))


def _value(views: dict, slot: Slot | None) -> torch.Tensor | None:
    """A slot's view of the flat parameters in this forward pass (None: the layer has none)."""
    return None if slot is None else views[slot.name]


def _initial_values(
    layout: Layout, cfgs: list[ModelConfig], seeds: list[int], hidden_weights: list[str]
) -> torch.Tensor:
    """Each run draws its parameters, in layout order, from its own generator: a run's
    initial weights are the same alone or batched, on any device. The hidden layers'
    weights are then multiplied by model.weight_scale."""
    per_run = []
    for cfg, seed in zip(cfgs, seeds):
        gen = torch.Generator().manual_seed(seed)
        values = {name: _init(slot, cfg, gen) for name, slot in layout.slots.items()}
        for name in hidden_weights:
            values[name] = values[name] * cfg.weight_scale
        for name, slot in layout.slots.items():  # WeightNorm's g starts at ||v||: w = v at initialization
            if slot.kind == "gain":
                v = values[name.replace(".gain", ".weight")]
                values[name] = v.norm(dim=0) if v.dim() == 2 else v.flatten(1).norm(dim=1)
        per_run.append(values)
    return torch.cat([torch.stack([values[name] for values in per_run]).flatten() for name in layout.slots])


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
    if cfg.init == Init.xavier_uniform:  # the classic sigmoid toolbox's init (with init_gain 4)
        bound = cfg.init_gain * math.sqrt(6.0 / (fan_in + fan_out))
        return (torch.rand(slot.shape, generator=gen) * 2 - 1) * bound
    std = {
        Init.gaussian: cfg.init_std,
        Init.xavier: cfg.init_gain * math.sqrt(2.0 / (fan_in + fan_out)),
        Init.kaiming: cfg.init_gain * math.sqrt(2.0 / fan_in),
    }[cfg.init]
    return torch.randn(slot.shape, generator=gen) * std
