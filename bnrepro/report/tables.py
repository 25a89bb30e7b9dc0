"""`bnrepro table DIR...`: comparison tables and claim verdicts from runs' summary.json files.

One row per configuration (the config keys that differ between the runs, seed
aside, in the schema's order), each metric as mean +- std over seeds with n; a
steps-to metric as "k of n reached" and the median (never = +infinity: censored). The
runs are those summaries.select_runs keeps (each run once, the newest of reruns). Runs
that diverged are counted (column `diverged`) and left out of the means; unfinished
runs (pending, running, interrupted, failed, or killed: see summaries.shown_status) are
left out and named, and so are planned runs that left no summary. The claims judged
are the experiment file's (stated.py: post hoc where they differ from those the runs
recorded), with Holm's correction over the experiment's tests (claims.settle). Writes
<out>/<experiment>.csv, <experiment>.md (with provenance: commands, seeds, device,
commit, lengths) and <experiment>.claims.json (read by `bnrepro report`). Nothing
written depends on when or where the table is built, only on the files read:
rebuilding from the same runs gives the same bytes.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pandas as pd

from ..config.metric import Metric, MetricError
from ..config.nearest import nearest_note
from ..config.status import COMPLETED, DIVERGED, FINISHED
from ..run.files import atomic_write
from . import paper_table
from .claims import judge, settle
from .format import markdown_table, mean_std, steps_text, tree_note
from .ranges import trainable_range
from .stated import Stated, regeneration, stated
from .summaries import Selection, TableError, config_keys, select_runs, with_history_metrics
from .words import footnotes, header

BASE_METRICS = ("test_acc_final", "test_acc_best", "best_step")


def aggregate(runs: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    keys = config_keys(runs)
    rows = []
    for values, group in runs.groupby(keys, sort=True, dropna=False) if keys else [((), runs)]:
        values = values if isinstance(values, tuple) else (values,)
        row = {k.removeprefix("config."): v for k, v in zip(keys, values)}
        usable = group[group["status"] == COMPLETED]
        row["n"] = len(usable)
        row["diverged"] = int((group["status"] == DIVERGED).sum())
        row["seeds"] = " ".join(str(s) for s in sorted(usable["config.seed"]))
        for metric in metrics:
            spec = Metric.parse(metric)
            data = (
                pd.to_numeric(usable[spec.column], errors="coerce") if spec.column in usable else pd.Series(dtype=float)
            )
            if spec.censored:  # never reached = +inf: a median and a count, not a mean
                row[f"{metric} median"] = data.dropna().median() if data.notna().any() else math.nan
                row[f"{metric} reached"] = steps_text(data)
                continue
            row[f"{metric} mean"] = data.mean() if len(data) else math.nan
            row[f"{metric} std"] = data.std(ddof=1) if len(data) > 1 else math.nan
        rows.append(row)
    return pd.DataFrame(rows)


def display(table: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    keys = [
        c
        for c in table.columns
        if not c.endswith((" mean", " std", " median", " reached")) and c not in ("n", "diverged", "seeds")
    ]
    shown = table[keys].copy()
    for metric in metrics:
        label = header(metric)
        if Metric.parse(metric).censored:
            shown[label] = table[f"{metric} reached"]
            continue
        fmt = (lambda m, s: "n/a" if not math.isfinite(m) else f"{m:.0f}") if metric == "best_step" else mean_std
        shown[label] = [fmt(m, s) for m, s in zip(table[f"{metric} mean"], table[f"{metric} std"])]
    for column in ("n", "diverged", "seeds"):
        shown[column] = table[column]
    return shown


def provenance_lines(runs: pd.DataFrame, claims: Stated | None = None, record: dict | None = None) -> list[str]:
    """Where the numbers come from, from the runs' own records and reproduce.json (never the
    build's date or paths), and which claims are judged against what the runs recorded."""

    def unique(column):
        return sorted({str(v) for v in runs[column].dropna()}) if column in runs else []

    record = record or {}
    commits = [f"{c[:10]}" for c in unique("commit")]
    note = f" ({record['commit_note']})" if record.get("commit_note") else ""
    finished = unique("finished")
    lines = [
        f"- built by `bnrepro table` from {len(runs)} runs"
        + (f", finished {finished[0][:10]} to {finished[-1][:10]}" if finished else ""),
        *[f"- trained by: `{c}`" for c in unique("command")],
        f"- device: {', '.join(unique('device_name'))}",
        f"- commit: {', '.join(commits)}{tree_note(runs['dirty'] if 'dirty' in runs else [])}{note}",
        f"- steps per run: {', '.join(unique('steps_done'))}; runs trained together per process: "
        f"{', '.join(unique('runs_trained_together'))}",
        f"- profile: {profile_text(unique('config.profile'))}",
    ]
    if claims is None:
        return lines
    post_hoc = sum(claims.post_hoc)
    lines.append(
        f"- claims judged: {claims.source}; "
        + (
            f"{post_hoc} post hoc (not among the claims the runs recorded when they trained)"
            if post_hoc
            else "every one recorded by the runs when they trained"
        )
    )
    if claims.file_steps is None:  # no experiment file: nothing to compare with
        return lines
    changed = record["claims_commit"][:10] if record.get("claims_commit") else "not recorded"
    lines += [
        f"- the experiment file: {claims.file_steps:,} step{'s' * (claims.file_steps != 1)}, "
        f"seeds {claims.file_seeds or 'not swept'}; "
        f"its last commit before these runs: {changed} (reproduce.json)"
    ]
    if claims.dropped:
        lines.append(
            "- claims the runs recorded that the file no longer makes (in that form): "
            + "; ".join(f'"{text}"' for text in claims.dropped)
        )
    return lines


