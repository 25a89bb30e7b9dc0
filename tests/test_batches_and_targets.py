"""Data options of issue 19: non-i.i.d. (class-block) mini-batches, a regression target for
the deep linear network, and raw features of very different scales."""

from __future__ import annotations

import pytest
import torch

from bnrepro.config import ConfigError, validate
from bnrepro.data import load
from bnrepro.run import losses
from bnrepro.run.loop import train_runs
from bnrepro.run.sampler import Sampler

from conftest import tiny


def _epoch(sampler: Sampler, epoch: int) -> torch.Tensor:
    sampler.start_epoch(epoch)
    return torch.stack([sampler.indices(torch.tensor(t)) for t in range(sampler.steps_per_epoch)], 1)  # [K, steps, B]


def test_class_blocks_make_every_mini_batch_from_few_classes_and_still_cover_the_epoch():
    labels = torch.arange(600) % 10  # 60 examples per class
    iid = Sampler(torch.tensor([1, 2]), 600, 20, labels)
    blocked = Sampler(torch.tensor([1, 2]), 600, 20, labels, class_block=10)
    one_class = Sampler(torch.tensor([1, 2]), 600, 20, labels, class_block=20)
    classes_per_batch = {
        name: [len(labels[b].unique()) for b in _epoch(s, 0)[0]]
        for name, s in (("iid", iid), ("blocked", blocked), ("one", one_class))
    }
    assert min(classes_per_batch["iid"]) >= 5
    assert max(classes_per_batch["blocked"]) <= 2 and max(classes_per_batch["one"]) == 1
    for sampler in (blocked, one_class):  # every example once per epoch, a new order each epoch
        first, second = _epoch(sampler, 0), _epoch(sampler, 1)
        assert torch.equal(first[0].flatten().sort().values, torch.arange(600))
        assert not torch.equal(first, second) and not torch.equal(first[0], first[1])  # per seed


def test_class_blocks_must_divide_the_batch():
    with pytest.raises(ConfigError, match="train.class_block"):
        validate(tiny(train__class_block=5, train__batch_size=16))


def test_a_run_on_class_blocks_trains_and_batches_like_alone(tmp_path):
    cfgs = [tiny(model__bn="pre", train__class_block=16, seed=s) for s in (1, 2)]
    together = train_runs(cfgs, [tmp_path / f"t{s}" for s in (1, 2)], log=lambda m: None)
    (alone,) = train_runs(cfgs[1:], [tmp_path / "alone"], log=lambda m: None)
    assert together[1]["test_acc_final"] == pytest.approx(alone["test_acc_final"], abs=1e-6)
    assert together[1]["final"]["train/acc"] == pytest.approx(alone["final"]["train/acc"], abs=1e-6)


def _regression(**more):
    return tiny(
        **{
            "data__name": "gaussian",
            "data__labels": "regression",
            "data__dim": 10,
            "data__synthetic_train": 200,
            "data__synthetic_test": 100,
            "train__loss": "mse",
            "model__activation": "linear",
            **more,
        }
    )


def test_regression_targets_are_a_fixed_linear_map_of_the_inputs_with_unit_variance():
    data = load(_regression(data__synthetic_train=4000).data, torch.device("cpu"))
    x, y = data.train_x.flatten(1), data.train_y
    assert y.shape == (4000, 10) and y.dtype == torch.float32
    solution = torch.linalg.lstsq(x, y).solution
    torch.testing.assert_close(x @ solution, y, atol=1e-4, rtol=1e-4)  # exactly linear
    assert 0.8 < y.var(0).mean() < 1.2
    assert torch.equal(data.train_labels, y.argmax(1))


def test_squared_error_against_regression_targets_and_accuracy_as_the_largest_targets_index():
    logits = torch.tensor([[[1.0, 2.0], [0.0, -1.0]]])  # [K=1, B=2, 2]
    targets = torch.tensor([[[1.5, 2.0], [1.0, 0.0]]])
    cfg = _regression()
    torch.testing.assert_close(
        losses.per_example(logits, targets, cfg.train.loss, cfg.model.output), torch.tensor([[0.125, 1.0]])
    )
    torch.testing.assert_close(losses.correct(logits, targets), torch.tensor([[1.0, 1.0]]))


def test_a_regression_run_trains_its_loss_down(tmp_path):
    cfg = _regression(model__depth=4, model__width=10, train__batch_size=200, optim__lr=0.05, train__steps=60)
    (summary,) = train_runs([cfg], [tmp_path / "run"], log=lambda m: None)
    assert summary["status"] == "completed"
    assert summary["final"]["train/loss"] < 0.5 * summary["first"]["train/loss"]


def test_regression_targets_need_the_squared_error():
    with pytest.raises(ConfigError, match="train.loss"):
        validate(_regression(train__loss="cross_entropy"))


def test_feature_scales_multiply_each_feature_by_a_fixed_factor_that_standardizing_undoes():
    plain = load(tiny().data, torch.device("cpu"))
    scaled = load(tiny(data__feature_scales=4.0).data, torch.device("cpu"))
    ratio = scaled.train_x / plain.train_x.where(plain.train_x != 0, torch.nan)
    factors = ratio.nanmean(0)  # one factor per feature (pixel)
    torch.testing.assert_close(ratio[0].nan_to_num(0), factors.where(ratio[0].isfinite(), 0).nan_to_num(0))
    assert 10**-2 <= factors.nan_to_num(1).min() and factors.nan_to_num(1).max() <= 10**2
    assert factors.nan_to_num(1).max() / factors.nan_to_num(1).min() > 100
    a = load(tiny(data__normalize="standardize_feature").data, torch.device("cpu"))
    b = load(tiny(data__feature_scales=4.0, data__normalize="standardize_feature").data, torch.device("cpu"))
    torch.testing.assert_close(a.train_x, b.train_x, atol=1e-4, rtol=1e-4)
