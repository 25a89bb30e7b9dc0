"""Decorrelated batch normalization (Huang et al. 2018, "Decorrelated Batch Normalization"): the
full whitening the BN paper set aside (paraphrased from memory, unverified against the paper:
section 2, it needs the covariance matrix and its inverse square root at every step, and their
derivatives; section 3, full whitening of each layer's inputs is costly, and with a mini-batch
smaller than the units whitened the covariance is singular), made affordable by whitening
groups of `group_size` units (Huang et al.'s G) jointly.

Per group of G consecutive units (channels) of one run, over the m values of the batch (conv:
examples x positions), with X the group's [G, m] values and 1 the all-ones vector:

    mu = X 1 / m,   C = X - mu,   S = C C^T / m + eps I,   W = S^(-1/2),   x_hat = W C
    y = gamma * x_hat + beta                        (per unit, as BN's gamma and beta)

ZCA whitening (W symmetric): of all the matrices that whiten C, the one that moves it least, so
a unit of x_hat stays that unit's (PCA's V^T would permute and flip the axes from batch to batch,
Huang et al.'s "stochastic axis swapping"). G = 1 is BN exactly in training (S is the biased
variance plus eps; tested against F.batch_norm). eps is what keeps a rank-deficient group finite:
m values span at most m - 1 centered directions, so for m <= G (a batch of 60 over 100 units)
S has G - m + 1 eigenvalues equal to eps, and those directions (which C has nothing in) are
scaled by 1/sqrt(eps).

S^(-1/2) by eigendecomposition (torch.linalg.eigh): exact, so the output's covariance is the
identity (to eps) and G = 1 is BN; Newton-Schulz iterations (Huang et al. 2019's IterNorm) are
matrix products only, faster on a GPU, but approximate after a fixed count of iterations and
slow to converge on an ill-conditioned S: the rank-deficient group this layer is here to measure.
The backward pass is the Daleckii-Krein formula, not autograd through eigh: autograd divides by
lambda_i - lambda_j, infinite where eigenvalues coincide (the G - m + 1 eigenvalues eps above);
for f(lambda) = lambda^(-1/2) the divided differences (f(l_i) - f(l_j)) / (l_i - l_j) are
-1 / (s_i s_j (s_i + s_j)) with s = sqrt(lambda), finite for coinciding eigenvalues too.

Running statistics, for inference ("moving"): the mean and the whitening matrix W, averaged as
BN's (running = (1 - m) running + m batch, Huang et al.'s Algorithm 1), and the diagonal of the
unbiased covariance in running_var (BN's running variance: at G = 1 all three match BN's; the
moving whitening at G = 1 is the average of 1/sqrt(var + eps), not BN's 1/sqrt(average var +
eps)). ("batch", n): each group of n test examples whitened with its own statistics. No
"population": Algorithm 2 is a variance's.
"""

from __future__ import annotations

import torch

from .norms import (
    NoPopulation,
    _affine,
    _per_channel,
    as_group_channels,
    from_group_channels,
)


class InverseSqrt(torch.autograd.Function):
    """S^(-1/2) of symmetric matrices S [..., G, G] whose eigenvalues are at least `floor` (S = a
    covariance + floor I) by eigendecomposition; the backward pass by the Daleckii-Krein formula
    (module docstring), finite for equal eigenvalues. The computed eigenvalues are clamped at the
    floor: in float32 eigh gets them right only to ~1e-7 of the largest, so an eps-sized one of a
    singular covariance can come out near 0 or below it (tested: 1/sqrt of it blew up to 1e12)."""

    @staticmethod
    def forward(ctx, S, floor: float):
        eigenvalues, V = torch.linalg.eigh(S)
        s = eigenvalues.clamp_min(floor).sqrt()
        ctx.save_for_backward(V, s)
        return (V / s.unsqueeze(-2)) @ V.mT

    @staticmethod
    def backward(ctx, dW):
        V, s = ctx.saved_tensors
        si, sj = s.unsqueeze(-1), s.unsqueeze(-2)
        divided = -1 / (si * sj * (si + sj))  # (f(l_i) - f(l_j)) / (l_i - l_j); f'(l_i) on the diagonal
        inner = V.mT @ ((dW + dW.mT) / 2) @ V  # S is symmetric: so is the gradient
        return V @ (divided * inner) @ V.mT, None


