"""Faults done to real `bnrepro` processes: kill -9, SIGTERM, SIGHUP, SIGUSR1, a double
Ctrl-C, concurrent launches, path escapes; and what `bnrepro resume` makes of them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from bnrepro.launch.outcomes import BUSY_EXIT
from conftest import bnrepro

pytestmark = pytest.mark.slow

TINY = [
    "data=synthetic",
    "data.synthetic_train=256",
    "data.synthetic_test=128",
    "device=cpu",
    "model.width=16",
    "train.batch_size=16",
    "train.log_every=10",
    "train.eval_every=50",
    "probes.hist_every=0",
    "optim.momentum=0.9",
    "model.dropout=0.1",
]
TIMING = {
    "wall_time_s",
    "setup_time_s",
    "steps_per_s",
    "probes_eval_share",
    "updated",
    "finished",
    "started",
    "pid",
    "resumed_from",
    "command",
    "attempts",
}


def start(*args: str, cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.Popen(
        [sys.executable, "-m", "bnrepro", "train", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(condition, proc: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, f"bnrepro ended early:\n{proc.communicate()[1][-2000:]}"
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def status(run_dir: Path) -> str:
    try:
        return json.loads((run_dir / "summary.json").read_text())["status"]
    except (OSError, ValueError, KeyError):
        return "none"


def results(run_dir: Path) -> tuple[pd.DataFrame, dict]:
    summary = json.loads((run_dir / "summary.json").read_text())
    return pd.read_csv(run_dir / "scalars.csv"), {k: v for k, v in summary.items() if k not in TIMING}


def test_kill_9_mid_run_then_resume_gives_the_uninterrupted_results(tmp_path):
    args = [
        *TINY,
        "train.steps=400",
        "train.checkpoint_every=45",
        "train.checkpoint_min_s=0",
        "seed=1,2",
        f"out_dir={tmp_path}",
    ]
    bnrepro("train", *args, f"hydra.sweep.dir={tmp_path / 'plain'}", cwd=tmp_path, check=True)
    killed = tmp_path / "killed"
    proc = start(*args, f"hydra.sweep.dir={killed}", cwd=tmp_path)
    wait_for(lambda: (killed / "seed=1" / "checkpoint.pt").exists(), proc)
    time.sleep(0.3)  # into the next interval
    proc.kill()  # SIGKILL: nothing of the process's own clean-up runs
    proc.wait()
    assert status(killed / "seed=1") == "running"  # what a hard kill leaves: shown as killed by the table
    table = bnrepro("table", str(killed), "--out", str(tmp_path / "tables"), cwd=tmp_path, check=True)
    assert "runs not finished: seed=1 (killed)" in (tmp_path / "tables" / "default.md").read_text(), table.stdout

    done = bnrepro("resume", str(killed), cwd=tmp_path, check=True)
    assert "resumed at step" in done.stderr
    for run in ("seed=1", "seed=2"):
        (a_csv, a), (b_csv, b) = results(tmp_path / "plain" / run), results(killed / run)
        pd.testing.assert_frame_equal(a_csv, b_csv)
        assert a == b and b["status"] == "completed"
    again = bnrepro("resume", str(killed), cwd=tmp_path, check=True)
    assert "nothing to resume" in again.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1])
def test_a_signal_leaves_interrupted_runs_and_pending_ones_and_resume_finishes_all(tmp_path, sig):
    sweep = tmp_path / "sweep"
    proc = start(*TINY, "train.steps=400", "model.bn=none,pre", f"hydra.sweep.dir={sweep}", cwd=tmp_path)
    wait_for(lambda: status(sweep / "bn=none_seed=0") == "running", proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 128 + sig, err[-2000:]
    assert "bnrepro resume" in err
    assert status(sweep / "bn=none_seed=0") == "interrupted"
    assert (sweep / "bn=none_seed=0" / "checkpoint.pt").is_file()
    assert status(sweep / "bn=pre_seed=0") == "pending"  # the next group never started: visible, not missing
    done = bnrepro("resume", str(sweep), cwd=tmp_path, check=True)
    assert "resuming 2 of 2 runs in 2 group(s)" in done.stderr and "resumed at step" in done.stderr
    assert {status(sweep / run) for run in ("bn=none_seed=0", "bn=pre_seed=0")} == {"completed"}


def test_a_double_ctrl_c_still_writes_the_summaries_and_resume_finishes(tmp_path):
    sweep = tmp_path / "sweep"
    proc = start(*TINY, "train.steps=600", f"hydra.sweep.dir={sweep}", cwd=tmp_path)
    run = sweep / "seed=0"
    wait_for(lambda: status(run) == "running", proc)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err[-2000:]
    assert status(run) == "interrupted" and (run / "checkpoint.pt").is_file()
    bnrepro("resume", str(sweep), cwd=tmp_path, check=True)
    assert status(run) == "completed" and not (run / "checkpoint.pt").exists()


def test_eight_launches_with_the_same_name_and_seed_at_once_leave_eight_complete_runs(tmp_path):
    sweep = tmp_path / "runs" / "same" / "now"  # the same sweep directory for all: the worst case
    procs = [start(*TINY, "train.steps=20", "name=same", f"hydra.sweep.dir={sweep}", cwd=tmp_path) for _ in range(8)]
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-2000:]
    sweeps = sorted((tmp_path / "runs" / "same").iterdir())
    assert [p.name for p in sweeps] == sorted(["now", *(f"now-{n}" for n in range(2, 9))])
    for sweep_dir in sweeps:
        assert status(sweep_dir / "seed=0") == "completed"


def test_path_escapes_and_hydra_run_dir_are_refused_and_leave_nothing(tmp_path):
    for name in ("../x", "/abs", "a/b"):
        done = bnrepro("train", *TINY, f"name={name}", f"out_dir={tmp_path / 'runs'}", cwd=tmp_path)
        assert done.returncode != 0 and "must be a plain name" in done.stderr
    done = bnrepro("train", *TINY, f"hydra.run.dir={tmp_path / 'here'}", f"out_dir={tmp_path / 'runs'}", cwd=tmp_path)
    assert done.returncode != 0 and "hydra.sweep.dir" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_resume_beside_a_running_sweep_is_refused_and_two_resumes_never_share_a_group(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    sweep = tmp_path / "sweep"
    proc = start(*TINY, "train.steps=3000", "seed=1,2", f"hydra.sweep.dir={sweep}", cwd=tmp_path)
    first = sweep / "seed=1"
    wait_for(lambda: status(first) == "running", proc)
    beside = bnrepro("resume", str(sweep), cwd=tmp_path)
    assert beside.returncode == BUSY_EXIT, beside.stderr
    assert f"skipped, busy (try later): runs seed=1, seed=2: being trained by pid {proc.pid} on host" in beside.stderr
    assert "restart-group" not in beside.stderr
    proc.send_signal(signal.SIGTERM)  # now stop it, and let two resumes race for the group
    proc.communicate(timeout=300)
    assert status(first) == "interrupted"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    racers = [
        subprocess.Popen(
            [sys.executable, "-m", "bnrepro", "resume", str(sweep)],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outcomes = [(r.wait(timeout=300), r.communicate()[1]) for r in racers]
    assert sorted(code for code, _ in outcomes)[0] == 0, outcomes
    for code, err in outcomes:  # the loser was busy, not broken: it says so, and no --restart-group
        assert code == 0 or (code == BUSY_EXIT and "skipped, busy (try later)" in err and "restart-group" not in err), (
            err[-2000:]
        )
    for run in ("seed=1", "seed=2"):
        assert status(sweep / run) == "completed"
        events = EventAccumulator(str(sweep / run), size_guidance={"scalars": 0})
        events.Reload()
        assert [e.step for e in events.Scalars("train/loss")] == [1, *range(10, 3001, 10)]


def _signal_while_finishing(tmp_path: Path, sig: int):
    """Three runs trained together, each drawing its end-of-run pictures; `sig` once the first
    run's final summary is written (after the last step, while the others write theirs)."""
    sweep = tmp_path / "sweep"
    proc = start(
        *TINY,
        "train.steps=30",
        "train.checkpoint_every=10",
        "train.checkpoint_min_s=0",
        "probes.pictures=true",
        "seed=1,2,3",
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
    )
    wait_for(lambda: status(sweep / "seed=1") == "completed", proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=300)
    return sweep, proc.returncode, err


