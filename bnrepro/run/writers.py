"""Per-run outputs: TensorBoard events, scalars.csv, summary.json, config.yaml.

The events file sits in the run directory itself, so TensorBoard names the run after
the directory, and it carries the run's custom-scalars layout and hparams row (not a
separate run, as SummaryWriter.add_hparams would make). All scalars of one step go
into one event. scalars.csv and summary.json are written once, at the end, through a
temporary file and a rename: a reader never sees half a file.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from tensorboard.compat.proto.summary_pb2 import Summary
from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.summary import hparams

from ..config import flatten
from .files import atomic_write, json_safe
from .tags import HPARAM_METRICS, custom_scalars_layout

# Config keys that say where, not what: left out of the hparams row.
_NOT_HPARAMS = ("data.root", "out_dir", "train.progress", "train.graph", "report.")


def _hparam_value(value):
    if value is None or isinstance(value, (list, dict)):
        return str(value)
    return value


class RunWriter:
    def __init__(self, run_dir: Path, plain_config: dict, depth: int):
        self.run_dir = run_dir
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write(run_dir / "config.yaml", yaml.safe_dump(plain_config, sort_keys=False))
        self.tb = SummaryWriter(log_dir=str(run_dir), flush_secs=30)
        self.tb.add_custom_scalars(custom_scalars_layout(depth))
        params = {key: _hparam_value(value) for key, value in flatten(plain_config).items()
                  if not key.startswith(_NOT_HPARAMS)}
        experiment, session_start, self._session_end = hparams(params, {m: 0.0 for m in HPARAM_METRICS})
        self.tb.file_writer.add_summary(experiment)
        self.tb.file_writer.add_summary(session_start)
        self.history: list[tuple[int, dict]] = []

    def scalars(self, step: int, values: dict, keep: bool = True) -> None:
        summary = Summary(value=[Summary.Value(tag=tag, simple_value=value) for tag, value in values.items()])
        self.tb.file_writer.add_summary(summary, step)
        if keep:
            self.history.append((step, values))

    def histogram(self, step: int, tag: str, values: np.ndarray) -> None:
        finite = values[np.isfinite(values)]  # TensorBoard refuses NaN
        if finite.size:
            self.tb.add_histogram(tag, finite, step)

    def scalar_table(self) -> pd.DataFrame:
        """One row per logged step, one column per tag (train and eval rows of a step merged)."""
        if not self.history:
            return pd.DataFrame(columns=["step"])
        frame = pd.DataFrame([{"step": step, **values} for step, values in self.history])
        return frame.groupby("step", sort=True).first().reset_index()

    def finish(self, summary: dict) -> None:
        final = {f"summary/{key}": summary[key] for key in ("test_acc_best", "test_acc_final")
                 if summary.get(key) is not None}
        if final:
            self.scalars(summary["steps_done"], final, keep=False)
        self.tb.file_writer.add_summary(self._session_end)
        self.tb.close()
        table = self.scalar_table()
        atomic_write(self.run_dir / "scalars.csv", table.to_csv(index=False))
        atomic_write(self.run_dir / "summary.json", json.dumps(json_safe(summary), indent=2) + "\n")
