"""The verdict rule (docs/verdicts.md): divergence and death as outcomes, censored
steps-to, equivalence, |change|, identical values, Holm, checks, two-sided questions, and
nothing dropped in silence. Runs are hand-made summary.json (and scalars.csv) files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bnrepro.config import to_plain
from bnrepro.report import significance as sig
from bnrepro.report.claims import judge, settle
from bnrepro.report.claims_report import write_index, write_report
from bnrepro.report.summaries import load_summaries
from bnrepro.report.tables import write_tables

from conftest import tiny

TRAINS_BETTER = {
    "text": "BN trains better",
    "source": "",
    "metric": "test_acc_final",
    "where": "model.bn=pre",
    "op": ">",
    "than": "model.bn=none",
}


def run(
    root: Path,
    name: str,
    seed: int,
    bn: str = "pre",
    acc: float = 0.9,
    status: str = "completed",
    best: float | None = None,
    tags: dict | None = None,
    claims=(TRAINS_BETTER,),
    experiment: str = "exp",
    steps: int = 100,
    history: dict | None = None,
    **config,
) -> Path:
    """A finished run as the loop leaves it: summary.json, and scalars.csv when `history` is given."""
    cfg = to_plain(tiny(seed=seed, model__bn=bn, name=experiment, **config))
    cfg["report"]["claims"] = [dict(c) for c in claims]
    diverged = status == "diverged"
    summary = {
        "name": experiment,
        "status": status,
        "test_acc_final": math.nan if diverged else acc,
        "test_acc_best": best if best is not None else acc,
        "best_step": steps,
        "steps_done": steps,
        "device_name": "CPU",
        "commit": "abc",
        "dirty": False,
        "command": "bnrepro train",
        "runs_trained_together": 1,
        "config": cfg,
        "finished": "2026-01-01T00:00:00+00:00",
        "first": dict(tags or {}),
        "final": dict(tags or {}),
        "median": dict(tags or {}),
    }
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text(json.dumps(summary))
    if history:
        pd.DataFrame(history).to_csv(folder / "scalars.csv", index=False)
    return folder


def verdict(root: Path, claim: dict) -> dict:
    return asked(load_summaries([root]), claim)


def asked(runs: pd.DataFrame, claim: dict) -> dict:
    """The claim's one verdict from runs already read."""
    (found,) = settle(judge(runs, claim))
    return found


def test_bn_trains_in_5_of_5_and_no_bn_diverges_in_5_of_5_reproduces_bn_trains_better(tmp_path):
    for seed in range(1, 6):
        run(tmp_path, f"pre{seed}", seed, "pre", 0.95 + seed / 1000)
        run(tmp_path, f"none{seed}", seed, "none", status="diverged")
    found = verdict(tmp_path, TRAINS_BETTER)
    assert found.verdict == "reproduced"
    assert "Mann-Whitney U" in found.evidence and "diverged in 5 of 5 (ranked worst)" in found.evidence
    assert found.p == pytest.approx(1 / 252)  # every BN run above every diverged one: 1 of C(10, 5) orders


def test_two_survivors_of_ten_beating_ten_healthy_runs_is_not_a_reproduction(tmp_path):
    for seed in range(1, 11):
        if seed <= 2:
            run(tmp_path, f"pre{seed}", seed, "pre", 0.99)
        else:
            run(tmp_path, f"pre{seed}", seed, "pre", status="diverged")
        run(tmp_path, f"none{seed}", seed, "none", 0.90 + seed / 1000)
    found = verdict(tmp_path, TRAINS_BETTER)
    assert found.verdict == "contradicted"  # 8 of 10 diverged: the arm trains worse, not better
    assert "diverged in 8 of 10 (ranked worst)" in found.evidence and "Mann-Whitney U" in found.evidence


LANDSCAPE = {
    "text": "BN makes the loss landscape smoother",
    "source": "",
    "metric": "landscape/loss_range:median",
    "where": "model.bn=pre",
    "op": "<",
    "than": "model.bn=none",
}


