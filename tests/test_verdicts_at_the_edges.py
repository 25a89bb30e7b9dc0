"""The verdict rule at its edges (issue 29, items 1-10): infinities beside bands, ties,
overlapping arms, counts, and the report's error rate. Each test calls the judging code on
the issue's synthetic arms, as plain tables of runs (no files: each takes milliseconds)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bnrepro.config import ConfigError, DroppedClaim, arms, validate
from bnrepro.report import significance as sig
from bnrepro.report.claims import NO_DIFFERENCE, judge, settle
from bnrepro.report.claims_report import write_index, write_report

from conftest import synthetic_runs, tiny


def runs(*arms_: tuple[str, list]) -> pd.DataFrame:
    """One row per run: (bn, values) arms, a value of None a diverged run; seeds 1, 2, ...
    Extra config or metrics per run come as a dict value."""
    return synthetic_runs(arms_)


def claim(**fields) -> dict:
    return {
        "text": "a claim",
        "source": "",
        "metric": "test_acc_final",
        "where": "model.bn=pre",
        "op": "=",
        "than": "model.bn=none",
        **fields,
    }


def one(frame: pd.DataFrame, **fields) -> dict:
    (found,) = settle(judge(frame, claim(**fields)))
    return found


A = [0.9510, 0.9511, 0.9512, 0.9513, 0.9514, 0.9515]
B_FINITE = [0.9500, 0.9501, 0.9502, 0.9503, 0.9504]


def test_1_a_diverged_run_never_drops_the_band_of_an_equality():
    with_diverged = runs(("pre", A), ("none", [None, *B_FINITE]))
    equal, different = one(with_diverged), one(with_diverged, op="!=")
    # a gap of 0.0011 inside a 1% band, and one diverged run: neither equal nor shown different
    assert equal.verdict == "inconclusive" and different.verdict == "inconclusive"
    assert "intersection-union" in equal.evidence and "infinite in 0 of 6 vs 1 of 6" in equal.evidence
    assert equal.band == pytest.approx(0.01 * np.mean(B_FINITE))
    all_finite = one(runs(("pre", A), ("none", [0.9499, *B_FINITE])))
    assert all_finite.verdict == "reproduced" and all_finite.p < 1e-10  # TOST, the band kept


def test_1_equal_shares_of_diverged_runs_leave_equality_to_the_finite_runs():
    found = one(runs(("pre", [None, *A]), ("none", [None, 0.9499, *B_FINITE])))
    assert found.verdict == "reproduced" and "the same share, not different" in found.evidence


def test_2_paired_arms_that_all_diverged_have_no_band_and_no_verdict():
    frame = runs(("pre", [None] * 5), ("none", [None] * 5))
    for op in ("=", "!="):
        found = one(frame, op=op, paired=True)
        assert found.verdict == "not applicable" and found.p is None
        assert "no finite value to compare with" in found.evidence and "tol_abs" in found.evidence


def test_3_a_within_run_comparison_ranks_a_diverged_run_worst_and_keeps_its_first_reading():
    falling = [{"final:train/loss": 0.3 + i / 100, "first:train/loss": 2.3} for i in range(6)]
    diverged = [{"test_acc_final": None, "final:train/loss": math.nan, "first:train/loss": 2.3}] * 4
    found = one(
        runs(("pre", falling + diverged)), metric="train/loss", op="<", than=None, than_metric="train/loss:first"
    )
    assert "sign test" in found.evidence and found.verdict == "inconclusive"
    assert found.p == pytest.approx(stats.binomtest(6, 10, 0.5, alternative="greater").pvalue)  # 0.377


def test_4_a_two_sided_sign_test_points_where_the_nonzero_signs_point():
    differences = np.array([0.0] * 7 + [0.1, 0.2, 0.3, 0.4, 0.5, np.inf])  # 7 ties, 6 of 6 favour A
    outcome = sig.ordering(differences, None, 0.0, ">", two_sided=True)
    assert "sign test" in outcome.test and outcome.p_against == 1.0
    assert outcome.p_for == pytest.approx(2 * 0.5**6)  # 0.031, not 1


def test_5_arms_that_share_runs_are_refused():
    frame = pd.DataFrame(
        [
            {
                "config.model.bn": bn,
                "config.train.batch_size": bs,
                "config.seed": seed,
                "status": "completed",
                "test_acc_final": 0.9 + seed / 100,
                "test_acc_best": 0.9,
            }
            for bn in ("pre", "none")
            for bs in (16, 64)
            for seed in (1, 2, 3)
        ]
    )
    overlapping = claim(op=">", than="train.batch_size=16")
    (found,) = settle(judge(frame, overlapping))
    assert found.verdict == "not applicable" and "its arms share 3 runs" in found.evidence
    flats = [{"model.bn": "pre", "seed": s} for s in (1, 2)]
    with pytest.raises(ConfigError, match="share runs"):
        arms.check_claims(flats, [claim(than="model.bn=pre")])


def test_6_holm_counts_only_claims_with_a_p():
    frame = runs(("pre", [0.95, 0.96, 0.99]), ("none", [0.93, 0.94, 0.92]))
    identical = claim(op=">", than=None, value=0.5, where="model.bn=none", text="identical")
    frame_identical = runs(("pre", [0.95, 0.96, 0.99]), ("none", [0.9, 0.9, 0.9]))
    judged = judge(frame_identical, claim(op=">")) + judge(frame_identical, identical)
    tested, untested = settle(judged)
    assert untested.p is None and untested.verdict == "inconclusive"  # 3 identical values: no decision
    assert "(Holm-adjusted" in tested.evidence and "1 tests)" in tested.evidence
    assert tested.p_holm == pytest.approx(tested.p)
    assert one(frame, op=">").p_holm == pytest.approx(one(frame, op=">").p)


def test_6_a_paired_claims_n_is_the_pairs_tested():
    frame = runs(("pre", [0.95, 0.96, 0.97, 0.98, 0.99]), ("none", [0.90, 0.91, 0.92, 0.93]))
    found = one(frame, op=">", paired=True)
    assert found.n == [4] and "seeds 5 in one arm only" in found.evidence


def test_6_differences_equal_to_rounding_are_identical_and_decide_exactly():
    a = [0.95, 0.85, 0.75, 0.65, 0.55]
    b = [0.45, 0.35, 0.25, 0.15, 0.05]
    assert np.ptp(np.subtract(a, b)) > 0  # rounding: not the same bits
    found = one(runs(("pre", a), ("none", b)), op=">", paired=True, factor=1.0, value=None)
    assert found.exact is True and found.p is None and found.verdict == "reproduced"
    assert "exactly +0.5" in found.evidence


def test_6_an_exact_decision_needs_five_runs():
    frame = runs(("pre", [0.95, 0.55]), ("none", [0.45, 0.05]))  # differences 0.5 and 0.5
    two = one(frame, op=">", paired=True)
    assert two.verdict == "inconclusive" and two.exact is None
    assert "an exact decision needs at least 5" in two.evidence
    unpaired = one(frame, op=">")
    assert unpaired.verdict == "inconclusive"  # the same numbers unpaired: the same answer


def test_7_at_chance_names_diverged_runs_apart():
    arm = [None, None, {"test_acc_final": 0.1, "test_acc_best": 0.11}, 0.95, 0.96]
    found = one(runs(("none", arm)), metric="at_chance", op=">", where="model.bn=none", than=None, value=0.1)
    assert "at chance in 1 of 5, diverged in 2 of 5 (3 counted)" in found.measured


def test_8_an_equivalence_shows_the_deficit_it_allows():
    rng = np.random.default_rng(0)
    noisy, bn = (0.858 + rng.normal(0, 0.003, 5)).tolist(), (0.892 + rng.normal(0, 0.003, 5)).tolist()
    found = one(runs(("pre", noisy), ("none", bn)), tol=0.05)
    assert found.verdict == "reproduced"  # within 5%: equivalent by TOST
    welch = stats.ttest_ind(noisy, bn, equal_var=False).pvalue
    assert welch < 1e-4 and f"p = {welch:.2g}" in found.difference_test
    assert "the difference itself (Welch t, two-sided" in found.evidence


def test_9_benjamini_hochberg_and_each_claims_two_sided_p():
    assert sig.benjamini_hochberg([0.01, 0.04, 0.03, 0.5]) == pytest.approx([0.04, 0.04 * 4 / 3, 0.04 * 4 / 3, 0.5])
    found = one(runs(("pre", [0.95, 0.96, 0.99]), ("none", [0.93, 0.94, 0.92])), op=">")
    assert found.p_two_sided == pytest.approx(2 * found.p)
    two_sided = one(runs(("pre", [0.95, 0.96, 0.99]), ("none", [0.93, 0.94, 0.92])), op=">", two_sided=True)
    assert two_sided.p_two_sided == pytest.approx(min(two_sided.p, two_sided.p_against))


def _claims_file(folder, name, verdicts, dropped=()):
    (folder / f"{name}.claims.json").write_text(
        json.dumps(
            {
                "experiment": name,
                "runs": 6,
                "tests": len(verdicts),
                "provenance": [],
                "steps": {"runs": [10], "file": 10},
                "dropped": list(dropped),
                "claims": verdicts,
            }
        )
    )


def test_9_10_the_report_shows_each_verdicts_report_wide_q_and_the_dropped_claims(tmp_path):
    def made(text, verdict, p):
        return {"text": text, "verdict": verdict, "measured": "", "evidence": "", "p_two_sided": p}

    _claims_file(tmp_path, "one", [made("first", "reproduced", 0.01), made("second", "reproduced", 0.04)])
    _claims_file(
        tmp_path,
        "two",
        [made("third", "contradicted", 0.03), made("fourth", "inconclusive", 0.5), made("exact", "reproduced", None)],
        dropped=[{"claim": "gone", "verdict": "not reproduced", "commit": "5c80b52", "reason": "moved"}],
    )
    report = write_report(tmp_path).read_text()
    assert (
        "| reproduced | 0.04 |" in report and "| reproduced | 0.053 |" in report and "| reproduced | no p |" in report
    )
    assert "1 of 2 reproduced, 0 of 1 contradicted, 0 of 0 a side higher by a test hold" in report
    assert "## Dropped claims" in report and "| gone | not reproduced | 5c80b52 | moved |" in report
    index = write_index(tmp_path).read_text()
    assert (
        "report-wide q < 0.05" in index and "| 1 of 2 reproduced, 0 of 0 contradicted, 0 of 0 a side higher |" in index
    )


def test_neutral_answers_are_counted_apart_and_their_p_joins_the_report_wide_rate(tmp_path):
    def made(text, verdict, p, answers=None, expected=None):
        return {"text": text, "verdict": verdict, "measured": "", "evidence": "", "p_two_sided": p, "answers": answers,
                "expected": expected}  # fmt: skip

    sides = ["bn=pre higher", "bn=none higher"]
    _claims_file(
        tmp_path,
        "one",
        [
            made("directed", "reproduced", 0.01),
            made("which side?", "bn=none higher", 0.001, sides, "against the expectation (seed 003)"),
            made("which side, again?", NO_DIFFERENCE, 0.6, sides),
            made("dead arm", "not applicable", None, sides),
        ],
    )
    report = write_report(tmp_path).read_text()
    assert (
        "1 reproduced, 0 contradicted, 0 inconclusive, 1 not applicable; neutral answers: 2 (1 a side higher, "
        "1 no difference detected); checks: 0 hold, 0 fail" in report
    )
    # q over the 3 tested claims' p, the neutral questions' included: 0.001 x 3 / 1, 0.01 x 3 / 2
    assert "| bn=none higher, against the expectation (seed 003) | 0.003 |" in report
    assert "| reproduced | 0.015 |" in report and "| no difference detected | 0.6 |" in report
    assert "1 of 1 reproduced, 0 of 0 contradicted, 1 of 1 a side higher by a test hold" in report


@pytest.mark.parametrize(
    "fields, key", [({"commit": "not a hash"}, "commit"), ({"reason": ""}, "reason"), ({"verdict": " "}, "verdict")]
)
def test_10_a_malformed_dropped_entry_is_refused_naming_its_field(fields, key):
    entry = {"claim": "gone", "verdict": "not reproduced", "commit": "5c80b52", "reason": "moved", **fields}
    with pytest.raises(ConfigError, match=rf"report\.dropped\[0\]\.{key}="):
        validate(tiny(report__dropped=[DroppedClaim(**entry)]))
    validate(tiny(report__dropped=[DroppedClaim(claim="gone", verdict="x", commit="5c80b52", reason="moved")]))
