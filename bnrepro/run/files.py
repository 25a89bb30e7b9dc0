"""Writing files so that a reader never sees half of one, and JSON that stays valid."""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np

PLANNED_RUNS = "planned_runs.json"  # in a sweep directory: its run directories' names, written before training


def atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def read_summary(run_dir: Path) -> dict | None:
    """A run directory's summary.json, or None where there is none yet (or it cannot be read)."""
    try:
        return json.loads((run_dir / "summary.json").read_text())
    except (OSError, ValueError):
        return None


def json_safe(value):
    """NaN and infinities become null: summary.json stays valid JSON."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value
