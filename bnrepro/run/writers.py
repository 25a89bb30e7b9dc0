"""Per-run outputs: TensorBoard events, scalars.csv, summary.json, config.yaml.

The events file sits in the run directory itself, so TensorBoard names the run after
the directory, and it carries the run's custom-scalars layout and hparams row (not a
separate run, as SummaryWriter.add_hparams would make). The hparams row holds the
keys the sweep varies plus HPARAM_KEYS (the full config is in config.yaml), so the
HParams tab's default columns are the ones that matter. All scalars of one step go
into one event. At the end the gradient and activation profiles (run/pictures.py)
go into the Images tab.

Written as the run goes, so that a killed run leaves what it had logged: `flush`
(at every probe step) appends the new rows to scalars.csv and pushes the events to
disk; summary.json is written at the start (status `running`) and rewritten at every
checkpoint. At the end both are rewritten whole from the history, through a
temporary file and a rename: a reader never sees half a file. A resumed run
(`resume_step`) truncates scalars.csv to its checkpoint and opens its events with
TensorBoard's purge_step, so curves continue without duplicate steps.

A run that ends unfinished (interrupted, failed) still shows its end-of-run points
(summary/* and the pictures, titled with its status), but in an events file of their
own (suffix UNFINISHED), which the resumed run deletes: TensorBoard's purge_step drops
the steps after the checkpoint, and these sit at the checkpoint's step itself.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from tensorboard.compat.proto.summary_pb2 import Summary
from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.summary import hparams

from ..config import flatten
from .checkpoint import FINISHED
from .files import atomic_write, json_safe
from .tags import HPARAM_KEYS, HPARAM_METRICS, PICTURES, custom_scalars_layout
from ..config.status import COMPLETED, FAILED

UNFINISHED = ".unfinished"  # the suffix of the events file of an unfinished attempt's end-of-run points


def _hparam_value(value):
    if value is None or isinstance(value, (list, dict)):
        return str(value)
    return value


def hparam_row(plain_config: dict, swept: tuple[str, ...] = ()) -> dict:
    """The hparams of a run: HPARAM_KEYS, then the swept keys, as flat config keys."""
    flat = flatten(plain_config)
    keys = dict.fromkeys(k for k in (*HPARAM_KEYS, *swept) if k in flat)
    return {key: _hparam_value(flat[key]) for key in keys}


def group_names(run_dirs: list[Path]) -> list[str]:
    """The runs trained (and resumed) together, as paths relative to the first one's parent."""
    return [os.path.relpath(d, run_dirs[0].parent) for d in run_dirs]


def write_config(run_dir: Path, plain_config: dict) -> None:
    atomic_write(run_dir / "config.yaml", yaml.safe_dump(plain_config, sort_keys=False))


def write_summary(run_dir: Path, summary: dict) -> None:
    atomic_write(run_dir / "summary.json", json.dumps(json_safe(summary), indent=2) + "\n")


def _csv_value(value) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else repr(float(value))


