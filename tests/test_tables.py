"""Tables and claim verdicts from run summaries: which runs count, and the verdict rule."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from bnrepro.config import to_plain
from bnrepro.report.claims import judge, settle
from bnrepro.report.claims_report import write_report
from bnrepro.report.summaries import TableError, load_summaries, select_runs
from bnrepro.report.tables import write_tables

from conftest import tiny

BN_HELPS = {
    "text": "BN helps",
    "source": "paper 4.1",
    "metric": "test_acc_final",
    "where": "model.bn=pre",
    "op": ">",
    "than": "model.bn=none",
    "value": None,
    "paper": "0.99 vs 0.97",
    "paper_source": "Fig. 1a",
}
VANISH = {
    "text": "gradients vanish",
    "source": "",
    "metric": "grad_norm/first_over_last_hidden:median",
    "where": "model.bn=none",
    "op": "<",
    "than": None,
    "value": 0.01,
}


def fake_run(
    root: Path,
    name: str,
    seed: int,
    bn: str,
    acc: float,
    status="completed",
    ratio=1.0,
    finished="2026-01-01T00:00:00+00:00",
    claims=(BN_HELPS, VANISH),
    **config,
) -> None:
    cfg = to_plain(tiny(seed=seed, model__bn=bn, name="exp", **config))
    cfg["report"] = {"columns": ["grad_norm/first_over_last_hidden:median"], "claims": list(claims)}
    summary = {
        "name": "exp",
        "status": status,
        "test_acc_final": acc,
        "test_acc_best": acc,
        "best_step": 10,
        "steps_done": 10,
        "device_name": "CPU",
        "commit": "abc",
        "dirty": False,
        "command": "bnrepro train",
        "runs_trained_together": 1,
        "config": cfg,
        "finished": finished,
        "final": {},
        "median": {"grad_norm/first_over_last_hidden": ratio},
    }
    (root / name).mkdir(parents=True)
    (root / name / "summary.json").write_text(json.dumps(summary))


def verdicts(folder: Path) -> list[str]:
    return [v["verdict"] for v in json.loads((folder / "exp.claims.json").read_text())["claims"]]


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
    assert "0.9200 ± 0.0200" in markdown and "left out: 1 runs not finished: none3 (interrupted)" in markdown
    assert "| 0.99 vs 0.97 (Fig. 1a) |" in markdown  # the paper's number beside ours
    # accuracy: the diverged run ranks worst (3 against 2 runs: no rank test reaches p < 0.05);
    # the gradient ratio: a diverged run has none, and 1 healthy run of 2 finished is too few
    assert verdicts(tmp_path / "results") == ["inconclusive", "not applicable"]
    claims = json.loads((tmp_path / "results" / "exp.claims.json").read_text())["claims"]
    assert "diverged in 1 of 2 (ranked worst)" in claims[0]["evidence"] and claims[0]["diverged"] == 1
    assert "1 of 3 left out: interrupted" in claims[0]["evidence"]
    assert "model.bn=none: diverged in 1 of 2 runs" in claims[1]["evidence"]
    report = write_report(tmp_path / "results").read_text()
    assert "1 inconclusive, 1 not applicable" in report and "### exp (6 runs; 1 tests)" in report


def test_a_claim_that_does_not_hold_is_reported_as_such(tmp_path):
    for seed in (1, 2, 3, 4, 5):  # 5: identical ratios decide exactly from 5 runs (significance.EXACT_MIN)
        fake_run(tmp_path, f"a{seed}", seed, "pre", 0.5 + seed / 100)
        fake_run(tmp_path, f"b{seed}", seed, "none", 0.9 + seed / 100, ratio=0.5)
    write_tables([tmp_path], tmp_path / "results")
    assert verdicts(tmp_path / "results") == ["contradicted", "contradicted"]
    evidence = json.loads((tmp_path / "results" / "exp.claims.json").read_text())["claims"][0]["evidence"]
    assert "0.5300" in evidence and "0.9300" in evidence and "one-sided 95% interval" in evidence


def _runs(tmp_path, pre, none, **kw):
    for seed, acc in enumerate(pre, 1):
        fake_run(tmp_path, f"pre{seed}", seed, "pre", acc, **kw)
    for seed, acc in enumerate(none, 1):
        fake_run(tmp_path, f"none{seed}", seed, "none", acc, **kw)
    return load_summaries([tmp_path])


def test_an_arm_of_one_run_is_inconclusive_whatever_the_means(tmp_path):
    (verdict,) = settle(judge(_runs(tmp_path, [0.99, 0.98, 0.99], [0.10]), BN_HELPS))
    assert verdict.verdict == "inconclusive" and verdict.n == [3, 1]


def test_reproduced_and_inconclusive_are_separated_by_the_welch_p_value(tmp_path):
    from scipy import stats

    strong, noisy = [0.95, 0.96, 0.97], [0.90, 0.91, 0.92]
    (verdict,) = settle(judge(_runs(tmp_path / "a", strong, noisy), BN_HELPS))
    p = stats.ttest_ind(strong, noisy, equal_var=False, alternative="greater").pvalue
    assert verdict.verdict == "reproduced" and verdict.p == pytest.approx(p) and p < 0.05
    # same direction, overlapping: p above 0.05 -> inconclusive, with its one-sided bound below 0
    weak_pre, weak_none = [0.95, 0.90, 0.99], [0.93, 0.97, 0.88]
    (verdict,) = settle(judge(_runs(tmp_path / "b", weak_pre, weak_none), BN_HELPS))
    p = stats.ttest_ind(weak_pre, weak_none, equal_var=False, alternative="greater").pvalue
    assert verdict.verdict == "inconclusive" and 0.05 <= verdict.p == pytest.approx(p)
    low, high = verdict.interval
    assert low < 0 < verdict.difference and high is None  # one-sided: [low, infinity)


def test_equivalence_needs_the_90_percent_interval_inside_the_tolerance(tmp_path):
    same = {**BN_HELPS, "op": "=", "tol": 0.01}
    (tight,) = settle(judge(_runs(tmp_path / "a", [0.950, 0.951, 0.952], [0.951, 0.952, 0.950]), same))
    assert tight.verdict == "reproduced"
    (loose,) = settle(judge(_runs(tmp_path / "b", [0.90, 0.95, 1.00], [0.95, 0.96, 0.94]), same))
    assert loose.verdict == "inconclusive"  # the means agree, the interval reaches beyond +-0.0095
    (apart,) = settle(judge(_runs(tmp_path / "c", [0.90, 0.90, 0.91], [0.95, 0.96, 0.95]), same))
    assert apart.verdict == "contradicted"


def test_a_threshold_claim_is_a_one_sample_test(tmp_path):
    for seed, ratio in enumerate((1e-4, 2e-4, 3e-4), 1):
        fake_run(tmp_path, f"none{seed}", seed, "none", 0.5, ratio=ratio)
    (verdict,) = settle(judge(load_summaries([tmp_path]), VANISH))
    assert verdict.verdict == "reproduced" and verdict.p < 0.05 and verdict.n == [3]


def test_a_diverged_run_counts_as_the_worst_value_and_is_named(tmp_path):
    runs = _runs(tmp_path, [0.95, 0.96], [0.50, 0.52])
    fake_run(tmp_path, "pre3", 3, "pre", float("nan"), status="diverged")
    (verdict,) = settle(judge(load_summaries([tmp_path]), BN_HELPS))
    assert verdict.diverged == 1 and "diverged in 1 of 3 (ranked worst)" in verdict.evidence
    assert verdict.n == [3, 2] and len(runs) == 4 and "Mann-Whitney U" in verdict.evidence


def test_a_user_sweep_of_an_unnamed_key_is_judged_per_combination(tmp_path):
    for gain, (pre, none) in {1: (0.95, 0.10), 4: (0.50, 0.90)}.items():
        for seed in (1, 2, 3):
            fake_run(tmp_path, f"g{gain}_pre{seed}", seed, "pre", pre + seed / 1000, model__init_gain=gain)
            fake_run(tmp_path, f"g{gain}_none{seed}", seed, "none", none + seed / 1000, model__init_gain=gain)
    found = settle(judge(load_summaries([tmp_path]), BN_HELPS))
    assert [(v.combination, v.verdict) for v in found] == [
        ("model.init_gain=1.0", "reproduced"),
        ("model.init_gain=4.0", "contradicted"),
    ]


def test_reruns_and_overlapping_paths_count_once(tmp_path):
    for seed in (1, 2):
        fake_run(tmp_path / "sweep1", f"pre{seed}", seed, "pre", 0.5, finished="2026-01-01T00:00:00+00:00")
        fake_run(tmp_path / "sweep2", f"pre{seed}", seed, "pre", 0.9, finished="2026-01-02T00:00:00+00:00")
    selection = select_runs([tmp_path, tmp_path / "sweep1", tmp_path / "sweep2" / "pre1"])
    assert len(selection.runs) == 2 and set(selection.runs["test_acc_final"]) == {0.9}  # the newest
    assert sorted(selection.replaced) == [("pre1", "pre1"), ("pre2", "pre2")]
    write_tables([tmp_path, tmp_path / "sweep1"], tmp_path / "results")
    table = pd.read_csv(tmp_path / "results" / "exp.csv")
    assert list(table["n"]) == [2] and list(table["seeds"]) == ["1 2"]
    assert "reruns: 2 older runs" in (tmp_path / "results" / "exp.md").read_text()


def test_planned_runs_without_a_summary_are_named(tmp_path):
    fake_run(tmp_path / "sweep", "pre1", 1, "pre", 0.5)
    (tmp_path / "sweep" / "planned_runs.json").write_text(
        json.dumps({"experiment": "exp", "runs": ["pre1", "pre2", "none1"]})
    )
    write_tables([tmp_path / "sweep"], tmp_path / "results")
    assert (
        "missing: 2 planned runs left no summary (killed, or never started): none1, pre2"
        in (tmp_path / "results" / "exp.md").read_text()
    )


def test_no_runs_is_a_clear_error(tmp_path):
    with pytest.raises(TableError, match="no summary.json"):
        write_tables([tmp_path], tmp_path / "results")


def test_tables_name_no_build_date_or_path_and_rebuild_byte_identically(tmp_path):
    _runs(tmp_path / "runs", [0.95, 0.96], [0.50, 0.52])
    write_tables([tmp_path / "runs"], tmp_path / "a")
    write_tables([(tmp_path / "runs").resolve()], tmp_path / "b")
    for name in ("exp.md", "exp.csv", "exp.claims.json"):
        text = (tmp_path / "a" / name).read_bytes()
        assert text == (tmp_path / "b" / name).read_bytes() and str(tmp_path).encode() not in text


def test_equality_claims_with_a_factor_and_a_second_metric(tmp_path):
    for seed in (1, 2, 3):
        fake_run(tmp_path, f"a{seed}", seed, "pre", 0.5, ratio=2.0 + seed * 1e-9)
        fake_run(tmp_path, f"b{seed}", seed, "none", 0.9, ratio=0.2 + seed * 1e-9)
    runs = load_summaries([tmp_path])
    base = {"text": "", "source": "", "metric": "grad_norm/first_over_last_hidden:median", "value": None}
    (v,) = settle(
        judge(runs, {**base, "where": "model.bn=pre", "than": "model.bn=none", "op": "=", "factor": 10.0, "tol": 1e-6})
    )
    assert v.verdict == "reproduced"
    (v,) = settle(judge(runs, {**base, "where": "model.bn=pre", "than": "model.bn=none", "op": "!=", "tol": 0.01}))
    assert v.verdict == "reproduced"
    (v,) = settle(
        judge(
            runs,
            {**base, "where": "model.bn=pre", "than_metric": "test_acc_final", "op": "=", "factor": 4.0, "tol": 1e-6},
        )
    )
    assert v.verdict == "reproduced"  # 2.0 == 4 x 0.5, paired within one arm


def test_a_paired_identity_is_judged_seed_by_seed_not_by_the_spread_across_seeds(tmp_path):
    # each seed's value is the same in both arms (to 1e-7), but seeds differ by 5%
    for seed, acc in ((1, 0.90), (2, 0.95), (3, 0.99)):
        fake_run(tmp_path, f"pre{seed}", seed, "pre", acc)
        fake_run(tmp_path, f"none{seed}", seed, "none", acc + seed * 1e-7)
    same = {**BN_HELPS, "op": "=", "tol": 1e-4}
    (welch,) = settle(judge(load_summaries([tmp_path]), same))
    (paired,) = settle(judge(load_summaries([tmp_path]), {**same, "paired": True}))
    assert welch.verdict == "inconclusive"  # across seeds the interval is wide
    assert paired.verdict == "reproduced" and "paired by seed (3 seeds in both arms)" in paired.evidence


def test_columns_chosen_at_table_time(tmp_path):
    for seed in (1, 2):
        fake_run(tmp_path / "runs", f"pre{seed}", seed, "pre", 0.9, ratio=0.5 * seed)
    write_tables(
        [tmp_path / "runs"], tmp_path / "results", columns=["grad_norm/first_over_last_hidden:median", "test_acc_best"]
    )
    table = pd.read_csv(tmp_path / "results" / "exp.csv")
    assert table["grad_norm/first_over_last_hidden:median mean"].iloc[0] == pytest.approx(0.75)
    assert list(table.columns).count("test_acc_best mean") == 1  # a column asked for twice appears once
    with pytest.raises(TableError, match="--columns"):
        write_tables([tmp_path / "runs"], tmp_path / "results", columns=["grad_norm/layer_01:mean"])
    # a tag no run logs is refused with the nearest names, never shown as a column of n/a
    with pytest.raises(
        TableError,
        match="no run read logs 'grad_norm/first_over_last_hiden'; nearest: grad_norm/first_over_last_hidden",
    ):
        write_tables([tmp_path / "runs"], tmp_path / "results", columns=["grad_norm/first_over_last_hiden"])


def test_one_metric_spec_reads_tag_how_for_every_part():
    from bnrepro.config import validate
    from bnrepro.config.metric import Metric, MetricError
    from bnrepro.report.tables import check_columns

    steps = Metric.parse("test/acc:steps_to=0.8")
    assert (steps.tag, steps.how, steps.target, steps.column, steps.censored) == (
        "test/acc",
        "steps_to",
        0.8,
        "steps_to=0.8:test/acc",
        True,
    )
    assert Metric.parse("grad_norm/layer_01").column == "final:grad_norm/layer_01"
    assert Metric.parse("test_acc_final").column == "test_acc_final" and Metric.parse("diverged").counted
    for bad in ("grad_norm/layer_01:mean", "test/acc:steps_to=high", "test_acc:final", ""):
        with pytest.raises(MetricError, match="not a metric|no way"):
            Metric.parse(bad)
    check_columns(["test/acc:steps_to=0.8"])  # table --columns takes what report.columns takes
    validate(tiny(report__columns=["test/acc:steps_to=0.8"]))


def test_an_unfinished_rerun_never_replaces_a_finished_run(tmp_path):
    from bnrepro.report.summaries import select_runs

    fake_run(tmp_path / "runs", "done", 1, "pre", 0.9, finished="2026-01-01T00:00:00+00:00")
    fake_run(tmp_path / "runs", "again", 1, "pre", 0.5, status="interrupted", finished="2026-02-01T00:00:00+00:00")
    selection = select_runs([tmp_path / "runs"])
    assert list(selection.runs["status"]) == ["completed"]
    assert selection.replaced == [("again", "done")]
