"""Gaussian inputs: the data of the classic initialization demonstrations.

Every input is a vector of `dim` independent N(0, 1) values (shaped [dim, 1, 1] so the
MLP flattens it like an image). Labels are uniformly random (statistics only) or the
argmax of a fixed random linear map of the input (a learnable problem); or, for
regression, the targets are that map's values themselves, y = x A with A ~ N(0, 1/dim)
(unit variance per target; float [N, 10]: a linear network can fit them exactly).
Everything is drawn from one generator seeded with data_seed: the same data on every
machine.
"""
from __future__ import annotations

import torch

from ..config import DataConfig, GaussianLabels

CLASSES = 10


def make_gaussian(cfg: DataConfig):
    """Float32 inputs [N, dim, 1, 1] and int64 labels [N] (regression: float32 targets
    [N, 10]) for train and test, and the class (target) count."""
    gen = torch.Generator().manual_seed(cfg.data_seed)
    mapping = torch.randn((cfg.dim, CLASSES), generator=gen)

    def draw(n: int):
        x = torch.randn((n, cfg.dim), generator=gen)
        if cfg.labels == GaussianLabels.random:
            y = torch.randint(0, CLASSES, (n,), generator=gen)
        elif cfg.labels == GaussianLabels.regression:
            y = x @ mapping / cfg.dim ** 0.5
        else:
            y = (x @ mapping).argmax(1)
        return x.view(n, cfg.dim, 1, 1), y

    train_x, train_y = draw(cfg.synthetic_train)
    test_x, test_y = draw(cfg.synthetic_test)
    return train_x, train_y, test_x, test_y, CLASSES
