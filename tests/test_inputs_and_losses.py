"""Gaussian inputs, per-feature standardization, and the squared-error loss."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from bnrepro.config import ConfigError, Loss, Output, validate
from bnrepro.data import load
from bnrepro.run import losses
from bnrepro.run.loop import train_runs

from conftest import tiny

CPU = torch.device("cpu")


def gaussian(**overrides):
    return tiny(data={"name": "gaussian", "dim": 64, "synthetic_train": 4000, "synthetic_test": 500}, **overrides)


def test_gaussian_inputs_are_standard_normal_fixed_by_their_seed():
    data = load(gaussian().data, CPU)
    assert data.input_shape == (64, 1, 1) and data.train_x.shape[0] == 4000 and len(data.test_y) == 500
    x = data.train_x.flatten(1)
    assert abs(float(x.mean())) < 0.01 and abs(float(x.std()) - 1) < 0.01
    again = load(gaussian().data, CPU)
    assert torch.equal(data.train_x, again.train_x) and torch.equal(data.test_y, again.test_y)
    other = load(tiny(data={"name": "gaussian", "dim": 64, "data_seed": 1}).data, CPU)
    assert not torch.equal(data.train_x[:10], other.train_x[:10])


def test_gaussian_labels_are_a_linear_map_or_random():
    linear = load(gaussian().data, CPU)
    counts = torch.bincount(linear.train_y, minlength=10)
    assert (counts > 200).all()  # every class occurs
    cfg = tiny(data={"name": "gaussian", "dim": 64, "labels": "random"})
    assert load(cfg.data, CPU).train_y.unique().numel() == 10


def test_a_linear_gaussian_problem_is_learnable(tmp_path):
    cfg = gaussian(
        model__activation="relu",
        optim__lr=0.1,
        train__steps=300,
        train__batch_size=50,
        train__eval_every=300,
        train__log_every=100,
    )
    (summary,) = train_runs([cfg], [tmp_path / "run"], log=lambda m: None)
    assert summary["test_acc_final"] > 0.5  # chance is 0.1


def test_gaussian_inputs_need_an_mlp():
    with pytest.raises(ConfigError, match="data.name"):
        validate(tiny(data={"name": "gaussian"}, model__arch="convnet"))


def test_standardize_feature_makes_every_varying_pixel_zero_mean_unit_variance():
    cfg = tiny(
        data={"name": "synthetic", "synthetic_train": 512, "synthetic_test": 64, "normalize": "standardize_feature"}
    )
    x = load(cfg.data, CPU).train_x.flatten(1)
    torch.testing.assert_close(x.mean(0), torch.zeros(x.shape[1]), atol=1e-4, rtol=0)
    torch.testing.assert_close(x.std(0), torch.ones(x.shape[1]), atol=1e-4, rtol=0)
    channel = load(tiny(data={"name": "synthetic", "synthetic_train": 512, "normalize": "standardize"}).data, CPU)
    per_pixel_std = channel.train_x.flatten(1).std(0)
    assert float(per_pixel_std.max() - per_pixel_std.min()) > 0.1  # per channel leaves pixels unequal


def test_squared_error_is_half_the_sum_over_classes_against_one_hot_targets():
    logits = torch.randn(2, 5, 10)
    y = torch.randint(0, 10, (2, 5))
    got = losses.per_example(logits, y, Loss.mse, Output.sigmoid)
    target = F.one_hot(y, 10).float()
    torch.testing.assert_close(got, 0.5 * ((torch.sigmoid(logits) - target) ** 2).sum(-1))
    linear = losses.per_example(logits, y, Loss.mse, Output.linear)
    torch.testing.assert_close(linear, 0.5 * ((logits - target) ** 2).sum(-1))
    ce = losses.per_example(logits, y, Loss.cross_entropy, Output.linear)
    torch.testing.assert_close(ce, F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none").view(2, 5))


def test_a_sigmoid_network_trains_with_squared_error_and_logs_it(tmp_path):
    cfg = tiny(
        train__loss="mse",
        model__output="sigmoid",
        model__init="xavier_uniform",
        model__init_gain=4.0,
        optim__lr=1.0,
        train__steps=60,
    )
    (summary,) = train_runs([cfg], [tmp_path / "run"], log=lambda m: None)
    assert summary["status"] == "completed"
    assert 0 < summary["final"]["train/loss"] < summary["first"]["train/loss"] <= 0.5 * 10
    assert 0 < summary["test_loss_final"] < 5


def test_xavier_uniform_init_is_uniform_within_its_bound():
    from bnrepro.stacked.model import StackedNet

    cfg = tiny(model__init="xavier_uniform", model__init_gain=4.0)
    model = StackedNet([cfg.model], [0], (1, 28, 28), 10)
    w = model.layout.per_run(model.params.detach())["layer_01.weight"]
    bound = 4.0 * (6.0 / (784 + 16)) ** 0.5
    assert float(w.abs().max()) <= bound and float(w.abs().max()) > 0.95 * bound
    assert abs(float(w.std()) - bound / 3**0.5) < 0.02 * bound


@pytest.mark.parametrize("kind", ["pca_whiten", "zca_whiten"])
def test_whitening_decorrelates_the_training_inputs_with_the_training_sets_matrix(kind):
    """With eps far below every eigenvalue the training inputs' covariance is the identity; ZCA
    keeps the pixels' axes (the whitened inputs correlate most with their own raw pixel), PCA
    does not; the test set goes through the same matrix (its covariance is near, not at, I)."""
    data = dict(name="gaussian", dim=20, synthetic_train=4000, synthetic_test=2000, feature_scales=3.0)  # 10^±1.5
    raw = load(tiny(data=data).data, CPU)
    white = load(tiny(data={**data, "normalize": kind, "whiten_eps": 1e-9}).data, CPU)
    assert white.train_x.shape == raw.train_x.shape
    x = white.train_x.flatten(1)
    torch.testing.assert_close(x.mean(0), torch.zeros(20), atol=1e-4, rtol=0)
    torch.testing.assert_close(torch.cov(x.T), torch.eye(20), atol=1e-3, rtol=0)
    assert float((torch.cov(white.test_x.flatten(1).T) - torch.eye(20)).abs().max()) < 0.2
    own = torch.corrcoef(torch.cat([raw.train_x.flatten(1), x], 1).T)[:20, 20:].diagonal()
    assert bool((own > 0.9).all()) == (kind == "zca_whiten")


def test_centering_subtracts_the_training_means_from_both_sets_and_whitening_needs_a_positive_eps():
    data = dict(name="synthetic", synthetic_train=512, synthetic_test=64)
    raw, centered = (load(tiny(data={**data, **more}).data, CPU) for more in ({}, {"normalize": "center"}))
    mean = raw.train_x.mean(0)
    torch.testing.assert_close(centered.train_x, raw.train_x - mean)
    torch.testing.assert_close(centered.test_x, raw.test_x - mean)
    with pytest.raises(ConfigError, match="data.whiten_eps"):
        validate(tiny(data={**data, "normalize": "zca_whiten", "whiten_eps": 0.0}))
