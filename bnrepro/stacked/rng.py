"""Counter-based random numbers: a pure function of (seed, stream, counters).

Each run draws its data order and dropout masks from hash(seed, stream, ...)
instead of a stateful generator. That makes a run's randomness independent of which
other runs it is batched with (bnrepro trains several runs in one step), of the
device, and of CUDA-graph capture (no generator state to register). The arithmetic is
modulo 2^32, in int32 tensors (see below).
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


# The arithmetic is modulo 2^32. Python ints compute it exactly; tensors compute it in
# int32, whose multiply and add wrap around modulo 2^32 in two's complement (the 32-bit SIMD
# multiply of CPUs, the GPU's integer unit): the same bits as exact arithmetic, an int32
# pattern x standing for x mod 2^32. tests/test_probes_and_rng.py checks this against
# exact int64 arithmetic. int64 arithmetic kept below 2^63 did the same ~10x slower (the
# per-position noise of noisy BN hashes millions of keys per step).
_GOLDEN, _M1, _M2 = 0x9E3779B1, 0x7FEB352D, 0x846CA68B


def _signed(c: int) -> int:
    """c mod 2^32 as the int32 value with the same bits."""
    c &= MASK32
    return c - (1 << 32) if c >= 1 << 31 else c


def _bits(k: torch.Tensor | int) -> torch.Tensor | int:
    """A key as 32 bits: an int32 tensor (its value mod 2^32), or a Python int in [0, 2^32)."""
    if not isinstance(k, torch.Tensor):
        return int(k) & MASK32
    if k.dtype == torch.int32:
        return k
    k = k & MASK32
    return (k - ((k >> 31) << 32)).to(torch.int32)  # into [-2^31, 2^31): an exact conversion


def mix32(x):
    """A 32-bit integer finaliser (lowbias32, C. Wellons): good avalanche, cheap. A Python
    int in [0, 2^32), or an int32 tensor of bit patterns."""
    if not isinstance(x, torch.Tensor):
        x ^= x >> 16
        x = (x * _M1) & MASK32
        x ^= x >> 15
        x = (x * _M2) & MASK32
        return x ^ (x >> 16)
    x = x ^ ((x >> 16) & 0xFFFF)  # >> on int32 is arithmetic: keep the logical shift's bits
    x = x * _signed(_M1)
    x = x ^ ((x >> 15) & 0x1FFFF)
    x = x * _signed(_M2)
    return x ^ ((x >> 16) & 0xFFFF)


def _hash_bits(*keys: torch.Tensor | int, state: torch.Tensor | int = 0) -> torch.Tensor | int:
    """hash32's value as an int32 tensor of bit patterns (a Python int while no key is a tensor)."""
    h = _bits(state)
    for k in keys:
        k = _bits(k)
        if isinstance(h, int):
            h = (h * _GOLDEN) & MASK32
            h = mix32((h + k) & MASK32) if isinstance(k, int) else mix32(k + _signed(h))
        else:
            h = mix32(h * _signed(_GOLDEN) + (_signed(k) if isinstance(k, int) else k))
    return h


def hash32(*keys: torch.Tensor | int, state: torch.Tensor | int = 0) -> torch.Tensor | int:
    """Hash of broadcastable integer keys to int64 values in [0, 2^32) (a Python int when
    no key is a tensor).

    Python ints stay Python ints until they meet a tensor: no host-to-device copies,
    so this is safe inside CUDA-graph capture. `state`: the hash of keys already hashed,
    hash32(a, b, c) == hash32(c, state=hash32(a, b)): a prefix shared by many draws is
    hashed once (noisy BN's per-position noise).
    """
    h = _hash_bits(*keys, state=state)
    return h if isinstance(h, int) else h.to(torch.int64) & MASK32


def uniform(*keys: torch.Tensor | int, state: torch.Tensor | int = 0) -> torch.Tensor:
    """float32 uniform in [0, 1) on 24 bits (exact in float32), one per broadcast key
    (state: as hash32's)."""
    return ((_hash_bits(*keys, state=state) >> 8) & 0xFFFFFF).to(torch.float32) * (1.0 / 2**24)


def uniform_split(
    *keys: torch.Tensor | int, state: torch.Tensor | int = 0, bits: tuple[int, ...] = (16, 16)
) -> tuple[torch.Tensor, ...]:
    """Several float32 uniforms in [0, 1) from one 32-bit hash, on `bits` bits each (high bits
    first; at most 32 in all): a fraction of the cost of one `uniform` draw each, where a
    coarser grid will do (noisy BN's per-position jitter)."""
    return tuple(f.to(torch.float32) * (1.0 / 2**b) for f, b in zip(split_bits(*keys, state=state, bits=bits), bits))


def split_bits(
    *keys: torch.Tensor | int, state: torch.Tensor | int = 0, bits: tuple[int, ...] = (16, 16)
) -> tuple[torch.Tensor, ...]:
    """uniform_split's draws as the integers they are made of: field i in [0, 2^bits[i]), int32
    (an index into a table of what a function of the uniform takes at each of its 2^b values)."""
    if sum(bits) > 32:
        raise ValueError(f"{bits}: more than the hash's 32 bits")
    h, shift, out = _hash_bits(*keys, state=state), 32, []
    for b in bits:
        shift -= b
        out.append((h >> shift) & ((1 << b) - 1))
    return tuple(out)


def permutations(seeds: torch.Tensor, stream: int, epoch: int, n: int) -> torch.Tensor:
    """One permutation of range(n) per seed: [len(seeds), n], int64, on seeds' device.

    Sorting 62-bit hash keys; a stable sort keeps it deterministic in the (rare) ties.
    """
    idx = torch.arange(n, dtype=torch.int64, device=seeds.device).unsqueeze(0)
    s = seeds.unsqueeze(1)
    key = hash32(s, stream, epoch, idx) * 2**30 + (hash32(s, stream, epoch, idx, 1) >> 2)
    return torch.argsort(key, dim=1, stable=True)
