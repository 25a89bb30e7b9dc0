"""Verdicts that answer the claim they name (issue 31, items 6-8): the at-chance rule only
for classifiers, the sign test a per-run monotone claim asks for, and metric windows.
Each test judges plain tables of runs (no files: milliseconds)."""

from __future__ import annotations

import pandas as pd
import pytest

from bnrepro.report.claims import judge, settle


def _runs(labels: str, losses: list[tuple[float, float]]) -> pd.DataFrame:
    """Completed runs of one arm whose best 'accuracy' is 0.1 (below 2 / 10 classes), each
    with a first and a final training loss and an ICS reading."""
    return pd.DataFrame(
        [
            {
                "config.model.bn": "none",
                "config.seed": seed,
                "config.data.labels": labels,
                "status": "completed",
                "test_acc_best": 0.1,
                "first:train/loss": first,
                "final:train/loss": final,
                "median:ics/layer_09/l2": 0.01 * seed,
            }
            for seed, (first, final) in enumerate(losses, 1)
        ]
    )


def _one(frame: pd.DataFrame, **fields) -> object:
    claim = {"text": "c", "source": "", "where": "model.bn=none", **fields}
    (found,) = settle(judge(frame, claim))
    return found


MECHANISM = {"metric": "ics/layer_09/l2:median", "op": ">", "value": 0.0}


def test_a_regression_run_has_no_chance_level_but_a_classifier_at_chance_is_dead():
    falls = [(5.0, 4.9)] * 5
    regression = _one(_runs("regression", falls), **MECHANISM)
    assert regression.verdict != "not applicable" and "at chance" not in regression.evidence
    classifier = _one(_runs("linear", falls), **MECHANISM)
    assert classifier.verdict == "not applicable" and "at chance in 5 of 5" in classifier.evidence
    counted = _one(_runs("regression", falls), metric="at_chance", op="<", value=0.5)
    assert "at chance in 0 of 5" in counted.evidence


def test_ranked_judges_a_per_run_monotone_claim_by_the_sign_test():
    # every run's loss fell, by skewed amounts: one large fall, four tiny ones
    skewed = _runs("regression", [(9.0, 1.0), (5.0, 4.99), (5.0, 4.99), (5.0, 4.99), (5.0, 4.99)])
    claim = {"metric": "train/loss", "op": "<", "than_metric": "train/loss:first"}
    by_t = _one(skewed, **claim)
    assert by_t.test.startswith("t-test") and by_t.verdict == "inconclusive"  # the large fall swamps the rest
    by_sign = _one(skewed, **claim, ranked=True)
    assert by_sign.test.startswith("sign test") and by_sign.p == pytest.approx(0.5**5)
    assert by_sign.verdict == "reproduced"


def test_a_window_is_one_syntax_parsed_once_and_a_malformed_one_is_refused():
    from bnrepro.config.metric import Metric, MetricError

    spec = Metric.parse("grad_norm/layer_01:median<=1000")
    assert (spec.tag, spec.how, spec.until, spec.column) == (
        "grad_norm/layer_01",
        "median",
        1000,
        "median<=1000:grad_norm/layer_01",
    )
    assert Metric.parse("grad_norm/layer_01:median").until is None
    for bad in ("g/x:median<=", "g/x:median<=0", "g/x:median<=1.5", "g/x:median<=-3", "g/x:final<=10"):
        with pytest.raises(MetricError, match="median<=N"):
            Metric.parse(bad)


def test_a_window_reads_the_median_of_the_steps_up_to_its_end(tmp_path):
    from bnrepro.report.summaries import with_history_metrics

    run = tmp_path / "run"
    run.mkdir()
    # the gradient ratio is tiny in the first epoch (steps 1..1000) and recovers later
    pd.DataFrame(
        {"step": [1, 500, 1000, 1500, 2000, 2500, 3000], "g/r": [1e-6, 2e-6, 3e-6, 0.5, 0.6, 0.7, 0.8]}
    ).to_csv(run / "scalars.csv", index=False)
    runs = with_history_metrics(pd.DataFrame({"path": [str(run)]}), ["g/r:median<=1000", "g/r:median<=1"])
    assert runs["median<=1000:g/r"].iloc[0] == pytest.approx(2e-6)
    assert runs["median<=1:g/r"].iloc[0] == pytest.approx(1e-6)