def profile_text(profiles: list[str]) -> str:
    """What scale the runs trained at, in words: the experiment file's own settings or a named,
    committed profile (conf/profile/NAME.yaml), so a reduced table says it is one."""
    if not profiles:
        return "not recorded (runs from before profiles: the experiment file's settings of their commit)"
    return ", ".join(
        "full (the experiment file's own settings)" if p == "full" else f"{p} (conf/profile/{p}.yaml)" for p in profiles
    )


def check_columns(columns: list[str], runs: pd.DataFrame | None = None) -> None:
    """Each --columns entry is a metric spec (config/metric.py) a table can show, and, given the
    runs, one they logged: a tag no run logs is refused with the nearest names, never shown as
    a column of n/a."""
    for column in columns:
        try:
            spec = Metric.parse(column)
        except MetricError as e:
            raise TableError(f"--columns {e}") from None
        if spec.counted:
            raise TableError(
                f"--columns {column!r}: {column} counts runs (the table's `diverged` column); "
                "a column is a value each run has"
            )
        if runs is None:
            continue
        read = ("first:", "final:", "median:", "change:")  # summaries.load_summaries' columns of logged tags
        logged = sorted(
            {c.partition(":")[2] for c in runs.columns if c.startswith(read)}
            if spec.logged
            else {c for c in runs.columns if not c.startswith(("config.", *read))}
        )
        if spec.tag not in logged:
            raise TableError(f"--columns {column!r}: no run read logs {spec.tag!r}{nearest_note(spec.tag, logged)}")


def selection_notes(selection: Selection, group: pd.DataFrame) -> list[str]:
    """What was left out and why: unfinished runs, reruns replaced, planned runs missing."""
    notes = []
    unfinished = group[~group["status"].isin(FINISHED)]
    if len(unfinished):
        notes.append(
            f"- left out: {len(unfinished)} runs not finished: "
            + ", ".join(f"{Path(p).name} ({s})" for p, s in sorted(zip(unfinished["path"], unfinished["status"])))
        )
    names = {Path(p).name for p in group["path"]}
    replaced = [(old, new) for old, new in selection.replaced if new in names]
    if replaced:
        notes.append(
            f"- reruns: {len(replaced)} older runs of a configuration and seed that ran again were "
            f"replaced by the newest: " + ", ".join(f"{old} by {new}" for old, new in replaced)
        )
    return notes


def shown_verdict(v: dict) -> str:
    """The verdict as a table shows it: a neutral answer beside the side a source expected
    ("bn=pre higher, as expected (...)"); claims under-powered by design and post hoc claims say so."""
    expected = f", {v['expected']}" if v.get("expected") else ""
    underpowered = " (under-powered by design)" if v.get("underpowered") else ""
    return v["verdict"] + expected + underpowered + (" (post hoc)" if v.get("post_hoc") else "")


def claims_table(verdicts: list[dict]) -> str:
    return markdown_table(
        pd.DataFrame(
            [
                {
                    "claim": v["text"] + (f" ({v['combination']})" if v["combination"] else ""),
                    "source": v["source"],
                    "paper": f"{v['paper']} ({v['paper_source']})" if v.get("paper") else "",
                    "bnrepro": v["measured"],
                    "verdict": shown_verdict(v),
                    "evidence": v["evidence"],
                }
                for v in verdicts
            ]
        )
    )


