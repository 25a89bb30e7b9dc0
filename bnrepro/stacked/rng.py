"""Counter-based random numbers: a pure function of (seed, stream, counters).

Each run draws its data order and dropout masks from hash(seed, stream, ...)
instead of a stateful generator. That makes a run's randomness independent of which
other runs it is batched with (bnrepro trains several runs in one step), of the
device, and of CUDA-graph capture (no generator state to register). Integer
arithmetic stays below 2^63 so int64 tensors compute it exactly everywhere.
"""
from __future__ import annotations

import torch

MASK32 = 0xFFFFFFFF

# Streams keep the uses of one seed apart.
STREAM_DATA_ORDER = 1
STREAM_DROPOUT = 2
STREAM_POPULATION = 3  # the training mini-batches of Algorithm 2
STREAM_AUGMENT = 4  # random crops and flips (run/augment.py)
STREAM_NOISE = 5  # noisy BN's shift and scale (norms.py)
STREAM_CLASS_BLOCKS = 6  # the order of class blocks in non-i.i.d. mini-batches (run/sampler.py)


def _mul32(x, c: int):
    """(x * c) mod 2^32 for x in [0, 2^32), without overflowing int64."""
    lo, hi = c & 0xFFFF, c >> 16
    return (x * lo + ((x * hi) & 0xFFFF) * 65536) & MASK32


def mix32(x):
    """A 32-bit integer finaliser (lowbias32, C. Wellons): good avalanche, cheap."""
    x = x ^ (x >> 16)
    x = _mul32(x, 0x7FEB352D)
    x = x ^ (x >> 15)
    x = _mul32(x, 0x846CA68B)
    return x ^ (x >> 16)


def hash32(*keys: torch.Tensor | int, state: torch.Tensor | int = 0) -> torch.Tensor:
    """Hash of broadcastable int64 keys to int64 values in [0, 2^32).

    Python ints stay Python ints until they meet a tensor: no host-to-device copies,
    so this is safe inside CUDA-graph capture. `state`: the hash of keys already hashed,
    hash32(a, b, c) == hash32(c, state=hash32(a, b)): a prefix shared by many draws is
    hashed once (noisy BN's per-position noise).
    """
    h: torch.Tensor | int = state
    for k in keys:
        k = k & MASK32 if isinstance(k, torch.Tensor) else int(k) & MASK32
        h = mix32((_mul32(h, 0x9E3779B1) + k) & MASK32)
    return h


def uniform(*keys: torch.Tensor | int, state: torch.Tensor | int = 0) -> torch.Tensor:
    """float32 uniform in [0, 1) on 24 bits (exact in float32), one per broadcast key
    (state: as hash32's)."""
    return (hash32(*keys, state=state) >> 8).to(torch.float32) * (1.0 / 2**24)


def uniform_split(*keys: torch.Tensor | int, state: torch.Tensor | int = 0,
                  bits: tuple[int, ...] = (16, 16)) -> tuple[torch.Tensor, ...]:
    """Several float32 uniforms in [0, 1) from one 32-bit hash, on `bits` bits each (high bits
    first; at most 32 in all): a fraction of the cost of one `uniform` draw each, where a
    coarser grid will do (noisy BN's per-position jitter)."""
    if sum(bits) > 32:
        raise ValueError(f"{bits}: more than the hash's 32 bits")
    h, shift, out = hash32(*keys, state=state), 32, []
    for b in bits:
        shift -= b
        out.append(((h >> shift) & ((1 << b) - 1)).to(torch.float32) * (1.0 / 2**b))
    return tuple(out)


def permutations(seeds: torch.Tensor, stream: int, epoch: int, n: int) -> torch.Tensor:
    """One permutation of range(n) per seed: [len(seeds), n], int64, on seeds' device.

    Sorting 62-bit hash keys; a stable sort keeps it deterministic in the (rare) ties.
    """
    idx = torch.arange(n, dtype=torch.int64, device=seeds.device).unsqueeze(0)
    s = seeds.unsqueeze(1)
    key = hash32(s, stream, epoch, idx) * 2**30 + (hash32(s, stream, epoch, idx, 1) >> 2)
    return torch.argsort(key, dim=1, stable=True)
