"""Where `bnrepro table` and `bnrepro figures` write, and when they may replace a table.

By default the outputs go beside the runs they come from (`<sweep>/tables/`, or
`tables/` in the folder the given directories share), so trying the tool never
touches the curated `results/`. Writing into `results/` takes `--out results`, and
even then a table built from runs of other lengths or another device is not replaced
without `--force`: a 300-step CPU trial must not silently overwrite 50,000-step GPU
results. What a table was built from is read back from its provenance lines.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .summaries import TableError, load_summaries

CURATED = "results"  # the folder name of committed, curated tables
_FACTS = {"steps": re.compile(r"steps per run:\s*([^;\n]+)"), "device": re.compile(r"- device:\s*([^\n]+)")}


def default_out(paths: list[Path]) -> Path:
    """tables/ in the sweep folder of the given runs (their shared folder when several)."""
    folders = []
    for path in paths:
        folder = path.parent if path.is_file() else path
        if (folder / "summary.json").is_file():  # a run directory: its sweep holds the tables
            folder = folder.parent
        folders.append(folder.resolve())
    shared = Path(os.path.commonpath(folders)) / "tables"
    try:
        return shared.relative_to(Path.cwd())
    except ValueError:
        return shared


def built_from(table: Path) -> dict[str, str] | None:
    """{"steps": "5000", "device": "NVIDIA H100 ..."} from a written table's provenance;
    None when there is no table or it does not say."""
    if not table.is_file():
        return None
    text = table.read_text()
    facts = {what: found.group(1).strip() for what, pattern in _FACTS.items() if (found := pattern.search(text))}
    return facts or None


def facts_of(runs) -> dict[str, str]:
    """What a table of these runs says it was built from, worded as its provenance lines."""

    def listed(column: str) -> str:
        return ", ".join(sorted({str(v) for v in runs[column].dropna()})) if column in runs else ""

    return {"steps": listed("steps_done"), "device": listed("device_name")}


def check_replace(paths: list[Path], out: Path) -> None:
    """Raise TableError, writing nothing, if out is the curated folder and one of its
    tables was built from runs of other steps or another device than these."""
    if out.resolve().name != CURATED:
        return
    runs = load_summaries(paths)
    problems = []
    for name, group in runs.groupby("name", sort=True):
        old = built_from(out / f"{name}.md")
        if old is None:
            continue
        new = facts_of(group)
        differ = [
            f"{what} {old[what]} there, {new[what]} in these runs"
            for what in ("steps", "device")
            if what in old and old[what] != new[what]
        ]
        if differ:
            problems.append(f"{out / f'{name}.md'} was built from other runs ({'; '.join(differ)})")
    if problems:
        raise TableError(
            "; ".join(problems) + ". Nothing was written. Leave out --out to write beside the runs, "
            "or add --force to replace the curated tables."
        )
