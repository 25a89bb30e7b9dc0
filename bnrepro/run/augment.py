"""Light data augmentation on the device: random crop and horizontal flip, all K runs'
batches at once, no per-sample Python.

Each example is zero-padded by `pad` pixels on every side and cropped back to its size
at an offset in [0, 2 pad]^2, then mirrored left-right with probability 1/2. Offsets
and flips are hash(run seed, step, position in the batch) (stacked/rng.py): a run's
augmented batch does not depend on which runs it is trained with, and a CUDA graph
replays it without generator state. Zero padding is of the pixel values as the model
sees them (after data.normalize), so "zero" is the training mean when standardized.
"""

from __future__ import annotations

import torch

from ..stacked import rng


def augment(x: torch.Tensor, seeds: torch.Tensor, step: torch.Tensor, pad: int, flip: bool) -> torch.Tensor:
    """x [K, B, C, H, W], seeds [K], step: completed steps (int64 scalar) -> same shape."""
    K, B, C, H, W = x.shape
    example = torch.arange(B, device=x.device).view(1, B)
    key = (seeds.view(K, 1), rng.STREAM_AUGMENT, step, example)
    rows = torch.arange(H, device=x.device)
    cols = torch.arange(W, device=x.device)
    if pad:
        x = torch.nn.functional.pad(x, (pad, pad, pad, pad))
        span = 2 * pad + 1
        dy = (rng.uniform(*key, 0) * span).long()  # [K, B]
        dx = (rng.uniform(*key, 1) * span).long()
        rows = dy.unsqueeze(-1) + rows  # [K, B, H]
        cols = dx.unsqueeze(-1) + cols  # [K, B, W]
    else:
        rows, cols = rows.expand(K, B, H), cols.expand(K, B, W)
    if flip:
        mirrored = rng.uniform(*key, 2) < 0.5  # [K, B]
        cols = torch.where(mirrored.unsqueeze(-1), cols.flip(-1), cols)
    k = torch.arange(K, device=x.device).view(K, 1, 1, 1)
    b = example.view(1, B, 1, 1)
    # [K, B, H, W, C] by advanced indexing over (run, example, row, column), channels last
    out = x.permute(0, 1, 3, 4, 2)[k, b, rows.unsqueeze(-1), cols.unsqueeze(-2)]
    return out.permute(0, 1, 4, 2, 3)
