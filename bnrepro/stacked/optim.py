"""SGD (with momentum), RMSprop and Adam with weight decay for K runs, each with its own
learning rate, momentum and weight decay (optim.kind, betas, alpha, eps: one per pack).

Each the same update as torch.optim's class of that name (tests/test_model.py):
    g = grad + weight_decay * params                           (L2 in the gradient, every kind)
    sgd:      buf = momentum * buf + g;  params -= lr_t * buf  (dampening 0, no Nesterov)
    rmsprop:  v = alpha * v + (1 - alpha) g^2;  d = g / (sqrt(v) + eps);
              with momentum: buf = momentum * buf + d, d = buf;  params -= lr_t * d
    adam:     m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2   (n = steps taken, this one included)
              params -= lr_t * m / (1 - b1^n) / (sqrt(v / (1 - b2^n)) + eps)
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

from ..config import OptimConfig, OptimKind, Schedule
from .params import Layout


class StackedOptimizer:
    def __init__(self, layout: Layout, cfgs: list[OptimConfig], total_steps: int, device: torch.device):
        schedules = {(c.schedule, c.decay_every, c.decay_factor, c.decay_speedup) for c in cfgs}
        if len(schedules) != 1:
            raise ValueError(f"runs trained together need one lr schedule, got {schedules}")
        self.schedule, self.decay_every, self.decay_factor, self.speedup = schedules.pop()
        rules = {(c.kind, tuple(c.betas), c.alpha, c.eps) for c in cfgs}
        if len(rules) != 1:  # the sweeper packs only runs that agree (they are not in launch/sweep.py's BATCHABLE)
            raise ValueError(f"runs trained together need one update rule (kind, betas, alpha, eps), got {rules}")
        self.kind, (self.beta1, self.beta2), self.alpha, self.eps = rules.pop()
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
        # the adaptive rules' running moments, by torch.optim's names (checkpointed via moments())
        zeros = lambda: torch.zeros(layout.size, device=device)  # noqa: E731
        self.square_avg = zeros() if self.kind is OptimKind.rmsprop else None
        self.exp_avg, self.exp_avg_sq = (zeros(), zeros()) if self.kind is OptimKind.adam else (None, None)

    def moments(self) -> dict[str, torch.Tensor]:
        """The adaptive rules' state besides the momentum buffer `buf`, by name (for checkpoints)."""
        named = {"square_avg": self.square_avg, "exp_avg": self.exp_avg, "exp_avg_sq": self.exp_avg_sq}
        return {name: t for name, t in named.items() if t is not None}

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
        if self.kind is not OptimKind.sgd:  # one test of a Python attribute: SGD's step is unchanged
            grad = self._adaptive_direction(grad, t)
        if self.buf is not None:
            self.buf.mul_(self.momentum).add_(grad)
            grad = self.buf
        lr = self.lr * self.factor(t)
        if isinstance(lr, float):
            params.add_(grad, alpha=-lr)
        else:
            params.sub_(lr * grad)

    def _adaptive_direction(self, grad: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """RMSprop's g / (sqrt(v) + eps) or Adam's bias-corrected m / (sqrt(v) + eps), moments updated."""
        if self.kind is OptimKind.rmsprop:
            self.square_avg.mul_(self.alpha).addcmul_(grad, grad, value=1 - self.alpha)
            return grad / self.square_avg.sqrt().add_(self.eps)
        self.exp_avg.lerp_(grad, 1 - self.beta1)
        self.exp_avg_sq.mul_(self.beta2).addcmul_(grad, grad, value=1 - self.beta2)
        n = t.to(torch.float32) + 1  # on the device, from the step counter: a CUDA graph replays it
        correction1, correction2 = 1 - self.beta1**n, 1 - self.beta2**n
        denom = (self.exp_avg_sq.sqrt() / correction2.sqrt()).add_(self.eps)
        return self.exp_avg / (correction1 * denom)


# The name the loop and the tests know it by (it began as SGD only).
StackedSGD = StackedOptimizer