def _as_groups(x: torch.Tensor, group_size: int) -> torch.Tensor:
    """x [N, C, *] -> [C / G, G, m]: each group of G consecutive channels' m values (m = N x positions)."""
    values = x.movedim(1, -1).reshape(-1, x.shape[1])  # [m, C]
    return values.view(values.shape[0], -1, group_size).permute(1, 2, 0)


def _from_groups(g: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """The inverse of _as_groups, back to the shape of `like`."""
    channels_last = g.permute(2, 0, 1).reshape(-1, like.shape[1])
    return channels_last.view(like.shape[0], *like.shape[2:], like.shape[1]).movedim(-1, 1)


def whiten(x: torch.Tensor, group_size: int, eps: float):
    """x [N, C, *] ZCA-whitened in groups of group_size channels over the batch ->
    (x_hat like x, mean [C / G, G, 1], biased covariance [C / G, G, G], whitening W [C / G, G, G])."""
    g = _as_groups(x, group_size)
    mean = g.mean(-1, keepdim=True)
    centered = g - mean
    covariance = centered @ centered.mT / g.shape[-1]
    W = InverseSqrt.apply(covariance + eps * torch.eye(group_size, dtype=x.dtype, device=x.device), eps)
    return _from_groups(W @ centered, x), mean, covariance, W


class DecorrelatedBatchNorm(NoPopulation):
    """ZCA whitening of groups of group_size units over the batch (module docstring), then BN's
    gamma and beta; running mean and whitening matrix for inference."""

    def __init__(self, channels: int, group_size: int, eps: float, momentum: float):
        if channels % group_size:
            raise ValueError(f"model.norm.group_size={group_size} does not divide a layer's {channels} channels")
        super().__init__(channels, eps, momentum)
        self.group_size = group_size
        eye = torch.eye(group_size).expand(channels // group_size, group_size, group_size)
        self.register_buffer("running_whitening", eye.clone())

    @classmethod
    def from_config(cls, cfg, channels: int) -> "DecorrelatedBatchNorm":
        return cls(channels, cfg.group_size, cfg.eps, cfg.momentum)

    def attach(self, seeds: torch.Tensor, layer: int) -> None:
        per_run = self.running_mean.numel() // seeds.numel()
        if per_run % self.group_size:  # a group must not mix two runs' units
            raise ValueError(f"model.norm.group_size={self.group_size} does not divide a layer's {per_run} units")

    def train_forward(self, x, gamma, beta, step):
        x_hat, mean, covariance, W = whiten(x, self.group_size, self.eps)
        m = x.numel() // x.shape[1]
        with torch.no_grad():
            self.running_mean.lerp_(mean.flatten(), self.momentum)
            variance = covariance.diagonal(dim1=-2, dim2=-1).flatten()
            self.running_var.lerp_(variance * (m / max(m - 1, 1)), self.momentum)  # BN's unbiased variance
            self.running_whitening.lerp_(W, self.momentum)
        return _affine(x_hat, gamma, beta)

    def moving_forward(self, x, gamma, beta):
        centered = _as_groups(x - _per_channel(self.running_mean, x), self.group_size)
        return _affine(_from_groups(self.running_whitening @ centered, x), gamma, beta)

    described = "decorrelated BN"

    def batch_forward(self, x, gamma, beta, groups: int):
        """Each group of test examples whitened with its own statistics."""
        x_hat = whiten(as_group_channels(x, groups), self.group_size, self.eps)[0]
        return _affine(from_group_channels(x_hat, groups), gamma, beta)
