"""The training loop: statuses (completed, diverged, interrupted), determinism, probes logged."""

from __future__ import annotations

import json
import time

import pandas as pd
import pytest
import torch

from bnrepro.run import loop
from bnrepro.run.loop import Interrupted, train_runs

from conftest import tiny

quiet = dict(log=lambda message: None)


def test_every_layer_gets_a_gradient_norm_and_every_hidden_layer_activation_stats(tmp_path):
    cfg = tiny(model__depth=4, model__bn="pre")
    (summary,) = train_runs([cfg], [tmp_path / "run"], **quiet)
    table = pd.read_csv(tmp_path / "run" / "scalars.csv")
    assert list(table["step"]) == [1, 10, 15, 20, 30]  # probes at step 1 and every 10; eval every 15
    for layer in range(1, 6):  # 4 hidden + the output layer
        assert (table[f"grad_norm/layer_{layer:02d}"].dropna() > 0).all()
    for layer in range(1, 5):
        for stat in ("unit_p15", "unit_p50", "unit_p85", "p15", "p50", "p85", "mean", "std", "saturated"):
            assert table[f"act/layer_{layer:02d}/{stat}"].notna().sum() == 4
    assert table["test/acc"].notna().sum() == 2
    assert summary["status"] == "completed" and summary["best_step"] in (15, 30)


def test_a_run_whose_loss_becomes_nan_is_recorded_as_diverged(tmp_path):
    cfg = tiny(model__activation="relu", model__init="gaussian", model__init_std=1e19, train__steps=200)
    (summary,) = train_runs([cfg], [tmp_path / "run"], **quiet)
    assert summary["status"] == "diverged"
    assert summary["diverged_at"] == 1
    assert summary["steps_done"] < 200  # it stopped
    saved = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert saved["status"] == "diverged"
    assert saved["test_acc_best"] is None  # the first step diverged: no evaluation before it counts


def test_one_diverging_run_does_not_stop_the_runs_trained_with_it(tmp_path):
    cfgs = [tiny(model__activation="relu", seed=1), tiny(model__activation="relu", seed=2, optim__lr=1e9)]
    good, bad = train_runs(cfgs, [tmp_path / "good", tmp_path / "bad"], **quiet)
    assert (good["status"], bad["status"]) == ("completed", "diverged")
    assert 1 <= bad["diverged_at"] <= 30
    (alone,) = train_runs(cfgs[:1], [tmp_path / "alone"], **quiet)
    assert good["steps_done"] == 30
    assert good["test_acc_final"] == pytest.approx(alone["test_acc_final"], abs=1e-6)


def test_ctrl_c_records_interrupted_and_writes_the_summary(tmp_path, monkeypatch):
    real_step, calls = loop.train_step, []

    def interrupt_at_12(state, probe):
        calls.append(1)
        if len(calls) == 12:
            raise KeyboardInterrupt
        return real_step(state, probe)

    monkeypatch.setattr(loop, "train_step", interrupt_at_12)
    with pytest.raises(Interrupted):
        train_runs([tiny()], [tmp_path / "run"], **quiet)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["steps_done"] == 11


def test_the_same_seed_gives_the_same_numbers_on_the_cpu(tmp_path):
    cfg = tiny(model__bn="pre", model__dropout=0.1, optim__momentum=0.9)
    train_runs([cfg], [tmp_path / "a"], **quiet)
    train_runs([cfg], [tmp_path / "b"], **quiet)
    a, b = (pd.read_csv(tmp_path / name / "scalars.csv") for name in "ab")
    pd.testing.assert_frame_equal(a, b)
    c = tmp_path / "c"
    train_runs([tiny(model__bn="pre", model__dropout=0.1, optim__momentum=0.9, seed=1)], [c], **quiet)
    assert not pd.read_csv(c / "scalars.csv").equals(a)


