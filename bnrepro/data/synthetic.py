"""A small deterministic 10-class problem shaped like MNIST, for tests and offline demos.

Each class has a random 28x28 prototype; an example is its class prototype plus
Gaussian noise, quantised to uint8 like a real image. Learnable, not trivially: a
linear model gets most of it, the noise keeps accuracy below 100% early on.
"""
from __future__ import annotations

import numpy as np
import torch

SHAPE = (1, 28, 28)
CLASSES = 10
NOISE = 0.35
SEED = 20150211  # fixed: the data set is the same for every run and machine


def make_synthetic(n_train: int, n_test: int):
    gen = torch.Generator().manual_seed(SEED)
    prototypes = torch.rand((CLASSES, *SHAPE), generator=gen)

    def draw(n: int):
        y = torch.randint(0, CLASSES, (n,), generator=gen)
        x = prototypes[y] + NOISE * torch.randn((n, *SHAPE), generator=gen)
        x = (x.clamp(0, 1) * 255).round().to(torch.uint8)
        return x.numpy(), y.numpy().astype(np.int64)

    train_x, train_y = draw(n_train)
    test_x, test_y = draw(n_test)
    return train_x, train_y, test_x, test_y, CLASSES
