"""All parameters of K runs in one flat buffer, laid out layer by layer.

Slot `name` occupies params[offset : offset + K * numel] and is viewed as [K, *shape]:
every layer's block is contiguous, so a conv weight reshapes to [K*C_out, ...] for a
grouped convolution and BN's gamma to [K*C] without copies, and the optimizer
updates every parameter of every run with a handful of whole-buffer operations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Slot:
    name: str
    kind: str  # "weight", "bias", "gamma" or "beta"
    shape: tuple  # per run
    offset: int
    runs: int
    view_shape: tuple  # the shape its consumer takes, e.g. [K*C] for BN's gamma; default [K, *shape]

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


class Layout:
    def __init__(self, runs: int):
        self.runs = runs
        self.slots: dict[str, Slot] = {}
        self.size = 0

    def add(self, name: str, kind: str, shape: tuple, view_shape: tuple | None = None) -> Slot:
        view_shape = tuple(view_shape) if view_shape is not None else (self.runs, *shape)
        slot = Slot(name, kind, tuple(shape), self.size, self.runs, view_shape)
        self.slots[name] = slot
        self.size += self.runs * slot.numel
        return slot

    def split(self, flat: torch.Tensor, per_run: bool = False) -> dict[str, torch.Tensor]:
        """Every slot's view in the shape its consumer takes, from one split: its backward
        is a single concatenation (slicing slot by slot would zero-fill the buffer per
        slot), and one view per slot keeps autograd's bookkeeping small. per_run (one run
        only): each slot in its per-run shape instead, without the runs' dimension."""
        slots = self.slots.values()
        blocks = flat.split([self.runs * s.numel for s in slots])
        return {s.name: b.view(s.shape if per_run else s.view_shape) for s, b in zip(slots, blocks)}

    def per_run(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every slot as [K, *shape] (its per-run shape), e.g. for gradient norms."""
        blocks = flat.split([self.runs * s.numel for s in self.slots.values()])
        return {s.name: b.view(self.runs, *s.shape) for s, b in zip(self.slots.values(), blocks)}

    def per_element(self, per_run: torch.Tensor) -> torch.Tensor:
        """[K] -> [size]: every element of the flat buffer gets its run's value, computed
        where per_run lives (on the device: no host-to-device copy)."""
        return torch.cat([per_run.repeat_interleave(s.numel) for s in self.slots.values()])
