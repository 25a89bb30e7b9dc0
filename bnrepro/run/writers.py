"""Per-run outputs: TensorBoard events, scalars.csv, summary.json, config.yaml.

The events file sits in the run directory itself, so TensorBoard names the run after
the directory, and it carries the run's custom-scalars layout and hparams row (not a
separate run, as SummaryWriter.add_hparams would make). The hparams row holds the
keys the sweep varies plus HPARAM_KEYS (the full config is in config.yaml), so the
HParams tab's default columns are the ones that matter. All scalars of one step go
into one event. At the end the gradient and activation profiles (run/pictures.py)
go into the Images tab. scalars.csv and summary.json are written once, at the end, through a
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
from .tags import HPARAM_KEYS, HPARAM_METRICS, PICTURES, custom_scalars_layout


def _hparam_value(value):
    if value is None or isinstance(value, (list, dict)):
        return str(value)
    return value


def hparam_row(plain_config: dict, swept: tuple[str, ...] = ()) -> dict:
    """The hparams of a run: HPARAM_KEYS, then the swept keys, as flat config keys."""
    flat = flatten(plain_config)
    keys = dict.fromkeys(k for k in (*HPARAM_KEYS, *swept) if k in flat)
    return {key: _hparam_value(flat[key]) for key in keys}


class RunWriter:
    def __init__(self, run_dir: Path, plain_config: dict, depth: int, swept: tuple[str, ...] = ()):
        self.run_dir = run_dir
        self.draw = plain_config.get("probes", {}).get("pictures", True)
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write(run_dir / "config.yaml", yaml.safe_dump(plain_config, sort_keys=False))
        self.tb = SummaryWriter(log_dir=str(run_dir), flush_secs=30)
        self.tb.add_custom_scalars(custom_scalars_layout(depth))
        params = hparam_row(plain_config, swept)
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

    def _pictures(self, step: int, status: str) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from .pictures import activation_profile, gradient_profile

        title = f"{self.run_dir.name}" + (f" ({status})" if status not in ("", "completed") else "")
        for tag, draw in ((PICTURES["grad_norm"], gradient_profile), (PICTURES["act"], activation_profile)):
            fig = draw(plt, self.history, title)
            if fig is not None:
                self.tb.add_figure(tag, fig, global_step=step, close=True)

    def finish(self, summary: dict) -> None:
        final = {f"summary/{key}": summary[key] for key in ("test_acc_best", "test_acc_final")
                 if summary.get(key) is not None}
        if final:
            self.scalars(summary["steps_done"], final, keep=False)
        if self.draw:
            self._pictures(summary["steps_done"], summary.get("status", ""))
        self.tb.file_writer.add_summary(self._session_end)
        self.tb.close()
        table = self.scalar_table()
        atomic_write(self.run_dir / "scalars.csv", table.to_csv(index=False))
        atomic_write(self.run_dir / "summary.json", json.dumps(json_safe(summary), indent=2) + "\n")
