"""A table in the paper's Figure 3 format, beside the paper's own numbers.

For an experiment whose config has report.paper_table (fig3): the target is the
baseline variant's best accuracy as most of its seeds reach it: the median over its
completed seeds of each seed's best `metric`, minus MARGIN (the paper's target, 72.2%,
is the baseline's own best: a target only the luckiest seed reaches would make the
baseline "never" get there). Per variant (config key `variant`):
- steps to reach the target: each run's first evaluation at or above it; a run that
  never gets there is censored (+infinity: later than it could tell), not missing:
  "k of n reached" and the median over the completed seeds with never counted as
  infinitely late ("never" when the median is);
- speed-up: the baseline's median steps / the variant's (the paper: 31.0M / its steps);
- best accuracy: mean ± std over completed seeds;
- outcome: diverged (k of n seeds), at chance (best < 2 / classes), or trains;
- the paper's steps, speed-up and best accuracy for the row it names.
Each run's steps also become the column `steps_to_baseline_best` (+inf: never; a
diverged run has none), so claims can use it as a metric: claims.py ranks never (and
a diverged run) last.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from ..config.status import COMPLETED, DIVERGED
from .format import markdown_table, mean_std, steps_text
from .summaries import AT_CHANCE, steps_to

PREFIX = "config.report.paper_table."
COLUMN = "steps_to_baseline_best"  # +inf where never reached (censored), NaN for a diverged run
MARGIN = 0.005  # the target is the baseline's median best minus half a percentage point


def spec(runs: pd.DataFrame) -> dict | None:
    """The experiment's report.paper_table as plain values, or None when it asks for none."""
    # runs of several experiments read together have every experiment's columns: NaN in others
    keys = [c for c in runs.columns if c.startswith(PREFIX) and runs[c].notna().any()]
    if not keys:
        return None
    first = runs.iloc[0]
    plain = {c.removeprefix(PREFIX): first[c] for c in keys}
    plain["rows"] = json.loads(plain["rows"]) if isinstance(plain.get("rows"), str) else plain.get("rows") or []
    return plain


def _history(path: str, tag: str) -> pd.DataFrame:
    frame = pd.read_csv(Path(path) / "scalars.csv")
    return frame[["step", tag]].dropna() if tag in frame else pd.DataFrame(columns=["step", tag])


def _variant(runs: pd.DataFrame, name: str) -> pd.DataFrame:
    return runs[runs["config.variant"].astype(str) == name] if "config.variant" in runs else runs.iloc[0:0]


def target(runs: pd.DataFrame, paper: dict) -> float:
    """The baseline variant's median over its completed seeds of each seed's best metric, minus MARGIN."""
    base = _variant(runs, paper["baseline"])
    bests = [_history(p, paper["metric"])[paper["metric"]].max() for p in base[base["status"] == COMPLETED]["path"]]
    bests = [b for b in bests if math.isfinite(b)]
    return float(np.median(bests)) - MARGIN if bests else math.nan


def with_steps_to_baseline(runs: pd.DataFrame, paper: dict) -> pd.DataFrame:
    """Add each run's steps to reach the target (+inf: never; NaN: diverged) and its best."""
    goal, tag = target(runs, paper), paper["metric"]
    runs = runs.copy()
    histories = [_history(p, tag) for p in runs["path"]]
    runs[COLUMN] = [
        steps_to(h, tag, goal) if math.isfinite(goal) and status == COMPLETED else math.nan
        for h, status in zip(histories, runs["status"])
    ]
    runs["paper_best"] = [h[tag].max() if len(h) else math.nan for h in histories]
    return runs


def markdown(runs: pd.DataFrame, paper: dict) -> list[str]:
    goal, tag = target(runs, paper), paper["metric"]
    base = _variant(runs, paper["baseline"])
    base_median = _median(base.loc[base["status"] == COMPLETED, COLUMN])
    rows_by_name = {r["variant"]: r for r in paper["rows"]}
    paper_base = rows_by_name.get(paper["baseline"], {}).get("steps")
    names = [r["variant"] for r in paper["rows"]]
    names += [
        v
        for v in sorted(runs.get("config.variant", pd.Series(dtype=str)).dropna().astype(str).unique())
        if v not in names
    ]
    unit = paper.get("paper_steps_unit") or "steps"
    table = []
    for name in names:
        group = _variant(runs, name)
        if not len(group):
            continue
        done = group[group["status"] == COMPLETED]
        diverged = int((group["status"] == DIVERGED).sum())
        steps = done[COLUMN]
        ours = _median(steps)
        bests = done["paper_best"].dropna()
        best_std = bests.std(ddof=1) if len(bests) > 1 else math.nan
        outcome = (
            f"diverged ({diverged} of {len(group)})"
            if diverged
            else "at chance"
            if len(bests) and bests.max() < AT_CHANCE
            else "trains"
        )
        row = rows_by_name.get(name, {})
        p_steps, p_best = row.get("steps"), row.get("best")
        table.append(
            {
                "variant": name,
                "paper's name": row.get("paper_name", ""),
                "steps to target (ours)": steps_text(steps) if len(done) else "n/a (no completed runs)",
                "speed-up (ours)": _speed_up(base_median, ours),
                f"best {tag} (ours)": mean_std(bests.mean(), best_std) if len(bests) else "n/a",
                "outcome (ours)": outcome,
                "n": f"{len(done)} of {len(group)}",
                f"paper: steps ({unit})": "never" if row and p_steps is None else f"{p_steps:g}" if p_steps else "",
                "paper: speed-up": (
                    f"{paper_base / p_steps:.1f}×" if p_steps and paper_base else "" if not row or p_steps else "n/a"
                ),
                "paper: best": f"{p_best:.1%}" if p_best is not None else "",
            }
        )
    return [
        "## In the paper's format" + (f" ({paper['source']})" if paper.get("source") else ""),
        "",
        f"Target: the `{paper['baseline']}` variant's best {tag} as most of its seeds reach it: the median "
        f"over its completed seeds of each seed's best, minus {MARGIN * 100:g} percentage points: "
        f"**{goal:.4f}**. Steps to reach it: each run's first evaluation at or above it; a run that never "
        "gets there is censored (never = later than the run could tell): how many of the completed seeds "
        'reached it, and the median with never counted as infinitely late ("never" when the median is). '
        "Speed-up: the baseline's median steps / the variant's. Outcome: diverged (a non-finite loss ended "
        "the run), at chance (best below 2 / 10 classes), or trains. The paper's columns are its Figure 3 "
        "(ImageNet, Inception): compare the shape (which variant is faster, which is more accurate), not "
        "the values.",
        "",
        markdown_table(pd.DataFrame(table)),
        "",
        f"Claims on `{COLUMN}` rank a run that never reached the target (and a diverged run) last: "
        "with such a run in either arm they compare the arms with a rank test (Mann-Whitney U), "
        "else with Welch's t-test (docs/verdicts.md); the claims table names the test each used.",
    ]


def _median(steps: pd.Series) -> float:
    """The median steps, never (+inf) counted as infinitely late; NaN with no value."""
    values = pd.to_numeric(steps, errors="coerce").dropna()
    return float(np.median(values)) if len(values) else math.nan


def _speed_up(base: float, ours: float) -> str:
    if math.isinf(ours) and math.isfinite(base):
        return "never"
    return f"{base / ours:.1f}×" if math.isfinite(base) and math.isfinite(ours) and ours > 0 else "n/a"