def test_a_mechanism_metric_of_a_mostly_dead_arm_is_not_applicable_with_the_reason(tmp_path):
    for seed in (1, 2, 3):
        run(tmp_path, f"pre{seed}", seed, "pre", 0.9, tags={"landscape/loss_range": 0.2 + seed / 100})
    run(tmp_path, "none1", 1, "none", status="diverged", tags={"landscape/loss_range": 0.001})
    run(tmp_path, "none2", 2, "none", status="diverged")
    run(tmp_path, "none3", 3, "none", 0.1, best=0.11, tags={"landscape/loss_range": 0.0})  # dead: flat
    found = verdict(tmp_path, LANDSCAPE)
    assert found.verdict == "not applicable"
    assert "model.bn=none: diverged in 2 of 3 runs, at chance in 1 of 3" in found.evidence


def test_a_dead_network_is_left_out_of_a_mechanism_metric_and_said_so(tmp_path):
    for seed in range(1, 6):
        run(tmp_path, f"pre{seed}", seed, "pre", 0.9, tags={"landscape/loss_range": 0.2 + seed / 100})
        dead = seed == 5  # a flat landscape from a network at chance must not count as smooth
        run(
            tmp_path,
            f"none{seed}",
            seed,
            "none",
            0.1 if dead else 0.8,
            best=0.11 if dead else 0.8,
            tags={"landscape/loss_range": 0.0 if dead else 1.0 + seed / 10},
        )
    found = verdict(tmp_path, LANDSCAPE)
    assert found.verdict == "reproduced" and found.n == [5, 4]
    assert "left out: at chance in 1 of 5" in found.evidence


def test_a_dead_networks_value_counts_when_read_at_the_first_step_or_when_the_claim_says_so(tmp_path):
    vanish = {
        "text": "vanishing",
        "source": "",
        "metric": "grad_norm/first_over_last_hidden:median",
        "where": "model.bn=none",
        "op": "<",
        "value": 0.01,
    }
    for seed in (1, 2, 3):
        run(
            tmp_path,
            f"none{seed}",
            seed,
            "none",
            0.1,
            best=0.11,
            tags={"grad_norm/first_over_last_hidden": 1e-5 * seed},
        )
    assert verdict(tmp_path, vanish).verdict == "not applicable"
    kept = verdict(tmp_path, {**vanish, "at_chance_counts": True})
    assert kept.verdict == "reproduced" and "kept: the claim counts them" in kept.evidence
    first = verdict(tmp_path, {**vanish, "metric": "grad_norm/first_over_last_hidden:first"})
    assert first.verdict == "reproduced" and "kept: read before training mattered" in first.evidence


def test_a_claim_that_an_arm_diverges_is_judged_on_counts(tmp_path):
    for seed in range(1, 6):
        run(tmp_path, f"none{seed}", seed, "none", status="diverged")
        run(tmp_path, f"pre{seed}", seed, "pre", 0.9)
    diverges = {
        "text": "no BN diverges",
        "source": "",
        "metric": "diverged",
        "where": "model.bn=none",
        "op": ">",
        "than": "model.bn=pre",
    }
    found = verdict(tmp_path, diverges)
    assert found.verdict == "reproduced" and "Fisher's exact test" in found.evidence
    assert found.p == pytest.approx(stats.fisher_exact([[5, 0], [0, 5]], alternative="greater").pvalue)
    most = verdict(tmp_path, {**diverges, "than": None, "value": 0.5})
    assert most.verdict == "reproduced" and "binomial test" in most.evidence
    assert most.p == pytest.approx(1 / 32)


def _curve_run(root, variant, seed, curve, status="completed", bn="pre"):
    steps = [100 * (i + 1) for i in range(len(curve))]
    return run(
        root,
        f"{variant}{seed}",
        seed,
        bn,
        curve[-1],
        status=status,
        best=max(curve),
        variant=variant,
        steps=steps[-1],
        history={"step": steps, "test/acc": curve},
        claims=[REACH],
        report__columns=["test/acc:steps_to=0.8"],
    )


REACH = {
    "text": "A reaches 0.8 sooner than B",
    "source": "",
    "metric": "test/acc:steps_to=0.8",
    "where": "variant=A",
    "op": "<",
    "than": "variant=B",
}


def test_never_reaching_a_target_is_censored_not_the_runs_length(tmp_path):
    # A: never gets to 0.8 in 3 of 5 seeds; B: always, late. The old rule counted a never as
    # length + one interval (500) and found A faster on the means; never is later than any step.
    for seed in range(1, 6):
        _curve_run(tmp_path, "A", seed, [0.5, 0.85, 0.9, 0.9] if seed <= 2 else [0.5, 0.6, 0.7, 0.7])
        _curve_run(tmp_path, "B", seed, [0.5, 0.6, 0.7, 0.81])
    write_tables([tmp_path], tmp_path / "out")
    (found,) = json.loads((tmp_path / "out" / "exp.claims.json").read_text())["claims"]
    assert found["verdict"] == "inconclusive" and "Mann-Whitney U" in found["evidence"]
    assert "never (2 of 5 reached)" in found["evidence"]
    table = (tmp_path / "out" / "exp.md").read_text()
    assert "never (2 of 5 reached)" in table and "5 of 5 reached, median 400" in table


