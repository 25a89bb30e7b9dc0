"""Shared helpers: tiny configurations on the synthetic dataset, and the CLI in a subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bnrepro.config import Config, from_plain
from bnrepro.run import signals

REPO = Path(__file__).resolve().parent.parent


def tiny(**overrides) -> Config:
    """A few steps of a small MLP on the synthetic data set, on the CPU."""
    plain = {
        "device": "cpu",
        "data": {"name": "synthetic", "synthetic_train": 256, "synthetic_test": 128},
        "model": {"depth": 3, "width": 16, "init": "xavier"},
        "train": {"steps": 30, "batch_size": 16, "log_every": 10, "eval_every": 15, "progress": False},
        "probes": {"hist_every": 0, "pictures": False},
    }
    for dotted, value in overrides.items():
        node = plain
        *parents, leaf = dotted.split("__")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return from_plain(plain)


def bnrepro(*args: str, cwd: Path, env: dict | None = None, check: bool = False) -> subprocess.CompletedProcess:
    """Run the `bnrepro` command line as a user would (python -m, same interpreter)."""
    full_env = {**os.environ, "PYTHONWARNINGS": "ignore", **(env or {})}
    done = subprocess.run(
        [sys.executable, "-m", "bnrepro", *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=600
    )
    if check and done.returncode != 0:
        raise AssertionError(f"bnrepro {' '.join(args)} exited {done.returncode}:\n{done.stderr[-3000:]}")
    return done


def train_changed_experiment(tmp_path: Path, source: str, old: str, new: str, *overrides: str):
    """`bnrepro train` of conf/experiment/<source>.yaml with `old` replaced by `new`, as the
    experiment `changed` on a search path of its own; its runs would go to tmp_path/runs."""
    conf = tmp_path / "conf" / "experiment"
    conf.mkdir(parents=True)
    text = (REPO / "conf" / "experiment" / f"{source}.yaml").read_text()
    assert old in text, f"{source}.yaml has no {old!r}"
    (conf / "changed.yaml").write_text(text.replace(old, new))
    return bnrepro(
        "train",
        f"hydra.searchpath=[file://{tmp_path / 'conf'}]",
        "+experiment=changed",
        *overrides,
        f"out_dir={tmp_path / 'runs'}",
        cwd=tmp_path,
    )


@pytest.fixture(autouse=True)
def _deterministic_threads():
    torch.manual_seed(0)
    yield


@pytest.fixture(autouse=True)
def _stop_signals_restored():
    """A test that runs a worker's code in this process (remember_stops) leaves no handler of it
    behind: a later SIGINT would be remembered instead of raised, and stop a later test's group."""
    saved = {sig: signal.getsignal(sig) for sig in signals.STOP_SIGNALS}
    yield
    for sig, handler in saved.items():
        if signal.getsignal(sig) is not handler:
            signal.signal(sig, handler)
    signals._remembered.clear()


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


def synthetic_runs(arms_, **extra):
    """Runs as the report reads them (a DataFrame), one row per run: (bn, values) arms, seeds 1, 2, ...; a
    value None is a diverged run, a dict gives the row's fields; `extra` goes into every row."""
    import math

    import pandas as pd

    rows = []
    for bn, values in arms_:
        for seed, value in enumerate(values, 1):
            row = {
                **extra,
                "path": f"/nowhere/{bn}_{seed}",
                "config.model.bn": bn,
                "config.seed": seed,
                "status": "completed",
                "test_acc_best": 0.9,
            }
            row.update(value if isinstance(value, dict) else {"test_acc_final": value})
            if row.get("test_acc_final", 0.0) is None:
                row.update(status="diverged", test_acc_final=math.nan)
            rows.append(row)
    return pd.DataFrame(rows)
