"""Figures from runs: drawn for short runs too, and about what the claims measure."""
from __future__ import annotations

from bnrepro.config import ClaimConfig
from bnrepro.report.figures import figures
from bnrepro.run.loop import train_runs

from conftest import tiny


def test_figures_of_a_short_weight_scale_sweep_plot_the_claims_metrics(tmp_path):
    claims = [ClaimConfig(text="loss", metric="train/loss:first", where="model.weight_scale=10", op="=",
                          than="model.weight_scale=1"),
              ClaimConfig(text="grad", metric="grad_norm/layer_02:first", where="model.weight_scale=10", op="=",
                          than="model.weight_scale=1", factor=0.1)]
    cfgs = [tiny(name="scale", model__bn="pre", model__weight_scale=a, seed=s, train__steps=10,
                 train__eval_every=500, report__claims=claims)  # shorter than eval_every: one point each
            for a in (0.1, 1.0, 10.0) for s in (1, 2)]
    train_runs(cfgs, [tmp_path / "runs" / f"a={c.model.weight_scale}_seed={c.seed}" for c in cfgs],
               log=lambda m: None)
    written = {p.name: p for p in figures([tmp_path / "runs"], tmp_path / "figures")}
    assert "scale_by_weight_scale.png" in written
    import matplotlib.image

    image = matplotlib.image.imread(written["scale_by_weight_scale.png"])
    assert image.shape[1] > 1.5 * image.shape[0]  # two panels side by side: step-1 loss and gradient
