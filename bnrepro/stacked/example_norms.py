"""Normalizations with per-example statistics: GroupNorm (Wu and He 2018), LayerNorm (Ba et al.
2016) and InstanceNorm (Ulyanov et al. 2016), over the stacked layout of K runs.

Each example is normalized over groups of its own channels (and every position), so nothing
depends on the other examples of the batch: training and evaluation compute the same thing,
and the layer has no statistics to keep. Per run of C channels (units):
- GroupNorm: `channel_groups` groups of C / channel_groups consecutive channels each
  (model.norm.channel_groups; not model.norm.group, BN's group of *examples*);
- LayerNorm: one group, all C channels (and positions): Wu and He's LN for conv nets, Ba et
  al.'s for an MLP;
- InstanceNorm: C groups, one channel each, over its positions: conv nets only (an MLP's
  unit has one value per example: nothing to normalize over).
gamma and beta are per channel, as BN's (Wu and He's GN and LN; torch's LayerNorm would have
one per element of C x H x W). The K runs' channels are consecutive blocks of C, so the runs'
groups never mix: one F.group_norm over K * groups-per-run groups normalizes every run at once.

Evaluation statistics: all of "moving", "population" and ("batch", n) give the same output,
the example's own statistics (there are no others); population estimation records nothing.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from .norms import Mode


class ExampleNorm(nn.Module):
    """The per-run channel groups: `per_run(C)` groups of a run's C channels."""

    name = "group"

    def __init__(self, channels: int, eps: float, channel_groups: int | None = None):
        super().__init__()
        self.channels, self.eps, self.channel_groups = channels, eps, channel_groups
        self.runs = 1  # set by attach(): the runs' channels are K consecutive blocks
        self.recorded: list | None = None

    @classmethod
    def from_config(cls, cfg, channels: int) -> "ExampleNorm":
        return cls(channels, cfg.eps, getattr(cfg, "channel_groups", None))

    def attach(self, seeds, layer: int) -> None:
        self.runs = seeds.numel()

    def per_run(self, channels: int) -> int:
        return self.channel_groups

    def forward(self, x, gamma, beta, mode: Mode = "train", step=None):
        per_run = self.channels // self.runs
        groups = self.per_run(per_run)
        if per_run % groups:
            raise ValueError(f"model.norm.channel_groups={groups} does not divide a layer's {per_run} channels")
        return F.group_norm(x, self.runs * groups, gamma, beta, self.eps)

    def set_population(self) -> None:  # nothing to estimate: the statistics are each example's own
        self.recorded = None


class GroupNorm(ExampleNorm):
    pass


class LayerNorm(ExampleNorm):
    name = "layer"

    def per_run(self, channels: int) -> int:
        return 1


class InstanceNorm(ExampleNorm):
    name = "instance"

    def per_run(self, channels: int) -> int:
        return channels

    def forward(self, x, gamma, beta, mode: Mode = "train", step=None):
        if x.dim() < 3:
            raise ValueError(
                "norm=instance normalizes each channel over its positions: conv nets only "
                "(model.arch=convnet or vgg), not an MLP"
            )
        return super().forward(x, gamma, beta, mode, step)
