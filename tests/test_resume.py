"""Durable runs, in process: checkpoints, exact resume, signals, a full disk, the checks
that keep outputs where they belong. (test_faults.py kills real `bnrepro` processes.)"""

from __future__ import annotations

import errno
import json
import os
import signal
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest

from bnrepro.config import ConfigError, validate
from bnrepro.launch.resume import resume_group, resume_sweep
from bnrepro.launch.runnames import fresh_dir
from bnrepro.report.summaries import TableError, shown_status
from bnrepro.run import checkpoint, loop
from bnrepro.run.loop import Interrupted, train_runs
from bnrepro.run.writers import RunWriter

from conftest import tiny

quiet = dict(log=lambda message: None)
# Fields that say when or how fast, not what was computed.
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
    "attempts",
}


def group(**overrides):
    """Two runs trained together with every kind of state a checkpoint must carry: momentum,
    dropout masks, Batch Renorm's running statistics and schedule, Algorithm 2's population
    statistics; a checkpoint every 17 steps falls mid log interval (10)."""
    base = dict(
        model__bn="pre",
        model__dropout=0.1,
        optim__momentum=0.9,
        train__steps=50,
        train__checkpoint_every=17,
        train__checkpoint_min_s=0,
        eval__compare_stats=True,
        eval__population_batches=2,
        train__eval_every=20,
        model__norm={"kind": "renorm", "warmup": 5, "rmax_at": 30, "dmax_at": 40, "rmax": 2.0, "dmax": 1.0},
    )
    base.update(overrides)
    return [tiny(**base, seed=seed) for seed in (1, 2)]


def stop_at(monkeypatch, call: int, action) -> None:
    """Do `action` just before the call-th training step (the step-th is then never taken)."""
    real, calls = loop.train_step, []

    def step(state, probe):
        calls.append(1)
        if len(calls) == call:
            action()
        return real(state, probe)

    monkeypatch.setattr(loop, "train_step", step)


def assert_same_results(a_dirs, b_dirs):
    for a, b in zip(a_dirs, b_dirs):
        pd.testing.assert_frame_equal(pd.read_csv(a / "scalars.csv"), pd.read_csv(b / "scalars.csv"))
        sa, sb = (json.loads((d / "summary.json").read_text()) for d in (a, b))
        assert {k: v for k, v in sa.items() if k not in TIMING} == {k: v for k, v in sb.items() if k not in TIMING}


def light():
    return [tiny(model__bn="pre", optim__momentum=0.9, train__checkpoint_every=0)]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    root = tmp_path_factory.mktemp("plain")
    dirs = [root / "s1", root / "s2"]
    train_runs(group(), dirs, **quiet)
    return dirs


@pytest.fixture(scope="module")
def uninterrupted_light(tmp_path_factory):
    dirs = [tmp_path_factory.mktemp("light") / "run"]
    train_runs(light(), dirs, **quiet)
    return dirs


class Killed(BaseException):
    """Stands in for kill -9: nothing of the loop's clean-up runs (test_faults.py does the real one)."""


def test_a_run_killed_mid_interval_resumes_exactly(tmp_path, monkeypatch, uninterrupted):
    dirs = [tmp_path / "s1", tmp_path / "s2"]

    def kill():
        raise Killed

    stop_at(monkeypatch, 48, kill)  # after the checkpoint at 34 and the probe at 40
    with pytest.raises(Killed):
        train_runs(group(), dirs, **quiet)
    left = json.loads((dirs[0] / "summary.json").read_text())
    assert left["status"] == "running" and left["steps_done"] == 34 and left["updated"]
    assert shown_status(left) == "running"  # this process is alive
    assert list(pd.read_csv(dirs[0] / "scalars.csv")["step"]) == [1, 10, 20, 30, 40]  # appended as it went
    assert (dirs[0] / "checkpoint.pt").is_file() and not (dirs[1] / "checkpoint.pt").exists()  # one per group

    monkeypatch.undo()
    summaries = resume_group(dirs, **quiet)
    assert [s["status"] for s in summaries] == ["completed", "completed"]
    assert summaries[0]["resumed_from"] == [34] and summaries[0]["steps_done"] == 50
    killed, resumed = summaries[0]["attempts"]  # what each process did, and how it ended
    assert (killed["steps_from"], killed["steps_to"], killed["ended_as"]) == (0, 34, "killed")
    assert (resumed["steps_from"], resumed["steps_to"], resumed["ended_as"]) == (34, 50, "finished")
    assert resumed["commit"] == summaries[0]["commit"] and resumed["pid"] == os.getpid()
    assert_same_results(uninterrupted, dirs)
    assert not (dirs[0] / "checkpoint.pt").exists()  # finished: no checkpoint left

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(dirs[0]))
    events.Reload()
    assert [e.step for e in events.Scalars("train/loss")] == [1, 10, 20, 30, 40, 50]  # step 40 once


