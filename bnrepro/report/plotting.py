"""What every figure module shares: line styles, labels of configurations, the runs'
scalars.csv, and how a figure is saved (no date or version: the same runs, the same bytes).

figures.py and santurkar_figures.py both import this module; it imports neither.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .format import arm_label
from .summaries import config_keys

STYLES = [("-", "o"), ("--", "s"), (":", "^"), ("-.", "D"), ((0, (5, 1)), "v"), ((0, (1, 3)), "P")]


def style(i: int, points: int) -> dict:
    """Line style and marker of the i-th configuration; markers thinned on long curves."""
    line, marker = STYLES[i % len(STYLES)]
    return {"linestyle": line, "marker": marker, "markevery": max(1, points // 12), "markersize": 5}


def _label(row: pd.Series, keys: list[str]) -> str:
    return arm_label({k: row[k] for k in keys}) or "all runs"


def configurations(runs: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """(label, its runs by seed) per configuration, in label order."""
    keys = config_keys(runs)
    runs = runs.assign(label=[_label(row, keys) for _, row in runs.iterrows()])
    return [(label, group.sort_values("config.seed")) for label, group in runs.groupby("label", sort=True)]


def scalars(group: pd.DataFrame) -> list[pd.DataFrame]:
    """Each run's scalars.csv, in the group's order."""
    return [pd.read_csv(Path(path) / "scalars.csv") for path in group["path"]]


def curves(frames: dict, group: pd.DataFrame, tag: str) -> pd.DataFrame:
    """One column per run of `group` (frames: path -> scalars indexed by step): the tag over
    steps; empty where no run logged it."""
    series = [frames[path][tag].dropna() for path in group["path"] if tag in frames[path]]
    return pd.concat(series, axis=1) if series else pd.DataFrame()


def save(fig, path: Path, tight: bool = True) -> Path:
    import matplotlib.pyplot as plt

    if tight:
        fig.tight_layout()
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=120, metadata={"Software": None})  # no version stamp: same runs, same bytes
    plt.close(fig)
    tmp.replace(path)
    return path
