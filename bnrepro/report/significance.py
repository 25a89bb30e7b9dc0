"""The statistical tests of the verdict rule (docs/verdicts.md), on plain arrays.

Every test answers one claim with two p-values: `p_for`, the evidence for the claim
(a small value reproduces it), and `p_against`, the evidence for its opposite (a small
value contradicts it); claims.py adjusts both with Holm's method and decides. Values may
hold -inf / +inf: a diverged run ranked worst, or a never-reached target (censored); then
only rank and sign tests are used, which need no value, only an order.

- orderings (`>`, `<`): Welch's t-test (two arms), a one-sample t-test (a threshold,
  or per-run / per-seed differences against 0), each one-sided, with the one-sided 95%
  bound beside it; when a value is infinite (or an arm's values are all identical):
  Mann-Whitney U (its exact permutation distribution, ties included) or the sign test
  (exact binomial);
- equivalence (`=`): two one-sided tests (TOST) against the band, with the 90% interval;
  a difference beyond the band (`!=`): the smaller of the two one-sided p-values beyond
  the band, doubled (both directions are tested), with the 95% interval; with an infinite
  value, intersection-union: equal only when the finite runs are equivalent by TOST *and*
  the arms hold the same share of infinite values (a diverged run is outside any band);
  different when either part is (Fisher's exact test on those counts, Bonferroni-doubled);
- counts (`diverged`, `at_chance`): Fisher's exact test, or a binomial test against a rate;
- identical values (no spread in an arm, or in the paired differences, to a relative
  1e-12: rounding is no spread): no t-test is defined; the difference is then known
  exactly and the claim is decided by it (`exact`), given at least EXACT_MIN runs (or
  pairs); with fewer there is no verdict (as n of n agreeing signs is not significant);
- the report's error rate: Benjamini-Hochberg q over every claim's two-sided p (`bh`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as st

ALPHA = 0.05
# Values equal to within this relative difference are identical (differences of rounding).
IDENTICAL = 1e-12
# The fewest runs (or pairs) an exact decision needs: the smallest n for which n of n signs
# agreeing is significant one-sided at ALPHA (0.5^5 = 0.031; 0.5^4 = 0.063 is not), the
# rule the rank and sign tests apply to the same numbers.
EXACT_MIN = 5


@dataclass
class Outcome:
    """One claim's test: p-values for and against it, or an exact decision."""

    test: str  # its name as the evidence states it, e.g. "Welch t, one-sided"
    p_for: float | None = None
    p_against: float | None = None
    estimate: float | None = None  # the difference (or value) the test is about
    low: float | None = None  # the interval beside the test (None: unbounded on that side)
    high: float | None = None
    level: str = ""  # what the interval is: "one-sided 95%", "90%", "95%"
    of: str = "difference"  # what the estimate and interval are of
    exact: bool | None = None  # identical values: True / False the claim holds exactly; None: tested


def _finite(*arrays) -> bool:
    return all(np.isfinite(a).all() for a in arrays if a is not None)


def identical(values: np.ndarray) -> bool:
    """Every value the same, to a relative IDENTICAL (0.5 and 0.49999999999999994 are)."""
    return len(values) > 0 and bool(np.ptp(values) <= IDENTICAL * np.abs(values).max())


def _exact(diff: float, n: int, holds: bool | None) -> Outcome:
    """An exact decision from identical values, or none when too few runs back it."""
    if n < EXACT_MIN:
        return Outcome(
            f"identical values, but {n} run{'s' * (n != 1)} (or pairs): an exact decision needs "
            f"at least {EXACT_MIN}, no verdict",
            estimate=diff,
            low=diff,
            high=diff,
        )
    return Outcome("identical values", estimate=diff, low=diff, high=diff, exact=holds)


def _alternatives(op: str, two_sided: bool) -> tuple[str, str]:
    """scipy's alternatives (for the claim, against it): ('greater', 'less') for `>`."""
    if two_sided:
        return "two-sided", "two-sided"
    return ("greater", "less") if op == ">" else ("less", "greater")


def _interval(estimate: float, se: float, df: float, op: str, two_sided: bool):
    """(low, high, level): the bound beside a one-sided test (95%), or the two-sided 95% interval."""
    if two_sided:
        half = st.t.ppf(0.975, df) * se
        return estimate - half, estimate + half, "95%"
    bound = st.t.ppf(0.95, df) * se
    return (estimate - bound, None, "one-sided 95%") if op == ">" else (None, estimate + bound, "one-sided 95%")