def test_equivalence_is_two_one_sided_tests_within_the_band(tmp_path):
    same = {**TRAINS_BETTER, "op": "=", "tol": 0.01}
    for name, (pre, none) in {
        "tight": ([0.950, 0.951, 0.952], [0.951, 0.952, 0.950]),
        "wide": ([0.90, 0.95, 1.00], [0.95, 0.96, 0.94]),
        "apart": ([0.80, 0.81, 0.80], [0.95, 0.96, 0.95]),
    }.items():
        for seed, (a, b) in enumerate(zip(pre, none), 1):
            run(tmp_path / name, f"pre{seed}", seed, "pre", a)
            run(tmp_path / name, f"none{seed}", seed, "none", b)
    tight = verdict(tmp_path / "tight", same)
    band = 0.01 * np.mean([0.951, 0.952, 0.950])
    a, b = np.array([0.950, 0.951, 0.952]), np.array([0.951, 0.952, 0.950])
    lower = stats.ttest_ind(a + band, b, equal_var=False, alternative="greater").pvalue
    upper = stats.ttest_ind(a - band, b, equal_var=False, alternative="less").pvalue
    assert tight.verdict == "reproduced" and tight.p == pytest.approx(max(lower, upper))
    assert "TOST" in tight.evidence and "90% interval" in tight.evidence
    assert verdict(tmp_path / "wide", same).verdict == "inconclusive"
    apart = verdict(tmp_path / "apart", same)
    assert apart.verdict == "contradicted" and "beyond the band" in apart.evidence


def test_an_absolute_tolerance_judges_values_near_a_target_of_zero(tmp_path):
    for seed in (1, 2, 3):
        run(tmp_path, f"pre{seed}", seed, "pre", 0.9, tags={"bias/layer_01/grad_norm": seed * 1e-9})
    zero = {
        "text": "b's gradient is 0",
        "source": "",
        "metric": "bias/layer_01/grad_norm",
        "where": "model.bn=pre",
        "op": "=",
        "value": 0.0,
        "tol": 0.01,
    }
    assert verdict(tmp_path, zero).verdict != "reproduced"  # a relative band around 0 is empty
    assert verdict(tmp_path, {**zero, "tol_abs": 1e-6}).verdict == "reproduced"


def test_a_paired_difference_claim_is_about_the_size_of_each_seeds_change(tmp_path):
    # each seed changes by 10-60x the band, in opposite directions: the mean change is near 0
    for seed, change in ((1, 0.3), (2, -0.25), (3, 0.1), (4, -0.15)):
        run(tmp_path, f"a{seed}", seed, "none", 0.9, tags={"train/loss": 2.0 + change}, model__weight_scale=10)
        run(tmp_path, f"b{seed}", seed, "none", 0.9, tags={"train/loss": 2.0}, model__weight_scale=1)
    changes = {
        "text": "a = 10 changes the loss",
        "source": "",
        "metric": "train/loss:first",
        "op": "!=",
        "where": "model.weight_scale=10",
        "than": "model.weight_scale=1",
        "paired": True,
        "tol": 1e-3,
    }
    found = verdict(tmp_path, changes)
    assert found.verdict == "reproduced" and "paired by seed (4 seeds in both arms)" in found.evidence
    assert found.interval_level == "one-sided 95%" and found.interval[0] > found.band


