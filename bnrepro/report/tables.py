"""`bnrepro table DIR...`: comparison tables and claim verdicts from runs' summary.json files.

One row per configuration (the config keys that differ between the runs, seed
aside), each metric as mean +- std over seeds with n. Runs that diverged are counted
(column `diverged`) and left out of the means; unfinished runs (pending, running,
interrupted, failed, or killed: see summaries.shown_status) are left out and
reported. Writes <out>/<experiment>.csv, <experiment>.md (with provenance: command,
seeds, device, commit) and <experiment>.claims.json (read by `bnrepro report`).
"""
from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from ..run.files import atomic_write
from .claims import judge
from .format import markdown_table, mean_std
from . import paper_table
from .summaries import config_keys, load_summaries, metric_column, with_history_metrics
from .words import footnotes, header

BASE_METRICS = ("test_acc_final", "test_acc_best", "best_step")


def aggregate(runs: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    keys = config_keys(runs)
    rows = []
    for values, group in runs.groupby(keys, sort=True, dropna=False) if keys else [((), runs)]:
        values = values if isinstance(values, tuple) else (values,)
        row = {k.removeprefix("config."): v for k, v in zip(keys, values)}
        usable = group[group["status"] == "completed"]
        row["n"] = len(usable)
        row["diverged"] = int((group["status"] == "diverged").sum())
        row["seeds"] = " ".join(str(s) for s in sorted(usable["config.seed"]))
        for metric in metrics:
            column = metric_column(metric)
            data = pd.to_numeric(usable[column], errors="coerce") if column in usable else pd.Series(dtype=float)
            row[f"{metric} mean"] = data.mean() if len(data) else math.nan
            row[f"{metric} std"] = data.std(ddof=1) if len(data) > 1 else math.nan
        rows.append(row)
    return pd.DataFrame(rows)


def display(table: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    keys = [c for c in table.columns if not c.endswith((" mean", " std")) and c not in ("n", "diverged", "seeds")]
    shown = table[keys].copy()
    for metric in metrics:
        label = header(metric)
        fmt = (lambda m, s: "n/a" if not math.isfinite(m) else f"{m:.0f}") if metric == "best_step" else mean_std
        shown[label] = [fmt(m, s) for m, s in zip(table[f"{metric} mean"], table[f"{metric} std"])]
    for column in ("n", "diverged", "seeds"):
        shown[column] = table[column]
    return shown


def provenance_lines(runs: pd.DataFrame, sources: list[Path]) -> list[str]:
    def unique(column):
        return sorted({str(v) for v in runs[column].dropna()}) if column in runs else []

    commits = [f"{c[:10]}" for c in unique("commit")]
    dirty = runs["dirty"].fillna(False).astype(bool).any() if "dirty" in runs else False
    return [
        f"- produced by: `bnrepro table {' '.join(map(str, sources))}` on "
        f"{datetime.now(timezone.utc).strftime('%Y-%m-%d')} from {len(runs)} runs",
        *[f"- trained by: `{c}`" for c in unique("command")],
        f"- device: {', '.join(unique('device_name'))}",
        f"- commit: {', '.join(commits)}{' (with uncommitted changes)' if dirty else ''}",
        f"- steps per run: {', '.join(unique('steps_done'))}; runs trained together per process: "
        f"{', '.join(unique('runs_trained_together'))}",
    ]


def write_tables(paths: list[Path], out: Path) -> list[Path]:
    runs = load_summaries(paths)
    written = []
    out.mkdir(parents=True, exist_ok=True)
    for name, group in runs.groupby("name", sort=True):
        columns = json.loads(group["config.report.columns"].iloc[0]) if "config.report.columns" in group else []
        claims = json.loads(group["config.report.claims"].iloc[0]) if "config.report.claims" in group else []
        metrics = list(BASE_METRICS) + [c for c in columns if c not in BASE_METRICS]
        group = with_history_metrics(group, metrics + [c["metric"] for c in claims])
        paper = paper_table.spec(group)
        if paper:
            group = paper_table.with_steps_to_baseline(group, paper)
        table = aggregate(group, metrics)
        shown = display(table, metrics)
        verdicts = [judge(group, claim) for claim in claims]
        skipped = group[~group["status"].isin(["completed", "diverged"])]
        provenance = provenance_lines(group, paths)
        lines = [f"# {name}", "", markdown_table(shown), "",
                 "Mean ± sample std over seeds (n = completed runs); diverged runs are counted, not averaged.",
                 *footnotes(metrics), "", *provenance]
        if len(skipped):
            lines.append(f"- left out: {len(skipped)} runs not finished ("
                         f"{', '.join(sorted(set(skipped['status'])))})")
        if paper:
            lines += ["", *paper_table.markdown(group, paper)]
        if verdicts:
            lines += ["", "## Claims", "", markdown_table(pd.DataFrame(
                [{"claim": v["text"], "source": v["source"], "verdict": v["verdict"], "evidence": v["evidence"]}
                 for v in verdicts]))]
        atomic_write(out / f"{name}.csv", table.to_csv(index=False))
        atomic_write(out / f"{name}.md", "\n".join(lines) + "\n")
        claims_file = {"experiment": name, "runs": len(group), "provenance": provenance,
                       "claims": verdicts}
        atomic_write(out / f"{name}.claims.json", json.dumps(claims_file, indent=2) + "\n")
        written += [out / f"{name}.csv", out / f"{name}.md"]
    return written


