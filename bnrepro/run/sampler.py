"""Mini-batches gathered on the device: each run walks its own permutation of the
training set, one per epoch, drawn from hash(seed, epoch) (see rng.py).

The batch for step t (completed steps so far) is computed on the device from a
device-side counter, so the same code runs eagerly or replayed from a CUDA graph;
the host only refills the permutation buffer when an epoch starts.
"""
from __future__ import annotations

import torch

from ..stacked import rng


class Sampler:
    def __init__(self, seeds: torch.Tensor, n: int, batch_size: int):
        if batch_size > n:
            raise ValueError(f"train.batch_size={batch_size} is larger than the training set ({n})")
        self.seeds, self.n, self.batch_size = seeds, n, batch_size
        self.steps_per_epoch = n // batch_size  # the last partial batch of an epoch is dropped
        self.perm = torch.empty((len(seeds), n), dtype=torch.int64, device=seeds.device)
        self.offsets = torch.arange(batch_size, device=seeds.device)

    def start_epoch(self, epoch: int) -> None:
        self.perm.copy_(rng.permutations(self.seeds, rng.STREAM_DATA_ORDER, epoch, self.n))

    def population_indices(self, count: int):
        """`count` mini-batches [K, B] for Algorithm 2, from their own permutations (not
        the training order), one epoch after another if count * B exceeds the set."""
        for i in range(count):
            epoch, j = divmod(i, self.steps_per_epoch)
            if j == 0:
                perm = rng.permutations(self.seeds, rng.STREAM_POPULATION, epoch, self.n)
            yield perm[:, j * self.batch_size: (j + 1) * self.batch_size]

    def indices(self, t: torch.Tensor) -> torch.Tensor:
        """Example indices [K, B] for the step after t completed steps."""
        start = (t % self.steps_per_epoch) * self.batch_size
        return self.perm.index_select(1, start + self.offsets)
