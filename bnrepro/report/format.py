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


def key_values(keys, values) -> str:
    """'bn=pre, lr=0.1': config keys by their last part, with their values (a group's label)."""
    values = values if isinstance(values, tuple) else (values,)
    return ", ".join(f"{k.removeprefix('config.').split('.')[-1]}={v}" for k, v in zip(keys, values))


def arm_label(pairs: dict) -> str:
    """An arm's short label, as figures and verdicts name it: the experiment's own name for it
    (`variant`: fig3's BN-x5), else its keys by their last part with their values ('bn=pre')."""
    named = {k.removeprefix("config."): v for k, v in pairs.items()}
    if "variant" in named:
        return str(named["variant"])
    return key_values(list(named), tuple(named.values()))


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
