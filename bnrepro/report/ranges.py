"""The range of one numeric key (a learning rate) over which runs reach a threshold.

For each configuration of the other keys: the values of the key tried, those whose
mean final test accuracy (over completed seeds) reaches the threshold, the lowest and
highest such value and how many decades they span. A value whose runs all diverged
counts as not reaching it.
"""

from __future__ import annotations

import math

import pandas as pd

from ..config.status import COMPLETED
from .summaries import config_keys


def trainable_range(runs: pd.DataFrame, key: str, threshold: float) -> pd.DataFrame:
    column = f"config.{key}"
    others = [k for k in config_keys(runs) if k != column]
    rows = []
    for values, group in runs.groupby(others, sort=True, dropna=False) if others else [((), runs)]:
        values = values if isinstance(values, tuple) else (values,)
        row = {k.removeprefix("config."): v for k, v in zip(others, values)}
        done = group[group["status"] == COMPLETED]
        accuracy = done.groupby(column)["test_acc_final"].mean().reindex(sorted(group[column].unique()))
        good = [float(v) for v, acc in accuracy.items() if math.isfinite(acc) and acc >= threshold]
        row["tried"] = " ".join(f"{float(v):g}" for v in accuracy.index)
        row[f"reach {threshold:g}"] = " ".join(f"{v:g}" for v in good) or "none"
        row["lowest"] = min(good) if good else math.nan
        row["highest"] = max(good) if good else math.nan
        row["decades"] = math.log10(max(good) / min(good)) if good and min(good) > 0 else math.nan
        rows.append(row)
    return pd.DataFrame(rows)
