"""`bnrepro table DIR...`: comparison tables and claim verdicts from runs' summary.json files.

One row per configuration (the config keys that differ between the runs, seed
aside), each metric as mean +- std over seeds with n. Runs that diverged are counted
(column `diverged`) and left out of the means; interrupted runs are left out and
reported. Writes <out>/<experiment>.csv, <experiment>.md (with provenance: command,
seeds, device, commit) and <experiment>.claims.json (read by `bnrepro report`).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from .config import WHERE_KEYS, flatten
from .writers import atomic_write

BASE_METRICS = ("test_acc_final", "test_acc_best", "best_step")
LABELS = {"test_acc_final": "test acc (final)", "test_acc_best": "test acc (best)", "best_step": "step of best"}
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


def _fmt(mean: float, std: float) -> str:
    if not math.isfinite(mean):
        return "n/a"
    big_or_small = mean != 0 and (abs(mean) < 1e-2 or abs(mean) >= 1e4)
    f = (lambda v: f"{v:.2e}") if big_or_small else (lambda v: f"{v:.4f}")
    return f(mean) if not math.isfinite(std) else f"{f(mean)} ± {f(std)}"


def markdown_table(frame: pd.DataFrame) -> str:
    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(str(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def display(table: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    keys = [c for c in table.columns if not c.endswith((" mean", " std")) and c not in ("n", "diverged", "seeds")]
    shown = table[keys].copy()
    for metric in metrics:
        label = LABELS.get(metric, metric)
        fmt = (lambda m, s: "n/a" if not math.isfinite(m) else f"{m:.0f}") if metric == "best_step" else _fmt
        shown[label] = [fmt(m, s) for m, s in zip(table[f"{metric} mean"], table[f"{metric} std"])]
    for column in ("n", "diverged", "seeds"):
        shown[column] = table[column]
    return shown


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
        evidence = f"{metric}: {_fmt(mean, std)} (n={n}, {claim['where']}) vs threshold {scaled}{claim['value']}"
    else:
        other_metric = claim.get("than_metric") or metric
        arm = claim.get("than") or claim["where"]
        other, other_std, other_n = stats(arm, other_metric)
        target = factor * other
        spread = math.sqrt(std**2 / max(n, 1) + (factor * other_std) ** 2 / max(other_n, 1))
        evidence = (f"{metric}: {_fmt(mean, std)} (n={n}, {claim['where']}) vs {scaled}{other_metric}: "
                    f"{_fmt(other, other_std)} (n={other_n}, {arm})")
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
        table = aggregate(group, metrics)
        shown = display(table, metrics)
        verdicts = [judge(group, claim) for claim in claims]
        skipped = group[~group["status"].isin(["completed", "diverged"])]
        provenance = provenance_lines(group, paths)
        lines = [f"# {name}", "", markdown_table(shown), "",
                 "Mean ± sample std over seeds (n = completed runs); diverged runs are counted, not averaged.", "",
                 *provenance]
        if len(skipped):
            lines.append(f"- left out: {len(skipped)} runs not finished ("
                         f"{', '.join(sorted(set(skipped['status'])))})")
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


def write_report(results: Path) -> Path:
    """results/claims.md: every experiment's claims and verdicts, from <experiment>.claims.json."""
    files = sorted(results.glob("*.claims.json"))
    if not files:
        raise TableError(f"no *.claims.json in {results}: run `bnrepro table` first")
    rows, counts, sections = [], {}, []
    for file in files:
        entry = json.loads(file.read_text())
        for claim in entry["claims"]:
            verdict = claim["verdict"]
            kind = "reproduced weakly" if "weak" in verdict else verdict.split(" (")[0]
            counts[kind] = counts.get(kind, 0) + 1
            rows.append({"experiment": f"[{entry['experiment']}]({entry['experiment']}.md)", "claim": claim["text"],
                         "source": claim["source"], "verdict": verdict, "evidence": claim["evidence"]})
        sections += [f"### {entry['experiment']} ({entry['runs']} runs)", "", *entry["provenance"], ""]
    lines = ["# Claims and verdicts", "",
             "Every claim an experiment in conf/experiment/ tests, judged from its runs by `bnrepro table` "
             "(means over seeds; 'weak' when the difference is within 2 standard errors). "
             f"Totals: {', '.join(f'{v} {k}' for k, v in sorted(counts.items()))}.", "",
             markdown_table(pd.DataFrame(rows)), "", "## Where the numbers come from", "", *sections]
    atomic_write(results / "claims.md", "\n".join(lines))
    return results / "claims.md"


def report_main(args: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bnrepro report", description=write_report.__doc__)
    parser.add_argument("--results", type=Path, default=Path("results"), help="folder of tables (default: results)")
    opts = parser.parse_args(args)
    try:
        print(write_report(opts.results))
    except TableError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0
