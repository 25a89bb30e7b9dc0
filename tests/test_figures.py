"""Figures: they count the runs tables count and say n per arm; drawn for short runs too,
and about what the claims measure."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from bnrepro.config import ClaimConfig
from bnrepro.report import figures as figures_module, plotting
from bnrepro.report.figures import figures
from bnrepro.run.loop import train_runs

from conftest import tiny
from test_tables import fake_run


def _with_scalars(root: Path, name: str, *args, **kwargs) -> None:
    fake_run(root, name, *args, **kwargs)
    steps = [1, 10]
    pd.DataFrame(
        {"step": steps, "test/acc": [0.1, 0.5], "act/layer_03/unit_p50": [0.0, 1.0], "grad_norm/layer_01": [1.0, 2.0]}
    ).to_csv(root / name / "scalars.csv", index=False)


def test_figures_leave_out_diverged_and_unfinished_runs_and_label_n(tmp_path, monkeypatch):
    for seed in (1, 2):
        _with_scalars(tmp_path / "runs", f"pre{seed}", seed, "pre", 0.9)
        _with_scalars(tmp_path / "runs", f"none{seed}", seed, "none", 0.5)
    _with_scalars(tmp_path / "runs", "none3", 3, "none", float("nan"), status="diverged")
    _with_scalars(tmp_path / "runs", "pre3", 3, "pre", 0.2, status="interrupted")
    _with_scalars(tmp_path / "old", "pre1", 1, "pre", 0.9, finished="2025-01-01T00:00:00+00:00")  # a rerun
    read, saved = [], {}
    real_scalars = plotting.scalars
    monkeypatch.setattr(plotting, "scalars", lambda group: read.extend(group["path"]) or real_scalars(group))

    def save(fig, path):
        saved[path.name] = [text.get_text() for ax in fig.axes if ax.get_legend() for text in ax.get_legend().texts]
        saved[path.name + ":title"] = fig.axes[0].get_title() or fig._suptitle.get_text()
        import matplotlib.pyplot as plt

        plt.close(fig)
        return path

    monkeypatch.setattr(plotting, "save", save)
    figures_module.figures([tmp_path / "runs", tmp_path / "old"], tmp_path / "out")
    assert {Path(p).name for p in read} == {"pre1", "pre2", "none1", "none2"}
    assert not any("old" in p for p in read)  # the older rerun of pre1 is replaced, as in tables
    assert saved["exp_test_acc.png"] == [
        "bn=none: mean of 2 seeds",
        "bn=none: min–max over 2 seeds",
        "bn=pre: mean of 2 seeds",
        "bn=pre: min–max over 2 seeds",
    ]  # n per arm
    assert "4 completed runs (1 diverged, 1 interrupted, left out)" in saved["exp_test_acc.png:title"]


@pytest.mark.slow  # over 1 s: the fast set keeps its one-minute budget
def test_figures_of_a_short_weight_scale_sweep_plot_the_claims_metrics(tmp_path):
    claims = [
        ClaimConfig(
            text="loss", metric="train/loss:first", where="model.weight_scale=10", op="=", than="model.weight_scale=1"
        ),
        ClaimConfig(
            text="grad",
            metric="grad_norm/layer_02:first",
            where="model.weight_scale=10",
            op="=",
            than="model.weight_scale=1",
            factor=0.1,
        ),
    ]
    cfgs = [
        tiny(
            name="scale",
            model__bn="pre",
            model__weight_scale=a,
            seed=s,
            train__steps=10,
            train__eval_every=500,
            report__claims=claims,
        )  # shorter than eval_every: one point each
        for a in (0.1, 1.0, 10.0)
        for s in (1, 2)
    ]
    train_runs(cfgs, [tmp_path / "runs" / f"a={c.model.weight_scale}_seed={c.seed}" for c in cfgs], log=lambda m: None)
    written = {p.name: p for p in figures([tmp_path / "runs"], tmp_path / "figures")}
    assert "scale_by_weight_scale.png" in written
    import matplotlib.image

    image = matplotlib.image.imread(written["scale_by_weight_scale.png"])
    assert image.shape[1] > 1.5 * image.shape[0]  # two panels side by side: step-1 loss and gradient


def test_the_tags_claims_name_are_drawn_over_training_for_the_arms_they_compare(tmp_path, monkeypatch):
    claims = [
        ClaimConfig(
            text="BN prevents dead ReLUs",
            metric="dead/all",
            where="model.bn=pre,optim.lr=0.5",
            op="<",
            than="model.bn=none,optim.lr=0.5",
        ),
        ClaimConfig(
            text="at step 1",
            metric="train/loss:first",
            where="model.bn=pre,optim.lr=0.5",
            op="<",
            than="model.bn=none,optim.lr=0.5",
        ),  # a step-1 value: not a curve
        ClaimConfig(
            text="ics",
            metric="ics/layer_02/l2",
            where="model.bn=pre,optim.lr=0.5",
            op="<",
            than="model.bn=none,optim.lr=0.5",
        ),
    ]  # drawn by the Santurkar figures
    cfgs = [
        tiny(
            name="dead",
            model__activation="relu",
            model__bn=bn,
            optim__lr=lr,
            seed=s,
            train__steps=20,
            probes__which=["dead"],
            report__claims=claims,
        )
        for bn in ("none", "pre")
        for lr in (0.1, 0.5)
        for s in (1, 2)
    ]
    train_runs(
        cfgs, [tmp_path / "runs" / f"{c.model.bn.value}_{c.optim.lr}_{c.seed}" for c in cfgs], log=lambda m: None
    )
    panels = {}

    def save(fig, path):
        panels[path.name] = [(ax.get_title(), [t.get_text() for t in ax.get_legend().texts]) for ax in fig.axes]
        import matplotlib.pyplot as plt

        plt.close(fig)
        return path

    monkeypatch.setattr(plotting, "save", save)
    figures([tmp_path / "runs"], tmp_path / "figures")
    (panel,) = panels["dead_claimed_tags.png"]  # one tag: dead/all
    assert "dead/all" in panel[0]
    assert panel[1] == ["bn=none, lr=0.5 (n=2)", "bn=pre, lr=0.5 (n=2)"]  # the claim's arms, not lr 0.1


@pytest.mark.slow  # over 1 s: the fast set keeps its one-minute budget
def test_keys_that_vary_together_are_one_axis_named_as_the_claims_name_it(tmp_path):
    claims = [
        ClaimConfig(text="gap", metric="test_acc_final", where="train.batch_size=32", op="<", than="train.batch_size=8")
    ]
    cfgs = [
        tiny(name="gap", train__batch_size=b, optim__lr=0.1 * b / 16, seed=s, train__steps=10, report__claims=claims)
        for b in (8, 16, 32)
        for s in (1, 2)
    ]
    train_runs(cfgs, [tmp_path / "runs" / f"b{c.train.batch_size}_{c.seed}" for c in cfgs], log=lambda m: None)
    written = {p.name for p in figures([tmp_path / "runs"], tmp_path / "figures")}
    assert "gap_by_batch_size.png" in written and "gap_by_lr.png" not in written
    assert "gap_heatmap.png" not in written  # one axis, not two