def _spread(a: np.ndarray, b: np.ndarray | None) -> tuple[float, float, float]:
    """(difference of means or mean, its standard error, degrees of freedom): Welch-Satterthwaite
    for two samples, n - 1 for one."""
    if b is None:
        return float(a.mean()), float(a.std(ddof=1) / math.sqrt(len(a))), len(a) - 1
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1)) if se > 0 else 1.0
    return float(a.mean() - b.mean()), se, df


def rank_test(a: np.ndarray, b: np.ndarray | None, alternative: str) -> tuple[float, str]:
    """(p, name): Mann-Whitney U for two samples, the sign test of `a` against 0 for one."""
    if b is None:
        nonzero = a[(a != 0) & ~np.isnan(a)]  # NaN (no difference at all) is no sign
        k = int((nonzero > 0).sum())
        p = st.binomtest(k, len(nonzero), 0.5, alternative=alternative).pvalue if len(nonzero) else 1.0
        return float(p), "sign test, exact"
    return rank_sum_p(a, b, alternative), "Mann-Whitney U, exact"


def rank_sum_p(a: np.ndarray, b: np.ndarray, alternative: str) -> float:
    """Mann-Whitney U's exact p: the rank sum of `a` against its distribution over every way
    to split the runs into two arms of these sizes (the permutation distribution; tied values
    share their mid-rank, so ties are exact too), counted by dynamic programming, not enumerated."""
    doubled = np.rint(2 * st.rankdata(np.concatenate([a, b]))).astype(int)  # mid-ranks x 2: integers
    n, total = len(a), int(doubled.sum())
    ways = np.zeros((n + 1, total + 1))  # ways[k, s]: sets of k runs whose doubled ranks sum to s
    ways[0, 0] = 1.0
    for r in doubled:
        ways[1:, r:] = ways[1:, r:] + ways[:-1, :-r]
    null = ways[n] / ways[n].sum()
    observed = int(doubled[:n].sum())
    greater, less = null[observed:].sum(), null[: observed + 1].sum()
    p = {"greater": greater, "less": less}.get(alternative, 2 * min(greater, less))  # two-sided: scipy's convention
    return float(min(1.0, p))


def _direction(x: np.ndarray, b: np.ndarray | None) -> float:
    """+1 / -1 / 0: which way the runs point (the sign test's majority of nonzero signs, or A's
    rank sum against its mean); not the median, which ties make 0."""
    if b is None:
        return float(np.sign((x > 0).sum() - (x < 0).sum()))
    ranks = st.rankdata(np.concatenate([x, b]))
    return float(np.sign(ranks[: len(x)].sum() - len(x) * (len(ranks) + 1) / 2))


def _split(outcome: Outcome, sign: float) -> Outcome:
    """A two-sided test's one p counts for the side the runs point to (the other gets 1)."""
    p = outcome.p_for
    outcome.p_for, outcome.p_against = (p, 1.0) if sign > 0 else (1.0, p) if sign < 0 else (1.0, 1.0)
    return outcome


def ordering(
    a: np.ndarray, b: np.ndarray | None, target: float, op: str, two_sided: bool = False, ranked: bool = False
) -> Outcome:
    """`a` op `b` (two samples) or op `target` (one sample: a threshold, or differences against
    0); `two_sided`: one two-sided test, its p counted for the side the runs point to;
    `ranked`: rank or sign tests even with finite values (a 0 that stands for two worst
    values tied, which has no size a t-test could use)."""
    alt_for, alt_against = _alternatives(op, two_sided)
    sided = "two-sided" if two_sided else "one-sided"
    x = a - target if b is None else a
    sign = 1.0 if op == ">" else -1.0  # the claimed side, as a sign of x (or of x - b)
    if b is None and _finite(x) and identical(x) and not ranked:  # the difference is exact
        diff = float(x.mean())
        return _exact(diff, len(x), None if diff == 0 and two_sided else diff * sign > 0)
    if ranked or not _finite(x, b) or (b is not None and (identical(x) or identical(b))):
        p_for, name = rank_test(x, b, alt_for)
        p_against = p_for if two_sided else rank_test(x, b, alt_against)[0]
        estimate = float(np.median(x)) if b is None else None
        outcome = Outcome(f"{name}, {sided}", p_for, p_against, estimate)
        return _split(outcome, _direction(x, b) * sign) if two_sided else outcome
    diff, se, df = _spread(x, b)
    if b is None:
        name = "t-test"
        p_for, p_against = (st.ttest_1samp(x, 0.0, alternative=alt).pvalue for alt in (alt_for, alt_against))
    else:
        name = "Welch t"
        p_for, p_against = (
            st.ttest_ind(x, b, equal_var=False, alternative=alt).pvalue for alt in (alt_for, alt_against)
        )
    low, high, level = _interval(diff, se, df, op, two_sided)
    outcome = Outcome(f"{name}, {sided}", float(p_for), float(p_against), diff, low, high, level)
    return _split(outcome, float(np.sign(diff)) * sign) if two_sided else outcome


