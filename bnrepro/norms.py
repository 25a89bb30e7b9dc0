"""Batch normalization layers over the channel dimension of [N, C, *] tensors.

With K runs trained together, C = K * channels: each run's channels are separate
channels here, so statistics never mix runs. Parameters (gamma, beta) live in the
model's flat buffer and are passed in; running statistics are this module's buffers.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class TorchBatchNorm(nn.Module):
    """PyTorch's kernels: biased batch variance to normalise, running averages
    (momentum m: running = (1 - m) * running + m * batch, unbiased variance) for eval."""

    def __init__(self, channels: int, eps: float, momentum: float):
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))

    def forward(self, x: torch.Tensor, gamma: torch.Tensor | None, beta: torch.Tensor | None,
                train: bool) -> torch.Tensor:
        return F.batch_norm(x, self.running_mean, self.running_var, gamma, beta,
                            training=train, momentum=self.momentum, eps=self.eps)
