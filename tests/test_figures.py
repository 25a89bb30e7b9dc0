"""Figures count the runs tables count, and say n per arm."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from bnrepro.report import figures as figures_module

from test_tables import fake_run


def _with_scalars(root: Path, name: str, *args, **kwargs) -> None:
    fake_run(root, name, *args, **kwargs)
    steps = [1, 10]
    pd.DataFrame({"step": steps, "test/acc": [0.1, 0.5], "act/layer_03/unit_p50": [0.0, 1.0],
                  "grad_norm/layer_01": [1.0, 2.0]}).to_csv(root / name / "scalars.csv", index=False)


def test_figures_leave_out_diverged_and_unfinished_runs_and_label_n(tmp_path, monkeypatch):
    for seed in (1, 2):
        _with_scalars(tmp_path / "runs", f"pre{seed}", seed, "pre", 0.9)
        _with_scalars(tmp_path / "runs", f"none{seed}", seed, "none", 0.5)
    _with_scalars(tmp_path / "runs", "none3", 3, "none", float("nan"), status="diverged")
    _with_scalars(tmp_path / "runs", "pre3", 3, "pre", 0.2, status="interrupted")
    _with_scalars(tmp_path / "old", "pre1", 1, "pre", 0.9, finished="2025-01-01T00:00:00+00:00")  # a rerun
    read, saved = [], {}
    real_scalars = figures_module._scalars
    monkeypatch.setattr(figures_module, "_scalars", lambda group: read.extend(group["path"]) or real_scalars(group))

    def save(fig, path):
        saved[path.name] = [text.get_text() for ax in fig.axes if ax.get_legend() for text in ax.get_legend().texts]
        saved[path.name + ":title"] = fig.axes[0].get_title() or fig._suptitle.get_text()
        import matplotlib.pyplot as plt
        plt.close(fig)
        return path

    monkeypatch.setattr(figures_module, "_save", save)
    figures_module.figures([tmp_path / "runs", tmp_path / "old"], tmp_path / "out")
    assert {Path(p).name for p in read} == {"pre1", "pre2", "none1", "none2"}
    assert not any("old" in p for p in read)  # the older rerun of pre1 is replaced, as in tables
    assert saved["exp_test_acc.png"] == ["bn=none (n=2)", "bn=pre (n=2)"]
    assert "4 completed runs (1 diverged, 1 interrupted, left out)" in saved["exp_test_acc.png:title"]
