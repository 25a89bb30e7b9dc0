"""One measurement each: the plain PyTorch loop a user would write, and bnrepro's.

Every function returns steps (of a group of runs) per second of training, excluding
start-up. The plain loops read the data with torchvision from the same data root
bnrepro uses (its files are in torchvision's layout; bench/__init__.py fetches them
first).
"""

from __future__ import annotations

import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import torch

CONVNET = ["+fig3=bn_x5"]  # the convnet rows' network: fig3's BN-x5 variant


def experiment_config(overrides: list[str], experiment: str = "mnist_fig1"):
    from hydra import compose, initialize_config_dir

    from ..launch.app import conf_dir
    from ..launch.sweep import typed

    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        return typed(compose("train", overrides=[f"+experiment={experiment}", *overrides]))


@contextmanager
def intra_op_threads(threads: int | None):
    """torch's intra-op threads for the block (None: unchanged), restored after."""
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def reference_loop(
    root: str, device: torch.device, steps: int, bn: bool, workers: int, threads: int | None = None
) -> float:
    """Steps/s of the plain PyTorch loop (data loading included: that is its bottleneck)."""
    from torch import nn
    from torchvision import datasets, transforms

    dataset = datasets.MNIST(str(Path(root).expanduser()), train=True, download=False, transform=transforms.ToTensor())
    layers: list[nn.Module] = [nn.Flatten()]
    for fan_in in (784, 100, 100):
        layers += [nn.Linear(fan_in, 100, bias=not bn)] + ([nn.BatchNorm1d(100)] if bn else []) + [nn.Sigmoid()]
    model = nn.Sequential(*layers, nn.Linear(100, 10)).to(device)
    with intra_op_threads(threads):
        return _plain_rate(dataset, model, torch.optim.SGD(model.parameters(), lr=1.0), 60, device, steps, workers)


def reference_conv_loop(root: str, device: torch.device, steps: int, cfg, threads: int | None = None) -> float:
    """The same plain loop for fig3's net with BN (cfg: its composed config)."""
    from torch import nn
    from torchvision import datasets, transforms

    from ..stacked.model import layer_widths

    dataset = datasets.FashionMNIST(
        str(Path(root).expanduser()),
        train=True,
        download=False,
        transform=transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.286,), (0.353,))]),
    )
    layers: list[nn.Module] = []
    fan_in = 1
    for index, width in enumerate(layer_widths(cfg.model)):
        layers += [nn.Conv2d(fan_in, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
        if (index + 1) % cfg.model.pool_every == 0:
            layers.append(nn.MaxPool2d(2))
        fan_in = width
    model = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(fan_in, 10)).to(device)
    opt = torch.optim.SGD(
        model.parameters(),
        lr=cfg.optim.lr * cfg.optim.lr_mult,
        momentum=cfg.optim.momentum,
        weight_decay=cfg.optim.weight_decay / cfg.optim.weight_decay_div,
    )
    with intra_op_threads(threads):
        return _plain_rate(dataset, model, opt, cfg.train.batch_size, device, steps, workers=0)


def _plain_rate(dataset, model, opt, batch_size: int, device: torch.device, steps: int, workers: int) -> float:
    from torch import nn
    from torch.utils.data import DataLoader

    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=True,
        num_workers=workers,
        drop_last=True,
        pin_memory=device.type == "cuda",
        persistent_workers=workers > 0,
    )
    warmup, done, start = 20, 0, 0.0
    while done < steps + warmup:
        for x, y in loader:
            if done == warmup:
                if device.type == "cuda":
                    torch.cuda.synchronize()
                start = time.perf_counter()
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            loss = nn.functional.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            done += 1
            if done == steps + warmup:
                break
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps / (time.perf_counter() - start)


def bnrepro_rate(overrides: list[str], runs: int = 1, experiment: str = "mnist_fig1") -> dict:
    """Train `runs` runs together through train_runs; return its summary of the first."""
    from ..run.loop import train_runs

    cfgs = [experiment_config([*overrides, f"seed={seed}"], experiment) for seed in range(1, runs + 1)]
    with tempfile.TemporaryDirectory() as tmp:
        return train_runs(cfgs, [Path(tmp) / f"run{i}" for i in range(runs)], log=lambda m: None)[0]
