"""Device-to-host transfer of logged values without stalling the device.

A record is a dict of device tensors. `push` packs them into one buffer and starts a
non-blocking copy into pinned host memory; `ready` hands back the records whose copy
has finished, oldest first, without waiting. So the host reads probes one or a few
intervals late, and never makes the GPU wait. On the CPU the copy is immediate.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch


@dataclass
class Record:
    kind: str  # "train", "eval" or "hist"
    step: int
    values: dict  # name -> numpy array
    meta: object = None  # passed through as pushed (e.g. the names of a stacked tensor's rows)


class Fetcher:
    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"
        self.pending: deque = deque()

    def push(self, kind: str, step: int, tensors: dict, meta: object = None) -> None:
        shapes = {name: tuple(t.shape) for name, t in tensors.items()}
        packed = torch.cat([t.detach().float().flatten() for t in tensors.values()])
        if self.cuda:
            host = torch.empty(packed.shape, dtype=packed.dtype, pin_memory=True)
            host.copy_(packed, non_blocking=True)
            done = torch.cuda.Event()
            done.record()
        else:
            host, done = packed, None
        self.pending.append((kind, step, shapes, host, done, meta))

    def ready(self, wait: bool = False) -> Iterator[Record]:
        while self.pending:
            kind, step, shapes, host, done, meta = self.pending[0]
            if done is not None:
                if wait:
                    done.synchronize()
                elif not done.query():
                    return
            self.pending.popleft()
            flat, values, offset = host.numpy(), {}, 0
            for name, shape in shapes.items():
                size = int(np.prod(shape))
                values[name] = flat[offset : offset + size].reshape(shape).copy()
                offset += size
            yield Record(kind, step, values, meta)
