"""Claim verdicts: whether the runs show what an experiment's claim says, by a stated rule.

A claim (config ClaimConfig) compares a metric of one arm (`where`) with another arm
(`than`), with another metric of the same runs (`than_metric` without `than`: per-run
differences), or with a threshold (`value`). The rule (docs/verdicts.md):

- runs: unfinished ones (pending, running, killed, interrupted, failed) are left out and
  counted in the evidence; so are completed runs without a value of the metric;
- outcome metrics (accuracies, losses, steps-to, best_step, or `better` set): a diverged
  run is the worst value, a target never reached is +infinity (censored); with such a
  value, or with `ranked` (a per-run monotone claim), the test is a rank or sign test
  (significance.py), else a t-test;
- other (mechanism) metrics: a diverged run, or one at chance (a classifier's best test
  accuracy below 2 / classes; regression has no chance level), has no meaningful value; when
  an arm keeps fewer than 2 healthy runs, or fewer than half, the verdict is `not applicable` with the reason;
- `diverged` / `at_chance`: counts, Fisher's exact test or a binomial test;
- `>` / `<` one-sided, `=` TOST within the band,
  `!=` beyond it (paired claims: on |per-seed change|); bands are tol x |target| or tol_abs
  (no finite target: `not applicable`); with a diverged or never-reached run, equality is
  intersection-union (significance.py); every `=` verdict shows the two-sided test of the
  difference beside it;
- Holm's correction within each experiment (settle): `reproduced` / `contradicted` at an
  adjusted p < 0.05 for / against the claim, else `inconclusive`; a `two_sided` claim is a
  neutral question, tested two-sided and corrected alike, whose verdict names the side
  found higher ("bn=pre higher") or says `no difference detected`, beside the side a source
  expected when `op` names one (never a reproduction or a contradiction); identical values decide
  exactly (from EXACT_MIN runs or pairs); `check` rows hold or fail run by run and are not
  counted as reproductions; each claim's two-sided p (`p_two_sided`) feeds the report-wide
  Benjamini-Hochberg q (claims_report.py);
- arms that share runs are refused (`not applicable`): a claim compares two sets of runs.

Each judgement is a Verdict record (verdict.py); tables.py writes it to <experiment>.claims.json.

A claim never pools configurations: when the runs vary in keys the claim does not name
(a user's sweep), it is judged once per combination of those keys.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from ..config import ConfigError, arms
from ..config.metric import COUNTED, Metric
from ..config.status import COMPLETED, DIVERGED, FINISHED
from . import significance as sig
from .format import arm_label, mean_std, steps_text
from .stated import as_claim
from .verdict import Verdict
from .summaries import AT_CHANCE, TableError

VERDICTS = ("reproduced", "contradicted", "inconclusive", "not applicable", "check: holds", "check: fails")
# A neutral (two-sided) question's answer when neither side is significantly higher; the other
# two answers name the side (Verdict.answers).
NO_DIFFERENCE = "no difference detected"


def neutral_answer(v: dict) -> bool:
    """Whether a written verdict (<experiment>.claims.json's) answers a neutral question: one side
    higher or no difference detected; counted apart from reproductions and contradictions."""
    return bool(v.get("answers")) and v["verdict"] not in VERDICTS


def _answers(c) -> list[str]:
    """A two-sided question's two answers, A's side then B's: the arms by their short labels
    (the keys they differ in, as figures label them), 'bn=pre higher' / 'bn=none higher'; against
    a threshold, 'bn=pre above 0.5' / 'below 0.5'; two metrics of the same runs, by their names."""
    scaled = "" if c.factor == 1.0 else f"{c.factor:g} × "
    mine = arms.condition(c.where)
    if c.value is not None:
        return [f"{arm_label(mine) or 'all runs'} {side} {scaled}{c.value:g}" for side in ("above", "below")]
    if not c.than:
        return [f"{c.metric} higher", f"{scaled}{c.than_metric} higher"]
    theirs = arms.condition(c.than)

    def differing(one: dict, other: dict) -> str:
        label = arm_label({k: v for k, v in one.items() if not (k in other and arms.same(other[k], v))})
        return label or arm_label(one)

    return [f"{differing(mine, theirs)} higher", f"{scaled}{differing(theirs, mine)} higher"]


def answer(j: Verdict, for_claim: bool) -> str:
    """The verdict's word when the evidence is for (True) or against (False) the claim's `op`:
    reproduced / contradicted, or for a neutral question the side that is higher (`op` '>' or
    none: A's side is the one 'for'; '<': B's)."""
    if not j.answers:
        return "reproduced" if for_claim else "contradicted"
    return j.answers[0 if for_claim == (j.stated.op != "<") else 1]


def better(claim: dict) -> str | None:
    """'higher' / 'lower': which values of an outcome metric are better (a diverged run takes
    the worst); None for a mechanism metric. From `better`, else from the metric's name."""
    c = as_claim(claim)
    if c.better:
        return c.better
    metric = c.metric
    spec = Metric.parse(metric)
    if spec.censored or metric == "best_step":
        return "lower"
    if spec.how == "change":
        return None
    name = spec.tag.rsplit("/", 1)[-1]
    if name == "acc" or name.endswith("_acc") or metric in ("test_acc_final", "test_acc_best"):
        return "higher"
    if name == "loss" or metric in ("test_loss_final", "train_loss_final"):
        return "lower"
    return None


def _flat(row: pd.Series) -> dict:
    return {
        k.removeprefix("config."): v
        for k, v in row.items()
        if k.startswith("config.") and not (isinstance(v, float) and math.isnan(v))
    }


def judge(runs: pd.DataFrame, claim: dict) -> list[Verdict]:
    """One judgement per combination of the keys the claim leaves unpinned (usually one);
    `settle` then applies the experiment's correction and words the verdicts."""
    flats = [_flat(row) for _, row in runs.iterrows()]
    try:
        conditions = arms.arms(claim)
    except ConfigError as e:
        raise TableError(f"claim {claim['text']!r}: {e}") from None
    try:
        keys = arms.spread_keys(flats, claim)
    except ConfigError as e:  # a claim of another design than these runs' (stated after them): no arm
        return [
            _unjudgeable(
                claim,
                f"not applicable: these runs cannot be split into its arms ({e}): "
                f"the claim was stated for another design than the one these runs trained",
            )
        ]
    shared = arms.shared_runs(flats, claim)
    if shared:  # a run in both arms would be compared with itself
        return [
            _unjudgeable(
                claim,
                f"not applicable: its arms share {shared} run{'s' * (shared != 1)} (where "
                f"{claim['where']!r} and than {claim['than']!r} both select them): a claim "
                "compares two disjoint sets of runs",
            )
        ]
    if not keys:
        return [_judge_one(runs, flats, claim, conditions, "")]
    combos = sorted({tuple(str(f.get(k)) for k in keys) for f in flats if any(arms.matches(f, c) for c in conditions)})
    found = []
    for combo in combos:
        keep = [all(str(f.get(k)) == v for k, v in zip(keys, combo)) for f in flats]
        label = ", ".join(f"{k}={v}" for k, v in zip(keys, combo))
        found.append(_judge_one(runs[keep], [f for f, k in zip(flats, keep) if k], claim, conditions, label))
    return found


def _unjudgeable(claim: dict, why: str) -> Verdict:
    """The judgement of a claim the runs cannot answer at all."""
    return Verdict(claim, verdict="not applicable", why=why)


@dataclass
class Arm:
    """The runs one condition selects and the values they give the claim."""

    where: str
    metric: str
    values: np.ndarray = field(default_factory=lambda: np.array([]))
    seeds: list = field(default_factory=list)
    notes: list = field(default_factory=list)  # what happened to runs, in words
    not_applicable: str | None = None
    count: int = 0  # special metrics: runs where it happened, of len(values)
    diverged: int = 0  # special metrics: of `count`, the runs that diverged


def _status_notes(chosen: pd.DataFrame) -> list[str]:
    unfinished = chosen[~chosen["status"].isin(FINISHED)]
    if not len(unfinished):
        return []
    kinds = Counter(unfinished["status"])
    return [
        f"{len(unfinished)} of {len(chosen)} left out: "
        + ", ".join(f"{n} {s}" if len(kinds) > 1 else s for s, n in sorted(kinds.items()))
    ]


def _at_chance(rows: pd.DataFrame) -> pd.Series:
    """Completed classifier runs whose best test accuracy stayed below 2 / classes. A run on
    regression targets has no chance level (its 'accuracy' is a side reading), so it never is."""
    best = pd.to_numeric(rows.get("test_acc_best", pd.Series(np.nan, index=rows.index)), errors="coerce")
    labels = rows.get("config.data.labels", pd.Series("", index=rows.index)).astype(str)
    return (rows["status"] == COMPLETED) & (labels != "regression") & (best < AT_CHANCE)


def _read(rows: pd.DataFrame, metric: str) -> np.ndarray:
    column = Metric.parse(metric).column
    if column not in rows:
        return np.full(len(rows), np.nan)
    return pd.to_numeric(rows[column], errors="coerce").to_numpy(dtype=float)


def _arm(
    runs: pd.DataFrame, flats: list[dict], cond: dict, where: str, metrics: list[str], claim: dict
) -> tuple[Arm, np.ndarray]:
    """The arm and its values: one row per run that gives one, one column per metric."""
    chosen = runs[[arms.matches(f, cond) for f in flats]]
    arm = Arm(where, metrics[0], notes=_status_notes(chosen))
    done = chosen[chosen["status"].isin(FINISHED)]
    n = len(done)
    diverged, chance = (done["status"] == DIVERGED).to_numpy(), _at_chance(done).to_numpy()
    if metrics[0] in COUNTED:  # counted from each finished run's outcome
        hit = diverged | (chance if metrics[0] == "at_chance" else False)
        arm.values, arm.count, arm.seeds = hit.astype(float), int(hit.sum()), list(done["config.seed"])
        arm.diverged = int(diverged.sum())
        return arm, arm.values[:, None]
    values = np.column_stack([_read(done, m) for m in metrics]) if n else np.zeros((0, len(metrics)))
    direction = better(claim)
    if direction:  # an outcome: a diverged run is the worst value, except where it was read before it diverged
        later = np.array([Metric.parse(m).how != "first" for m in metrics])
        values[np.ix_(diverged, later)] = -np.inf if direction == "higher" else np.inf
        usable = np.ones(n, dtype=bool)
        valued = ~np.isnan(values).any(axis=1)  # +-inf stays: diverged, or a target never reached
        arm.notes += [f"diverged in {diverged.sum()} of {n} (ranked worst)"] * bool(diverged.any())
        arm.notes += [f"at chance in {chance.sum()} of {n}"] * bool(chance.any())
    else:  # a mechanism: a diverged or dead network's value has no meaning
        counts_dead = bool(as_claim(claim).at_chance_counts)
        keep_dead = counts_dead or all(Metric.parse(m).how == "first" for m in metrics)
        dead_chance = chance & (not keep_dead)
        usable = ~(diverged | dead_chance)
        valued = np.isfinite(values).all(axis=1)
        causes = ", ".join(
            c
            for c in (
                f"diverged in {diverged.sum()} of {n} runs" * bool(diverged.any()),
                f"at chance in {dead_chance.sum()} of {n}" * bool(dead_chance.any()),
            )
            if c
        )
        if causes and (usable.sum() < 2 or usable.sum() < n / 2):
            arm.not_applicable = f"{where}: {causes} (a dead network has no meaningful {metrics[0]})"
        elif causes:
            arm.notes.append(f"left out: {causes}")
        if keep_dead and chance.any():
            why = "the claim counts them" if counts_dead else "read before training mattered"
            arm.notes.append(f"at chance in {chance.sum()} of {n} (kept: {why})")
    missing = int((usable & ~valued).sum())
    arm.notes += [f"{missing} of {n} left out: no value of {' / '.join(metrics)}"] * bool(missing)
    keep = usable & valued
    arm.values, arm.seeds = values[keep, 0], list(done["config.seed"].to_numpy()[keep])
    return arm, values[keep]


def _values_text(arm: Arm) -> str:
    """What an arm measured, in a few words: mean ± std, and how many ranked last."""
    if arm.metric == "at_chance" and arm.diverged:  # diverged runs count, but are not called at chance
        n = len(arm.values)
        return (
            f"at chance in {arm.count - arm.diverged} of {n}, diverged in {arm.diverged} of {n} ({arm.count} counted)"
        )
    if arm.metric in COUNTED:
        return f"{arm.metric.replace('_', ' ')} in {arm.count} of {len(arm.values)}"
    return steps_text(arm.values) if Metric.parse(arm.metric).censored else _numbers(arm.values)


def _numbers(values: np.ndarray) -> str:
    finite = values[np.isfinite(values)]
    text = mean_std(finite.mean(), finite.std(ddof=1) if len(finite) > 1 else math.nan) if len(finite) else "none"
    worst = len(values) - len(finite)
    return text + (f" ({worst} of {len(values)} ranked last)" if worst else "")


def _describe(arm: Arm, label: str | None = None) -> str:
    notes = "".join(f"; {note}" for note in arm.notes)
    return f"{label or arm.metric}: {_values_text(arm)} (n={len(arm.values)}; {arm.where}{notes})"


def _differences(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(x - y per run or seed, which are ties of two worst values): two worst values (both
    diverged, both never) are a tie, 0, which only a rank or sign test may use (it has no size)."""
    with np.errstate(invalid="ignore"):
        d = x - y
    ties = np.isnan(d) & np.isinf(x) & np.isinf(y)
    return np.where(ties, 0.0, d), ties


def _paired(a: Arm, b: Arm, factor: float) -> tuple[tuple[np.ndarray, np.ndarray], float, str]:
    """((per-seed differences a - factor * b, ties of two worst values), the mean of factor * b,
    the pairing in words)."""
    mine, theirs = dict(zip(a.seeds, a.values)), dict(zip(b.seeds, factor * b.values))
    seeds = sorted(set(mine) & set(theirs))
    alone = sorted(set(mine) ^ set(theirs))
    d = _differences(np.array([mine[s] for s in seeds], dtype=float), np.array([theirs[s] for s in seeds], dtype=float))
    ref = np.array([theirs[s] for s in seeds])
    words = f"paired by seed ({len(seeds)} seeds in both arms" + (
        f"; seeds {', '.join(map(str, alone))} in one arm only, left out)" if alone else ")"
    )
    return d, _finite_mean(ref), words


def _finite_mean(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if len(finite) else math.nan


def _judge_one(runs, flats, claim: dict, conditions: list[dict], combination: str) -> Verdict:
    c = as_claim(claim)  # typed, the schema's defaults filled in
    metric, op, factor = c.metric, c.op or ">", c.factor or 1.0  # a neutral question with no expected side: A's side
    two_sided, check = bool(c.two_sided), bool(c.check)
    scaled = "" if factor == 1.0 else f"{factor:g} × "
    within = c.than_metric and not c.than  # another metric of the same runs
    a, a_values = _arm(runs, flats, conditions[0], c.where, [metric] + ([c.than_metric] if within else []), claim)
    parts, measured, arms_ = [_describe(a)], [_values_text(a)], [a]
    x, y, target, reference = a.values, None, 0.0, math.nan
    ties = np.zeros(len(x), dtype=bool)  # differences that are two worst values tied
    if c.value is not None:
        target = reference = factor * c.value
        parts.append(f"threshold {scaled}{c.value:g}")
        measured.append(f"{scaled}{c.value:g}")
    elif c.than:
        b, _ = _arm(runs, flats, conditions[1], c.than, [c.than_metric or metric], claim)
        arms_.append(b)
        parts.append(_describe(b, f"{scaled}{b.metric}"))
        measured.append(f"{scaled}{_values_text(b)}")
        if c.paired and metric not in COUNTED:
            (x, ties), reference, words = _paired(a, b, factor)
            parts.append(words)
        else:
            y = factor * b.values
            reference = _finite_mean(y)
    else:  # per-run differences with another metric of the same runs
        x, ties = _differences(a_values[:, 0], factor * a_values[:, 1])
        reference = _finite_mean(factor * a_values[:, 1])
        measured.append(f"{scaled}{_numbers(a_values[:, 1])}")
        parts.append(f"{scaled}{c.than_metric} of the same runs (per-run difference)")
    tested_n = (
        [len(x)] if y is None and len(arms_) > 1 and metric not in COUNTED else [len(arm.values) for arm in arms_]
    )
    result = Verdict(claim, combination, " vs ".join(measured), tested_n, parts=parts)  # paired: the pairs tested
    if two_sided:
        result.answers = _answers(c)
    result.diverged = sum(
        int((runs[[arms.matches(f, c) for f in flats]]["status"] == DIVERGED).sum()) for c in conditions
    )
    reasons = [arm.not_applicable for arm in arms_ if arm.not_applicable]
    if reasons:
        return replace(result, verdict="not applicable", why="not applicable: " + "; ".join(reasons))
    smallest = min([len(x)] + ([len(y)] if y is not None else []))
    if smallest < (1 if check else 2):
        return replace(result, verdict="inconclusive", why="fewer than 2 runs with a value in an arm")
    band = c.tol_abs
    if band is None and op in ("=", "!="):
        band = c.tol * abs(reference)
    result.band = _num(band)
    if band is not None and not math.isfinite(band):
        return replace(
            result,
            verdict="not applicable",
            why="not applicable: no finite value to compare with (every run of it diverged or has none), "
            "so the relative band (tol × |value|) does not exist; state tol_abs for an absolute band",
        )
    if check:
        return replace(result, **_check(x, y, target, op, band))
    if metric in COUNTED:
        outcome = sig.counts(
            a.count,
            len(a.values),
            arms_[1].count if y is not None else None,
            len(arms_[1].values) if y is not None else None,
            c.value,
            op,
            two_sided,
        )
        return replace(result, **_tested(outcome, None))
    ranked = bool(ties.any()) or bool(c.ranked)
    if op in (">", "<"):
        return replace(result, **_tested(sig.ordering(x, y, target, op, two_sided, ranked), None))
    differences = y is None and c.value is None
    if op == "!=" and differences:  # the size of each seed's (or run's) change
        beyond, inside = sig.change_tests(np.abs(x[~ties]), band)
        return replace(result, **_tested(beyond, inside))
    kept = x[~ties]  # pairs of two worst values are not different: they leave the band tests to the rest
    if ties.any():
        parts.append(f"{int(ties.sum())} pairs both worst (tied: not different), left to the rest")
    equivalent, beyond = sig.band_tests(kept, y, target, band)
    shown = replace(result, **(_tested(equivalent, beyond) if op == "=" else _tested(beyond, equivalent)))
    if op == "=" and shown.exact is None:  # a gap inside the band is still shown, with its test
        gap = sig.difference(kept, y, target)
        shown.difference_test = (
            None
            if gap is None
            else (
                f"{gap.test}"
                + (f", difference {gap.estimate:+.3g}" if gap.estimate is not None else "")
                + f": p = {gap.p_for:.2g}"
            )
        )
    return shown


def _num(value) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _tested(outcome: sig.Outcome, opposite: sig.Outcome | None) -> dict:
    """The fields a test fills: for the claim from `outcome`, against it from `opposite`
    (or from the outcome's own opposite side)."""
    against = opposite.p_for if opposite is not None else outcome.p_against
    fields = {
        "test": outcome.test,
        "p": _num(outcome.p_for),
        "p_against": _num(against),
        "difference": _num(outcome.estimate),
        "estimate_of": outcome.of,
        "interval_level": outcome.level or None,
        "interval": [_num(outcome.low), _num(outcome.high)] if outcome.level else None,
        "opposite": opposite.test if opposite is not None else None,
    }
    exact = (
        outcome.exact
        if outcome.exact is not None
        else (None if opposite is None or opposite.exact is None else not opposite.exact)
    )
    if exact is not None:
        fields.update({"exact": exact, "p": None, "p_against": None, "test": "identical values"})
    return fields


def _check(x: np.ndarray, y: np.ndarray | None, target: float, op: str, band: float | None) -> dict:
    """A check holds when every run (or pair) satisfies it."""
    gaps = x - target if y is None else np.subtract.outer(x, y)  # two arms: every run against every run
    with np.errstate(invalid="ignore"):
        ok = gaps > 0 if op == ">" else gaps < 0 if op == "<" else (np.abs(gaps) <= band) == (op == "=")
    holds, count = bool(ok.all()), f"{int(ok.sum())} of {ok.size}" + (" pairs of runs" if y is not None else "")
    return {
        "verdict": "check: holds" if holds else "check: fails",
        "test": "checked run by run",
        "why": f"checked run by run: holds in {count}",
    }


def settle(judged: list[Verdict]) -> list[Verdict]:
    """The verdicts of one experiment's claims: Holm's correction over its tests (the
    p-values for the claims together, and those against them together), then the words."""
    judged = [replace(j) for j in judged]  # the judgements given stay as they were
    tested = [j for j in judged if j.verdict is None and j.tested()]  # m: the claims with a p, as tables count
    for key in ("p", "p_against"):
        adjusted = sig.holm([getattr(j, key) if getattr(j, key) is not None else 1.0 for j in tested])
        for j, value in zip(tested, adjusted):
            setattr(j, f"{key}_holm", value if getattr(j, key) is not None else None)
    for j in judged:
        if j.verdict is None:
            found = _side(j)
            if found is None:
                j.verdict = NO_DIFFERENCE if j.answers else "inconclusive"
            else:
                j.verdict = answer(j, found)
                if j.answers and j.stated.op is not None:  # a neutral answer beside the side a source expected
                    source = f" ({j.stated.source})" if j.stated.source else ""
                    j.expected = ("as expected" if found else "against the expectation") + source
            j.why = _test_words(j, len(tested))
            j.p_two_sided = two_sided_p(j)
        j.evidence = "; ".join([*j.parts, j.why])
    return judged


def _side(j: Verdict) -> bool | None:
    """Which way the experiment's tests decide: for the claim's `op` (True), against it (False), neither (None)."""
    if j.exact is not None:
        return j.exact
    if j.p_holm is not None and j.p_holm < sig.ALPHA:
        return True
    if j.p_against_holm is not None and j.p_against_holm < sig.ALPHA:
        return False
    return None


def two_sided_p(j: Verdict) -> float | None:
    """The claim's one two-sided p for the report-wide false discovery rate: twice the smaller
    of its p for and against (at most 1); a two-sided question's p already is two-sided."""
    if not j.tested():
        return None
    smaller = min(v for v in (j.p, j.p_against) if v is not None)
    return smaller if j.stated.two_sided else min(1.0, 2 * smaller)


def _p(value: float | None, adjusted: float | None, m: int) -> str:
    return f"p = {value:.2g} (Holm-adjusted {adjusted:.2g}, {m} tests)" if value is not None else "no p"


def _test_words(j: Verdict, m: int) -> str:
    """The test, its estimate and interval, and its p-values, as the evidence states them."""
    c = j.stated
    banded = j.band is not None and c.op in ("=", "!=")
    if j.exact is not None:
        rest = f" ±{j.band:.3g}" if banded else ""
        side = answer(j, j.exact) if j.answers else f"the claim {'holds' if j.exact else 'fails'}"
        return (
            f"identical values: the {j.estimate_of or 'difference'} is exactly {j.difference:+.3g}"
            + (f" (band{rest})" if rest else "")
            + f", so {side} exactly (no test needed)"
            + _expected_words(j)
        )
    words = j.test
    if j.difference is not None:
        words += f": {j.estimate_of or 'difference'} {j.difference:+.3g}"
    if j.interval:
        low, high = (f"{v:+.3g}" if v is not None else "∞" for v in j.interval)
        words += f", {j.interval_level} interval [{'-' if low == '∞' else ''}{low}, {high}]"
    if banded:
        words += f", band ±{j.band:.3g}" + (" (tol_abs)" if c.tol_abs is not None else f" ({c.tol:g} relative)")
    if j.answers:  # a neutral question: each side's p, by its answer
        words += (
            f"; {answer(j, True)}: {_p(j.p, j.p_holm, m)}; {answer(j, False)}: {_p(j.p_against, j.p_against_holm, m)}"
        )
        return words + _expected_words(j)
    words += f"; for the claim {_p(j.p, j.p_holm, m)}"
    words += f"; against it{f' ({j.opposite})' if j.opposite else ''} {_p(j.p_against, j.p_against_holm, m)}"
    return words + (f"; the difference itself ({j.difference_test})" if j.difference_test else "")


def _expected_words(j: Verdict) -> str:
    """A neutral question's expected side, when `op` names one: '; expected: bn=pre higher (source)'."""
    if not j.answers or j.stated.op is None:
        return ""
    return f"; expected: {answer(j, True)}" + (f" ({j.stated.source})" if j.stated.source else "")
