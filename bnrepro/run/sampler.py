"""Mini-batches gathered on the device: each run walks its own permutation of the
training set, one per epoch, drawn from hash(seed, epoch) (see rng.py).

Non-i.i.d. mini-batches (train.class_block = c > 1, Ioffe 2017's section 4.3): the epoch's
permutation is sorted by class (stably: random order within a class), cut into blocks of
c consecutive examples, and the blocks are shuffled (their own permutation, per seed and
epoch); mini-batches are then consecutive blocks, so each holds B / c blocks of one class
each (a block that straddles two classes holds both). c = B: every mini-batch is one class.

The batch for step t (completed steps so far) is computed on the device from a
device-side counter, so the same code runs eagerly or replayed from a CUDA graph;
the host only refills the permutation buffer when an epoch starts.
"""

from __future__ import annotations

import torch

from ..stacked import rng


class Sampler:
    def __init__(
        self, seeds: torch.Tensor, n: int, batch_size: int, labels: torch.Tensor | None = None, class_block: int = 1
    ):
        if batch_size > n:
            raise ValueError(f"train.batch_size={batch_size} is larger than the training set ({n})")
        if class_block > 1 and (labels is None or batch_size % class_block):
            raise ValueError(f"train.class_block={class_block} needs the labels and must divide the batch size")
        self.seeds, self.n, self.batch_size = seeds, n, batch_size
        self.labels, self.class_block = labels, class_block
        self.steps_per_epoch = n // batch_size  # the last partial batch of an epoch is dropped
        self.perm = torch.empty((len(seeds), n), dtype=torch.int64, device=seeds.device)
        self.offsets = torch.arange(batch_size, device=seeds.device)

    def start_epoch(self, epoch: int) -> None:
        perm = rng.permutations(self.seeds, rng.STREAM_DATA_ORDER, epoch, self.n)
        if self.class_block > 1:
            perm = self._class_blocks(perm, epoch)
        self.perm.copy_(perm)

    def _class_blocks(self, perm: torch.Tensor, epoch: int) -> torch.Tensor:
        """The permutation sorted by class, cut into blocks of class_block, blocks shuffled
        (an incomplete last block stays last: it falls in the dropped partial batch)."""
        by_class = perm.gather(1, torch.argsort(self.labels[perm], dim=1, stable=True))
        blocks = self.n // self.class_block
        whole = by_class[:, : blocks * self.class_block].view(len(self.seeds), blocks, self.class_block)
        order = rng.permutations(self.seeds, rng.STREAM_CLASS_BLOCKS, epoch, blocks)
        shuffled = whole.gather(1, order.unsqueeze(2).expand_as(whole)).flatten(1)
        return torch.cat([shuffled, by_class[:, blocks * self.class_block :]], dim=1)

    def population_indices(self, count: int):
        """`count` mini-batches [K, B] for Algorithm 2, from their own permutations (not
        the training order), one epoch after another if count * B exceeds the set."""
        for i in range(count):
            epoch, j = divmod(i, self.steps_per_epoch)
            if j == 0:
                perm = rng.permutations(self.seeds, rng.STREAM_POPULATION, epoch, self.n)
            yield perm[:, j * self.batch_size : (j + 1) * self.batch_size]

    def indices(self, t: torch.Tensor) -> torch.Tensor:
        """Example indices [K, B] for the step after t completed steps."""
        start = (t % self.steps_per_epoch) * self.batch_size
        return self.perm.index_select(1, start + self.offsets)