def test_hparams_and_layout_are_in_the_runs_own_event_file(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = tiny(probes__hist_every=10)
    train_runs([cfg], [tmp_path / "run"], **quiet)
    events = EventAccumulator(str(tmp_path / "run"))
    events.Reload()
    assert "act_hist/layer_01" in events.Tags()["histograms"]
    plugins = events.PluginTagToContent("hparams")
    assert "_hparams_/session_start_info" in plugins and "_hparams_/experiment" in plugins
    assert "custom_scalars__config__" in events.Tags()["tensors"] or events.PluginTagToContent("custom_scalars")
    assert [p.name for p in (tmp_path / "run").iterdir() if p.is_dir()] == []  # no hparams sub-run


def test_a_finite_explosion_is_diverged_and_nothing_after_it_counts(tmp_path):
    # sigmoid at lr 1e6: the loss explodes to ~1e6-1e7 but stays finite
    cfg = tiny(model__activation="sigmoid", optim__lr=1e6, train__steps=60, train__log_every=20, train__eval_every=5)
    (summary,) = train_runs([cfg], [tmp_path / "run"], **quiet)
    assert summary["status"] == "diverged"
    assert summary["diverged_loss"] > 230  # 100 x ln(10)
    cut = summary["diverged_at"]
    assert cut in (1, 2, 21, 41)  # the first step of the interval whose mean loss exploded
    table = pd.read_csv(tmp_path / "run" / "scalars.csv")
    assert (table["step"] < cut).all()  # scalars.csv: nothing from the divergence step on
    if summary["best_step"] is not None:
        assert summary["best_step"] < cut
    for values in (summary["first"], summary["final"], summary["median"]):
        assert all(v is None or abs(v) < 1e5 for k, v in values.items() if k.startswith("train/loss"))


def test_evaluations_between_probes_after_the_divergence_step_do_not_count(tmp_path, monkeypatch):
    # Evaluations every 5 steps, probes every 20: the run is poisoned at step 12, so the
    # evaluations at 15 (and any later) are read before the probe at 20 reveals it.
    real_step, calls = loop.train_step, []

    def poison_at_12(state, probe):
        calls.append(1)
        if len(calls) == 12:
            with torch.no_grad():
                state.model.params.mul_(1e30)
        return real_step(state, probe)

    monkeypatch.setattr(loop, "train_step", poison_at_12)
    cfg = tiny(model__activation="relu", train__steps=60, train__log_every=20, train__eval_every=5)
    (summary,) = train_runs([cfg], [tmp_path / "run"], **quiet)
    assert summary["status"] == "diverged" and 2 <= summary["diverged_at"] <= 12
    assert summary["best_step"] is None or summary["best_step"] < summary["diverged_at"]
    saved = pd.read_csv(tmp_path / "run" / "scalars.csv")
    assert saved["step"].max() < summary["diverged_at"]


def test_the_end_of_run_batch_size_sweep_without_bn_still_writes_the_summary(tmp_path):
    # inference_stats with model.norm=none: nothing to sweep; the run must keep its summary
    cfg = tiny(model__bn="pre", model__norm={"kind": "none"}, eval__batch_sizes=[1, 4])
    (summary,) = train_runs([cfg], [tmp_path / "run"], **quiet)
    assert summary["status"] == "completed"
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["status"] == "completed"


def test_the_summary_says_what_share_of_training_probes_and_evaluation_took(tmp_path, monkeypatch):
    """Timed within the run (run/logging_cost.py): the probing and evaluating steps beyond as many
    plain steps. An evaluation made 50 ms slower at 2 of 30 steps (15 and 30) shows as at least those 0.1 s."""
    from bnrepro.run import evaluation

    slow_metrics = evaluation.test_metrics

    def test_metrics(*args):
        time.sleep(0.05)
        return slow_metrics(*args)

    [summary] = train_runs([tiny()], [tmp_path / "plain"], **quiet)
    assert 0 <= summary["probes_eval_share"] < 1
    monkeypatch.setattr(loop, "test_metrics", test_metrics)
    [slowed] = train_runs([tiny()], [tmp_path / "slowed"], **quiet)  # evaluates at steps 15 and 30
    assert slowed["probes_eval_share"] >= 0.1 / slowed["wall_time_s"]
    assert slowed["probes_eval_share"] > summary["probes_eval_share"]
    # probes at every step: no plain step to compare with, so no share
    [every] = train_runs([tiny(train__log_every=1)], [tmp_path / "every"], **quiet)
    assert every["probes_eval_share"] is None


def test_the_logging_cost_is_the_logging_steps_time_beyond_as_many_plain_steps():
    from bnrepro.run.logging_cost import LoggingCost

    cost = LoggingCost(seconds=3.0, steps=2)  # 2 logging steps took 3 s; 8 plain steps took 10 - 3 = 7 s
    assert cost.share(10.0, 10) == pytest.approx((3.0 - 2 * 7 / 8) / 10)
    assert LoggingCost(seconds=0.5, steps=2).share(10.0, 10) == 0  # faster than plain steps: no cost, not a gain
    assert LoggingCost(seconds=1.0, steps=10).share(10.0, 10) is None
