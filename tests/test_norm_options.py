"""Norm-layer options of issue 19: BN statistics over groups of examples (Ioffe 2017's
micro-batches), noisy BN's noise per example and position, the noise without BN, BN without
beta, and the linear activation."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from bnrepro.config import ConfigError, validate
from bnrepro.run.loop import train_runs
from bnrepro.stacked.model import StackedNet
from bnrepro.stacked.norms import (
    BatchRenorm,
    NoiseOnly,
    NoisyBatchNorm,
    PaperBatchNorm,
    TorchBatchNorm,
    noisy_bn_noise,
    renorm_schedule,
)
from bnrepro.config import NoiseOnlyConfig, NoisyConfig

from conftest import tiny

SHAPES = [(12, 5), (12, 5, 3, 2)]  # an MLP layer [N, C] and a conv layer [N, C, H, W]


def _per_group_bn(x, group, gamma, beta):
    return torch.cat([F.batch_norm(chunk, None, None, gamma, beta, training=True) for chunk in x.split(group)])


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("layer", ["torch", "paper"])
def test_bn_over_groups_normalizes_each_group_alone_and_averages_the_groups_into_the_moving_statistics(shape, layer):
    torch.manual_seed(0)
    C = shape[1]
    norm = {"torch": TorchBatchNorm, "paper": PaperBatchNorm}[layer](C, 1e-5, 0.1, group=4)
    x = (torch.randn(shape) * 3 + torch.arange(shape[0]).view(-1, *[1] * (len(shape) - 1))).requires_grad_()
    gamma, beta = torch.rand(C) + 0.5, torch.randn(C)
    y = norm(x, gamma, beta, "train")
    torch.testing.assert_close(y, _per_group_bn(x, 4, gamma, beta), rtol=1e-5, atol=1e-5)
    dims = (0, *range(2, len(shape)))
    groups = x.detach().split(4)
    mean = torch.stack([g.mean(dims) for g in groups]).mean(0)
    var = torch.stack([g.var(dims, unbiased=True) for g in groups]).mean(0)  # each group's m/(m-1) variance
    torch.testing.assert_close(norm.running_mean, 0.1 * mean)
    torch.testing.assert_close(norm.running_var, 0.9 + 0.1 * var)
    y.sum().backward()  # every group's outputs sum to a constant: no gradient reaches x
    torch.testing.assert_close(x.grad, torch.zeros_like(x), atol=1e-4, rtol=0)


@pytest.mark.parametrize("shape", SHAPES)
def test_batch_renorm_over_groups_corrects_each_group_with_its_own_r_and_d(shape):
    torch.manual_seed(1)
    C = shape[1]
    schedule = renorm_schedule(3.0, 5.0, 0, 1, 1)  # relaxed from the first step
    grouped = BatchRenorm(C, 1e-5, 0.5, schedule, group=6)
    grouped.running_mean.copy_(torch.randn(C))
    grouped.running_std.copy_(torch.rand(C) + 0.5)
    alone = [BatchRenorm(C, 1e-5, 0.5, schedule) for _ in range(2)]
    for layer in alone:
        layer.load_state_dict(grouped.state_dict())
    x, gamma, beta, step = torch.randn(shape) * 2, torch.rand(C) + 0.5, torch.randn(C), torch.tensor(10)
    y = grouped(x, gamma, beta, "train", step)
    expected = torch.cat([layer(chunk, gamma, beta, "train", step) for layer, chunk in zip(alone, x.split(6))])
    torch.testing.assert_close(y, expected)
    torch.testing.assert_close(grouped.running_mean, (alone[0].running_mean + alone[1].running_mean) / 2)
    torch.testing.assert_close(grouped.running_std, (alone[0].running_std + alone[1].running_std) / 2)


@pytest.mark.parametrize("group, batch", [(3, 16), (1, 16), (32, 16)])
def test_a_group_that_does_not_divide_the_batch_is_refused_naming_the_key(group, batch):
    with pytest.raises(ConfigError, match="model.norm.group"):
        validate(tiny(model__bn="pre", model__norm__group=group, train__batch_size=batch))


def test_a_run_with_bn_over_groups_trains_and_its_runs_batch_like_alone(tmp_path):
    cfgs = [tiny(model__bn="pre", model__norm__group=4, model__norm__momentum=0.01, seed=s) for s in (1, 2)]
    together = train_runs(cfgs, [tmp_path / f"t{s}" for s in (1, 2)], log=lambda m: None)
    (alone,) = train_runs(cfgs[1:], [tmp_path / "alone"], log=lambda m: None)
    assert together[1]["status"] == "completed"
    assert together[1]["test_acc_final"] == pytest.approx(alone["test_acc_final"], abs=1e-6)


def _noise_cfg(kind):
    return {"noisy": NoisyConfig, "noise_only": NoiseOnlyConfig}[kind]()


def test_noisy_bn_draws_its_noise_per_example_and_position_in_conv_layers():
    """Santurkar et al.: height and width count as part of the batch (m, s per (n, h, w))."""
    norm = NoisyBatchNorm(3, _noise_cfg("noisy"))
    norm.attach(torch.tensor([7]), 0)
    x, step = torch.zeros(2, 3, 4, 5), torch.tensor(4)  # BN of a constant is 0: y = m
    y = norm(x, None, None, "train", step)
    _, _, m, _ = noisy_bn_noise(
        norm.noise.channel_seed, norm.noise.channel_index, step, 0, 2 * 4 * 5, 0.5, 1.25, 0.1, 0.1
    )
    torch.testing.assert_close(y, m.view(2, 4, 5, 3).permute(0, 3, 1, 2))
    assert y[0, 0].unique().numel() == 20  # a draw per position, not one per example


def test_the_noise_alone_is_noisy_bns_noise_without_normalization_and_nothing_at_evaluation():
    noisy, alone = NoisyBatchNorm(3, _noise_cfg("noisy")), NoiseOnly(3, _noise_cfg("noise_only"))
    for layer in (noisy, alone):
        layer.attach(torch.tensor([7]), 2)
    x, step = torch.randn(8, 3, 2, 2) * 4 + 3, torch.tensor(11)
    bn = F.batch_norm(x, None, None, training=True)
    y_noisy = noisy(x, None, None, "train", step)
    s = (y_noisy - noisy(torch.zeros_like(x), None, None, "train", step)) / bn  # y = s * bn + m
    m = noisy(torch.zeros_like(x), None, None, "train", step)
    torch.testing.assert_close(alone(x, None, None, "train", step), s * x + m, rtol=1e-4, atol=1e-4)
    assert torch.equal(alone(x, None, None, "moving"), x) and torch.equal(alone(x, None, None, "population"), x)


def test_a_network_with_the_noise_alone_keeps_its_bias_has_no_gamma_and_trains_with_batch_1(tmp_path):
    cfg = tiny(model__bn="pre", model__norm__kind="noise_only", train__batch_size=1, train__steps=10)
    validate(cfg)  # no normalization: a batch of one is fine
    slots = StackedNet([cfg.model], [0], (1, 28, 28), 10).layout.slots
    assert "layer_01.bias" in slots and "layer_01.gamma" not in slots and "layer_01.beta" not in slots
    cfg = tiny(model__bn="pre", model__norm__kind="noise_only", eval__compare_stats=True)
    (summary,) = train_runs([cfg], [tmp_path / "run"], log=lambda m: None)
    assert summary["status"] == "completed"
    assert summary["final"]["test_stats/moving_acc"] == summary["final"]["test_stats/population_acc"]


def test_bn_without_beta_learns_gamma_only():
    slots = StackedNet([tiny(model__bn="pre", model__bn_affine="no_beta").model], [0], (1, 28, 28), 10).layout.slots
    assert "layer_01.gamma" in slots and "layer_01.beta" not in slots and "layer_01.bias" not in slots


def test_the_linear_activation_makes_a_deep_linear_network_and_skips_saturation():
    cfg = tiny(model__activation="linear", model__depth=4, model__width=6, model__init="xavier")
    model = StackedNet([cfg.model], [0], (3, 1, 1), 2)
    x = torch.randn(1, 5, 3, 1, 1)
    views = model.layout.per_run(model.params.detach())
    product = x.flatten(2)[0]
    for i in range(1, 6):
        product = product @ views[f"layer_{i:02d}.weight"][0] + views[f"layer_{i:02d}.bias"][0]
    torch.testing.assert_close(model(x)[0], product)
    from bnrepro.run import probes
    from bnrepro.config import Activation

    stats = probes.activation_stats(torch.randn(1, 5, 6), 0, Activation.linear)
    assert "saturated" not in stats and "linear" not in stats
    assert "saturated" not in probes.output_stats(torch.randn(1, 5, 6), Activation.linear)


@pytest.mark.parametrize("layer", ["torch", "paper"])
@pytest.mark.parametrize("shape", SHAPES)
def test_gamma_sqrt_var_and_beta_mu_make_bn_the_identity(layer, shape):
    """Paper section 3: with gamma = sqrt(Var[x] + eps) and beta = E[x], BN recovers its input."""
    torch.manual_seed(2)
    C = shape[1]
    norm = {"torch": TorchBatchNorm, "paper": PaperBatchNorm}[layer](C, 1e-5, 0.1)
    x = torch.randn(shape) * torch.linspace(0.1, 10, C).view(1, C, *[1] * (len(shape) - 2)) + 3
    dims = (0, *range(2, len(shape)))
    gamma = torch.sqrt(x.var(dims, unbiased=False) + 1e-5)
    beta = x.mean(dims)
    torch.testing.assert_close(norm(x, gamma, beta, "train"), x, rtol=1e-5, atol=1e-5)
