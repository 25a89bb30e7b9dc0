"""Decorrelated BN (Huang et al. 2018; bnrepro/stacked/decorrelated.py): ZCA whitening of groups
of units over the batch. Its output's covariance is the identity per group; group_size 1 is
PyTorch's BN; its gradient is right (gradcheck) and finite where the batch is smaller than a
group; evaluation uses the running mean and whitening matrix."""

from __future__ import annotations

import pytest
import torch

from bnrepro.stacked.decorrelated import DecorrelatedBatchNorm, whiten
from bnrepro.stacked.norms import TorchBatchNorm

K, UNITS = 2, 12  # two runs stacked side by side: channels [N, K * UNITS]


def _inputs(n: int, channels: int = K * UNITS, dtype=torch.float32, seed: int = 0):
    """Correlated values (a random mixing of the channels), shifted and scaled: whitening has work to do."""
    gen = torch.Generator().manual_seed(seed)
    mixing = torch.randn(channels, channels, generator=gen, dtype=dtype)
    x = torch.randn(n, channels, generator=gen, dtype=dtype) @ mixing + 3.0
    gamma = torch.rand(channels, generator=gen, dtype=dtype) + 0.5
    return x, gamma, torch.randn(channels, generator=gen, dtype=dtype)


def _layer(group_size: int, eps: float = 1e-5, channels: int = K * UNITS, dtype=torch.float32):
    layer = DecorrelatedBatchNorm(channels, group_size, eps, 0.1).to(dtype)
    layer.attach(torch.arange(K), 0)
    return layer


@pytest.mark.parametrize("group_size", [4, 12])
def test_the_whitened_output_has_identity_covariance_in_each_group(group_size):
    x, _, _ = _inputs(64, dtype=torch.float64)  # more examples than units in a group: full rank
    y = _layer(group_size, eps=1e-10, dtype=torch.float64)(x, None, None, "train")
    for block in y.split(group_size, dim=1):
        centered = block - block.mean(0)
        torch.testing.assert_close(centered.T @ centered / len(block), torch.eye(group_size, dtype=torch.float64))
    # units of different groups are left correlated: only a group is whitened jointly
    if group_size < UNITS:
        assert (y[:, 0] - y[:, 0].mean()) @ (y[:, group_size] - y[:, group_size].mean()) != pytest.approx(0, abs=1e-3)


def test_group_size_1_is_torchs_batch_norm_output_gradients_and_running_statistics():
    x, gamma, beta = _inputs(60)
    upstream = torch.randn_like(x)
    results = []
    for layer in (_layer(1), TorchBatchNorm(K * UNITS, 1e-5, 0.1)):
        leaves = [t.clone().requires_grad_() for t in (x, gamma, beta)]
        y = layer(*leaves, "train")
        (y * upstream).sum().backward()
        results.append([y.detach(), *(t.grad for t in leaves), layer.running_mean, layer.running_var])
    for ours, torchs in zip(*results):
        torch.testing.assert_close(ours, torchs, rtol=1e-5, atol=1e-5)


def test_the_gradient_is_right_and_finite_for_a_batch_smaller_than_a_group():
    # 3 examples over groups of 4 units: rank 2, two eigenvalues equal to eps (coinciding: autograd
    # through eigh would divide by their zero difference); gradcheck'd in float64
    x, gamma, beta = _inputs(3, channels=K * 4, dtype=torch.float64)
    layer = _layer(4, eps=0.1, channels=K * 4, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda x: layer(x, gamma, beta, "train"), (x.requires_grad_(),))
    # float32, 5 examples over groups of 12 units, BN's eps: finite output and gradient
    few = _inputs(5)[0].requires_grad_()
    y = _layer(UNITS, eps=1e-5)(few, None, None, "train")
    y.square().sum().backward()
    assert torch.isfinite(y).all() and torch.isfinite(few.grad).all()
    # the five whitened examples span 4 directions of unit variance each; the rest have none
    eigenvalues = torch.linalg.eigvalsh(torch.cov(y[:, :UNITS].T.double(), correction=0))
    torch.testing.assert_close(eigenvalues[-4:], torch.ones(4, dtype=torch.float64), rtol=1e-3, atol=1e-3)
    assert eigenvalues[:-4].abs().max() < 1e-3


def test_evaluation_uses_the_running_mean_and_whitening_matrix_not_the_test_batch():
    layer = _layer(4)
    for seed in range(3):
        layer(_inputs(60, seed=seed)[0], None, None, "train")
    x, gamma, beta = _inputs(30, seed=9)
    moving = layer(x, gamma, beta, "moving")
    W, mean = layer.running_whitening, layer.running_mean
    expected = torch.cat([(x[:, i * 4 : i * 4 + 4] - mean[i * 4 : i * 4 + 4]) @ W[i].T for i in range(len(W))], 1)
    torch.testing.assert_close(moving, expected * gamma + beta)
    assert not torch.allclose(moving, layer(x, gamma, beta, ("batch", None)), atol=1e-2)
    # ("batch", n): each group of n test examples whitened on its own
    torch.testing.assert_close(
        layer(x, gamma, beta, ("batch", 10))[:10], whiten(x[:10], 4, layer.eps)[0] * gamma + beta
    )


def test_a_group_size_that_does_not_divide_a_runs_units_is_refused():
    with pytest.raises(ValueError, match="group_size=5"):
        _layer(5)
    with pytest.raises(ValueError, match="group_size=8 does not divide a layer's 12 units"):
        _layer(8)  # divides the 24 channels of both runs, but a group would mix the two runs
