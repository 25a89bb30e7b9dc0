"""Runs as rows: every summary.json under the given paths, flattened into one table."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ..config import WHERE_KEYS, flatten

# Keys that differ between runs without making them different configurations.
_NOT_CONFIG = ("config.seed", *(f"config.{key}" for key in WHERE_KEYS))


class TableError(ValueError):
    pass


def load_summaries(paths: list[Path]) -> pd.DataFrame:
    files = []
    for path in paths:
        if path.is_file() and path.name == "summary.json":
            files.append(path)
        elif path.is_dir():
            files += sorted(path.rglob("summary.json"))
        else:
            raise TableError(f"{path}: not a run directory, sweep directory or summary.json")
    if not files:
        raise TableError(f"no summary.json under {', '.join(map(str, paths))}: nothing has finished there")
    rows = []
    for file in files:
        summary = json.loads(file.read_text())
        row = {k: v for k, v in summary.items() if not isinstance(v, dict)}
        row.update({f"config.{k}": _hashable(v) for k, v in flatten(summary["config"]).items()})
        for kind in ("first", "final", "median"):
            row.update({f"{kind}:{tag}": v for tag, v in summary.get(kind, {}).items()})
        for tag, last in summary.get("final", {}).items():
            first = summary.get("first", {}).get(tag)
            if first is not None and last is not None:
                row[f"change:{tag}"] = abs(last - first)
        row["path"] = str(file.parent)
        rows.append(row)
    return pd.DataFrame(rows)


def _hashable(value):
    return json.dumps(value) if isinstance(value, (list, dict)) else value


def metric_column(metric: str) -> str:
    """'test_acc_final' -> itself; 'grad_norm/layer_01' -> 'final:...'; 'x:median' -> 'median:x';
    'x:change' -> 'change:x' (|final - first|)."""
    if "/" not in metric:
        return metric
    tag, _, how = metric.partition(":")
    return f"{how or 'final'}:{tag}"


def config_keys(runs: pd.DataFrame) -> list[str]:
    """Config keys whose values differ between runs (seed and locations aside)."""
    keys = [c for c in runs.columns if c.startswith("config.") and c not in _NOT_CONFIG
            and not c.startswith("config.report.")]
    return [k for k in keys if runs[k].astype(str).nunique() > 1]
