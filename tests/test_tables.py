"""Tables and claim verdicts from run summaries."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from bnrepro.config import to_plain
from bnrepro.report.claims_report import write_report
from bnrepro.report.summaries import TableError
from bnrepro.report.tables import write_tables

from conftest import tiny


def fake_run(root: Path, name: str, seed: int, bn: str, acc: float, status="completed", ratio=1.0) -> None:
    cfg = to_plain(tiny(seed=seed, model__bn=bn, name="exp"))
    cfg["report"] = {"columns": ["grad_norm/first_over_last_hidden:median"], "claims": [
        {"text": "BN helps", "source": "paper 4.1", "metric": "test_acc_final", "where": "model.bn=pre",
         "op": ">", "than": "model.bn=none", "value": None},
        {"text": "gradients vanish", "source": "", "metric": "grad_norm/first_over_last_hidden:median",
         "where": "model.bn=none", "op": "<", "than": None, "value": 0.01}]}
    summary = {"name": "exp", "status": status, "test_acc_final": acc, "test_acc_best": acc, "best_step": 10,
               "steps_done": 10, "device_name": "CPU", "commit": "abc", "dirty": False, "command": "bnrepro train",
               "runs_trained_together": 1, "config": cfg,
               "final": {}, "median": {"grad_norm/first_over_last_hidden": ratio}}
    (root / name).mkdir(parents=True)
    (root / name / "summary.json").write_text(json.dumps(summary))


def test_one_row_per_configuration_with_mean_std_n(tmp_path):
    for seed, acc in ((1, 0.90), (2, 0.92), (3, 0.94)):
        fake_run(tmp_path / "runs", f"pre{seed}", seed, "pre", acc)
    fake_run(tmp_path / "runs", "none1", 1, "none", 0.50, ratio=1e-4)
    fake_run(tmp_path / "runs", "none2", 2, "none", float("nan"), status="diverged")
    fake_run(tmp_path / "runs", "none3", 3, "none", 0.40, status="interrupted")
    write_tables([tmp_path / "runs"], tmp_path / "results")
    table = pd.read_csv(tmp_path / "results" / "exp.csv").set_index("model.bn")
    assert list(table.index) == ["none", "pre"]
    assert table.loc["pre", "n"] == 3 and table.loc["pre", "test_acc_final mean"] == pytest.approx(0.92)
    assert table.loc["pre", "test_acc_final std"] == pytest.approx(0.02)
    assert table.loc["none", "n"] == 1 and table.loc["none", "diverged"] == 1
    assert table.loc["none", "test_acc_final mean"] == pytest.approx(0.50)  # diverged/interrupted left out
    markdown = (tmp_path / "results" / "exp.md").read_text()
    assert "0.9200 ± 0.0200" in markdown and "left out: 1 runs not finished (interrupted)" in markdown
    verdicts = json.loads((tmp_path / "results" / "exp.claims.json").read_text())["claims"]
    assert [v["verdict"] for v in verdicts] == ["reproduced", "reproduced"]
    report = write_report(tmp_path / "results").read_text()
    assert "BN helps" in report and "Totals: 2 reproduced" in report and "### exp (6 runs)" in report


def test_a_claim_that_does_not_hold_is_reported_as_such(tmp_path):
    fake_run(tmp_path, "a", 1, "pre", 0.5)
    fake_run(tmp_path, "b", 1, "none", 0.9, ratio=0.5)
    write_tables([tmp_path], tmp_path / "results")
    verdicts = json.loads((tmp_path / "results" / "exp.claims.json").read_text())["claims"]
    assert [v["verdict"] for v in verdicts] == ["not reproduced", "not reproduced"]
    assert "0.5000" in verdicts[0]["evidence"] and "0.9000" in verdicts[0]["evidence"]


def test_no_runs_is_a_clear_error(tmp_path):
    with pytest.raises(TableError, match="no summary.json"):
        write_tables([tmp_path], tmp_path / "results")


def test_equality_claims_with_a_factor_and_a_second_metric(tmp_path):
    from bnrepro.report.claims import judge
    from bnrepro.report.summaries import load_summaries

    fake_run(tmp_path, "a", 1, "pre", 0.5, ratio=2.0)
    fake_run(tmp_path, "b", 1, "none", 0.9, ratio=0.2)
    runs = load_summaries([tmp_path])
    base = {"text": "", "source": "", "metric": "grad_norm/first_over_last_hidden:median", "value": None}
    assert judge(runs, {**base, "where": "model.bn=pre", "than": "model.bn=none", "op": "=", "factor": 10.0,
                        "tol": 1e-6})["verdict"] == "reproduced"
    assert judge(runs, {**base, "where": "model.bn=pre", "than": "model.bn=none", "op": "!=",
                        "tol": 0.01})["verdict"] == "reproduced"
    assert judge(runs, {**base, "where": "model.bn=pre", "than_metric": "test_acc_final", "op": "=", "factor": 4.0,
                        "tol": 1e-6})["verdict"] == "reproduced"  # 2.0 == 4 x 0.5, within one arm


def test_columns_chosen_at_table_time(tmp_path):
    for seed in (1, 2):
        fake_run(tmp_path / "runs", f"pre{seed}", seed, "pre", 0.9, ratio=0.5 * seed)
    write_tables([tmp_path / "runs"], tmp_path / "results", columns=["grad_norm/first_over_last_hidden:median",
                                                                     "test_acc_best"])
    table = pd.read_csv(tmp_path / "results" / "exp.csv")
    assert table["grad_norm/first_over_last_hidden:median mean"].iloc[0] == pytest.approx(0.75)
    assert list(table.columns).count("test_acc_best mean") == 1  # a column asked for twice appears once
    with pytest.raises(TableError, match="--columns"):
        write_tables([tmp_path / "runs"], tmp_path / "results", columns=["grad_norm/layer_01:mean"])
