"""model.input_bn: a BN layer on the raw inputs (seed 004: BN standardizing input variables),
one channel per (run, input feature), K runs stacked like the hidden layers."""

from __future__ import annotations

import pytest
import torch

from bnrepro.config import ConfigError, validate
from bnrepro.stacked.model import StackedNet

from conftest import tiny

SHAPE = (1, 4, 4)  # 16 input features


def _net(input_bn: bool, seeds=(1, 2)) -> StackedNet:
    cfg = tiny(model__input_bn=input_bn, model__activation="tanh")
    return StackedNet([cfg.model] * len(seeds), list(seeds), SHAPE, 10)


def _formula(x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """BN over the batch, per feature: (x - mean) / sqrt(biased var + eps) (gamma 1, beta 0)."""
    flat = x.flatten(-3)
    mean, var = flat.mean(-2, keepdim=True), flat.var(-2, unbiased=False, keepdim=True)
    return ((flat - mean) / torch.sqrt(var + eps)).view_as(x)


@pytest.mark.slow  # ~0.4 s: the fast set is at its budget
def test_input_bn_computes_the_formula_per_run_and_leaves_the_other_parameters_as_they_were():
    gen = torch.Generator().manual_seed(0)
    scales = 10 ** (torch.rand(SHAPE, generator=gen) * 4 - 2)  # features of very different scales
    x = (torch.randn(2, 32, *SHAPE, generator=gen) + 3) * scales  # [K, B, ...]: each run its own batch
    with_bn, without = _net(True), _net(False)
    assert torch.equal(with_bn.params[: without.params.numel()], without.params)  # same init, affine last
    assert torch.allclose(with_bn(x), without(_formula(x)), atol=1e-5)
    moving = with_bn.input_norm.running_mean.view(2, -1)  # one step of momentum 0.1 from 0, per run
    assert torch.allclose(moving, 0.1 * x.flatten(-3).mean(1), rtol=1e-5)


@pytest.mark.slow  # ~0.4 s: the fast set is at its budget
def test_input_bn_undoes_per_feature_scales_that_bn_after_the_first_layer_cannot():
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, 32, *SHAPE, generator=gen)
    scales = 10 ** (torch.rand(SHAPE, generator=gen) * 3)  # 1 to 1,000: eps (1e-5) is negligible beside var
    net = _net(True)
    assert torch.allclose(net(x * scales), net(x), atol=1e-4)  # each feature standardized first
    plain = _net(False)
    assert not torch.allclose(plain(x * scales), plain(x), atol=1e-2)


@pytest.mark.slow  # ~0.4 s: the fast set is at its budget
def test_input_bn_evaluates_a_shared_input_with_each_runs_moving_statistics():
    net = _net(True)
    net(torch.randn(2, 32, *SHAPE) * 5 + 2)  # a training step moves each run's statistics
    test = torch.randn(8, *SHAPE)
    shared = net(test, "moving")
    per_run = net(test.expand(2, *test.shape), "moving")
    assert torch.allclose(shared, per_run, atol=1e-6)


def test_input_bn_is_refused_for_a_conv_net():
    cfg = tiny(model__input_bn=True, model__arch="convnet", model__depth=2)
    with pytest.raises(ConfigError, match="model.input_bn"):
        validate(cfg)


@pytest.mark.slow  # ~0.3 s each
@pytest.mark.parametrize("shape", ["heavy_tailed", "bimodal"])
def test_non_gaussian_features_keep_the_order_of_values_and_lose_the_gaussian_shape(shape):
    from bnrepro.data import load

    as_drawn = load(tiny(data__name="gaussian", data__dim=20, data__synthetic_train=4000).data, torch.device("cpu"))
    cfg = tiny(data__name="gaussian", data__dim=20, data__synthetic_train=4000, data__feature_shape=shape)
    shaped = load(cfg.data, torch.device("cpu"))
    before, after = as_drawn.train_x.flatten(1), shaped.train_x.flatten(1)
    assert torch.equal(after[:, 0::2], before[:, 0::2]) and torch.equal(shaped.train_y, as_drawn.train_y)
    order = before[:, 1::2].argsort(0)  # the map is increasing: in the order of the drawn values, no value falls
    assert (after[:, 1::2].gather(0, order).diff(dim=0) >= 0).all()
    z = (after[:, 1::2] - after[:, 1::2].mean(0)) / after[:, 1::2].std(0)
    kurtosis = (z**4).mean(0)  # 3 for a Gaussian
    if shape == "heavy_tailed":
        assert (kurtosis > 20).all()
    else:
        assert (kurtosis < 1.5).all() and ((after[:, 1::2].abs() < 0.5).float().mean() < 0.01)


def test_input_bn_group_normalizes_each_group_of_the_batch_apart():
    cfg = tiny(model__input_bn=True, model__input_bn_group=4, model__activation="tanh")
    grouped, whole = (
        StackedNet([c.model], [1], SHAPE, 10) for c in (cfg, tiny(model__input_bn=False, model__activation="tanh"))
    )
    x = torch.randn(1, 16, *SHAPE) * 7 + 1
    by_group = torch.cat([_formula(part) for part in x.split(4, dim=1)], dim=1)
    assert torch.allclose(grouped(x), whole(by_group), atol=1e-5)
    with pytest.raises(ConfigError, match="model.input_bn_group"):
        validate(tiny(model__input_bn=True, model__input_bn_group=5))