def band_tests(a: np.ndarray, b: np.ndarray | None, target: float, band: float) -> tuple[Outcome, Outcome]:
    """(equivalence, difference beyond the band) for the difference a - b (or a - target).
    Equivalence: TOST, p the larger of the two one-sided p-values, 90% interval; beyond:
    the smaller one-sided p-value beyond +-band, doubled, 95% interval."""
    x = a - target if b is None else a
    if not _finite(x, b):
        return _band_tests_infinite(x, b, band)
    diff, se, df = _spread(x, b)  # one arm's values identical: Welch is a t-test against that constant
    name = (
        "t-test"
        if b is None
        else "Welch t"
        if not identical(x) and not identical(b)
        else "t-test against the other arm's identical values"
    )
    if identical(x) and (b is None or identical(b)):  # the difference is exact
        inside, n = abs(diff) <= band, min(len(x), len(b) if b is not None else len(x))
        return _exact(diff, n, inside), _exact(diff, n, not inside)
    t = st.t(df)
    p_equiv = max(t.sf((diff + band) / se), t.cdf((diff - band) / se))
    p_beyond = min(1.0, 2 * min(t.sf((diff - band) / se), t.cdf((diff + band) / se)))
    h90, h95 = t.ppf(0.95) * se, t.ppf(0.975) * se
    return (
        Outcome(f"TOST ({name})", float(p_equiv), estimate=diff, low=diff - h90, high=diff + h90, level="90%"),
        Outcome(
            f"{name}, beyond the band", float(p_beyond), estimate=diff, low=diff - h95, high=diff + h95, level="95%"
        ),
    )


def _band_tests_infinite(x: np.ndarray, b: np.ndarray | None, band: float) -> tuple[Outcome, Outcome]:
    """Equivalence and difference when a value is infinite, by intersection-union: equal
    only when both parts are, the finite runs (TOST within the band) and the infinite ones
    (the same share in both arms: a diverged run is outside any band, so a diverged run
    against a finite one is a difference); different when either part is, its p the
    smaller of the two doubled (Bonferroni). The band is never dropped."""
    fx = x[np.isfinite(x)]
    if b is None:  # one sample (per-seed differences, or values against a threshold)
        k = len(x) - len(fx)
        counts = f"{k} of {len(x)} infinite (beyond any band)"
        p_counts = 2 * min(rank_test(x - band, None, "greater")[0], rank_test(x + band, None, "less")[0])
        finite = band_tests(fx, None, 0.0, band) if len(fx) >= 2 else None
        shared = False
    else:
        fb = b[np.isfinite(b)]
        (ka, na), (kb, nb) = (len(x) - len(fx), len(x)), (len(b) - len(fb), len(b))
        counts = f"infinite in {ka} of {na} vs {kb} of {nb}"
        p_counts = st.fisher_exact([[ka, na - ka], [kb, nb - kb]]).pvalue
        shared = ka * nb == kb * na and set(np.sign(x[~np.isfinite(x)])) == set(np.sign(b[~np.isfinite(b)]))
        finite = band_tests(fx, fb, 0.0, band) if len(fx) >= 2 and len(fb) >= 2 else None
    equal_part = "the same share, not different" if shared else "not shown equal"
    if finite is None:
        equiv = Outcome(f"intersection-union: fewer than 2 finite runs in an arm for TOST; {counts}: {equal_part}")
        return equiv, Outcome(
            f"Fisher's exact test on the infinite values ({counts}), two-sided"
            if b is not None
            else f"sign test beyond the band ({counts}), two-sided",
            p_for=float(min(1.0, p_counts)),
        )
    f_equiv, f_beyond = finite
    equiv = Outcome(
        f"intersection-union: {f_equiv.test} on the finite runs, and {counts}: {equal_part}",
        estimate=f_equiv.estimate,
        low=f_equiv.low,
        high=f_equiv.high,
        level=f_equiv.level,
    )
    if not shared:  # the infinite part is not shown equal, so neither is the whole
        equiv.p_for = 1.0
    elif f_equiv.exact is not None:  # the finite runs' difference is exact and the infinite ones match
        equiv.exact = f_equiv.exact
    else:
        equiv.p_for = f_equiv.p_for
    beyond_p = min(1.0, 2 * min(1.0 if f_beyond.p_for is None else f_beyond.p_for, p_counts))
    count_test = "Fisher's exact test on the infinite values" if b is not None else "a sign test beyond the band"
    beyond = Outcome(
        f"union: {f_beyond.test} on the finite runs, or {count_test} ({counts}); the smaller p doubled",
        float(beyond_p),
        estimate=f_beyond.estimate,
        low=f_beyond.low,
        high=f_beyond.high,
        level=f_beyond.level,
    )
    return equiv, beyond


