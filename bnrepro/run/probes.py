"""What the probes measure, computed on the device for K runs at once.

Probes observe: they read the gradient and the nonlinearity inputs of a training
step and change nothing. Everything here is tensor arithmetic with shapes fixed at
trace time (no host sync, no host-to-device copies), so it can sit inside a CUDA graph.
"""
from __future__ import annotations

import math

import torch

from ..config import Activation
from ..stacked.params import Layout, Slot

QUANTILES = (0.15, 0.50, 0.85)  # paper Fig. 1(b, c)
# Per hidden layer, in this order; the glossary in README.md explains each.
ACT_STATS = ("unit_p15", "unit_p50", "unit_p85", "p15", "p50", "p85", "mean", "std", "saturated", "linear")
SATURATION = 0.1  # a unit is saturated where g'(z) < 10% of the nonlinearity's largest slope
LINEAR = 0.8  # and in its near-linear range where g'(z) >= 80% of it


def quantiles(values: torch.Tensor, qs=QUANTILES) -> torch.Tensor:
    """Linear-interpolated quantiles along dim 1 (as torch.quantile): [K, n] -> [K, len(qs)].

    Needs only a few order statistics: on the GPU one sort gives them all; on the CPU,
    where sorting thousands of values costs ~60 ns each, kthvalue selects them (7x faster)."""
    n = values.shape[1]
    positions = [q * (n - 1) for q in qs]
    ranks = sorted({r for p in positions for r in (math.floor(p), min(math.floor(p) + 1, n - 1))})
    if values.is_cuda or n <= 256:
        ordered = values.sort(dim=1).values
        stat = {r: ordered[:, r] for r in ranks}
    else:
        stat = {r: values.kthvalue(r + 1, dim=1).values for r in ranks}
    columns = []
    for p in positions:
        lo, hi = math.floor(p), min(math.floor(p) + 1, n - 1)
        columns.append(stat[lo] + (p - lo) * (stat[hi] - stat[lo]))
    return torch.stack(columns, dim=1)


def slope(z: torch.Tensor, activation: Activation) -> torch.Tensor:
    """g'(z) relative to its maximum (1 at the steepest point)."""
    if activation == Activation.sigmoid:
        s = torch.sigmoid(z)
        return 4 * s * (1 - s)
    if activation == Activation.tanh:
        return 1 - torch.tanh(z) ** 2
    return (z > 0).to(z.dtype)


def activation_stats(z: torch.Tensor, unit: int, activation: Activation) -> torch.Tensor:
    """Statistics of one hidden layer's nonlinearity input z [K, B, U, *rest] -> [K, len(ACT_STATS)].

    unit_p*: percentiles over the batch (and positions) of one fixed unit; p*, mean,
    std: over all units; saturated / linear: fraction of all units' inputs where
    g' < 10% / g' >= 80% of its maximum.
    """
    z = z.detach().float()
    K = z.shape[0]
    every = z.reshape(K, -1)
    one = z[:, :, unit].reshape(K, -1)
    g = slope(every, activation)
    saturated = (g < SATURATION).float().mean(dim=1, keepdim=True)
    linear = (g >= LINEAR).float().mean(dim=1, keepdim=True)
    return torch.cat([quantiles(one), quantiles(every), every.mean(1, keepdim=True),
                      every.std(1, keepdim=True), saturated, linear], dim=1)


def grad_norms(grad: torch.Tensor, layout: Layout, slots: list[Slot]) -> torch.Tensor:
    """Frobenius norm of each weight matrix's gradient, per run: [len(slots), K]."""
    views = layout.per_run(grad)
    return torch.stack([views[slot.name].flatten(1).norm(dim=1) for slot in slots])