def test_sigterm_after_the_last_step_says_the_runs_completed(tmp_path):
    sweep, code, err = _signal_while_finishing(tmp_path, signal.SIGTERM)
    runs = [sweep / f"seed={n}" for n in (1, 2, 3)]
    assert [status(run) for run in runs] == ["completed"] * 3, err[-2000:]
    assert not (runs[0] / "checkpoint.pt").exists()  # nothing left to resume
    assert "say `interrupted`" not in err and "completed" in err.splitlines()[-1], err[-2000:]
    assert code == 128 + signal.SIGTERM and "exit status 143" in err.splitlines()[-1], err[-2000:]
    (attempt,) = json.loads((runs[2] / "summary.json").read_text())["attempts"]
    assert attempt["ended_as"] == "finished"


def test_an_attempt_killed_while_writing_its_end_of_run_files_is_recorded_killed(tmp_path):
    sweep, code, _ = _signal_while_finishing(tmp_path, signal.SIGKILL)
    assert code == -signal.SIGKILL and status(sweep / "seed=3") == "running"  # killed mid-way through the end
    bnrepro("resume", str(sweep), cwd=tmp_path, check=True)
    for n in (1, 2, 3):
        summary = json.loads((sweep / f"seed={n}" / "summary.json").read_text())
        killed, resumed = summary["attempts"]
        assert summary["status"] == "completed" and summary["resumed_from"] == [20]
        assert (killed["ended_as"], killed["steps_to"], resumed["ended_as"]) == ("killed", 20, "finished")
