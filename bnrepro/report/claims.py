"""Claim verdicts: whether the runs show what an experiment's claim says.

A claim (config ClaimConfig) compares a metric of one arm (`where`) with another arm
(`than`), another metric (`than_metric`) or a threshold (`value`).
"""
from __future__ import annotations

import math

import pandas as pd

from .format import mean_std
from .summaries import TableError, metric_column


def _same(stored, wanted: str) -> bool:
    """A config value against a condition's text: numbers as numbers (10 == 10.0)."""
    try:
        return float(stored) == float(wanted)
    except (TypeError, ValueError):
        return str(stored).lower() == wanted.lower()


def _select(runs: pd.DataFrame, condition: str) -> pd.DataFrame:
    """Completed runs matching 'key=value,key=value' over config keys."""
    mask = pd.Series(True, index=runs.index)
    for part in filter(None, condition.split(",")):
        key, _, value = part.partition("=")
        column = f"config.{key.strip()}"
        if column not in runs:
            raise TableError(f"claim condition {part!r}: no config key {key!r}")
        wanted = value.strip()
        mask &= runs[column].map(lambda stored, wanted=wanted: _same(stored, wanted))
    return runs[mask & (runs["status"] == "completed")]


def judge(runs: pd.DataFrame, claim: dict) -> dict:
    """A claim's verdict from the completed runs: reproduced, not reproduced, or untested."""

    def stats(condition: str, metric: str):
        column = metric_column(metric)
        values = pd.to_numeric(_select(runs, condition).get(column, pd.Series(dtype=float)), errors="coerce").dropna()
        return values.mean() if len(values) else math.nan, values.std(ddof=1) if len(values) > 1 else 0.0, len(values)

    metric, factor, op = claim["metric"], claim.get("factor", 1.0), claim["op"]
    mean, std, n = stats(claim["where"], metric)
    scaled = "" if factor == 1.0 else f"{factor:g} × "
    if claim.get("value") is not None:
        target, spread = factor * claim["value"], std / math.sqrt(max(n, 1))
        evidence = f"{metric}: {mean_std(mean, std)} (n={n}, {claim['where']}) vs threshold {scaled}{claim['value']}"
    else:
        other_metric = claim.get("than_metric") or metric
        arm = claim.get("than") or claim["where"]
        other, other_std, other_n = stats(arm, other_metric)
        target = factor * other
        spread = math.sqrt(std**2 / max(n, 1) + (factor * other_std) ** 2 / max(other_n, 1))
        evidence = (f"{metric}: {mean_std(mean, std)} (n={n}, {claim['where']}) vs {scaled}{other_metric}: "
                    f"{mean_std(other, other_std)} (n={other_n}, {arm})")
    if op in ("=", "!="):
        evidence += f"; relative tolerance {claim.get('tol', 0.01):g}"
    if not (math.isfinite(mean) and math.isfinite(target)):
        return {**claim, "verdict": "untested (no completed runs)", "evidence": evidence}
    if op in ("=", "!="):
        equal = abs(mean - target) <= claim.get("tol", 0.01) * max(abs(target), 1e-30)
        verdict = "reproduced" if equal == (op == "=") else "not reproduced"
    else:
        holds = mean > target if op == ">" else mean < target
        verdict = "reproduced" if holds else "not reproduced"
        if holds and abs(mean - target) < 2 * spread:
            verdict = "reproduced (weak: within 2 standard errors)"
    return {**claim, "verdict": verdict, "evidence": evidence}
