"""Batch normalization layers over the channel dimension of [N, C, *] tensors.

With K runs trained together, C = K * channels: each run's channels are separate
channels here, so statistics never mix runs. gamma and beta live in the model's flat
parameter buffer and are passed in (None: not used); statistics are module buffers.

Several implementations, one interface, chosen by `norm=NAME` (the config group whose
options are model.norm) through the registry config.NORMS (config/norms.py: each
layer's name, options' dataclass and the evaluation statistics it supports; the
built-in ones are declared there so that composing a config needs no torch). A new
layer is one module: its options' dataclass (a NormConfig, each option a key() with
its help and range), its class (`from_config(cfg, channels)`, `forward(x, gamma, beta,
mode, step)`, `set_population()` if it supports "population"), registered with
`@norm_layer("name", Options, eval_stats=...)`; plus conf/norm/NAME.yaml.
- TorchBatchNorm: PyTorch's fused kernels (F.batch_norm).
- PaperBatchNorm: the paper's Algorithm 1, with the backward pass written from the
  paper's derivatives (PaperBNFunction), and Algorithm 2's population statistics.
- BatchRenorm: Ioffe 2017: y = gamma * ((x - mu_B) / sigma_B * r + d) + beta, r and d
  clipped and not back-propagated, moving averages of mu and sigma for inference.
- NoisyBatchNorm: Santurkar et al. 2018: TorchBatchNorm, then in training a random
  shift and scale per channel, redrawn every step and jittered per example (per
  position too in conv layers: height and width count as part of the batch).
- NoiseOnly: the same noise with no normalization (their control): not a BN layer.

Training statistics are over the whole mini-batch, or with `group` (model.norm.group) over
each run of `group` consecutive examples on its own (Ioffe 2017's micro-batches: a large
gradient batch whose normalization groups are small); the moving averages then follow
the mean of the groups' statistics.

Modes of `forward`: "train"; at evaluation, which statistics normalize the test data:
"moving" (running averages), "population" (Algorithm 2: averages over many training
mini-batches with the unbiased m/(m-1) variance, folded into one affine map), or
("batch", n): each group of n test examples normalized with its own statistics
(never what a BN model should do at test time; the inference_stats experiment shows
why). Running-average convention, as PyTorch: running = (1 - m) * running + m * batch
(m = model.bn_momentum), the running variance from the unbiased batch variance.
"""

from __future__ import annotations

import math
from typing import Literal, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

from ..config import BatchNormConfig, NoiseOnlyConfig, NoisyConfig, NormConfig, RenormConfig, norm_spec, register_norm
from . import rng

# What a forward pass does with BN: train on batch statistics, or evaluate with the
# moving averages, Algorithm 2's population statistics, or ("batch", n) groups.
Mode = Union[Literal["train", "moving", "population"], Tuple[str, Union[int, None]]]


def norm_layer(name: str, options: type, **declared):
    """Class decorator: register the class as the norm layer `name` with its options'
    dataclass; declared: eval_stats, normalizes, help (config.register_norm's)."""

    def add(cls: type) -> type:
        register_norm(name, options, cls, **declared)
        return cls

    return add


def make_norm(cfg: NormConfig, channels: int) -> "BatchNormBase":
    """The layer `cfg.kind` names, over `channels` channels (K runs x units)."""
    spec = norm_spec(cfg.kind)
    if spec.layer is None:
        raise ValueError(f"norm={cfg.kind} places no layer")
    return spec.layer_class().from_config(cfg, channels)


def _stat_dims(x: torch.Tensor) -> tuple:
    return (0, *range(2, x.dim()))  # all but the channel dimension


