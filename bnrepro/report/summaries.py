"""Runs as rows: every summary.json under the given paths, flattened into one table.

`select_runs` is what tables and figures both count: each run directory once, however
the paths overlap; of two runs with the same configuration and seed (a sweep run
twice), the newest; and the runs a sweep planned (planned_runs.json, written by the
launcher) that left no summary, named.
"""

from __future__ import annotations

import functools
import json
import math
import os
import platform
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from ..config import NORMS, arms, flatten, from_plain, is_plain_name, to_plain
from ..config.metric import Metric
from ..config.status import FINISHED, KILLED, RUNNING
from ..run import lock
from ..run.files import PLANNED_RUNS

# Runs without a lock file (written before run/lock.py): a `running` summary not updated
# for this long belongs to a killed process (a live run rewrites it at every checkpoint
# and at least every run.loop.HEARTBEAT_S = 60 s at a probe step).
STALE_S = 600

# Keys that differ between runs without making them different configurations.
_NOT_CONFIG = tuple(f"config.{key}" for key in arms.NOT_CONFIG)

# A run is at chance when its best test accuracy is below 2 / classes (every data set
# here has 10 classes): it never learned, whatever else it logged.
AT_CHANCE = 0.2


class TableError(ValueError):
    pass


@dataclass
class Selection:
    runs: pd.DataFrame  # one row per sample: completed, diverged or unfinished
    replaced: list = field(default_factory=list)  # (older run, newer run) of one configuration and seed
    missing: list = field(default_factory=list)  # (experiment, run) planned that left no summary


def _summary_files(paths: list[Path]) -> list[Path]:
    files = []
    for path in paths:
        if path.is_file() and path.name == "summary.json":
            files.append(path)
        elif path.is_dir():
            files += sorted(path.rglob("summary.json"))
        else:
            raise TableError(f"{path}: not a run directory, sweep directory or summary.json")
    unique = list(dict.fromkeys(f.resolve() for f in files))  # overlapping paths: each run once
    if not unique:
        raise TableError(f"no summary.json under {', '.join(map(str, paths))}: nothing has finished there")
    return unique


def select_runs(paths: list[Path]) -> Selection:
    runs = load_summaries(paths)
    where = set(_NOT_CONFIG) - {"config.seed"}  # the seed is part of a sample's identity
    same = [
        c for c in runs.columns if c.startswith("config.") and c not in where and not c.startswith("config.report.")
    ]
    key = runs[same].apply(lambda row: "|".join(map(str, row)), axis=1)
    # The sample kept is the newest finished run (completed or diverged); an unfinished rerun
    # (pending, running, killed, interrupted) never replaces a finished one.
    done = runs["status"].isin(FINISHED)
    order = runs.assign(
        _key=key, _done=done, _finished=runs.get("finished", pd.Series("", index=runs.index)).fillna("")
    )
    order = order.sort_values(["_done", "_finished", "path"])
    newest = order.drop_duplicates("_key", keep="last")
    replaced = [
        (Path(old).name, Path(newest.loc[newest["_key"] == k, "path"].iloc[0]).name)
        for old, k in zip(order["path"], order["_key"])
        if old not in set(newest["path"])
    ]
    missing = []
    for path in paths:
        for plan in sorted(path.rglob(PLANNED_RUNS)) if path.is_dir() else []:
            found = {Path(p).name for p in runs["path"] if Path(p).parent == plan.parent.resolve()}
            planned = json.loads(plan.read_text())
            missing += [(planned["experiment"], name) for name in planned["runs"] if name not in found]
    kept = runs.loc[newest.sort_index().index].reset_index(drop=True)
    return Selection(kept, replaced, sorted(set(missing)))


def load_summaries(paths: list[Path]) -> pd.DataFrame:
    rows = []
    for file in _summary_files(paths):
        summary = json.loads(file.read_text())
        if not is_plain_name(str(summary.get("name", ""))):  # it names the output files
            raise TableError(
                f"{file}: experiment name {summary.get('name')!r} is not a plain file name; "
                f"refusing to write outside the output folder"
            )
        summary["status"] = shown_status(summary, run_dir=file.parent)
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


