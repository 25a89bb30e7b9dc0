"""Datasets as tensors resident on the training device.

The whole training and test sets are moved to the device once, as float32
[N, C, H, W] images and int64 labels. Batches are then gathered on the device from
per-run permutations (bnrepro/run/sampler.py): no DataLoader, no per-sample Python.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..config import DataConfig, DatasetName, FeatureShape, Normalize
from .formats import read_cifar_batch, read_idx
from .sources import SPECS, DataError, ensure, log_to_stderr
from .gaussian import make_gaussian
from .synthetic import make_synthetic

__all__ = ["Dataset", "load", "fetch", "labels_of", "DataError"]


@dataclass
class Dataset:
    name: str
    train_x: torch.Tensor  # [N, C, H, W] float32
    train_y: torch.Tensor  # [N] int64 labels, or [N, classes] float32 regression targets
    test_x: torch.Tensor
    test_y: torch.Tensor
    classes: int  # classes, or regression targets per example

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.train_x.shape[1:])

    @property
    def train_labels(self) -> torch.Tensor:
        """[N] int64: the labels, or for regression targets the index of each one's largest value."""
        return labels_of(self.train_y)

    def train_batch(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Each run's mini-batch, gathered on the device: index [K, B] -> x [K, B, C, H, W],
        y [K, B] (regression targets [K, B, classes])."""
        flat = index.flatten()
        return (self.train_x.index_select(0, flat).unflatten(0, index.shape),
                self.train_y.index_select(0, flat).unflatten(0, index.shape))


def labels_of(y: torch.Tensor) -> torch.Tensor:
    """Class labels [*] of labels [*] (themselves) or of regression targets [*, classes] (the
    largest target's index: what "accuracy" compares the output's largest value with)."""
    return y.argmax(-1) if y.is_floating_point() else y


def fetch(name: str, root: str | Path, log: Callable[[str], None] = log_to_stderr) -> Path:
    """Make sure dataset `name` is in `root`, verified; return its folder."""
    if name not in SPECS:
        raise DataError(f"no fetchable dataset {name!r}; choose from {sorted(SPECS)}")
    return ensure(SPECS[name], Path(root).expanduser(), log)


def _read_raw(cfg: DataConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """uint8 images [N, C, H, W] and int64 labels for train and test, and the class count."""
    name = cfg.name.value
    if cfg.name == DatasetName.synthetic:
        return make_synthetic(cfg.synthetic_train, cfg.synthetic_test)
    directory = fetch(name, cfg.root)
    if cfg.name == DatasetName.cifar10:
        parts = [read_cifar_batch(directory / f"data_batch_{i}") for i in range(1, 6)]
        train_x = np.concatenate([p[0] for p in parts])
        train_y = np.concatenate([p[1] for p in parts])
        test_x, test_y = read_cifar_batch(directory / "test_batch")
        return train_x, train_y, test_x, test_y, 10
    images = {split: read_idx(directory / f"{split}-images-idx3-ubyte")[:, None] for split in ("train", "t10k")}
    labels = {split: read_idx(directory / f"{split}-labels-idx1-ubyte").astype(np.int64) for split in ("train", "t10k")}
    return images["train"], labels["train"], images["t10k"], labels["t10k"], 10


def feature_scales(shape, spread: float, seed: int) -> torch.Tensor:
    """One fixed factor 10^u per input feature, u ~ U(-spread/2, spread/2) (data.feature_scales)."""
    gen = torch.Generator().manual_seed(seed)
    return 10 ** ((torch.rand(shape, generator=gen) - 0.5) * spread)


def shaped_features(x: torch.Tensor, shape: FeatureShape) -> torch.Tensor:
    """Every other feature (odd positions of the flattened input) through shape's strictly
    increasing map (data.feature_shape); the rest, and the order of values, unchanged."""
    if shape == FeatureShape.as_drawn:
        return x
    flat = x.flatten(1).clone()
    odd = flat[:, 1::2]
    flat[:, 1::2] = (torch.sign(odd) * torch.expm1(2 * odd.abs()) if shape == FeatureShape.heavy_tailed
                     else torch.sign(odd) + 0.1 * odd)
    return flat.view(x.shape)


WHITENING = (Normalize.pca_whiten, Normalize.zca_whiten)


def whiten(train: torch.Tensor, test: torch.Tensor, kind: Normalize, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """PCA or ZCA whitening of the flattened inputs with the training set's mean and covariance
    (eigendecomposition in float64; see Normalize), both sets by the same matrix, shapes kept."""
    x = train.flatten(1).double()
    mean = x.mean(0)
    centered = x - mean
    values, vectors = torch.linalg.eigh(centered.T @ centered / (len(x) - 1))
    matrix = vectors * (values.clamp(min=0) + eps).rsqrt()
    if kind == Normalize.zca_whiten:
        matrix = matrix @ vectors.T
    else:  # PCA: the directions of largest variance first
        matrix = matrix.flip(1)

    def apply(inputs: torch.Tensor) -> torch.Tensor:
        return ((inputs.flatten(1).double() - mean) @ matrix).float().view(inputs.shape)

    return apply(train), apply(test)


def equal_variance(train: torch.Tensor, test: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Both sets times one factor, from the training set only, that makes the training set's mean
    over features of the per-feature variance 1 (data.equal_variance): the input ladder's rungs at
    one total variance, so a rung's gain is not a larger effective first-layer step."""
    variance = train.flatten(1).var(dim=0).mean()
    if variance <= 0:  # constant inputs: nothing to rescale
        return train, test
    factor = variance.rsqrt()
    return train * factor, test * factor


def load(cfg: DataConfig, device: torch.device) -> Dataset:
    generated = cfg.name == DatasetName.gaussian  # already float values, not uint8 pixels
    train_x, train_y, test_x, test_y, classes = make_gaussian(cfg) if generated else _read_raw(cfg)
    if cfg.train_limit is not None:
        train_x, train_y = train_x[: cfg.train_limit], train_y[: cfg.train_limit]
    if cfg.test_limit is not None:
        test_x, test_y = test_x[: cfg.test_limit], test_y[: cfg.test_limit]

    def prepare(images) -> torch.Tensor:
        if generated:
            return images.to(device=device, dtype=torch.float32)
        x = torch.from_numpy(np.array(images)).to(device=device, dtype=torch.float32)  # a writable copy
        x = x / 255.0
        return (x > 0.5).float() if cfg.binarize else x

    train, test = prepare(train_x), prepare(test_x)
    train, test = shaped_features(train, cfg.feature_shape), shaped_features(test, cfg.feature_shape)
    if cfg.feature_scales:
        scales = feature_scales(train.shape[1:], cfg.feature_scales, cfg.data_seed).to(device)
        train, test = train * scales, test * scales
    if cfg.normalize in WHITENING:
        train, test = whiten(train, test, cfg.normalize, cfg.whiten_eps)
    elif cfg.normalize == Normalize.center:
        mean = train.mean(dim=0, keepdim=True)
        train, test = train - mean, test - mean
    elif cfg.normalize != Normalize.none:
        # per channel: over examples and positions; per feature: over examples only
        dims = (0, 2, 3) if cfg.normalize == Normalize.standardize else (0,)
        mean = train.mean(dim=dims, keepdim=True)
        std = train.std(dim=dims, keepdim=True)
        std = torch.where(std > 1e-6, std, torch.ones_like(std))  # a constant feature (MNIST's border) stays 0
        train, test = (train - mean) / std, (test - mean) / std
    if cfg.equal_variance:
        train, test = equal_variance(train, test)

    def labels(y) -> torch.Tensor:
        y = y if isinstance(y, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(y))
        return y.to(device=device, dtype=torch.float32 if y.is_floating_point() else torch.int64)

    return Dataset(cfg.name.value, train, labels(train_y), test, labels(test_y), classes)