def test_identical_values_never_give_a_t_test_p(tmp_path):
    for seed in (1, 2, 3):
        run(tmp_path, f"none{seed}", seed, "none", 0.115, best=0.115)
        run(tmp_path, f"pre{seed}", seed, "pre", 0.75 + seed / 1000)
    below = {
        "text": "does not train",
        "source": "",
        "metric": "test_acc_best",
        "where": "model.bn=none",
        "op": "<",
        "value": 0.2,
    }
    worse = verdict(tmp_path, {**below, "than": "model.bn=pre", "value": None})
    assert "Mann-Whitney U" in worse.evidence and "Welch" not in worse.evidence
    assert worse.p == pytest.approx(0.05) and worse.verdict == "inconclusive"  # 3 against 3: p >= 0.05
    three = verdict(tmp_path, below)  # 3 identical values: as few as 3 signs, no exact decision
    assert three.verdict == "inconclusive" and three.exact is None and three.p is None
    assert "an exact decision needs at least 5" in three.evidence
    for seed in (4, 5):
        run(tmp_path, f"none{seed}", seed, "none", 0.115, best=0.115)
    found = verdict(tmp_path, below)
    assert found.verdict == "reproduced" and found.p is None and found.exact is True
    assert "identical values" in found.evidence and "p = 0" not in found.evidence


def test_no_effect_is_inconclusive_not_a_verdict_against_the_claim(tmp_path):
    for seed, (a, b) in enumerate(zip([0.90, 0.93, 0.91], [0.92, 0.90, 0.93]), 1):
        run(tmp_path, f"pre{seed}", seed, "pre", a)
        run(tmp_path, f"none{seed}", seed, "none", b)
    assert verdict(tmp_path, TRAINS_BETTER).verdict == "inconclusive"


def test_holm_adjusts_the_experiments_tests_together(tmp_path):
    assert sig.holm([0.01, 0.04, 0.03, 0.5]) == pytest.approx([0.04, 0.09, 0.09, 0.5])
    for seed, (a, b) in enumerate(zip([0.95, 0.96, 0.99], [0.93, 0.94, 0.92]), 1):
        run(tmp_path, f"pre{seed}", seed, "pre", a)
        run(tmp_path, f"none{seed}", seed, "none", b)
    runs = load_summaries([tmp_path])
    alone = settle(judge(runs, TRAINS_BETTER))[0]
    assert alone.verdict == "reproduced" and alone.p < 0.05 < 4 * alone.p
    four = settle([j for _ in range(4) for j in judge(runs, TRAINS_BETTER)])
    assert all(v.verdict == "inconclusive" and v.p_holm == pytest.approx(min(1, 4 * alone.p)) for v in four)
    assert "Holm-adjusted" in four[0].evidence and "4 tests" in four[0].evidence


def test_checks_hold_or_fail_run_by_run_and_are_not_tests(tmp_path):
    for seed in (1, 2, 3):
        run(tmp_path, f"pre{seed}", seed, "pre", 0.9, tags={"act/layer_03/std": 1.0 + seed / 1000})
    unit = {
        "text": "BN output has unit std",
        "source": "",
        "metric": "act/layer_03/std:first",
        "where": "model.bn=pre",
        "op": "=",
        "value": 1.0,
        "tol": 0.05,
        "check": True,
    }
    runs = load_summaries([tmp_path])
    found = settle(judge(runs, unit) + judge(runs, TRAINS_BETTER))
    assert found[0].verdict == "check: holds" and "holds in 3 of 3" in found[0].evidence
    assert found[0].p is None and found[0].p_holm is None
    assert verdict(tmp_path, {**unit, "tol": 0.002}).verdict == "check: fails"


def test_a_two_sided_question_names_the_side_found_higher_beside_the_side_expected(tmp_path):
    for seed, (a, b) in enumerate(zip([0.957, 0.958, 0.956], [0.960, 0.961, 0.9605]), 1):
        run(tmp_path, f"post{seed}", seed, "post", a)
        run(tmp_path, f"pre{seed}", seed, "pre", b)
    question = {
        "text": "ReLU: BN before or after?",
        "source": "a source",
        "metric": "test_acc_final",
        "op": ">",
        "where": "model.bn=pre",
        "than": "model.bn=post",
        "two_sided": True,
    }
    runs = load_summaries([tmp_path])
    found = asked(runs, question)
    a, b = [0.960, 0.961, 0.9605], [0.957, 0.958, 0.956]
    assert found.answers == ["bn=pre higher", "bn=post higher"] and found.interval_level == "95%"
    assert found.verdict == "bn=pre higher" and found.expected == "as expected (a source)"
    assert found.p == pytest.approx(stats.ttest_ind(a, b, equal_var=False).pvalue)
    assert "bn=pre higher: p = " in found.evidence and "expected: bn=pre higher (a source)" in found.evidence
    # the same runs, the arms swapped: the same answer, now against the side the claim expected
    other_way = asked(runs, {**question, "where": "model.bn=post", "than": "model.bn=pre"})
    assert other_way.verdict == "bn=pre higher" and other_way.expected == "against the expectation (a source)"
    assert other_way.p_against == pytest.approx(found.p)
    # `op: '<'` expects B's side; no `op`: no side expected, the same test and answer
    assert asked(runs, {**question, "op": "<"}).expected == "against the expectation (a source)"
    neutral = asked(runs, {**question, "op": None})
    assert (neutral.verdict, neutral.expected, neutral.p) == ("bn=pre higher", None, found.p)
    assert "expected:" not in neutral.evidence


