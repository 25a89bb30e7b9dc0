"""One measurement each: the plain PyTorch loops a user would write, and bnrepro's.

Every function returns steps (of a group of runs) per second of training, excluding
start-up. The plain loops run in processes of their own that import only torch (and
torchvision): bench/reference.py, started by bench/procs.py; they read the data from the
same data root bnrepro uses (its files are in torchvision's layout; bench/__init__.py
fetches them first). bnrepro's rows train in this process through train_runs.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch

from .flops import net_of
from . import procs

CONVNET = ["+fig3=bn_x5"]  # the convnet rows' network: fig3's BN-x5 variant
FASHION_STATS = (0.286, 0.353)  # Fashion-MNIST's pixel mean and std: the conv nets' plain loops normalize with them
TORCHVISION = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST"}  # torchvision's dataset classes


def experiment_config(overrides: list[str], experiment: str = "mnist_fig1"):
    from hydra import compose, initialize_config_dir

    from ..launch.app import conf_dir
    from ..launch.sweep import typed

    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        return typed(compose("train", overrides=[f"+experiment={experiment}", *overrides]))


def reference_task(cfg, kind: str, device: torch.device, steps: int, threads: int | None, workers: int = 0) -> dict:
    """What a reference process (bench/reference.py) trains: `kind` "resident" or
    "dataloader", on the network, data and optimizer of the composed config `cfg`."""
    from ..data.sources import SPECS, folder

    name, optim = cfg.data.name.value, cfg.optim
    return {
        "kind": kind,
        "net": net_of(cfg).as_task(),
        "steps": steps,
        "threads": threads,
        "device": device.type,
        "data": str(folder(SPECS[name], cfg.data.root)),  # the IDX files, for the resident loop
        "root": str(Path(cfg.data.root).expanduser()),  # torchvision's root, for the DataLoader
        "dataset": TORCHVISION[name],
        "workers": workers,
        "normalize": FASHION_STATS if name == "fashion_mnist" else None,
        "lr": optim.lr * optim.lr_mult,
        "momentum": optim.momentum,
        "wd": optim.weight_decay / optim.weight_decay_div,
    }


def reference_rate(task: dict, threads: int | None) -> float:
    """Steps/s of a reference loop, in a process of its own (threads: its intra-op threads,
    None: torch's default there)."""
    return procs.run_together([procs.reference_command(task)], threads, [1])


def pack_configs(overrides: list[str], runs: int = 1, experiment: str = "mnist_fig1") -> list:
    """The configs of `runs` runs trained together: seeds 1 ... runs."""
    return [experiment_config([*overrides, f"seed={seed}"], experiment) for seed in range(1, runs + 1)]


def train_pack(cfgs: list) -> dict:
    """Train the runs together through train_runs (in a scratch folder); the first's summary."""
    from ..run.loop import train_runs

    with tempfile.TemporaryDirectory() as tmp:
        return train_runs(cfgs, [Path(tmp) / f"run{i}" for i in range(len(cfgs))], log=lambda m: None)[0]


def bnrepro_rate(overrides: list[str], runs: int = 1, experiment: str = "mnist_fig1") -> dict:
    """Train `runs` runs together through train_runs; return its summary of the first."""
    return train_pack(pack_configs(overrides, runs, experiment))
