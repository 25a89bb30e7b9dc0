"""Claim verdicts: whether the runs show what an experiment's claim says, by a stated test.

A claim (config ClaimConfig) compares a metric of one arm (`where`) with another arm
(`than`: Welch's two-sample test), with another metric of the same runs (`than_metric`
without `than`: a paired test on the per-run differences) or with a threshold
(`value`: a one-sample test). The rule (README, "Claim verdicts"):

- fewer than 2 completed runs in an arm: `insufficient`;
- `paired: true` (an identity that holds seed by seed, e.g. scale invariance): the
  per-seed differences between the arms, tested against 0, instead of Welch;
- `>` / `<`: one-sided t-test in the claimed direction: `reproduced` at p < 0.05,
  `weak` when the difference has the claimed sign but p >= 0.05, else `not reproduced`;
- `=` (within the relative tolerance `tol`): `reproduced` when the 95% confidence
  interval of the difference lies inside +-tol x |target|, `weak` when only the point
  estimate does, else `not reproduced`; `!=` the mirror image (the interval outside).

A claim never pools configurations: when the runs vary in keys the claim does not name
(a user's sweep), it is judged once per combination of those keys.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats as st

from ..config import ConfigError, arms
from .format import mean_std
from .summaries import TableError, metric_column

ALPHA = 0.05
VERDICTS = ("reproduced", "weak", "not reproduced", "insufficient")


def _flat(row: pd.Series) -> dict:
    return {k.removeprefix("config."): v for k, v in row.items()
            if k.startswith("config.") and not (isinstance(v, float) and math.isnan(v))}


def judge(runs: pd.DataFrame, claim: dict) -> list[dict]:
    """One verdict per combination of the keys the claim leaves unpinned (usually one)."""
    runs = runs[runs["status"].isin(["completed", "diverged"])]
    flats = [_flat(row) for _, row in runs.iterrows()]
    try:
        keys = arms.spread_keys(flats, claim)
        arm_conditions = arms.arms(claim)
    except ConfigError as e:
        raise TableError(f"claim {claim['text']!r}: {e}") from None
    if not keys:
        return [_judge_one(runs, flats, claim, arm_conditions, "")]
    combos = sorted({tuple(str(f.get(k)) for k in keys) for f in flats
                     if any(arms.matches(f, c) for c in arm_conditions)})
    verdicts = []
    for combo in combos:
        keep = [all(str(f.get(k)) == v for k, v in zip(keys, combo)) for f in flats]
        label = ", ".join(f"{k}={v}" for k, v in zip(keys, combo))
        verdicts.append(_judge_one(runs[keep], [f for f, k in zip(flats, keep) if k], claim, arm_conditions, label))
    return verdicts


def _arm(runs: pd.DataFrame, flats: list[dict], cond: dict, metric: str) -> tuple[pd.DataFrame, np.ndarray, int]:
    """(the arm's completed runs, their values of the metric, how many of the arm diverged)."""
    chosen = runs[[arms.matches(f, cond) for f in flats]]
    done = chosen[chosen["status"] == "completed"]
    column = metric_column(metric)
    values = pd.to_numeric(done[column], errors="coerce") if column in done else pd.Series(np.nan, index=done.index)
    return done, values.to_numpy(dtype=float), int((chosen["status"] == "diverged").sum())


def _mean_std(values: np.ndarray) -> str:
    finite = values[np.isfinite(values)]
    return mean_std(finite.mean() if len(finite) else math.nan, finite.std(ddof=1) if len(finite) > 1 else math.nan)


def _describe(metric: str, values: np.ndarray, diverged: int, where: str) -> str:
    extra = f", {diverged} diverged (left out)" if diverged else ""
    return f"{metric}: {_mean_std(values)} (n={np.isfinite(values).sum()}{extra}; {where})"


def _judge_one(runs, flats, claim: dict, arm_conditions: list[dict], combination: str) -> dict:
    metric, factor, op = claim["metric"], claim.get("factor", 1.0) or 1.0, claim["op"]
    scaled = "" if factor == 1.0 else f"{factor:g} × "
    done, a, diverged = _arm(runs, flats, arm_conditions[0], metric)
    other_diverged = 0
    parts, measured = [_describe(metric, a, diverged, claim["where"])], [_mean_std(a)]
    if claim.get("value") is not None:
        b, kind = None, "one-sample t"
        target = reference = factor * claim["value"]
        parts.append(f"threshold {scaled}{claim['value']:g}")
        measured.append(f"{scaled}{claim['value']:g}")
    elif claim.get("than"):
        other_metric = claim.get("than_metric") or metric
        other_done, b_raw, other_diverged = _arm(runs, flats, arm_conditions[1], other_metric)
        b, kind = factor * b_raw, "Welch"
        parts.append(_describe(f"{scaled}{other_metric}", b_raw, other_diverged, claim["than"]))
        measured.append(f"{scaled}{_mean_std(b_raw)}")
        if claim.get("paired"):  # an identity per seed: the difference is taken seed by seed
            mine = pd.Series(a, index=done["config.seed"].to_numpy())
            theirs = pd.Series(b, index=other_done["config.seed"].to_numpy())
            seeds = sorted(set(mine.dropna().index) & set(theirs.dropna().index))
            a, b, kind = (mine[seeds] - theirs[seeds]).to_numpy(dtype=float), None, "paired by seed"
            target, reference = 0.0, float(theirs[seeds].mean()) if seeds else math.nan
            parts.append(f"paired by seed ({len(seeds)} seeds in both arms)")
    else:  # another metric of the same runs: paired
        other = metric_column(claim["than_metric"])
        b_raw = pd.to_numeric(done[other], errors="coerce").to_numpy(dtype=float) if other in done else a * np.nan
        ok = np.isfinite(a) & np.isfinite(b_raw)
        measured.append(f"{scaled}{_mean_std(b_raw)}")
        a, b, kind = a[ok] - factor * b_raw[ok], None, "paired t"
        target, reference = 0.0, factor * b_raw[ok].mean() if ok.any() else math.nan
        parts.append(f"{scaled}{claim['than_metric']} of the same runs (paired difference)")
    a = a[np.isfinite(a)]
    if b is not None:
        b = b[np.isfinite(b)]
        target = reference = b.mean() if len(b) else math.nan
    result = {**claim, "combination": combination, "measured": " vs ".join(measured),
              "n": [len(a)] + ([len(b)] if b is not None else []),
              "diverged": diverged + other_diverged, "p": None, "difference": None, "ci": None}
    if len(a) < 2 or (b is not None and len(b) < 2):
        return {**result, "verdict": "insufficient",
                "evidence": "; ".join(parts) + "; fewer than 2 completed runs in an arm"}
    diff, low, high, p = _difference(a, b, target, op)
    tol = claim.get("tol", 0.01)
    if op in ("=", "!="):
        band = tol * max(abs(reference), 1e-30)
        inside_ci, inside_point = -band <= low and high <= band, abs(diff) <= band
        outside_ci = high < -band or low > band
        if op == "=":
            verdict = "reproduced" if inside_ci else "weak" if inside_point else "not reproduced"
        else:
            verdict = "reproduced" if outside_ci else "weak" if not inside_point else "not reproduced"
        rule = f"tolerance ±{band:.3g} ({tol:g} relative)"
    else:
        holds = diff > 0 if op == ">" else diff < 0
        verdict = "not reproduced" if not holds else "reproduced" if p < ALPHA else "weak"
        rule = f"p = {p:.2g} ({kind}, one-sided)"
    parts.append(f"difference {diff:+.3g} [95% CI {low:+.3g}, {high:+.3g}]; {rule}")
    return {**result, "verdict": verdict, "evidence": "; ".join(parts), "p": _num(p), "difference": _num(diff),
            "ci": [_num(low), _num(high)]}


def _num(value) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _difference(a: np.ndarray, b: np.ndarray | None, target: float, op: str):
    """(mean difference, 95% CI low, high, one-sided p in the claimed direction)."""
    alternative = {">": "greater", "<": "less"}.get(op, "two-sided")
    if b is None:  # one sample (or paired differences) against `target`
        diff, se, df = a.mean() - target, a.std(ddof=1) / math.sqrt(len(a)), len(a) - 1
        p = st.ttest_1samp(a, target, alternative=alternative).pvalue if se > 0 else math.nan
    else:
        va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
        diff, se = a.mean() - b.mean(), math.sqrt(va + vb)
        df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1)) if se > 0 else 1
        p = st.ttest_ind(a, b, equal_var=False, alternative=alternative).pvalue if se > 0 else math.nan
    if se == 0:  # every value identical: the difference is exact
        holds = diff > 0 if op == ">" else diff < 0 if op == "<" else diff != 0
        return diff, diff, diff, 0.0 if holds else 1.0
    half = st.t.ppf(0.975, df) * se
    return diff, diff - half, diff + half, float(p)