def test_a_two_sided_question_with_no_significant_side_detects_no_difference(tmp_path):
    for seed, (a, b) in enumerate(zip([0.957, 0.961, 0.959], [0.958, 0.960, 0.9585]), 1):
        run(tmp_path, f"post{seed}", seed, "post", a)
        run(tmp_path, f"pre{seed}", seed, "pre", b)
    question = {"text": "before or after?", "where": "model.bn=pre", "than": "model.bn=post", "two_sided": True}
    runs = load_summaries([tmp_path])
    for op in (">", None):
        found = asked(runs, {**question, "op": op})
        assert found.verdict == "no difference detected" and found.expected is None and found.p_two_sided > 0.05
    # the same runs as a one-sided claim: inconclusive, as before
    assert asked(runs, {**question, "two_sided": False}).verdict == "inconclusive"


def test_unfinished_runs_and_missing_values_are_counted_in_the_evidence(tmp_path):
    for seed in range(1, 6):
        run(tmp_path, f"pre{seed}", seed, "pre", 0.95 + seed / 1000, status="interrupted" if seed > 3 else "completed")
        run(tmp_path, f"none{seed}", seed, "none", math.nan if seed == 1 else 0.5 + seed / 1000)
    found = verdict(tmp_path, TRAINS_BETTER)
    assert "2 of 5 left out: interrupted" in found.evidence
    assert "1 of 5 left out: no value of test_acc_final" in found.evidence and found.n == [3, 4]


def test_claims_report_totals_name_the_tests_and_the_correction(tmp_path):
    for seed in (1, 2, 3):
        run(tmp_path / "runs", f"pre{seed}", seed, "pre", 0.95 + seed / 1000)
        run(tmp_path / "runs", f"none{seed}", seed, "none", 0.5 + seed / 1000)
    write_tables([tmp_path / "runs"], tmp_path / "results")
    report = write_report(tmp_path / "results").read_text()
    assert (
        "1 reproduced, 0 contradicted, 0 inconclusive, 0 not applicable; neutral answers: 0 (0 a side higher, "
        "0 no difference detected); checks: 0 hold, 0 fail"
        in report
        and "1 tests, Holm's correction within each experiment" in report
    )
    index = write_index(tmp_path / "results").read_text()
    assert "| not recorded |" in index and "full length" not in index  # no reproduce.json: not recorded
    assert "The suite:" not in index  # no wall time recorded: no total claimed
    record = {
        "device": "CPU",
        "wall_s": 90,
        "overrides": [],
        "load_before": 0.2,
        "load_after": 1.7,
        "others_cores": 0.4,
    }
    (tmp_path / "results" / "runs" / "exp").mkdir(parents=True)
    (tmp_path / "results" / "runs" / "exp" / "reproduce.json").write_text(json.dumps(record))
    index = write_index(tmp_path / "results").read_text()
    assert "| no: not comparable (others 0.40 cores; load 0.20 / 1.70) |" in index and "| 1.5 min |" in index
    assert "| CPU | 1 (not recorded) |" in index  # trained before summaries said: the packs in one process
    record["processes"] = [2]
    (tmp_path / "results" / "runs" / "exp" / "reproduce.json").write_text(json.dumps(record))
    index = write_index(tmp_path / "results").read_text()
    assert "| CPU | 2 |" in index
    assert "The suite: 1.5 minutes of training and setup for the 1 experiments" in index
    assert "| full |" in index  # the runs' profile: the experiment file's own settings


