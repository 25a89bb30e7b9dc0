"""The training step for a group of K runs, as one plain function.

train_step reads top to bottom: gather each run's batch on the device (random crops and
flips if data.augment), forward, per-run mean cross-entropy, backward (of the sum over
runs: each run's gradient is its own loss's gradient), SGD update, and on-device
bookkeeping (running sums of loss,
accuracy and of steps whose loss was not finite). A probe step also returns gradient
norms and nonlinearity-input statistics.

Nothing here reads a value back to the host, so the same function runs eagerly or
replayed from a CUDA graph (graphs.py wraps it; it knows nothing of graphs).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from ..data import Dataset
from ..stacked.model import StackedNet
from ..stacked.optim import StackedSGD
from . import probes
from .augment import augment
from .sampler import Sampler


@dataclass
class ProbeOutput:
    grad_norm: torch.Tensor  # [weights, K]
    act: torch.Tensor  # [hidden layers, K, len(probes.ACT_STATS)]
    taps: list  # nonlinearity inputs per hidden layer, [K, B, U, *rest]


@dataclass
class StepState:
    """Everything a step reads or changes. `step` and `sums` live on the device."""
    model: StackedNet
    optimizer: StackedSGD
    sampler: Sampler
    data: Dataset
    unit: int  # the unit whose input percentiles are probed
    augment: tuple | None = None  # (pad, flip) of data.augment (augment.py); None: off
    step: torch.Tensor = field(init=False)  # completed steps (int64 scalar)
    sums: torch.Tensor = field(init=False)  # [3, K]: loss, accuracy, non-finite-loss steps

    def __post_init__(self):
        device = self.model.params.device
        self.step = torch.zeros((), dtype=torch.int64, device=device)
        self.sums = torch.zeros((3, self.model.K), device=device)

    def take_train_metrics(self, steps_in_interval: int) -> torch.Tensor:
        """[3, K]: mean loss and accuracy over the interval, and how many of its steps had a
        non-finite loss; resets the sums."""
        metrics = self.sums.clone()
        metrics[:2] /= steps_in_interval
        self.sums.zero_()
        return metrics


def train_step(state: StepState, probe: bool) -> ProbeOutput | None:
    model, K, B = state.model, state.model.K, state.sampler.batch_size
    x, y = state.data.train_batch(state.sampler.indices(state.step))
    if state.augment is not None:
        x = augment(x, model.seeds, state.step, *state.augment)
    taps: list | None = [] if probe else None
    logits = model(x, "train", step=state.step, taps=taps)
    loss = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none").view(K, B).mean(1)
    (grad,) = torch.autograd.grad(loss.sum(), model.params)
    with torch.no_grad():
        state.optimizer.update(model.params, grad, state.step)
        state.step += 1
        accuracy = (logits.argmax(-1) == y).float().mean(1)
        state.sums += torch.stack([loss, accuracy, (~torch.isfinite(loss)).float()])
        if not probe:
            return None
        act = torch.stack([probes.activation_stats(z, state.unit, model.activation_name) for z in taps])
        return ProbeOutput(probes.grad_norms(grad, model.layout, model.weight_slots()), act,
                           [z.detach() for z in taps])
