"""Probe arithmetic and the counter-based random numbers."""

from __future__ import annotations

import pytest
import torch

from bnrepro.run import probes
from bnrepro.stacked import rng
from bnrepro.config import Activation


@pytest.mark.parametrize("n", [1, 2, 61, 6000])  # small: by sorting; large, on the CPU: by selection
def test_quantiles_match_torch_quantile(n):
    values = torch.randn(4, n)
    expected = torch.quantile(values, torch.tensor(probes.QUANTILES), dim=1).T
    torch.testing.assert_close(probes.quantiles(values), expected)


def test_activation_stats_separate_one_unit_from_all_units():
    z = torch.zeros(2, 100, 3)  # [K, B, units]
    z[:, :, 0] = torch.linspace(-1, 1, 100)  # the tracked unit
    z[:, :, 1] = 10.0  # a saturated unit
    stats = {name: float(v[0]) for name, v in probes.activation_stats(z, 0, Activation.sigmoid).items()}
    assert abs(stats["unit_p50"]) < 1e-6 and abs(stats["unit_p15"] + 0.7) < 1e-6
    assert stats["p85"] == 10.0
    assert abs(stats["saturated"] - 1 / 3) < 1e-6  # only the unit at z=10 has sigmoid' < 10% of its max


def test_saturation_and_linear_range_are_relative_to_each_nonlinearity():
    z = torch.tensor([[[-5.0], [-1.0], [0.5], [3.0]]])
    stats = {
        a: {name: float(v[0]) for name, v in probes.activation_stats(z, 0, a).items()}
        for a in Activation
        if a != Activation.linear
    }  # nothing saturates a linear unit: not logged
    assert {a: s["saturated"] for a, s in stats.items()} == {
        Activation.sigmoid: 0.25,
        Activation.tanh: 0.5,
        Activation.relu: 0.5,
    }
    # near-linear: sigmoid |z| < 0.96 (only 0.5), tanh |z| < 0.48 (none), relu z > 0
    assert {a: s["linear"] for a, s in stats.items()} == {
        Activation.sigmoid: 0.25,
        Activation.tanh: 0.0,
        Activation.relu: 0.5,
    }


def test_permutations_are_permutations_deterministic_and_per_seed():
    seeds = torch.tensor([0, 1, 2**32 - 1])
    perm = rng.permutations(seeds, rng.STREAM_DATA_ORDER, 0, 1000)
    assert (perm.sort(dim=1).values == torch.arange(1000)).all()
    assert torch.equal(perm, rng.permutations(seeds, rng.STREAM_DATA_ORDER, 0, 1000))
    assert not torch.equal(perm[0], perm[1])
    assert not torch.equal(perm, rng.permutations(seeds, rng.STREAM_DATA_ORDER, 1, 1000))
    # a run's order does not depend on which other seeds it is drawn with
    assert torch.equal(perm[1], rng.permutations(seeds[1:2], rng.STREAM_DATA_ORDER, 0, 1000)[0])


def test_uniforms_are_uniform_and_python_ints_hash_like_tensors():
    u = rng.uniform(7, rng.STREAM_DROPOUT, torch.arange(200_000))
    assert 0 <= float(u.min()) and float(u.max()) < 1
    assert abs(float(u.mean()) - 0.5) < 0.005 and abs(float(u.std()) - (1 / 12) ** 0.5) < 0.005
    assert int(rng.hash32(torch.tensor(5), 6)) == int(rng.hash32(5, torch.tensor(6)))


def test_a_hash_continues_from_a_prefix_and_splits_into_several_uniforms():
    keys = torch.arange(1000)
    assert torch.equal(rng.hash32(7, 3, keys), rng.hash32(keys, state=rng.hash32(7, 3)))
    h = rng.hash32(7, 3, keys)
    a, b, c = rng.uniform_split(7, 3, keys, bits=(10, 11, 11))
    assert torch.equal(a, (h >> 22).float() / 1024) and torch.equal(c, (h & 2047).float() / 2048)
    assert torch.equal(b, ((h >> 11) & 2047).float() / 2048)
    for u in (a, b, c):
        assert 0 <= u.min() and u.max() < 1 and 0.45 < u.mean() < 0.55
    with pytest.raises(ValueError, match="32 bits"):
        rng.uniform_split(keys, bits=(16, 17))


def _exact_hash(*keys: int) -> int:
    """The hash in plain Python integers, modulo 2^32 by hand: what the int32 tensors must give."""

    def mix(x):
        x ^= x >> 16
        x = (x * 0x7FEB352D) % 2**32
        x ^= x >> 15
        x = (x * 0x846CA68B) % 2**32
        return x ^ (x >> 16)

    h = 0
    for k in keys:
        h = mix((h * 0x9E3779B1 + k % 2**32) % 2**32)
    return h


def test_int32_tensor_arithmetic_wraps_to_the_exact_hash_of_any_key():
    # the tensor path relies on int32 multiply and add wrapping modulo 2^32: checked here on
    # this machine, for keys across the whole 32-bit range (the sizes leave a non-vector tail)
    gen = torch.Generator().manual_seed(0)
    keys = torch.cat(
        [
            torch.tensor([0, 1, 2**31 - 1, 2**31, 2**32 - 1, 2**40 + 3]),
            torch.randint(0, 2**32, (1001,), generator=gen, dtype=torch.int64),
        ]
    )
    seeds = torch.tensor([[0], [2**32 - 1]])
    hashed = rng.hash32(seeds, rng.STREAM_NOISE, keys, torch.tensor(9))
    for row, seed in enumerate((0, 2**32 - 1)):
        expected = [_exact_hash(seed, rng.STREAM_NOISE, k, 9) for k in keys.tolist()]
        assert hashed[row].tolist() == expected
    assert rng.hash32(7, 3) == _exact_hash(7, 3)  # Python ints alone stay Python ints
