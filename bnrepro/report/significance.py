"""The statistical tests of the verdict rule (README, "Claim verdicts"), on plain arrays.

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
  the band, doubled (both directions are tested), with the 95% interval;
- counts (`diverged`, `at_chance`): Fisher's exact test, or a binomial test against a rate;
- identical values (no spread in an arm, or in the paired differences): no t-test is
  defined; the difference is then known exactly and the claim is decided by it (`exact`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as st

ALPHA = 0.05


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
        nonzero = a[a != 0]
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
    greater, less = null[observed:].sum(), null[:observed + 1].sum()
    p = {"greater": greater, "less": less}.get(alternative, 2 * min(greater, less))  # two-sided: scipy's convention
    return float(min(1.0, p))


def _direction(x: np.ndarray, b: np.ndarray | None) -> float:
    """+1 / -1 / 0: which way the runs point (the median's sign, or A's rank sum against its mean)."""
    if b is None:
        return float(np.sign(np.median(x)))
    ranks = st.rankdata(np.concatenate([x, b]))
    return float(np.sign(ranks[:len(x)].sum() - len(x) * (len(ranks) + 1) / 2))


def _split(outcome: Outcome, sign: float) -> Outcome:
    """A two-sided test's one p counts for the side the runs point to (the other gets 1)."""
    p = outcome.p_for
    outcome.p_for, outcome.p_against = (p, 1.0) if sign > 0 else (1.0, p) if sign < 0 else (1.0, 1.0)
    return outcome


def ordering(a: np.ndarray, b: np.ndarray | None, target: float, op: str, two_sided: bool = False) -> Outcome:
    """`a` op `b` (two samples) or op `target` (one sample: a threshold, or differences against
    0); `two_sided`: one two-sided test, its p counted for the side the runs point to."""
    alt_for, alt_against = _alternatives(op, two_sided)
    sided = "two-sided" if two_sided else "one-sided"
    x = a - target if b is None else a
    sign = 1.0 if op == ">" else -1.0  # the claimed side, as a sign of x (or of x - b)
    if b is None and _finite(x) and x.std() == 0:  # identical values: the difference is exact
        diff = float(x[0])
        holds = None if diff == 0 and two_sided else diff * sign > 0
        return Outcome("identical values", estimate=diff, low=diff, high=diff, exact=holds)
    if not _finite(x, b) or (b is not None and (x.std() == 0 or b.std() == 0)):
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
        p_for, p_against = (st.ttest_ind(x, b, equal_var=False, alternative=alt).pvalue
                            for alt in (alt_for, alt_against))
    low, high, level = _interval(diff, se, df, op, two_sided)
    outcome = Outcome(f"{name}, {sided}", float(p_for), float(p_against), diff, low, high, level)
    return _split(outcome, float(np.sign(diff)) * sign) if two_sided else outcome


def band_tests(a: np.ndarray, b: np.ndarray | None, target: float, band: float) -> tuple[Outcome, Outcome]:
    """(equivalence, difference beyond the band) for the difference a - b (or a - target).
    Equivalence: TOST, p the larger of the two one-sided p-values, 90% interval; beyond:
    the smaller one-sided p-value beyond +-band, doubled, 95% interval."""
    x = a - target if b is None else a
    if not _finite(x, b):
        p, name = rank_test(x, b, "two-sided")
        return Outcome("equivalence not testable: a value is infinite (diverged or never reached)"), \
            Outcome(f"{name}, two-sided (an infinite value lies beyond any band)", p_for=p)
    diff, se, df = _spread(x, b)  # one arm's values identical: Welch is a t-test against that constant
    name = "t-test" if b is None else "Welch t" if x.std() > 0 and b.std() > 0 else \
        "t-test against the other arm's identical values"
    if se == 0:  # identical values (in each arm): the difference is exact
        inside = abs(diff) <= band
        return (Outcome("identical values", estimate=diff, low=diff, high=diff, exact=inside),
                Outcome("identical values", estimate=diff, low=diff, high=diff, exact=not inside))
    t = st.t(df)
    p_equiv = max(t.sf((diff + band) / se), t.cdf((diff - band) / se))
    p_beyond = min(1.0, 2 * min(t.sf((diff - band) / se), t.cdf((diff + band) / se)))
    h90, h95 = t.ppf(0.95) * se, t.ppf(0.975) * se
    return (Outcome(f"TOST ({name})", float(p_equiv), estimate=diff, low=diff - h90, high=diff + h90, level="90%"),
            Outcome(f"{name}, beyond the band", float(p_beyond), estimate=diff, low=diff - h95, high=diff + h95,
                    level="95%"))


def change_tests(changes: np.ndarray, band: float) -> tuple[Outcome, Outcome]:
    """(|change| beyond the band, within it) for per-seed |changes|: one-sample one-sided
    tests of their mean against the band (the sign test when a change is infinite)."""
    beyond, within = ordering(changes, None, band, ">"), ordering(changes, None, band, "<")
    for outcome in (beyond, within):  # shown as the mean |change| itself, beside the band
        outcome.of = "mean |change|"
        outcome.estimate, outcome.low, outcome.high = (None if v is None else v + band
                                                       for v in (outcome.estimate, outcome.low, outcome.high))
    return beyond, within


def counts(k_a: int, n_a: int, k_b: int | None, n_b: int | None, rate: float | None, op: str,
           two_sided: bool = False) -> Outcome:
    """How often something happened (diverged, at chance): Fisher's exact test between two
    arms, or an exact binomial test of one arm against `rate`."""
    alt_for, alt_against = _alternatives(op, two_sided)
    if k_b is None:
        name, p = "binomial test, exact", [st.binomtest(k_a, n_a, rate, alternative=alt).pvalue
                                           for alt in (alt_for, alt_against)]
        estimate = k_a / n_a - rate
    else:
        table = [[k_a, n_a - k_a], [k_b, n_b - k_b]]
        name, p = "Fisher's exact test", [st.fisher_exact(table, alternative=alt).pvalue
                                          for alt in (alt_for, alt_against)]
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