@pytest.mark.parametrize(
    "sig",
    [
        signal.SIGTERM,
        *(pytest.param(s, marks=pytest.mark.slow) for s in (signal.SIGHUP, signal.SIGUSR1, signal.SIGINT)),
    ],
)
def test_a_signal_checkpoints_writes_interrupted_and_resume_finishes_exactly(
    tmp_path, monkeypatch, sig, uninterrupted_light
):
    dirs = [tmp_path / "run"]
    before = signal.getsignal(sig)
    stop_at(monkeypatch, 25, lambda: os.kill(os.getpid(), sig))  # step 25 is taken, then it stops
    with pytest.raises(Interrupted) as stopped:
        train_runs(light(), dirs, **quiet)  # no periodic checkpoints: the signal's is the only one
    assert stopped.value.signum == sig
    summary = json.loads((dirs[0] / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["steps_done"] == 25
    assert torch_load(dirs[0] / "checkpoint.pt")["step"] == 25
    assert signal.getsignal(sig) == before  # the handlers are put back
    monkeypatch.undo()
    resume_group(dirs, **quiet)
    assert_same_results(uninterrupted_light, dirs)


def torch_load(path: Path) -> dict:
    import torch

    return torch.load(path, weights_only=True)


def test_a_second_ctrl_c_while_summaries_are_written_does_not_lose_them(tmp_path, monkeypatch):
    dirs = [tmp_path / "run"]
    stop_at(monkeypatch, 12, lambda: os.kill(os.getpid(), signal.SIGINT))
    real_finish = RunWriter.finish

    def finish_under_fire(self, summary):
        os.kill(os.getpid(), signal.SIGINT)  # the impatient second Ctrl-C
        real_finish(self, summary)

    monkeypatch.setattr(RunWriter, "finish", finish_under_fire)
    with pytest.raises(Interrupted):
        train_runs([tiny()], dirs, **quiet)
    summary = json.loads((dirs[0] / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["steps_done"] == 12
    assert len(pd.read_csv(dirs[0] / "scalars.csv")) == 2  # steps 1 and 10


def test_a_full_disk_is_recorded_in_the_summary_and_the_run_resumes(tmp_path, monkeypatch):
    dirs = [tmp_path / "run"]
    real_flush, calls = RunWriter.flush, []

    def flush(self):
        calls.append(1)
        if len(calls) == 4:  # the probe at step 20, after the checkpoint at 15
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_flush(self)

    monkeypatch.setattr(RunWriter, "flush", flush)
    cfg = tiny(train__checkpoint_every=15, train__checkpoint_min_s=0)
    with pytest.raises(OSError):
        train_runs([cfg], dirs, **quiet)
    summary = json.loads((dirs[0] / "summary.json").read_text())
    assert summary["status"] == "failed" and "No space left on device" in summary["error"]
    assert summary["steps_done"] == 20
    monkeypatch.undo()
    (summary,) = resume_group(dirs, **quiet)  # from the checkpoint at 15
    assert summary["status"] == "completed" and summary["resumed_from"] == [15] and summary["error"] is None


def test_a_checkpoint_of_another_configuration_or_version_is_refused(tmp_path, monkeypatch):
    dirs = [tmp_path / "run"]
    stop_at(monkeypatch, 12, lambda: os.kill(os.getpid(), signal.SIGTERM))
    with pytest.raises(Interrupted):
        train_runs([tiny(train__checkpoint_every=0)], dirs, **quiet)
    monkeypatch.undo()
    with pytest.raises(checkpoint.CheckpointError, match="optim.lr: 0.1 in the checkpoint, 0.5 now"):
        train_runs([tiny(optim__lr=0.5)], dirs, resume=True, **quiet)
    monkeypatch.setattr(checkpoint, "bnrepro_version", lambda: "9.9")
    with pytest.raises(checkpoint.CheckpointError, match="cannot be resumed by this version"):
        train_runs([tiny()], dirs, resume=True, **quiet)
    monkeypatch.undo()
    resumed = tiny(device="cpu", train__checkpoint_every=7, train__compile="off")
    (summary,) = train_runs([resumed], dirs, resume=True, **quiet)
    assert summary["resumed_from"] == [12]  # where, how often and whether compiled are not the configuration


def test_resume_of_a_finished_sweep_says_there_is_nothing_to_do(tmp_path, uninterrupted):
    messages = []
    assert resume_sweep(uninterrupted[0].parent, log=messages.append) == []
    assert "nothing to resume: all 2 runs finished" in messages[0]
    with pytest.raises(FileNotFoundError, match="no runs here"):
        resume_sweep(tmp_path)


@pytest.mark.parametrize("name", ["../x", "/abs", "a/b", "..", "a\\b"])
def test_a_name_that_would_leave_out_dir_is_refused(name):
    with pytest.raises(ConfigError, match="name=.* must be a plain name"):
        validate(tiny(name=name))


def test_table_writes_only_under_out_whatever_a_summary_says(tmp_path, uninterrupted):
    from bnrepro.report.tables import write_tables

    run = tmp_path / "evil" / "run"
    run.mkdir(parents=True)
    summary = json.loads((uninterrupted[0] / "summary.json").read_text())
    (run / "summary.json").write_text(json.dumps({**summary, "name": "../../README"}))
    with pytest.raises(TableError, match="not a plain file name"):
        write_tables([tmp_path / "evil"], tmp_path / "out")
    assert not any(p.suffix == ".md" for p in tmp_path.rglob("*"))


def test_a_running_summary_of_a_dead_process_or_stale_is_shown_as_killed():
    now = datetime.now(timezone.utc)
    fresh = {"status": "running", "updated": now.isoformat(), "host": "elsewhere", "pid": 1}
    assert shown_status(fresh) == "running"
    assert shown_status({**fresh, "updated": (now - timedelta(hours=1)).isoformat()}) == "killed"
    import platform

    dead = 2**22 + 12345  # above Linux's pid_max default: no such process
    assert shown_status({**fresh, "host": platform.node(), "pid": dead}) == "killed"
    assert shown_status({"status": "completed"}) == "completed"


def test_periodic_checkpoints_fall_due_by_time_and_take_at_most_their_share_of_it(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(checkpoint.time, "monotonic", lambda: clock[0])
    pacer = checkpoint.Pacer(min_s=30.0, every=1000)
    clock[0] += 29.0
    assert not pacer.due(7)  # not in the first 30 s
    clock[0] += 1.0
    assert pacer.due(7)  # then at any step: a kill loses at most about 30 s, not 1000 steps

    def save():
        clock[0] += 1.0  # a checkpoint that takes 1 s

    pacer.timed(save)
    clock[0] += 49.0
    assert not pacer.due(8)  # 1 s of checkpoint per 49 s of training would be over 2%
    clock[0] += 1.0
    assert pacer.due(8)
    assert not checkpoint.Pacer(min_s=30.0, every=0).due(1000)  # 0: no periodic checkpoints
    exact = checkpoint.Pacer(min_s=0, every=17)  # unpaced: exactly every 17 steps
    assert [s for s in range(1, 50) if exact.due(s)] == [17, 34]


def test_a_kill_loses_at_most_checkpoint_min_s_not_checkpoint_every_steps(tmp_path, monkeypatch):
    """checkpoint_every=1000 in a 30-step run: the old rule (multiples of it) never saved one."""
    dirs = [tmp_path / "run"]

    def kill():
        raise Killed

    stop_at(monkeypatch, 25, kill)
    with pytest.raises(Killed):
        train_runs([tiny(train__checkpoint_every=1000, train__checkpoint_min_s=1e-6)], dirs, **quiet)
    assert 1 <= torch_load(dirs[0] / "checkpoint.pt")["step"] <= 24


def test_fresh_dir_never_hands_out_a_directory_twice(tmp_path):
    made = [fresh_dir(tmp_path, "seed=1") for _ in range(3)]
    assert [p.name for p in made] == ["seed=1", "seed=1-2", "seed=1-3"] and all(p.is_dir() for p in made)


@pytest.mark.slow
def test_table_and_figures_list_pending_runs_as_not_finished(tmp_path, uninterrupted):
    from bnrepro.report.figures import figures
    from bnrepro.report.tables import write_tables

    pending = uninterrupted[0].parent / "s3"
    pending.mkdir()
    summary = json.loads((uninterrupted[0] / "summary.json").read_text())
    planned = {**summary["config"], "seed": 3}  # a planned run of its own (same seed would be a rerun)
    (pending / "summary.json").write_text(
        json.dumps({"name": summary["name"], "run": "s3", "status": "pending", "config": planned})
    )
    try:
        write_tables([uninterrupted[0].parent], tmp_path)
        assert "left out: 1 runs not finished: s3 (pending)" in (tmp_path / "default.md").read_text()
        assert figures([uninterrupted[0].parent], tmp_path)
    finally:
        (pending / "summary.json").unlink()
        pending.rmdir()


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["adam", "rmsprop"])
def test_adaptive_optimizers_resume_exactly(tmp_path, monkeypatch, kind):
    """RMSprop's and Adam's moments (and Adam's step count in its bias correction) are in the
    checkpoint: a run killed after its checkpoint at step 17 ends as if never stopped."""
    cfgs = [
        tiny(
            model__bn="pre",
            optim__kind=kind,
            optim__lr=0.003,
            train__steps=30,
            train__checkpoint_every=17,
            train__checkpoint_min_s=0,
            seed=seed,
        )
        for seed in (1, 2)
    ]
    plain = [tmp_path / "plain" / "s1", tmp_path / "plain" / "s2"]
    train_runs(cfgs, plain, **quiet)
    dirs = [tmp_path / "s1", tmp_path / "s2"]

    def kill():
        raise Killed

    stop_at(monkeypatch, 25, kill)
    with pytest.raises(Killed):
        train_runs(cfgs, dirs, **quiet)
    monkeypatch.undo()
    assert [s["resumed_from"] for s in resume_group(dirs, **quiet)] == [[17], [17]]
    assert_same_results(plain, dirs)
