"""The 'steps to reach accuracy X' metric and the table in the paper's Figure 3 format."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from bnrepro.config import ConfigError, to_plain, validate
from bnrepro.report.summaries import steps_to
from bnrepro.report.tables import write_tables

from conftest import tiny

PAPER = {
    "baseline": "Baseline",
    "metric": "test/acc",
    "source": "paper 4.2.2",
    "paper_steps_unit": "M steps",
    "rows": [
        {"variant": "Baseline", "paper_name": "Inception", "steps": 31.0, "best": 0.722},
        {"variant": "BN-x5", "paper_name": "BN-x5", "steps": 2.1, "best": 0.730},
        {"variant": "Sigmoid", "paper_name": "BN-x5-Sigmoid", "steps": None, "best": 0.698},
    ],
}
CLAIMS = [
    {
        "text": "BN-x5 gets to the baseline's best sooner",
        "source": "",
        "metric": "steps_to_baseline_best",
        "where": "variant=BN-x5",
        "op": "<",
        "than": "variant=Baseline",
        "value": None,
    },
    {
        "text": "reaches 0.8 sooner",
        "source": "",
        "metric": "test/acc:steps_to=0.8",
        "where": "variant=BN-x5",
        "op": "<",
        "than": "variant=Baseline",
        "value": None,
    },
]


def fake_run(root: Path, variant: str, seed: int, curve: list[float], status: str = "completed") -> None:
    cfg = to_plain(tiny(seed=seed, name="fig", variant=variant, model__bn="none" if variant == "Baseline" else "pre"))
    cfg["report"].update({"paper_table": PAPER, "claims": CLAIMS, "columns": ["test/acc:steps_to=0.8"]})
    steps = [100 * (i + 1) for i in range(len(curve))]
    cfg["train"]["eval_every"] = 100
    summary = {
        "name": "fig",
        "status": status,
        "test_acc_final": curve[-1],
        "test_acc_best": max(curve),
        "best_step": steps[curve.index(max(curve))],
        "steps_done": steps[-1],
        "device_name": "CPU",
        "commit": "abc",
        "dirty": False,
        "command": "bnrepro train",
        "runs_trained_together": 1,
        "config": cfg,
        "final": {"test/acc": curve[-1]},
    }
    run = root / f"{variant}_seed={seed}"
    run.mkdir(parents=True)
    (run / "summary.json").write_text(json.dumps(summary))
    pd.DataFrame({"step": steps, "test/acc": curve}).to_csv(run / "scalars.csv", index=False)


def test_steps_to_is_the_first_logged_step_at_or_above_the_threshold():
    history = pd.DataFrame({"step": [10, 20, 30, 40], "test/acc": [0.5, float("nan"), 0.9, 0.95]})
    assert steps_to(history, "test/acc", 0.9) == 30
    assert steps_to(history, "test/acc", 0.5) == 10
    assert steps_to(history, "test/acc", 0.99) == math.inf  # never: censored, later than the run could tell
    assert math.isnan(steps_to(history, "train/acc", 0.1))  # not logged: no value


def test_steps_to_is_a_valid_column_and_a_bad_threshold_is_refused():
    validate(tiny(report__columns=["test/acc:steps_to=0.9"]))
    with pytest.raises(ConfigError, match="report.columns"):
        validate(tiny(report__columns=["test/acc:steps_to=high"]))


def test_paper_table_steps_speed_up_never_and_divergence(tmp_path):
    runs = tmp_path / "runs"
    # Baseline bests 0.80, 0.84, 0.83: target = their median 0.83 - 0.005 = 0.825, which seeds 2
    # and 3 reach (at 400 and 300) and seed 1 never does
    fake_run(runs, "Baseline", 1, [0.5, 0.7, 0.78, 0.80])
    fake_run(runs, "Baseline", 2, [0.5, 0.7, 0.80, 0.84])
    fake_run(runs, "Baseline", 3, [0.5, 0.7, 0.83, 0.83])
    fake_run(runs, "BN-x5", 1, [0.83, 0.85, 0.86, 0.86])  # step 100
    fake_run(runs, "BN-x5", 2, [0.80, 0.826, 0.86, 0.87])  # step 200
    fake_run(runs, "Sigmoid", 1, [0.1, 0.1, 0.1, 0.11])
    fake_run(runs, "Sigmoid", 2, [0.1, 0.5, float("nan")], status="diverged")
    write_tables([runs], tmp_path / "results")
    text = (tmp_path / "results" / "fig.md").read_text()
    section = text.split("## In the paper's format", 1)[1].split("## Claims", 1)[0]
    rows = {
        line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
        for line in section.splitlines()
        if line.startswith("| ") and not line.startswith("| variant")
    }
    assert "**0.8250**" in section and "minus 0.5 percentage points" in section
    assert rows["Baseline"][1] == "2 of 3 reached, median 400" and rows["Baseline"][2] == "1.0×"
    assert rows["BN-x5"][1] == "2 of 2 reached, median 150" and rows["BN-x5"][2] == "2.7×"
    assert rows["BN-x5"][3] == "0.8650 ± 0.0071"
    assert rows["Sigmoid"][1] == "never (0 of 1 reached)" and rows["Sigmoid"][2] == "never"
    assert rows["Sigmoid"][4] == "diverged (1 of 2)" and rows["Sigmoid"][5] == "1 of 2"
    assert rows["Baseline"][6:] == ["31", "1.0×", "72.2%"] and rows["BN-x5"][7] == "14.8×"
    assert rows["Sigmoid"][6] == "never"
    claims = json.loads((tmp_path / "results" / "fig.claims.json").read_text())["claims"]
    # BN-x5 100, 200 against the Baseline's 400, 300 and never (+inf, ranked last, not 400 + 100):
    # every BN-x5 run is sooner, a rank test of 2 against 3: p = 1 / C(5, 2) = 0.1, not below 0.05
    assert claims[0]["verdict"] == "inconclusive" and "Mann-Whitney U" in claims[0]["evidence"]
    assert claims[0]["p"] == pytest.approx(0.1) and "2 of 3 reached, median 400" in claims[0]["evidence"]
    # steps to 0.8: BN-x5 100 and 100 (identical: no t-test) vs Baseline 400, 300 and 300
    assert claims[1]["test"] == "Mann-Whitney U, exact, one-sided"
    table = pd.read_csv(tmp_path / "results" / "fig.csv")
    assert "test/acc:steps_to=0.8 median" in table.columns and "test/acc:steps_to=0.8 reached" in table.columns


def test_tables_without_a_paper_table_have_no_paper_section(tmp_path):
    cfg = to_plain(tiny(name="plain"))
    run = tmp_path / "runs" / "r"
    run.mkdir(parents=True)
    (run / "summary.json").write_text(
        json.dumps(
            {
                "name": "plain",
                "status": "completed",
                "test_acc_final": 0.5,
                "test_acc_best": 0.5,
                "best_step": 1,
                "config": cfg,
            }
        )
    )
    write_tables([tmp_path / "runs"], tmp_path / "results")
    assert "paper's format" not in (tmp_path / "results" / "plain.md").read_text()
