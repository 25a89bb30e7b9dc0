"""The power tool (issue 31, item 9) on synthetic pilots whose answer is known: the verdict
rule itself judges each simulated experiment, so these check the simulation, not the tests."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from bnrepro.report.power import needed_text, power_table

from conftest import REPO, synthetic_runs


def pilot(arms_: dict[str, list]) -> pd.DataFrame:
    """One row per run, seeds 1, 2, ...; a value None is a diverged run, a dict gives the row's fields."""
    return synthetic_runs(arms_.items(), name="synthetic")


def higher(**fields) -> dict:
    return {
        "text": "BN is higher",
        "source": "",
        "metric": "test_acc_final",
        "where": "model.bn=pre",
        "op": ">",
        "than": "model.bn=none",
        **fields,
    }


@pytest.mark.slow
def test_a_large_effect_needs_the_fewest_seeds_and_no_effect_never_reaches_80_percent():
    rng = np.random.default_rng(1)
    large = pilot({"pre": list(0.9 + 0.01 * rng.standard_normal(5)), "none": list(0.5 + 0.01 * rng.standard_normal(5))})
    (found,) = power_table(large, [higher()], grid=(3, 4), sims=20)
    assert found.target == "reproduced" and found.n_needed() == 3
    # a neutral question (no side expected, B's side higher) is powered for the side the pilot found
    question = higher(where="model.bn=none", than="model.bn=pre", two_sided=True, op=None)
    (found,) = power_table(large, [question], grid=(3,), sims=20)
    assert found.target == "bn=pre higher" and found.n_needed() == 3
    same = pilot({"pre": list(0.5 + 0.01 * rng.standard_normal(5)), "none": list(0.5 + 0.01 * rng.standard_normal(5))})
    (found,) = power_table(same, [higher()], grid=(5, 10), sims=20)
    assert found.n_needed() is None and max(found.power.values()) < 0.5
    assert needed_text(found, 10).startswith("> 10")


@pytest.mark.slow
def test_a_one_arm_count_claim_needs_n_with_half_to_the_n_below_its_holm_level():
    # every run at chance: the binomial test's p is 0.5^n, below 0.05 from n = 5 (1/32), not at 4 (1/16)
    dead = pilot({"pre": [{"test_acc_final": 0.1, "test_acc_best": 0.1}] * 5})
    count = {
        "text": "at chance in most runs",
        "source": "",
        "metric": "at_chance",
        "where": "model.bn=pre",
        "op": ">",
        "value": 0.5,
    }
    (found,) = power_table(dead, [count], grid=(4, 5), sims=10)
    assert found.power == {4: 0.0, 5: 1.0} and found.n_needed() == 5


@pytest.mark.slow
def test_diverged_runs_are_resampled_as_outcomes_ranked_worst():
    # no BN diverges in 4 of 5: the rank test sees it as worst, so BN's higher accuracy is powered
    # although its finite accuracies are lower; a plain drop of diverged runs would call it contradicted
    runs = pilot({"pre": [0.80, 0.81, 0.79, 0.80, 0.82], "none": [0.9, None, None, None, None]})
    (found,) = power_table(runs, [higher()], grid=(15,), sims=20)
    assert found.test.startswith("Mann-Whitney") and found.target == "reproduced"
    assert found.power[max(found.power)] > 0.5


@pytest.mark.slow  # a subprocess: importing pandas and scipy takes about a second
def test_the_script_refuses_too_few_simulations_naming_the_value():
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "power.py"), "results/runs/relu_beta", "--sims", "3"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert done.returncode != 0 and "--sims 3" in done.stderr
