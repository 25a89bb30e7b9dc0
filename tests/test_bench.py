"""The benchmark's own arithmetic, on a few steps (needs MNIST, as the benchmark does)."""
from __future__ import annotations

import pytest
import torch

from bnrepro.bench import report, run


@pytest.mark.slow
@pytest.mark.network
def test_benchmark_reports_medians_of_interleaved_rounds():
    rows, facts = run(steps=40, reference_steps=10, batched_runs=2, full=False, device=torch.device("cpu"),
                      repeats=3, log=lambda m: None)
    assert [r["path"] for r in rows].count("reference") == 2 and len(rows) == 7
    assert "every probe" in rows[3]["what"] and facts["all_probes_cost"] < 1
    for row in rows:
        low, high = row["range"]
        assert 0 < low <= row["steps/s"] <= high
    assert rows[-1]["run-steps/s"] == pytest.approx(2 * rows[-1]["steps/s"])
    assert len(facts["speedups"]) == 3
    text = report(rows, facts, torch.device("cpu"), "bnrepro bench", cuda=False)
    assert "median of 3 interleaved measurements" in text and "round by round" in text