def test_provenance_says_which_claims_are_post_hoc_and_the_lengths(tmp_path):
    # runs of mnist_fig1 (whose file says 50,000 steps) that recorded one claim of today's four,
    # and one the file no longer makes
    from bnrepro.report.stated import experiment_file

    current = experiment_file("mnist_fig1")["claims"]
    old = {**current[0], "text": "an old wording of the first claim"}
    gone = {**current[0], "metric": "test_acc_best", "text": "a claim the file dropped"}
    for seed in (1, 2):
        for bn, acc in (("pre", 0.9), ("none", 0.5)):
            run(
                tmp_path / "runs",
                f"{bn}{seed}",
                seed,
                bn,
                acc + seed / 100,
                claims=[old, gone],
                experiment="mnist_fig1",
                steps=600,
            )
    record = {"claims_commit": "0123456789abcdef", "overrides": []}
    (tmp_path / "runs" / "reproduce.json").write_text(json.dumps(record))
    write_tables([tmp_path / "runs"], tmp_path / "results")
    entry = json.loads((tmp_path / "results" / "mnist_fig1.claims.json").read_text())
    assert [c["post_hoc"] for c in entry["claims"]] == [False, True, True, True]
    assert entry["dropped_claims"] == ["a claim the file dropped"] and entry["steps"] == {"runs": [600], "file": 50000}
    table = (tmp_path / "results" / "mnist_fig1.md").read_text()
    assert "3 post hoc" in table and "its last commit before these runs: 0123456789" in table
    assert "(post hoc)" in table and "the experiment file: 50,000 steps" in table
    report = write_report(tmp_path / "results").read_text()
    assert "600 of 50,000 steps" in report and "3 post hoc" in report


def test_column_order_does_not_depend_on_the_other_experiments_read(tmp_path):
    # an older run whose config lacks `variant` (written before the key existed), read first
    older = run(tmp_path / "runs" / "a_old", "r1", 1, "pre", 0.9, experiment="a_old")
    summary = json.loads((older / "summary.json").read_text())
    del summary["config"]["variant"]
    (older / "summary.json").write_text(json.dumps(summary))
    for seed in (1, 2):
        for bn, variant in (("pre", "X"), ("none", "Y")):
            run(tmp_path / "runs" / "b_new", f"{variant}{seed}", seed, bn, 0.8, experiment="b_new", variant=variant)
    write_tables([tmp_path / "runs" / "a_old", tmp_path / "runs" / "b_new"], tmp_path / "all")
    write_tables([tmp_path / "runs" / "b_new"], tmp_path / "one")
    for name in ("b_new.md", "b_new.csv", "b_new.claims.json"):
        assert (tmp_path / "all" / name).read_bytes() == (tmp_path / "one" / name).read_bytes(), name


def test_the_rank_test_is_exact_with_ties_and_infinite_values():
    rng = np.random.default_rng(0)
    for _ in range(40):
        a = rng.integers(0, 3, rng.integers(2, 7)).astype(float)
        b = rng.integers(0, 3, rng.integers(2, 7)).astype(float)
        a[0] = -np.inf  # a diverged run: only its rank counts
        for alternative in ("greater", "less", "two-sided"):
            exact = stats.mannwhitneyu(
                np.clip(a, -9, 9), b, alternative=alternative, method=stats.PermutationMethod(n_resamples=np.inf)
            ).pvalue
            assert sig.rank_sum_p(a, b, alternative) == pytest.approx(exact)
    a, b = rng.normal(size=6), rng.normal(size=5)  # no ties: scipy's exact distribution
    assert sig.rank_sum_p(a, b, "less") == pytest.approx(
        stats.mannwhitneyu(a, b, alternative="less", method="exact").pvalue
    )


def test_claims_files_of_an_older_table_are_refused_with_a_message(tmp_path, capsys):
    from bnrepro.cli import main

    (tmp_path / "exp.claims.json").write_text(
        json.dumps({"experiment": "exp", "runs": 1, "provenance": [], "claims": []})
    )
    assert main(["report", "--results", str(tmp_path)]) == 1 and not (tmp_path / "claims.md").exists()
    assert "older `bnrepro table`" in capsys.readouterr().err


def test_a_claim_naming_a_key_the_runs_lack_is_not_applicable_not_a_crash(tmp_path):
    # a redesigned experiment's claim (stated after the runs) judged on runs of the old design
    for seed in (1, 2):
        run(tmp_path, f"pre{seed}", seed, "pre", 0.95)
        run(tmp_path, f"none{seed}", seed, "none", 0.90)
    found = verdict(tmp_path, {**TRAINS_BETTER, "where": "model.colour=red", "than": "model.bn=none"})
    assert found.verdict == "not applicable"
    assert "no config key 'model.colour'" in found.evidence and "another design" in found.evidence
