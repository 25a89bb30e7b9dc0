"""SGD with momentum and weight decay for K runs, each with its own hyper-parameters.

Same update as torch.optim.SGD (dampening 0, no Nesterov):
    g = grad + weight_decay * params;  buf = momentum * buf + g;  params -= lr_t * buf
applied to the whole flat parameter buffer at once; per-run values are expanded once
to per-element vectors. The schedule's factor is computed on the device from the
step counter (one schedule per group), so a CUDA graph replays it without the host.

The paper's section 4.2.1 changes are read here: lr = optim.lr * optim.lr_mult,
weight_decay = optim.weight_decay / optim.weight_decay_div, and the schedule's clock
runs optim.decay_speedup times faster (its factor at step t is the plain schedule's
at t * decay_speedup: "decay the learning rate 6x faster").
"""
from __future__ import annotations

import math

import torch

from ..config import OptimConfig, Schedule
from .params import Layout


class StackedSGD:
    def __init__(self, layout: Layout, cfgs: list[OptimConfig], total_steps: int, device: torch.device):
        schedules = {(c.schedule, c.decay_every, c.decay_factor, c.decay_speedup) for c in cfgs}
        if len(schedules) != 1:
            raise ValueError(f"runs trained together need one lr schedule, got {schedules}")
        self.schedule, self.decay_every, self.decay_factor, self.speedup = schedules.pop()
        self.total_steps = total_steps

        def per_element(values: list[float]) -> torch.Tensor | float | None:
            """None where every run has 0; a float where all agree; else [size] per element."""
            if not any(values):
                return None
            if all(v == values[0] for v in values):
                return float(values[0])
            return layout.per_element(torch.tensor(values, dtype=torch.float32, device=device))

        lrs = [c.lr * c.lr_mult for c in cfgs]
        self.lr0 = torch.tensor(lrs, dtype=torch.float32, device=device)
        self.lr = per_element(lrs)
        self.momentum = per_element([c.momentum for c in cfgs])
        self.weight_decay = per_element([c.weight_decay / c.weight_decay_div for c in cfgs])
        self.buf = torch.zeros(layout.size, device=device) if self.momentum is not None else None

    def factor(self, t: torch.Tensor) -> torch.Tensor | float:
        """The schedule's multiplier for the step taken after t completed steps."""
        if self.schedule == Schedule.constant:
            return 1.0
        t = t.to(torch.float32) * self.speedup
        if self.schedule == Schedule.step:
            return self.decay_factor ** torch.floor(t / self.decay_every)
        if self.schedule == Schedule.exponential:
            return self.decay_factor ** (t / self.decay_every)
        return 0.5 * (1 + torch.cos(t.clamp(max=self.total_steps) * (math.pi / self.total_steps)))

    def lr_at(self, t: torch.Tensor) -> torch.Tensor:
        """Per-run learning rate [K] for the step taken after t completed steps."""
        return self.lr0 * self.factor(t)

    @torch.no_grad()
    def update(self, params: torch.Tensor, grad: torch.Tensor, t: torch.Tensor) -> None:
        if self.weight_decay is not None:
            grad = grad + self.weight_decay * params
        if self.buf is not None:
            self.buf.mul_(self.momentum).add_(grad)
            grad = self.buf
        lr = self.lr * self.factor(t)
        if isinstance(lr, float):
            params.add_(grad, alpha=-lr)
        else:
            params.sub_(lr * grad)
