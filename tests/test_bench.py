"""The benchmark's own arithmetic, on a few steps (needs MNIST, as the benchmark does)."""
from __future__ import annotations

import pytest
import torch

from bnrepro.bench import checkpoint_cost, report, run


@pytest.mark.slow
@pytest.mark.network
def test_benchmark_reports_medians_of_interleaved_rounds():
    rows, facts = run(steps=40, reference_steps=10, batched_runs=[2], full=False, device=torch.device("cpu"),
                      repeats=3, log=lambda m: None)
    assert [r["path"] for r in rows].count("reference") == 2 and len(rows) == 9
    assert "every probe" in rows[3]["what"] and facts["all_probes_cost"] < 1
    for row in rows:
        low, high = row["range"]
        assert 0 < low <= row["steps/s"] <= high
    assert rows[-1]["run-steps/s"] == pytest.approx(2 * rows[-1]["steps/s"])
    assert len(facts["speedups"]) == 3
    text = report(rows, facts, torch.device("cpu"), "bnrepro bench", cuda=False)
    assert "median of 3 interleaved measurements" in text and "round by round" in text
    assert "Checkpoints:" in text


@pytest.mark.slow
@pytest.mark.network
def test_convnet_rows_compare_the_same_network_in_both_loops():
    """fig3's BN-x5 net: the plain loop and bnrepro's one run, each a positive rate, and
    the speed-up is their ratio (needs Fashion-MNIST)."""
    rows, facts = run(steps=10, reference_steps=3, batched_runs=[1], full=False, device=torch.device("cpu"),
                      log=lambda m: None, parts=("convnet",), conv_steps=(3, 3),
                      conv_overrides=("model.width=4", "data.test_limit=100"))
    by_key = {row["key"]: row for row in rows}
    assert set(by_key) == {"reference_conv", "single_conv", "single_conv_quiet"}
    assert facts["conv_speedup"] == pytest.approx(by_key["single_conv"]["steps/s"] / by_key["reference_conv"]["steps/s"])
    text = report(rows, facts, torch.device("cpu"), "bnrepro bench --parts convnet", cuda=False)
    assert "fig3's BN-x5" in text and "not measured here" in text and "Probes and eval cost" not in text


def test_checkpoint_cost_is_the_time_checkpoints_add_per_checkpoint_and_at_the_default_interval():
    facts = checkpoint_cost(rate_without=100.0, rate_with=90.0, steps=1000, every=100)  # 9 checkpoints
    assert facts["checkpoint_s"] == pytest.approx((1000 / 90 - 1000 / 100) / 9)
    between = max(facts["default_min_s"], 50 * facts["checkpoint_s"])  # time-paced, at any step
    assert facts["checkpoint_default_cost"] == pytest.approx(facts["checkpoint_s"] / (facts["checkpoint_s"] + between))


@pytest.mark.slow
@pytest.mark.network
def test_measures_rows_compare_the_same_run_with_and_without_the_measures():
    """The landscape experiment's VGG: without measures, with the landscape probe, with ICS;
    the cost is the ratio of the rates (needs Fashion-MNIST)."""
    rows, facts = run(steps=10, reference_steps=3, batched_runs=[1], full=False, device=torch.device("cpu"),
                      log=lambda m: None, parts=("measures",), conv_steps=(100, 3))
    by_key = {row["key"]: row for row in rows}
    assert set(by_key) == {"measures_off", "measures_landscape", "measures_ics"}
    assert facts["landscape_cost"] == pytest.approx(by_key["measures_off"]["steps/s"]
                                                    / by_key["measures_landscape"]["steps/s"])
    text = report(rows, facts, torch.device("cpu"), "bnrepro bench --parts measures", cuda=False)
    assert "landscape probe every 100 steps" in text and "ICS every 100 steps" in text