def _per_channel(v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """[C] -> broadcastable against x [N, C, *]."""
    return v.view(1, -1, *([1] * (x.dim() - 2)))


def _unbiased(biased_var: torch.Tensor, m: int) -> torch.Tensor:
    """m/(m-1) * the biased variance of m values (Algorithm 2; PyTorch's running variance)."""
    return biased_var * (m / max(m - 1, 1))


def _affine(x_hat: torch.Tensor, gamma, beta) -> torch.Tensor:
    y = x_hat if gamma is None else x_hat * _per_channel(gamma, x_hat)
    return y if beta is None else y + _per_channel(beta, x_hat)


def _group_count(x: torch.Tensor, group: int | None) -> int:
    """How many groups of `group` consecutive examples x [N, C, *] holds (None: one group)."""
    n = x.shape[0]
    if group is None or group == n:
        return 1
    if n % group:
        raise ValueError(f"{n} examples do not split into groups of {group}")
    return n // group


def as_group_channels(x: torch.Tensor, groups: int) -> torch.Tensor:
    """[N, C, *] -> [N / groups, groups * C, *]: each (group, channel) becomes a channel, so
    any per-channel batch normalization of the result normalizes every group on its own."""
    return x if groups == 1 else x.unflatten(0, (groups, -1)).transpose(0, 1).flatten(1, 2)


def from_group_channels(y: torch.Tensor, groups: int) -> torch.Tensor:
    """The inverse of as_group_channels."""
    return y if groups == 1 else y.unflatten(1, (groups, -1)).transpose(0, 1).flatten(0, 1)


def _tiled(v: torch.Tensor | None, groups: int) -> torch.Tensor | None:
    """A per-channel vector [C] for the [groups * C] channels of as_group_channels."""
    return v if v is None or groups == 1 else v.repeat(groups)


def _mean_over_groups(v: torch.Tensor, groups: int) -> torch.Tensor:
    """[groups * C] per-(group, channel) statistics -> [C], their mean over the groups."""
    return v.view(groups, -1).mean(0)


def normalize_in_groups(x: torch.Tensor, group: int, gamma, beta, eps: float) -> torch.Tensor:
    """Each run of `group` consecutive examples normalized with its own (biased) statistics."""
    groups = _group_count(x, group)
    g = as_group_channels(x, groups)
    dims = _stat_dims(g)
    mean, var = g.mean(dims, keepdim=True), g.var(dims, unbiased=False, keepdim=True)
    return _affine(from_group_channels((g - mean) * torch.rsqrt(var + eps), groups), gamma, beta)


class PaperBNFunction(torch.autograd.Function):
    """Algorithm 1 forward; backward from the paper's section 3 derivatives, term by term.

    Returns (y, batch mean, biased batch variance); the statistics are not differentiable.
    """

    @staticmethod
    def forward(ctx, x, gamma, beta, eps: float):
        dims = _stat_dims(x)
        mu = x.mean(dims, keepdim=True)
        var = ((x - mu) ** 2).mean(dims, keepdim=True)  # biased, as Algorithm 1
        x_hat = (x - mu) / torch.sqrt(var + eps)
        y = _affine(x_hat, gamma, beta)
        ctx.save_for_backward(x, mu, var, x_hat, gamma)
        ctx.eps, ctx.has_beta = eps, beta is not None
        mu_out, var_out = mu.flatten(), var.flatten()
        ctx.mark_non_differentiable(mu_out, var_out)
        return y, mu_out, var_out

    @staticmethod
    def backward(ctx, dy, _dmu, _dvar):
        x, mu, var, x_hat, gamma = ctx.saved_tensors
        dims = _stat_dims(x)
        m = x.numel() // x.shape[1]
        std_inv = 1.0 / torch.sqrt(var + ctx.eps)
        dx_hat = dy if gamma is None else dy * _per_channel(gamma, x)
        # dl/dvar = sum dl/dx_hat * (x - mu) * -1/2 (var + eps)^-3/2
        dvar = (dx_hat * (x - mu)).sum(dims, keepdim=True) * -0.5 * (var + ctx.eps) ** -1.5
        # dl/dmu = sum dl/dx_hat * -1/sqrt(var + eps) + dl/dvar * sum(-2 (x - mu)) / m
        dmu = (dx_hat * -std_inv).sum(dims, keepdim=True) + dvar * (-2 * (x - mu)).sum(dims, keepdim=True) / m
        # dl/dx = dl/dx_hat / sqrt(var + eps) + dl/dvar * 2 (x - mu) / m + dl/dmu / m
        dx = dx_hat * std_inv + dvar * 2 * (x - mu) / m + dmu / m
        dgamma = (dy * x_hat).sum(dims) if gamma is not None and ctx.needs_input_grad[1] else None
        dbeta = dy.sum(dims) if ctx.has_beta and ctx.needs_input_grad[2] else None
        return dx, dgamma, dbeta, None


class BatchNormBase(nn.Module):
    """Statistics buffers, the evaluation modes and Algorithm 2 shared by all the layers.
    group: training statistics over groups of this many examples (None: the whole batch)."""

    def __init__(self, channels: int, eps: float, momentum: float, group: int | None = None):
        super().__init__()
        self.eps, self.momentum, self.group = eps, momentum, group
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))
        self.register_buffer("population_mean", torch.zeros(channels))
        self.register_buffer("population_var", torch.ones(channels))
        self.recorded: list | None = None  # (mean, biased var, values per channel) per batch

    @classmethod
    def from_config(cls, cfg: BatchNormConfig, channels: int) -> "BatchNormBase":
        return cls(channels, cfg.eps, cfg.momentum, cfg.group)

    def attach(self, seeds: torch.Tensor, layer: int) -> None:
        """The runs' seeds [K] and the layer's index, for layers that draw random numbers."""

    def forward(self, x, gamma, beta, mode: Mode = "train", step=None):
        if mode == "train":
            return self.train_forward(x, gamma, beta, step)
        if mode == "moving":
            return self.moving_forward(x, gamma, beta)
        if mode == "population":  # Algorithm 2, step 11: one affine map per channel
            scale = torch.rsqrt(self.population_var + self.eps)
            scale = scale if gamma is None else gamma * scale
            shift = -scale * self.population_mean + (0 if beta is None else beta)
            return x * _per_channel(scale, x) + _per_channel(shift, x)
        _, group = mode  # ("batch", n)
        if self.recorded is not None:
            dims = _stat_dims(x)
            self.recorded.append((x.mean(dims), x.var(dims, unbiased=False), x.numel() // x.shape[1]))
        return normalize_in_groups(x, group or x.shape[0], gamma, beta, self.eps)

    def moving_forward(self, x, gamma, beta):
        x_hat = (x - _per_channel(self.running_mean, x)) * _per_channel(torch.rsqrt(self.running_var + self.eps), x)
        return _affine(x_hat, gamma, beta)

    def _update_running(self, mean: torch.Tensor, biased_var: torch.Tensor, m: int, groups: int = 1) -> None:
        """From per-channel statistics of m values each ([groups * C] with groups: averaged)."""
        with torch.no_grad():
            self.running_mean.lerp_(_mean_over_groups(mean, groups), self.momentum)
            self.running_var.lerp_(_unbiased(_mean_over_groups(biased_var, groups), m), self.momentum)

    def set_population(self) -> None:
        """Algorithm 2, step 10: E[x] = mean of the batch means, Var[x] = m/(m-1) * mean of
        the batch variances, over the batches recorded since `recorded` was set to []."""
        means = torch.stack([mean for mean, _, _ in self.recorded])
        variances = torch.stack([var for _, var, _ in self.recorded])
        self.population_mean.copy_(means.mean(0))
        self.population_var.copy_(_unbiased(variances.mean(0), self.recorded[0][2]))
        self.recorded = None


class NoPopulation(BatchNormBase):
    """A layer evaluated with its moving averages or each test batch's own statistics, never
    Algorithm 2's population statistics (they are a variance's): `described` names it in the
    refusal; batch_forward(x, gamma, beta, groups) normalizes each of `groups` runs of
    consecutive test examples with their own statistics."""

    described = "this layer"

    def forward(self, x, gamma, beta, mode: Mode = "train", step=None):
        if mode in ("train", "moving"):
            return super().forward(x, gamma, beta, mode, step)
        if mode == "population":
            raise ValueError(
                f"{self.described} has no population statistics (Algorithm 2 is a variance's): "
                "use eval.stats=moving or batch"
            )
        _, size = mode  # ("batch", n)
        return self.batch_forward(x, gamma, beta, _group_count(x, size or x.shape[0]))


class TorchBatchNorm(BatchNormBase):
    def train_forward(self, x, gamma, beta, step):
        groups = _group_count(x, self.group)
        if groups == 1:
            return F.batch_norm(
                x, self.running_mean, self.running_var, gamma, beta, training=True, momentum=self.momentum, eps=self.eps
            )
        g = as_group_channels(x, groups)
        y = F.batch_norm(g, None, None, _tiled(gamma, groups), _tiled(beta, groups), training=True, eps=self.eps)
        with torch.no_grad():
            dims = _stat_dims(g)
            self._update_running(g.mean(dims), g.var(dims, unbiased=False), g.numel() // g.shape[1], groups)
        return from_group_channels(y, groups)

    def moving_forward(self, x, gamma, beta):
        return F.batch_norm(
            x, self.running_mean, self.running_var, gamma, beta, training=False, momentum=self.momentum, eps=self.eps
        )


class PaperBatchNorm(BatchNormBase):
    def train_forward(self, x, gamma, beta, step):
        groups = _group_count(x, self.group)
        g = as_group_channels(x, groups)
        y, mean, var = PaperBNFunction.apply(g, _tiled(gamma, groups), _tiled(beta, groups), self.eps)
        self._update_running(mean, var, g.numel() // g.shape[1], groups)
        return from_group_channels(y, groups)


class BatchRenorm(BatchNormBase):
    """Batch Renormalization. Its moving averages are of mu and sigma = sqrt(var + eps)
    (rate `rate`), kept as running_mean and running_var = sigma^2 - eps, so the
    "moving" evaluation mode computes (x - mu) / sigma as the paper's inference."""

    def __init__(self, channels: int, eps: float, rate: float, schedule, group: int | None = None):
        super().__init__(channels, eps, rate, group)
        self.schedule = schedule  # step tensor -> (r_max, d_max) tensors
        self.register_buffer("running_std", torch.ones(channels))

    @classmethod
    def from_config(cls, cfg: RenormConfig, channels: int) -> "BatchRenorm":
        return cls(
            channels,
            cfg.eps,
            cfg.rate,
            renorm_schedule(cfg.rmax, cfg.dmax, cfg.warmup, cfg.rmax_at, cfg.dmax_at),
            cfg.group,
        )

    def train_forward(self, x, gamma, beta, step):
        if step is None:
            raise ValueError("Batch Renormalization needs the training step (its r_max, d_max schedule)")
        groups = _group_count(x, self.group)
        g = as_group_channels(x, groups)  # with groups: mu_B, sigma_B, r and d per group
        dims = _stat_dims(g)
        mu = g.mean(dims)
        sigma = torch.sqrt(g.var(dims, unbiased=False) + self.eps)
        r_max, d_max = self.schedule(step)
        with torch.no_grad():  # r and d are constants for back-propagation
            running_mean, running_std = _tiled(self.running_mean, groups), _tiled(self.running_std, groups)
            r = (sigma / running_std).clamp(1 / r_max, r_max)
            d = ((mu - running_mean) / running_std).clamp(-d_max, d_max)
            self.running_mean.lerp_(_mean_over_groups(mu, groups), self.momentum)
            self.running_std.lerp_(_mean_over_groups(sigma, groups), self.momentum)
            self.running_var.copy_(self.running_std**2 - self.eps)
        g_hat = (g - _per_channel(mu, g)) / _per_channel(sigma, g) * _per_channel(r, g) + _per_channel(d, g)
        return _affine(from_group_channels(g_hat, groups), gamma, beta)


def renorm_schedule(r_max: float, d_max: float, warmup: int, r_max_at: int, d_max_at: int):
    """Plain BN (r_max = 1, d_max = 0) for `warmup` steps, then r_max rises linearly to its
    final value at step r_max_at and d_max to its final value at step d_max_at."""

    def ramp(t: torch.Tensor, end: int) -> torch.Tensor:
        return ((t.to(torch.float32) - warmup) / max(end - warmup, 1)).clamp(0, 1)

    return lambda t: (1 + (r_max - 1) * ramp(t, r_max_at), d_max * ramp(t, d_max_at))


class _WithNoise:
    """What the two noisy layers share: built from their whole config, and the run seeds and
    layer index attached to their Noise (self.noise)."""

    @classmethod
    def from_config(cls, cfg, channels: int):
        return cls(channels, cfg)

    def attach(self, seeds: torch.Tensor, layer: int) -> None:
        self.noise.attach(seeds, layer)


class NoisyBatchNorm(_WithNoise, TorchBatchNorm):
    """BN, then (training only) y -> s * y + m with Santurkar et al.'s noise (noisy_bn_noise):
    a distribution shift redrawn every step that BN does nothing to remove. The noise is a
    constant for back-propagation; evaluation uses the running statistics without noise."""

    def __init__(self, channels: int, cfg: NoisyConfig):
        super().__init__(channels, cfg.eps, cfg.momentum, cfg.group)
        self.noise = Noise(channels, cfg)

    def train_forward(self, x, gamma, beta, step):
        return self.noise(super().train_forward(x, gamma, beta, step), step)


class NoiseOnly(_WithNoise, BatchNormBase):
    """Santurkar et al.'s control: the noise of noisy BN where BN would be, without BN
    (y = s * x + m in training; y = x at evaluation, whatever the statistics asked for).
    It normalizes nothing (config.uses_bn is false): the model keeps the layer's bias and
    gives it no gamma or beta, and its statistics buffers stay at their initial values."""

    def __init__(self, channels: int, cfg: NoiseOnlyConfig):
        super().__init__(channels, 1.0, 1.0)
        self.noise = Noise(channels, cfg)

    def forward(self, x, gamma, beta, mode: Mode = "train", step=None):
        return self.noise(x, step) if mode == "train" else x

    def set_population(self) -> None:  # Algorithm 2 (eval.stats=population): nothing to estimate
        self.recorded = None


class Noise(nn.Module):
    """Santurkar et al.'s noise (noisy_bn_noise) applied to x [N, C, *]: y = s * x + m, one m and s
    per example, position and channel, redrawn every step; a constant for back-propagation."""

    def __init__(self, channels: int, cfg: NoisyConfig | NoiseOnlyConfig):
        super().__init__()
        self.values = (cfg.n_mu, cfg.n_sigma, cfg.r_mu, cfg.r_sigma)
        self.layer = 0
        # Each channel's run seed and its index within the run: the noise a run sees does
        # not depend on which runs it trains with. Not saved: attach() rebuilds them.
        self.register_buffer("channel_seed", torch.zeros(channels, dtype=torch.int64), persistent=False)
        self.register_buffer("channel_index", torch.arange(channels), persistent=False)

    def attach(self, seeds: torch.Tensor, layer: int) -> None:
        per_run = self.channel_seed.numel() // seeds.numel()
        self.layer = layer
        self.channel_seed.copy_(seeds.repeat_interleave(per_run))
        self.channel_index.copy_(torch.arange(per_run).repeat(seeds.numel()))

    def forward(self, x: torch.Tensor, step) -> torch.Tensor:
        if step is None:
            raise ValueError("noisy BN needs the training step (its noise is redrawn every step)")
        positions = x.shape[0] * math.prod(x.shape[2:])  # conv: height and width count as batch
        _, _, m, s = noisy_bn_noise(self.channel_seed, self.channel_index, step, self.layer, positions, *self.values)

        def per_position(v):  # [N * H * W, C] -> [N, C, H, W]
            return v.view(x.shape[0], *x.shape[2:], x.shape[1]).movedim(-1, 1)

        return x * per_position(s) + per_position(m)


# Values per block of noisy_bn_noise's per-position draws on the CPU: ~0.5 MB per float32 temporary,
# so a block's ~30 elementwise passes stay in cache. One pass over all [n, C] at once went to memory
# each time: 2-3x the CPU time at noisy_bn's first layer (10 runs, 1 thread; 2^16-2^19 alike, 2^20 slower).
NOISE_BLOCK = 1 << 17


def noisy_bn_noise(
    channel_seed: torch.Tensor,
    channel_index: torch.Tensor,
    step,
    layer: int,
    n: int,
    n_mu: float,
    n_sigma: float,
    r_mu: float,
    r_sigma: float,
):
    """Santurkar et al.'s noise for one step: per channel mu_t ~ U(-n_mu, n_mu) and
    sigma_t ~ U(1, n_sigma) [C]; per example (conv: per example and position, n of them)
    m ~ U(mu_t - r_mu, mu_t + r_mu) and s ~ N(sigma_t, r_sigma) [n, C] (Box-Muller).
    Counter-based (rng.py): a pure function of (seed, step, layer, channel, example), so a
    replayed or resumed step draws the same. The per-example draws are most of the cost
    (conv: n = batch x height x width): one hash of the example onto its channel's prefix
    gives all three uniforms, m's on 10 bits and Box-Muller's two on 11 (radius up to 3.9
    standard deviations). On the CPU the [n, C] draws are made in blocks of NOISE_BLOCK
    values: their ~30 elementwise passes then stay in the core's cache."""

    def prefix(draw: int) -> torch.Tensor:  # [C]: everything but the example, hashed once
        return rng.hash32(channel_seed, rng.STREAM_NOISE, step, layer, channel_index, draw)

    mu_t = (2 * rng.uniform(state=prefix(0)) - 1) * n_mu
    sigma_t = 1 + rng.uniform(state=prefix(1)) * (n_sigma - 1)
    per_example, device = prefix(2), channel_seed.device
    # What m - mu_t and Box-Muller's two factors take at each value of their 10- and 11-bit
    # uniforms, computed once per call by the formula's own operations: looking them up gives the
    # formula's values bit for bit, without a log1p (~9 ns a value on the CPU) per position.
    u10, u11 = (torch.arange(2**b, device=device, dtype=torch.float32) * (1.0 / 2**b) for b in (10, 11))
    shift_of = (2 * u10 - 1) * r_mu
    radius_of = r_sigma * torch.sqrt(-2 * torch.log1p(-u11))  # 1 - u in (0, 1]: finite
    cos_of = torch.cos(2 * torch.pi * u11)
    m = torch.empty(n, channel_seed.numel(), device=device, dtype=torch.float32)
    s = torch.empty_like(m)
    # rows: a multiple of 64, so every block but the last is whole SIMD vectors (no scalar tail)
    rows = max(64, NOISE_BLOCK // m.shape[1] // 64 * 64) if device.type == "cpu" else n
    for start in range(0, n, rows):  # elementwise: each block computes what one pass over all would
        stop = min(start + rows, n)
        example = torch.arange(start, stop, device=device).view(-1, 1)
        shift, radius, angle = rng.split_bits(example, state=per_example, bits=(10, 11, 11))
        torch.add(mu_t, _look_up(shift_of, shift), out=m[start:stop])
        torch.add(sigma_t, _look_up(radius_of, radius) * _look_up(cos_of, angle), out=s[start:stop])
    return mu_t, sigma_t, m, s


def _look_up(table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """table[index] for an int32 index of any shape (index_select: the fast gather on the CPU)."""
    return table.index_select(0, index.flatten()).view(index.shape)
