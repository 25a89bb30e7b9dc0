"""`bnrepro report`: every experiment's claims and verdicts in one file, results/claims.md."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from ..run.files import atomic_write
from .format import markdown_table
from .summaries import TableError


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
