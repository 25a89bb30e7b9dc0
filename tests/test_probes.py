"""The probe registry and the probes: values by name, checked against torch and by hand."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from bnrepro.config import Activation
from bnrepro.data import load
from bnrepro.run import probes
from bnrepro.run.loop import train_runs
from bnrepro.stacked.model import StackedNet

from conftest import tiny

quiet = dict(log=lambda message: None)
ALL = ["grad_norm", "act", "out", "act_grad", "update_ratio", "bias", "shift", "dead", "affine", "amplify", "gauss"]


def test_the_registry_names_every_probe_and_each_names_its_own_tags(tmp_path):
    assert set(probes.PROBES) == {*ALL, "lstm"}  # the LSTM's own probe: tests/test_lstm.py
    cfg = tiny(model__depth=3, probes__which=ALL, model__bias=True, model__activation="relu", model__bn="pre")
    train_runs([cfg], [tmp_path / "run"], **quiet)
    columns = pd.read_csv(tmp_path / "run" / "scalars.csv").columns
    for name in ALL:
        assert any(c.startswith(f"{name}/") for c in columns), name
    assert "out/layer_03/saturated" in columns and "act_grad/layer_02/std" in columns
    assert "update_ratio/layer_04" in columns  # the output layer too


def test_a_run_logs_only_the_probes_it_names(tmp_path):
    train_runs([tiny(probes__which=["grad_norm"])], [tmp_path / "run"], **quiet)
    columns = pd.read_csv(tmp_path / "run" / "scalars.csv").columns
    assert any(c.startswith("grad_norm/") for c in columns)
    assert not any(c.startswith(("act/", "out/", "act_grad/", "update_ratio/")) for c in columns)


def test_output_stats_match_torch():
    a = torch.tanh(3 * torch.randn(2, 50, 8))
    stats = probes.output_stats(a, Activation.tanh)
    flat = a.reshape(2, -1)
    torch.testing.assert_close(stats["mean"], flat.mean(1))
    torch.testing.assert_close(stats["std"], flat.std(1))
    expected = torch.quantile(flat, torch.tensor([0.15, 0.5, 0.85]), dim=1)
    for i, name in enumerate(("p15", "p50", "p85")):
        torch.testing.assert_close(stats[name], expected[i])
    torch.testing.assert_close(stats["saturated"], (flat.abs() > 0.98).float().mean(1))
    relu = probes.output_stats(torch.relu(torch.tensor([[[-1.0], [0.0], [2.0], [3.0]]])), Activation.relu)
    assert float(relu["saturated"][0]) == 0.5  # ReLU: a = 0 counts as saturated (no gradient)


def _model_and_batch(cfg):
    data = load(cfg.data, torch.device("cpu"))
    model = StackedNet([cfg.model], [cfg.seed], data.input_shape, data.classes)
    return model, data


def test_step_0_values_are_those_of_the_initial_network_on_the_first_batch(tmp_path):
    """By hand: the first batch through the initial weights, before any update."""
    from bnrepro.run.sampler import Sampler

    cfg = tiny(model__depth=2, probes__initial=True, probes__which=ALL)
    model, data = _model_and_batch(cfg)
    sampler = Sampler(model.seeds, len(data.train_y), cfg.train.batch_size)
    sampler.start_epoch(0)
    x, y = data.train_batch(sampler.indices(torch.zeros((), dtype=torch.int64)))
    views = model.layout.per_run(model.params.detach())
    h = x[0].flatten(1)
    zs, a_s = [], []
    for layer in ("layer_01", "layer_02"):
        z = h @ views[f"{layer}.weight"][0] + views[f"{layer}.bias"][0]
        zs.append(z)
        h = torch.sigmoid(z)
        a_s.append(h)
    h = h.detach().requires_grad_(True)
    logits = h @ views["layer_03.weight"][0] + views["layer_03.bias"][0]
    loss = F.cross_entropy(logits, y[0])
    (da,) = torch.autograd.grad(loss, h)
    train_runs([cfg], [tmp_path / "run"], **quiet)
    row = pd.read_csv(tmp_path / "run" / "scalars.csv").set_index("step").loc[0]
    assert row["train/loss"] == pytest.approx(float(loss.detach()), rel=1e-5)
    assert row["act/layer_02/mean"] == pytest.approx(float(zs[1].mean()), rel=1e-5)
    assert row["act/layer_01/std"] == pytest.approx(float(zs[0].std()), rel=1e-5)
    assert row["out/layer_02/mean"] == pytest.approx(float(a_s[1].mean()), rel=1e-5)
    assert row["act_grad/layer_02/norm"] == pytest.approx(float(da.norm()), rel=1e-5)
    assert row["act_grad/layer_02/std"] == pytest.approx(float(da.std()), rel=1e-5)
    assert pd.isna(row["update_ratio/layer_01"])  # no update at step 0


def test_the_step_0_probe_does_not_change_the_trajectory(tmp_path):
    """With BN (its running statistics) and dropout (its masks): identical scalars after."""
    common = dict(
        model__bn="pre", model__dropout=0.2, optim__momentum=0.9, probes__which=ALL, eval__variance_shift=True
    )
    train_runs([tiny(**common, probes__initial=True)], [tmp_path / "with"], **quiet)
    train_runs([tiny(**common)], [tmp_path / "without"], **quiet)
    with_, without = (pd.read_csv(tmp_path / name / "scalars.csv") for name in ("with", "without"))
    assert list(with_["step"])[0] == 0
    after = with_[with_["step"] > 0].reset_index(drop=True)[without.columns]  # step 0 has no update_ratio
    # shift compares with the previous probe step: at step 1 that is step 0 (same batch, no update: 0)
    shift = after.columns.str.startswith("shift/")
    assert (after.loc[0, shift] == 0).all()
    after.loc[0, shift] = float("nan")
    pd.testing.assert_frame_equal(after, without)


def test_the_update_ratio_is_lr_times_the_gradient_norm_over_the_weight_norm(tmp_path):
    """Plain SGD: W changes by lr * grad, so the ratio is lr * ||grad W|| / ||W||."""
    cfg = tiny(model__depth=2, optim__lr=0.3, probes__initial=True, probes__which=["grad_norm", "update_ratio"])
    model, _ = _model_and_batch(cfg)
    weight_norm = model.layout.per_run(model.params.detach())["layer_01.weight"].norm()
    train_runs([cfg], [tmp_path / "run"], **quiet)
    step1 = pd.read_csv(tmp_path / "run" / "scalars.csv").set_index("step").loc[1]
    expected = 0.3 * step1["grad_norm/layer_01"] / float(weight_norm)
    assert step1["update_ratio/layer_01"] == pytest.approx(expected, rel=1e-4)


def test_variance_shift_appears_when_dropout_precedes_bn(tmp_path):
    """Li et al. 2019: dropout before BN makes its moving variance differ from the inference-mode one."""
    common = dict(model__bn="pre", model__dropout=0.5, eval__variance_shift=True, train__steps=60)
    train_runs([tiny(**common)], [tmp_path / "every"], **quiet)
    train_runs([tiny(**common, model__dropout_at="last")], [tmp_path / "last"], **quiet)
    every, last = (json.loads((tmp_path / n / "summary.json").read_text())["final"] for n in ("every", "last"))
    assert every["bn_shift/layer_02"] > 1.3  # dropout (layer 1's) feeds layer 2's BN
    assert 1 <= last["bn_shift/layer_02"] < 1.3  # dropout only after the last BN
    assert 1 <= every["bn_shift/layer_01"] < 1.3  # the input layer has no dropout before it


def test_variance_shift_is_li_et_als_ratio_of_layer_mean_variances_on_training_data_in_inference_mode():
    from bnrepro.run.evaluation import variance_shift

    cfg = tiny(model__bn="pre", model__dropout=0.5)
    data = load(cfg.data, torch.device("cpu"))
    model = StackedNet([cfg.model], [1], data.input_shape, data.classes)
    model.norms[1].running_var.fill_(4.0)  # as if dropout had inflated the training variance
    model.norms[2].running_var.fill_(1e-3)
    inputs = []
    with torch.no_grad():
        model(data.train_x[:100], "moving", bn_inputs=inputs)  # inference mode: no dropout
    shift = variance_shift(model, data, 100)
    for layer, x in enumerate(inputs):
        real = x[0].var(0).mean()
        moving = model.norms[layer].running_var.mean()
        expected = max(moving / real, real / moving)
        assert float(shift[f"bn_shift/layer_0{layer + 1}"][0]) == pytest.approx(float(expected), rel=1e-5)
    assert shift["bn_shift/layer_03"][0] > 2  # a moving variance too small counts as well


def test_dead_counts_the_units_that_never_fire_on_the_held_out_batch(tmp_path):
    cfg = tiny(model__activation="relu", model__width=8, probes__which=["dead"])
    data = load(cfg.data, torch.device("cpu"))
    model = StackedNet([cfg.model], [1], data.input_shape, data.classes)
    views = model.layout.per_run(model.params.data)
    views["layer_02.bias"][0, :3] = -1e3  # units 0-2 of layer 2 never fire
    views["layer_02.bias"][0, 3] = 1e3  # unit 3 always does
    held_out = data.test_x[: probes.HELD_OUT_EXAMPLES]
    z = []
    model(held_out, ("batch", None), taps=z)
    values = probes.PROBES["dead"](
        probes.ProbeInput(
            z=[],
            a=[],
            a_grad=None,
            grad=None,
            params=None,
            update=None,
            layout=None,
            weights=[],
            biases=[],
            unit=0,
            activation=None,
            memory={},
            held_out_z=z,
        )
    )
    expected = [float((zl[0] <= 0).all(0).float().mean()) for zl in z]
    assert [float(values[f"dead/layer_0{i}"][0]) for i in (1, 2, 3)] == pytest.approx(expected)
    assert 3 / 8 <= float(values["dead/layer_02"][0]) < 1
    assert float(values["dead/all"][0]) == pytest.approx(sum(expected) / 3)
    (summary,) = train_runs([cfg], [tmp_path / "run"], **quiet)  # logged over training
    assert 0 <= summary["final"]["dead/all"] <= 1 and "dead/layer_03" in summary["median"]


def test_dead_needs_relu():
    from bnrepro.config import ConfigError, validate

    with pytest.raises(ConfigError, match="probes.which"):
        validate(tiny(probes__which=["dead"]))


def test_affine_reports_the_bn_scales_and_shifts(tmp_path):
    cfg = tiny(model__bn="pre", probes__which=["affine"], optim__lr=0.5)
    (summary,) = train_runs([cfg], [tmp_path / "run"], **quiet)
    first, final = summary["first"], summary["final"]
    assert first["affine/layer_01/gamma_mean"] == pytest.approx(1, abs=0.05)  # after one step from 1
    assert final["affine/layer_01/gamma_dev"] > first["affine/layer_01/gamma_dev"] > 0
    assert final["affine/layer_03/beta_abs"] >= abs(final["affine/layer_03/beta_mean"])
    (fixed,) = train_runs(
        [tiny(model__bn="pre", model__bn_affine="fixed_gamma", probes__which=["affine"])], [tmp_path / "fixed"], **quiet
    )
    assert "affine/layer_01/gamma_mean" not in fixed["final"] and "affine/layer_01/beta_mean" in fixed["final"]


def test_histograms_of_inputs_and_outputs_are_kept_in_the_summary(tmp_path):
    cfg = tiny(probes__which=["act", "out"], probes__initial=True, probes__hist_every=10)
    (summary,) = train_runs([cfg], [tmp_path / "run"], **quiet)
    assert set(summary["histograms"]) == {f"{k}_hist/layer_0{i}" for k in ("act", "out") for i in (1, 2, 3)}
    first = summary["histograms"]["out_hist/layer_01"]["first"]
    assert sum(first["counts"]) == cfg.train.batch_size * cfg.model.width
    assert 0 <= first["edges"][0] and first["edges"][-1] <= 1  # sigmoid outputs


def test_with_bn_right_after_it_a_bias_gets_no_gradient_and_never_moves(tmp_path):
    common = dict(model__bias=True, probes__which=["grad_norm", "bias"], optim__momentum=0.9)
    (with_bn,) = train_runs([tiny(**common, model__bn="pre")], [tmp_path / "bn"], **quiet)
    (plain,) = train_runs([tiny(**common)], [tmp_path / "plain"], **quiet)
    for layer in ("layer_01", "layer_03"):
        assert with_bn["median"][f"bias/{layer}/grad_norm"] < 1e-5 * with_bn["median"][f"grad_norm/{layer}"]
        assert with_bn["final"][f"bias/{layer}/norm"] < 1e-5
        assert plain["median"][f"bias/{layer}/grad_norm"] > 1e-3 * plain["median"][f"grad_norm/{layer}"]
        assert plain["final"][f"bias/{layer}/norm"] > 1e-3


def test_the_train_gap_is_eval_mode_train_accuracy_minus_test_accuracy(tmp_path):
    (summary,) = train_runs([tiny(eval__train_gap=True, model__bn="pre")], [tmp_path / "run"], **quiet)
    final = summary["final"]
    assert final["train_eval/gap"] == pytest.approx(final["train_eval/acc"] - final["test/acc"], abs=1e-6)
    assert 0 < final["train_eval/acc"] <= 1


def test_amplify_moves_only_the_first_layer_by_its_stated_size_and_measures_the_change(tmp_path):
    cfg = tiny(model__depth=3, model__bn="pre")
    data = load(cfg.data, torch.device("cpu"))
    model = StackedNet([cfg.model, cfg.model], [1, 2], data.input_shape, data.classes)
    grad = torch.randn(model.layout.size, generator=torch.Generator().manual_seed(0))
    slot = model.weight_slots()[0]
    moved = probes.perturb_first_layer(model.params, grad, model.layout, slot)
    before, after = model.layout.per_run(model.params.detach()), model.layout.per_run(moved)
    for name in before:  # layer 1's weights moved, by 1e-3 of their norm in each run; nothing else
        change = (after[name] - before[name]).flatten(1).norm(dim=1)
        if name == slot.name:
            torch.testing.assert_close(change, probes.PERTURBATION * before[name].flatten(1).norm(dim=1))
        else:
            assert not change.any(), name
    x = data.test_x[: probes.HELD_OUT_EXAMPLES]
    a, a_moved = [], []
    model(x, ("batch", None), outputs=a)
    model(x, ("batch", None), outputs=a_moved, params=moved)
    values = probes.PROBES["amplify"](
        probes.ProbeInput(
            z=[],
            a=[],
            a_grad=None,
            grad=None,
            params=None,
            update=None,
            layout=None,
            weights=[],
            biases=[],
            unit=0,
            activation=None,
            memory={},
            perturbed_a=(a, a_moved),
        )
    )
    for i in range(3):
        expected = (a_moved[i][1] - a[i][1]).norm() / a[i][1].norm() / probes.PERTURBATION  # run 1, by hand
        assert float(values[f"amplify/layer_0{i + 1}"][1]) == pytest.approx(float(expected), rel=1e-5)
    assert float(values["amplify/last_over_first"][0]) == pytest.approx(
        float(values["amplify/layer_03"][0] / values["amplify/layer_01"][0])
    )


@pytest.mark.slow
def test_amplify_does_not_change_the_trajectory(tmp_path):
    """Its passes run at a copy of the parameters, BN normalizing with the batch's own statistics:
    BN's running statistics and the training scalars are the same with and without it."""
    common = dict(model__bn="pre", model__dropout=0.2, optim__momentum=0.9, eval__compare_stats=True)
    train_runs([tiny(**common, probes__which=["grad_norm", "act", "amplify"])], [tmp_path / "with"], **quiet)
    train_runs([tiny(**common, probes__which=["grad_norm", "act"])], [tmp_path / "without"], **quiet)
    with_, without = (pd.read_csv(tmp_path / name / "scalars.csv") for name in ("with", "without"))
    assert with_.columns.str.startswith("amplify/layer_03").any()
    pd.testing.assert_frame_equal(with_[without.columns], without)
