"""How a group of runs trained on the CPU uses the machine: glibc's malloc keeps freed
memory, and the operations run on train.threads intra-op threads.

Memory. PyTorch's CPU tensors come straight from malloc, and a training step allocates and frees
the same large activation buffers every step. By default glibc serves blocks above a
(moving) threshold with fresh mmaps and returns the top of the heap to the kernel once
more than a small amount is free, so every step pays the page faults and zeroing of its
buffers again: half the CPU time of fig3's conv packs was spent in the kernel, and an
evaluation in chunks of 10,000 test images spent more time there than computing. Raising
the mmap and trim thresholds keeps the blocks for reuse; the process then holds on to its
peak memory, which a training process needs again at the next step anyway.

Threads. The MLP's operations (a 60 x 100 batch) are too small to split well: a second
thread made its step ~15% faster when nothing else ran (0.67 vs 0.78 ms), but OpenMP's
threads wait for each other at every operation, and as soon as anything else runs on the
machine two threads collapse to a few percent of one thread's speed (10-40 steps/s on
the shared 2-core VM, the plain loop and bnrepro alike). So the MLP trains on one thread
unless train.threads says otherwise (the other cores go to other packs: a sweep of several
packs trains one per core, launch/schedule.py); conv nets keep torch's setting (every
core, or the share of them that launch/local.py gives a child process): their
convolutions gained ~1.7x from a second core. The setting is restored when the group is
done. Every summary records the threads and the processes its group trained with
(machine_share).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from contextlib import contextmanager

import torch

from ..config import Arch, Config

# mallopt(3) parameters
M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
M_MMAP_THRESHOLD = -3

# Set by launch/local.py for its child processes: how many of the sweep's packs train at once.
PROCESSES_ENV = "BNREPRO_PROCESSES"

KEEP_BELOW = 1 << 30  # blocks up to 1 GiB come from the heap (and stay there once freed)
NEVER_TRIM = 2**31 - 1  # mallopt takes an int: the largest is "never"
TOP_PAD = 64 << 20  # grow the heap in 64 MiB steps: fewer brk calls while it reaches its peak


def keep_freed_memory() -> bool:
    """Tell glibc's malloc to keep freed memory for reuse (process-wide, for the rest of
    the process). True if it took effect; False where there is no glibc (macOS, musl):
    nothing changes there."""
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError, TypeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    settings = ((M_MMAP_THRESHOLD, KEEP_BELOW), (M_TRIM_THRESHOLD, NEVER_TRIM), (M_TOP_PAD, TOP_PAD))
    return all(mallopt(param, value) == 1 for param, value in settings)


def intra_op_threads(cfg: Config) -> int:
    """train.threads, or when null: 1 for the MLP and the LSTM (small operations: 28 steps of
    [B, K * 4U]), torch's current setting for conv nets."""
    if cfg.train.threads is not None:
        return cfg.train.threads
    return 1 if cfg.model.arch in (Arch.mlp, Arch.lstm) else torch.get_num_threads()


def machine_share() -> dict:
    """What a summary records of how its group shared the machine: the intra-op threads it
    trains on now, and how many packs trained at once, each in its own process (1: this
    process trains the sweep's packs one after another, or the runs were trained directly)."""
    try:
        processes = max(1, int(os.environ.get(PROCESSES_ENV) or 1))
    except ValueError:
        processes = 1
    return {"threads": torch.get_num_threads(), "processes": processes}


@contextmanager
def cpu_settings(device: torch.device, cfg: Config):
    """While a group trains on the CPU: freed memory kept, intra_op_threads(cfg) threads."""
    if device.type != "cpu":
        yield
        return
    keep_freed_memory()  # process-wide and harmless after training: not undone
    previous = torch.get_num_threads()
    torch.set_num_threads(intra_op_threads(cfg))
    try:
        yield
    finally:
        torch.set_num_threads(previous)
