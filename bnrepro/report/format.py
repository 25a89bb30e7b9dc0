"""How numbers and tables are written in Markdown."""
from __future__ import annotations

import math

import pandas as pd


def mean_std(mean: float, std: float) -> str:
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


def tree_note(dirty) -> str:
    """How the runs' commit is qualified: any run from a changed tree, or of unknown state, says so."""
    states = {None if v is None or (isinstance(v, float) and math.isnan(v)) else bool(v) for v in dirty}
    notes = [" (with uncommitted changes)" if True in states else "", " (tree state unknown)" if None in states else ""]
    return "".join(notes)