def difference(a: np.ndarray, b: np.ndarray | None, target: float, ranked: bool = False) -> Outcome | None:
    """The two-sided test of any difference, shown beside an equivalence verdict so that a
    gap inside the band is seen (p_for: its two-sided p); None when the values decide exactly."""
    outcome = ordering(a, b, target, ">", two_sided=True, ranked=ranked)
    if outcome.p_for is None:
        return None
    outcome.p_for = min(outcome.p_for, outcome.p_against)
    return outcome


def change_tests(changes: np.ndarray, band: float) -> tuple[Outcome, Outcome]:
    """(|change| beyond the band, within it) for per-seed |changes|: one-sample one-sided
    tests of their mean against the band (the sign test when a change is infinite)."""
    beyond, within = ordering(changes, None, band, ">"), ordering(changes, None, band, "<")
    for outcome in (beyond, within):  # shown as the mean |change| itself, beside the band
        outcome.of = "mean |change|"
        outcome.estimate, outcome.low, outcome.high = (
            None if v is None else v + band for v in (outcome.estimate, outcome.low, outcome.high)
        )
    return beyond, within


def counts(
    k_a: int, n_a: int, k_b: int | None, n_b: int | None, rate: float | None, op: str, two_sided: bool = False
) -> Outcome:
    """How often something happened (diverged, at chance): Fisher's exact test between two
    arms, or an exact binomial test of one arm against `rate`."""
    alt_for, alt_against = _alternatives(op, two_sided)
    if k_b is None:
        name, p = (
            "binomial test, exact",
            [st.binomtest(k_a, n_a, rate, alternative=alt).pvalue for alt in (alt_for, alt_against)],
        )
        estimate = k_a / n_a - rate
    else:
        table = [[k_a, n_a - k_a], [k_b, n_b - k_b]]
        name, p = (
            "Fisher's exact test",
            [st.fisher_exact(table, alternative=alt).pvalue for alt in (alt_for, alt_against)],
        )
        estimate = k_a / n_a - k_b / n_b
    outcome = Outcome(f"{name}, {'two-sided' if two_sided else 'one-sided'}", float(p[0]), float(p[1]), estimate)
    sign = 1.0 if op == ">" else -1.0
    return _split(outcome, float(np.sign(estimate)) * sign) if two_sided else outcome


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjustment of m p-values (family-wise error at the same alpha)."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted, running = [1.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def benjamini_hochberg(p_values: list[float]) -> list[float]:
    """Benjamini-Hochberg q-values of m p-values: the smallest false discovery rate at which
    each would be a discovery (the report-wide error rate, over every claim's p)."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i], reverse=True)
    q, running = [1.0] * m, 1.0
    for from_top, i in enumerate(order):
        running = min(running, p_values[i] * m / (m - from_top))
        q[i] = min(1.0, running)
    return q