def write_tables(paths: list[Path], out: Path, columns: list[str] | None = None) -> list[Path]:
    """columns: extra columns chosen at table time, after the experiment's report.columns."""
    check_columns(columns or [])
    selection = select_runs(paths)
    runs = selection.runs
    check_columns(columns or [], runs)
    written = []
    out.mkdir(parents=True, exist_ok=True)
    for name, group in runs.groupby("name", sort=True):
        configured = json.loads(group["config.report.columns"].iloc[0]) if "config.report.columns" in group else []
        claims = stated(name, group)
        metrics = list(dict.fromkeys([*BASE_METRICS, *configured, *(columns or [])]))
        group = with_history_metrics(
            group, metrics + [m for c in claims.claims for m in (c["metric"], c.get("than_metric")) if m]
        )
        paper = paper_table.spec(group)
        if paper:
            group = paper_table.with_steps_to_baseline(group, paper)
        table = aggregate(group, metrics)
        settled = settle(
            [
                replace(verdict, post_hoc=post_hoc)
                for claim, post_hoc in zip(claims.claims, claims.post_hoc)
                for verdict in judge(group, claim)
            ]
        )
        verdicts = [v.as_json() for v in settled]  # as <experiment>.claims.json holds them
        record = regeneration(group)
        provenance = provenance_lines(group, claims, record)
        lines = [
            f"# {name}",
            "",
            markdown_table(display(table, metrics)),
            "",
            "Mean ± sample std over seeds (n = completed runs); diverged runs are counted, not averaged, "
            "and nothing they logged from their divergence step on counts.",
            *footnotes(metrics),
            "",
            *provenance,
            *selection_notes(selection, group),
        ]
        missing = [run for experiment, run in selection.missing if experiment == name]
        if missing:
            lines.append(
                f"- missing: {len(missing)} planned runs left no summary (killed, or never started): "
                f"{', '.join(missing)}"
            )
        range_key = group["config.report.range_key"].iloc[0] if "config.report.range_key" in group else None
        if isinstance(range_key, str):
            threshold = float(group["config.report.range_threshold"].iloc[0])
            ranges = trainable_range(group, range_key, threshold)
            atomic_write(out / f"{name}.range.csv", ranges.to_csv(index=False))
            lines += [
                "",
                f"## Range of {range_key} that reaches test accuracy {threshold:g}",
                "",
                "Mean final test accuracy over completed seeds; a value whose runs all diverged does not reach it.",
                "",
                markdown_table(ranges),
            ]
        if paper:
            lines += ["", *paper_table.markdown(group, paper)]
        tests = sum(v.tested() for v in settled)
        if verdicts:
            lines += [
                "",
                "## Claims",
                "",
                f"Verdict rule: docs/verdicts.md. {tests} tests, Holm-adjusted together (the "
                "family: this experiment's claims that are not checks); reproduced / contradicted at an "
                "adjusted p < 0.05 for / against the claim"
                + (
                    "; a two-sided question is neutral: it answers which side is higher at the same "
                    "adjusted p, or no difference detected."
                    if any(v.answers for v in settled)
                    else "."
                ),
                "",
                claims_table(verdicts),
            ]
        atomic_write(out / f"{name}.csv", table.to_csv(index=False))
        atomic_write(out / f"{name}.md", "\n".join(lines) + "\n")
        steps = (
            sorted({int(v) for v in pd.to_numeric(group["steps_done"], errors="coerce").dropna()})
            if "steps_done" in group
            else []
        )
        claims_file = {
            "experiment": name,
            "runs": len(group),
            "provenance": provenance,
            "tests": tests,
            "correction": "Holm, within the experiment",
            "claims_source": claims.source,
            "steps": {"runs": steps, "file": claims.file_steps},
            "file_seeds": claims.file_seeds,
            "runs_seeds": sorted({int(s) for s in group.get("config.seed", pd.Series([])).dropna()}),
            "profiles": sorted({str(v) for v in group.get("config.profile", pd.Series([])).dropna()}),
            "runs_commits": sorted({str(c)[:10] for c in group.get("commit", pd.Series([])).dropna()}),
            "claims_commit": record.get("claims_commit"),
            "dropped_claims": claims.dropped,
            "dropped": claims.removed,
            "claims": verdicts,
        }
        atomic_write(out / f"{name}.claims.json", json.dumps(claims_file, indent=2) + "\n")
        written += [out / f"{name}.csv", out / f"{name}.md"]
    return written