def shown_status(summary: dict, now: datetime | None = None, run_dir: Path | None = None) -> str:
    """`killed` for a run that says `running` but whose process is gone; the summary's own
    status otherwise. Where the run's group has its lock file (run/lock.py) the lock
    decides: held, the run is alive however slow; not held, killed. Without one (runs of
    older versions): a dead pid on this host, or a summary not updated for STALE_S."""
    if summary.get("status") != RUNNING:
        return summary.get("status", "unknown")
    first = _lock_dir(summary, run_dir)
    if first is not None and lock.path_for(first).exists():
        return RUNNING if lock.holder(first) is not None else KILLED
    if summary.get("host") == platform.node() and summary.get("pid"):
        try:
            os.kill(summary["pid"], 0)
        except ProcessLookupError:
            return KILLED
        except PermissionError:
            pass  # alive, another user's
    updated = summary.get("updated")
    now = now or datetime.now(timezone.utc)
    if not updated or (now - datetime.fromisoformat(updated)).total_seconds() > STALE_S:
        return KILLED
    return RUNNING


def _lock_dir(summary: dict, run_dir: Path | None) -> Path | None:
    """The run directory that holds the lock of run_dir's group: the group's first, a sibling."""
    if run_dir is None:
        return None
    group = summary.get("group")
    first = group[0] if isinstance(group, list) and group else run_dir.name
    return run_dir.parent / first if is_plain_name(str(first)) else None


def _hashable(value):
    return json.dumps(value) if isinstance(value, (list, dict)) else value


def steps_to(history: pd.DataFrame, tag: str, threshold: float) -> float:
    """The first logged step at which `tag` is >= threshold; +inf if it never is (censored:
    later than the run could tell); NaN if the run never logged the tag."""
    if tag not in history or history[tag].isna().all():
        return float("nan")
    series = history[["step", tag]].dropna()
    reached = series[series[tag] >= threshold]
    return float(reached["step"].iloc[0]) if len(reached) else math.inf


def median_until(history: pd.DataFrame, tag: str, last: int) -> float:
    """The median of `tag` over its values logged at steps up to `last`; NaN if it has none there."""
    if tag not in history:
        return float("nan")
    window = history.loc[history["step"] <= last, tag].dropna()
    return float(window.median()) if len(window) else float("nan")


def with_history_metrics(runs: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """Add the columns of metrics read from each run's scalars.csv rather than its summary:
    'tag:steps_to=X', the first logged step at which the tag reached X (+inf: never), and
    'tag:median<=N', its median over the steps up to N (a window)."""
    wanted = {spec.column: spec for spec in map(Metric.parse, metrics) if spec.from_history}
    if not wanted:
        return runs
    histories = {path: pd.read_csv(Path(path) / "scalars.csv") for path in runs["path"]}
    runs = runs.copy()
    for column, spec in wanted.items():
        read = (
            (lambda h: steps_to(h, spec.tag, spec.target))
            if spec.how == "steps_to"
            else (lambda h: median_until(h, spec.tag, spec.until))
        )
        runs[column] = [read(histories[path]) for path in runs["path"]]
    return runs


def config_keys(runs: pd.DataFrame) -> list[str]:
    """Config keys whose values differ between runs (seed and locations aside), in the
    schema's order: the same whichever other experiments' runs were read with them."""
    keys = [
        c
        for c in runs.columns
        if c.startswith("config.") and c not in _NOT_CONFIG and not c.startswith("config.report.")
    ]
    order = _schema_order()
    keys.sort(key=lambda k: (order.get(k, len(order)), k))
    return [k for k in keys if runs[k].astype(str).nunique() > 1]


@functools.cache
def _schema_order() -> dict[str, int]:
    """config.<key> -> its position in the schema (every norm layer's options included)."""
    keys: list[str] = []
    for kind in NORMS:
        plain = to_plain(from_plain({"model": {"norm": {"kind": kind}}}))
        previous = -1
        for key in (f"config.{k}" for k in flatten(plain)):  # a kind's own keys go after its earlier ones
            if key not in keys:
                keys.insert(previous + 1, key)
            previous = keys.index(key)
    return {k: i for i, k in enumerate(keys)}
