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


def steps_text(steps) -> str:
    """Steps to a target over runs (+inf: never reached; NaN: no value, left out):
    "2 of 3 reached, median 450", or "never (0 of 3)" when the median is never."""
    values = sorted(float(v) for v in steps if float(v) == float(v))  # NaN != NaN: left out
    if not values:
        return "n/a"
    reached = sum(math.isfinite(v) for v in values)
    middle = len(values) // 2
    median = values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2
    if not math.isfinite(median):
        return f"never ({reached} of {len(values)} reached)"
    return f"{reached} of {len(values)} reached, median {median:,.0f}"
