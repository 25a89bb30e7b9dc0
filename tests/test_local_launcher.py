"""bnrepro's local launcher (`hydra/launcher=local`): packs in independent child processes.
Real processes: one child killed with kill -9 (the OOM killer's signal) leaves the others
training to completion; SIGTERM to the sweep stops every child with its checkpoint (a sweep
sent there by the scheduling rule, train.processes); kill -9 of the runner stops them too."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import bnrepro
from test_launchers import TINY, slow_steps

pytestmark = pytest.mark.slow
SWEEP = ["model.bn=none,pre", "seed=1"]  # two packs of one run each


def summary(run_dir: Path) -> dict:
    try:
        return json.loads((run_dir / "summary.json").read_text())
    except (OSError, ValueError):
        return {}


LOCAL = ("hydra/launcher=local", "hydra.launcher.n_jobs=2")


def start_sweep(tmp_path: Path, steps: int, launch=LOCAL) -> tuple[subprocess.Popen, Path]:
    sweep = tmp_path / "sweep"
    command = [
        sys.executable,
        "-m",
        "bnrepro",
        "train",
        *TINY,
        f"train.steps={steps}",
        "train.eval_every=500",
        "train.checkpoint_every=50",
        "train.checkpoint_min_s=0",
        *SWEEP,
        f"hydra.sweep.dir={sweep}",
        *launch,
    ]
    env = {**os.environ, "PYTHONWARNINGS": "ignore", **slow_steps(tmp_path, 0.004)}
    return subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ), sweep


def wait_training(proc: subprocess.Popen, firsts: list[Path]) -> None:
    deadline = time.time() + 240
    while not all((f / "checkpoint.pt").exists() and summary(f).get("status") == "running" for f in firsts):
        assert proc.poll() is None and time.time() < deadline, proc.communicate()[1][-3000:]
        time.sleep(0.05)


def test_kill_9_of_one_pack_leaves_the_others_training_and_resume_finishes_it(tmp_path):
    proc, sweep = start_sweep(tmp_path, 1500)
    none, pre = sweep / "bn=none_seed=1", sweep / "bn=pre_seed=1"
    try:
        wait_training(proc, [none, pre])
        child = json.loads((pre / "train.lock").read_text())["pid"]
        os.kill(child, signal.SIGKILL)
        _, err = proc.communicate(timeout=300)
    finally:
        proc.kill()
    assert proc.returncode == 1, err[-3000:]
    assert summary(none)["status"] == "completed"  # the other pack trained on to its end
    killed = summary(pre)
    assert killed["status"] == "killed" and killed["attempts"][-1]["ended_as"] == "killed"
    assert killed["attempts"][-1]["signal"] == "SIGKILL"
    assert "runs bn=pre_seed=1: not finished, its process was killed by SIGKILL" in err
    assert "Traceback" not in err and "TerminatedWorkerError" not in err
    done = bnrepro("resume", str(sweep), cwd=tmp_path, check=True)
    assert "resumed at step" in done.stderr
    resumed = summary(pre)
    assert resumed["status"] == "completed" and resumed["steps_done"] == 1500
    assert [a["ended_as"] for a in resumed["attempts"]] == ["killed", "finished"]


def test_sigterm_to_the_sweep_stops_every_pack_with_its_checkpoint(tmp_path):
    """Through the scheduling rule (train.processes, launch/schedule.py): the same runner."""
    proc, sweep = start_sweep(tmp_path, 3000, launch=["train.processes=2"])
    firsts = [sweep / "bn=none_seed=1", sweep / "bn=pre_seed=1"]
    try:
        wait_training(proc, firsts)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=300)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, err[-3000:]
    assert "default: 2 packs on 2 processes x 1 thread (train.processes=2)" in err.splitlines()
    for first in firsts:
        assert summary(first)["status"] == "interrupted" and (first / "checkpoint.pt").is_file()
        assert (summary(first)["processes"], summary(first)["threads"]) == (2, 1)
    bnrepro("resume", str(sweep), cwd=tmp_path, check=True)
    assert all(summary(first)["status"] == "completed" for first in firsts)


def _gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat[stat.rindex(")") + 2] == "Z"


def test_kill_9_of_the_runner_stops_its_children_and_resume_continues_them_from_their_checkpoints(tmp_path):
    """Linux: each child asked the kernel for SIGTERM at its parent's death (PR_SET_PDEATHSIG),
    so none trains on, orphaned, into the sweep."""
    proc, sweep = start_sweep(tmp_path, 600)
    firsts = [sweep / "bn=none_seed=1", sweep / "bn=pre_seed=1"]
    try:
        wait_training(proc, firsts)
        children = [json.loads((first / "train.lock").read_text())["pid"] for first in firsts]
        proc.kill()
        _, err = proc.communicate(timeout=120)  # the children hold the pipe: it closes when they are gone
    finally:
        proc.kill()
    assert proc.returncode == -signal.SIGKILL
    deadline = time.time() + 30  # their pipe closed as they exited: gone, or a zombie nobody has reaped yet
    while not all(_gone(pid) for pid in children):
        assert time.time() < deadline, f"children {children} outlived the runner:\n{err[-3000:]}"
        time.sleep(0.05)
    stopped = [summary(first) for first in firsts]
    assert [s["status"] for s in stopped] == ["interrupted"] * 2, err[-3000:]
    assert all(0 < s["steps_done"] < 600 and (f / "checkpoint.pt").is_file() for s, f in zip(stopped, firsts))
    bnrepro("resume", str(sweep), cwd=tmp_path, check=True)
    for first, before in zip(firsts, stopped):
        resumed = summary(first)
        assert resumed["status"] == "completed" and resumed["steps_done"] == 600
        assert resumed["resumed_from"] == [before["steps_done"]]


def test_a_signal_to_one_child_stops_its_pack_only(tmp_path):
    proc, sweep = start_sweep(tmp_path, 1500)
    none, pre = sweep / "bn=none_seed=1", sweep / "bn=pre_seed=1"
    try:
        wait_training(proc, [none, pre])
        os.kill(json.loads((pre / "train.lock").read_text())["pid"], signal.SIGINT)
        _, err = proc.communicate(timeout=300)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGINT, err[-3000:]
    assert summary(pre)["status"] == "interrupted" and (pre / "checkpoint.pt").is_file()
    assert summary(none)["status"] == "completed"
