"""lp batch normalization (Santurkar et al. 2018, section 3.3, "Is BatchNorm the best (only?)
way to smoothen the landscape?"): BN's centering, but the scale is the batch's average lp
norm of the centered activations instead of their standard deviation.

Per channel (feature), over the normalization group (the batch, or model.norm.group
examples; conv: and every position), with c = x - mean(x):

    s_1 = mean |c|,   s_2 = sqrt(mean c^2),   s_inf = max |c|
    y = gamma * c / sqrt(s_p^2 + eps) + beta

s_2 is BN's (biased) standard deviation, so in training p=2 is BN exactly (tested; its moving
s_2^2 lacks BN's m/(m-1)): l2 checks the layer, l1 and l-infinity are what differ. Which is
the paper's reading: it says the activations are normalized "by the average of their lp-norm
(before shifting the mean)"; we take the norm of the centered activations per feature (the
statistic BN's standard deviation is for p=2), as issue 34 asks; the other reading (the norm
of the uncentered x) is not implemented.

Evaluation statistics it supports: "moving" (running averages of the mean and of s_p^2, at
rate model.norm.momentum; no m/(m-1) correction, which is a variance's) and ("batch", n) (each
test group normalized with its own lp statistics). Not "population": Algorithm 2's unbiased
variance has no lp counterpart.
"""

from __future__ import annotations

import torch

from .norms import (
    NoPopulation,
    _affine,
    _group_count,
    _mean_over_groups,
    _per_channel,
    _stat_dims,
    as_group_channels,
    from_group_channels,
)

LP_ORDERS = ("1", "2", "inf")


def lp_scale(c: torch.Tensor, p: str) -> torch.Tensor:
    """Per channel of the centered c [N, C, *]: the batch's average lp norm, s_p (see above) [C]."""
    dims = _stat_dims(c)
    if p == "1":
        return c.abs().mean(dims)
    if p == "2":
        return c.pow(2).mean(dims).sqrt()
    if p == "inf":
        return c.abs().amax(dims)
    raise ValueError(f"model.norm.p={p!r}: must be one of {LP_ORDERS}")


def lp_normalize(x: torch.Tensor, p: str, eps: float, groups: int = 1):
    """x [N, C, *] normalized per channel (and per group of N / groups consecutive examples) by
    its lp scale -> (x_hat, mean [groups * C], s_p^2 [groups * C])."""
    g = as_group_channels(x, groups)
    mean = g.mean(_stat_dims(g))
    c = g - _per_channel(mean, g)
    square = lp_scale(c, p).pow(2)
    return from_group_channels(c * _per_channel(torch.rsqrt(square + eps), g), groups), mean, square


class LpBatchNorm(NoPopulation):
    """running_var holds the running average of s_p^2, so BatchNormBase's "moving" mode
    computes (x - running mean) / sqrt(running s_p^2 + eps)."""

    def __init__(self, channels: int, p: str, eps: float, momentum: float, group: int | None = None):
        if p not in LP_ORDERS:
            raise ValueError(f"model.norm.p={p!r}: must be one of {LP_ORDERS}")
        super().__init__(channels, eps, momentum, group)
        self.p = p

    @classmethod
    def from_config(cls, cfg, channels: int) -> "LpBatchNorm":
        return cls(channels, str(cfg.p), cfg.eps, cfg.momentum, cfg.group)

    def train_forward(self, x, gamma, beta, step):
        groups = _group_count(x, self.group)
        x_hat, mean, square = lp_normalize(x, self.p, self.eps, groups)
        with torch.no_grad():
            self.running_mean.lerp_(_mean_over_groups(mean, groups), self.momentum)
            self.running_var.lerp_(_mean_over_groups(square, groups), self.momentum)
        return _affine(x_hat, gamma, beta)

    described = "lp normalization"

    def batch_forward(self, x, gamma, beta, groups: int):
        """Each group of test examples with its own lp statistics."""
        return _affine(lp_normalize(x, self.p, self.eps, groups)[0], gamma, beta)
