"""The training loss, per example, for K runs: train.loss on model.output's values.

- cross_entropy: softmax cross-entropy of the output layer's values (the default);
- mse: 1/2 * the sum over classes of (output - one-hot target)^2, the classic squared
  error of sigmoid networks (Rumelhart et al.; the MATLAB DeepLearnToolbox), usually with
  model.output=sigmoid; with regression targets (float y, data.labels=regression), the
  same against the targets themselves.
Predictions are the argmax of the output layer in every case (a sigmoid keeps the order);
`correct` compares them with the labels (regression: the largest target's index).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..config import Loss, Output
from ..data import labels_of


def correct(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """[K, B] float: 1 where the output's largest value is the label's (see labels_of)."""
    return (logits.argmax(-1) == labels_of(y)).float()


def per_example(logits: torch.Tensor, y: torch.Tensor, loss: Loss, output: Output) -> torch.Tensor:
    """logits [K, B, classes], y [K, B] (regression targets [K, B, classes]) -> loss [K, B]."""
    values = torch.sigmoid(logits) if output == Output.sigmoid else logits
    if loss == Loss.mse:
        target = y if y.is_floating_point() else F.one_hot(y, values.shape[-1]).to(values.dtype)
        return 0.5 * ((values - target) ** 2).sum(-1)
    return F.cross_entropy(values.flatten(0, 1), y.flatten(), reduction="none").view(y.shape)
