"""SGD with momentum and weight decay for K runs, each with its own hyper-parameters.

Same update as torch.optim.SGD (dampening 0, no Nesterov):
    g = grad + weight_decay * theta;  buf = momentum * buf + g;  theta -= lr_t * buf
applied to the whole flat parameter buffer at once, with per-run values expanded to
per-element vectors. The learning rate is computed on the device from the step
counter, so a CUDA graph replays the schedule without the host.
"""
from __future__ import annotations

import math

import torch

from .config import OptimConfig, Schedule
from .params import Layout


class StackedSGD:
    def __init__(self, layout: Layout, cfgs: list[OptimConfig], total_steps: int, device: torch.device):
        schedules = {c.schedule for c in cfgs}
        if len(schedules) != 1:
            raise ValueError(f"runs trained together need one lr schedule, got {schedules}")
        self.schedule = schedules.pop()
        self.total_steps = total_steps

        def per_run(key: str) -> torch.Tensor:
            return torch.tensor([float(getattr(c, key)) for c in cfgs], dtype=torch.float32, device=device)

        self.lr0, self.decay_every, self.decay_factor = per_run("lr"), per_run("decay_every"), per_run("decay_factor")
        self.run_index = layout.run_index().to(device)
        self.momentum = per_run("momentum")[self.run_index] if any(c.momentum for c in cfgs) else None
        self.weight_decay = per_run("weight_decay")[self.run_index] if any(c.weight_decay for c in cfgs) else None
        self.buf = torch.zeros(layout.size, device=device) if self.momentum is not None else None

    def lr_at(self, t: torch.Tensor) -> torch.Tensor:
        """Per-run learning rate [K] for the step taken after t completed steps."""
        if self.schedule == Schedule.constant:
            return self.lr0
        t = t.to(torch.float32)
        if self.schedule == Schedule.step:
            return self.lr0 * self.decay_factor.pow(torch.floor(t / self.decay_every))
        return self.lr0 * 0.5 * (1 + torch.cos(t * (math.pi / self.total_steps)))

    @torch.no_grad()
    def update(self, theta: torch.Tensor, grad: torch.Tensor, t: torch.Tensor) -> None:
        if self.weight_decay is not None:
            grad = grad + self.weight_decay * theta
        if self.buf is not None:
            self.buf.mul_(self.momentum).add_(grad)
            grad = self.buf
        theta.sub_(self.lr_at(t)[self.run_index] * grad)