class RunWriter:
    def __init__(
        self, run_dir: Path, plain_config: dict, depth: int, swept: tuple[str, ...] = (), resume_step: int | None = None
    ):
        self.run_dir = run_dir
        self.draw = plain_config.get("probes", {}).get("pictures", True)
        run_dir.mkdir(parents=True, exist_ok=True)
        write_config(run_dir, plain_config)
        # A fresh start in a directory an earlier attempt used: its files go. A resumed run:
        # the earlier attempt's end-of-run points (at the step it resumes from) go.
        old = run_dir.glob(f"events.out.tfevents*{UNFINISHED if resume_step is not None else ''}")
        for path in [*old, *([run_dir / "scalars.csv"] if resume_step is None else [])]:
            path.unlink(missing_ok=True)
        # purge_step: TensorBoard drops the earlier events from this step on (logged after the checkpoint)
        self.tb = SummaryWriter(
            log_dir=str(run_dir), flush_secs=30, purge_step=None if resume_step is None else resume_step + 1
        )
        params = hparam_row(plain_config, swept)
        experiment, session_start, self._session_end = hparams(params, {m: 0.0 for m in HPARAM_METRICS})
        if resume_step is None:  # a resumed run has them in its first events file
            self.tb.add_custom_scalars(custom_scalars_layout(depth, plain_config.get("probes")))
            self.tb.file_writer.add_summary(experiment)
            self.tb.file_writer.add_summary(session_start)
        self.history: list[tuple[int, dict]] = []
        self._csv = None  # scalars.csv open for appending, with its columns
        self._columns: list[str] = []
        self._flushed, self._last_row_step = 0, 0  # history entries in the file; step of its last row

    def restore(self, history: list) -> None:
        """The history saved in a checkpoint; scalars.csv is cut back to it."""
        self.history = [(step, dict(values)) for step, values in history]
        self._rewrite_csv()

    def scalars(self, step: int, values: dict, keep: bool = True, tb: SummaryWriter | None = None) -> None:
        summary = Summary(value=[Summary.Value(tag=tag, simple_value=value) for tag, value in values.items()])
        (tb or self.tb).file_writer.add_summary(summary, step)
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

    def _pictures(self, tb: SummaryWriter, step: int, status: str) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from .pictures import activation_profile, gradient_profile

        title = f"{self.run_dir.name}" + (f" ({status})" if status not in ("", COMPLETED) else "")
        for tag, draw in ((PICTURES["grad_norm"], gradient_profile), (PICTURES["act"], activation_profile)):
            fig = draw(plt, self.history, title)
            if fig is not None:
                tb.add_figure(tag, fig, global_step=step, close=True)

    def flush(self) -> None:
        """Append the rows logged since the last flush to scalars.csv (the whole file is
        rewritten when a new column appears or a step's row must be merged) and write
        the pending events."""
        new = self.history[self._flushed :]
        if new:
            rows: dict[int, dict] = {}
            for step, values in new:
                rows.setdefault(step, {}).update(values)
            columns = {tag for values in rows.values() for tag in values}
            if self._csv is None or min(rows) <= self._last_row_step or not columns <= set(self._columns):
                self._rewrite_csv()
            else:
                self._csv.write(
                    "".join(
                        ",".join([str(step), *(_csv_value(values.get(tag)) for tag in self._columns[1:])]) + "\n"
                        for step, values in sorted(rows.items())
                    )
                )
                self._csv.flush()
                self._flushed, self._last_row_step = len(self.history), max(rows)
        self.tb.flush()

    def _rewrite_csv(self) -> None:
        if self._csv is not None:
            self._csv.close()
        table = self.scalar_table()
        atomic_write(self.run_dir / "scalars.csv", table.to_csv(index=False))
        self._csv = open(self.run_dir / "scalars.csv", "a")
        self._columns = list(table.columns)
        self._flushed, self._last_row_step = len(self.history), int(table["step"].max()) if len(table) else 0

    def finish(self, summary: dict) -> None:
        """The final scalars.csv and summary.json. A failing write (a full disk) is
        recorded in the summary (status `failed`, `error`) before it is written."""
        final = {
            f"summary/{key}": summary[key]
            for key in ("test_acc_best", "test_acc_final")
            if summary.get(key) is not None
        }
        status = summary.get("status", "")
        try:
            unfinished = status not in FINISHED and bool(final or self.draw)
            # the end-of-run points of an unfinished run: in a file of their own (see the module)
            tb = SummaryWriter(log_dir=str(self.run_dir), filename_suffix=UNFINISHED) if unfinished else self.tb
            if final:
                self.scalars(summary["steps_done"], final, keep=False, tb=tb)
            if self.draw:
                self._pictures(tb, summary["steps_done"], status)
            if unfinished:
                tb.close()
            self.tb.file_writer.add_summary(self._session_end)
            self.tb.close()
            if self._csv is not None:
                self._csv.close()
            atomic_write(self.run_dir / "scalars.csv", self.scalar_table().to_csv(index=False))
        except OSError as e:
            summary.update(status=FAILED, error=f"writing the run's files: {e}")
        write_summary(self.run_dir, summary)
