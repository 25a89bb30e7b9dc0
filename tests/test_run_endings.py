"""How a group of runs ends, in process: a cluster's SIGUSR2 (submitit's handler gets it
after the checkpoint), any exception (failed, named, checkpointed between steps), an end
of run cut short (never `completed`), TensorBoard after a resume, checkpoints that are
not what they claim, and Interrupted through a process pool."""

from __future__ import annotations

import json
import os
import pickle
import signal

import pandas as pd
import pytest
import torch

from bnrepro.launch.resume import resume_group
from bnrepro.run import checkpoint, loop
from bnrepro.run.loop import Interrupted, train_runs
from bnrepro.run.tags import PICTURES

from conftest import tiny

quiet = dict(log=lambda message: None)
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


def config(**overrides):
    """30 steps with an end-of-run batch-size sweep, so that the end of a run has records of its own."""
    return [tiny(model__bn="pre", optim__momentum=0.9, eval__batch_sizes=[8, 32], **overrides)]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    run = tmp_path_factory.mktemp("plain") / "run"
    train_runs(config(), [run], **quiet)
    return run


def summary_of(run) -> dict:
    return json.loads((run / "summary.json").read_text())


def assert_same_as(reference, run) -> None:
    pd.testing.assert_frame_equal(pd.read_csv(reference / "scalars.csv"), pd.read_csv(run / "scalars.csv"))
    a, b = summary_of(reference), summary_of(run)
    for summary in (a, b):  # how often to checkpoint is not what a run computes
        for key in ("checkpoint_every", "checkpoint_min_s"):
            summary["config"]["train"].pop(key)
    assert {k: v for k, v in a.items() if k not in TIMING} == {k: v for k, v in b.items() if k not in TIMING}


def at_call(monkeypatch, target: str, call: int, action) -> None:
    """Do `action` at the call-th call of loop.<target> (instead of the call when it raises)."""
    real, calls = getattr(loop, target), []

    def wrapped(*args, **kwargs):
        calls.append(1)
        if len(calls) == call:
            action()
        return real(*args, **kwargs)

    monkeypatch.setattr(loop, target, wrapped)


class UncompletedJobError(RuntimeError):
    """Like submitit's: raised where a job cannot go on."""


# ---- item 1: SIGUSR2, the cluster's warning, checkpoints; submitit's handler gets it afterwards


def test_sigusr2_checkpoints_and_then_hands_the_signal_to_submitits_handler(tmp_path, monkeypatch, uninterrupted):
    run = tmp_path / "run"
    seen = []

    def submitit_handler(signum, frame):  # requeues the job, then sys.exit(-1)
        seen.append((signum, summary_of(run)["status"], torch.load(run / "checkpoint.pt", weights_only=True)["step"]))
        raise SystemExit(-1)

    previous = signal.signal(signal.SIGUSR2, submitit_handler)
    try:
        at_call(monkeypatch, "train_step", 25, lambda: os.kill(os.getpid(), signal.SIGUSR2))
        with pytest.raises(SystemExit):
            train_runs(config(train__checkpoint_every=0), [run], **quiet)  # no periodic checkpoint at all
        assert seen == [(signal.SIGUSR2, "interrupted", 25)]  # called once, after the checkpoint and summaries
        assert signal.getsignal(signal.SIGUSR2) is submitit_handler
    finally:
        signal.signal(signal.SIGUSR2, previous)
    (attempt,) = summary_of(run)["attempts"]
    assert (attempt["ended_as"], attempt["signal"], attempt["steps_to"]) == ("interrupted", "SIGUSR2", 25)
    monkeypatch.undo()
    resume_group([run], **quiet)  # the requeued job
    assert_same_as(uninterrupted, run)


def test_sigusr2_without_a_python_handler_before_stops_like_sigterm(tmp_path, monkeypatch):
    previous = signal.signal(signal.SIGUSR2, signal.SIG_IGN)  # not SIG_DFL: where USR2 is not handled, it kills
    try:
        at_call(monkeypatch, "train_step", 12, lambda: os.kill(os.getpid(), signal.SIGUSR2))
        with pytest.raises(Interrupted) as stopped:
            train_runs(config(train__checkpoint_every=0), [tmp_path / "run"], **quiet)
    finally:
        signal.signal(signal.SIGUSR2, previous)
    assert stopped.value.signum == signal.SIGUSR2
    assert torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)["step"] == 12


def test_a_group_that_finishes_after_the_warning_ends_its_cluster_job_normally(tmp_path, monkeypatch):
    called = []
    previous = signal.signal(signal.SIGUSR2, lambda signum, frame: called.append(signum))
    try:
        at_call(monkeypatch, "train_step", 30, lambda: os.kill(os.getpid(), signal.SIGUSR2))  # the last step
        (summary,) = train_runs(config(), [tmp_path / "run"], **quiet)
    finally:
        signal.signal(signal.SIGUSR2, previous)
    assert summary["status"] == "completed" and called == []  # no requeue of a finished job


# ---- item 2: any exception ends with `failed` summaries naming it, and a checkpoint where sound


def test_a_bug_mid_step_fails_the_runs_by_name_and_keeps_the_previous_checkpoint(tmp_path, monkeypatch, uninterrupted):
    run = tmp_path / "run"

    def bug():
        raise ZeroDivisionError("a bug in the step")

    at_call(monkeypatch, "train_step", 25, bug)
    with pytest.raises(ZeroDivisionError):
        train_runs(config(train__checkpoint_every=10, train__checkpoint_min_s=0), [run], **quiet)
    summary = summary_of(run)
    assert summary["status"] == "failed" and summary["error"] == "ZeroDivisionError: a bug in the step"
    assert summary["attempts"][0]["ended_as"] == "failed"
    assert torch.load(run / "checkpoint.pt", weights_only=True)["step"] == 20  # mid-step state is not saved
    monkeypatch.undo()
    (resumed,) = resume_group([run], **quiet)
    assert resumed["resumed_from"] == [20]
    assert_same_as(uninterrupted, run)


def test_an_error_between_steps_fails_the_runs_with_a_checkpoint_at_that_step(tmp_path, monkeypatch, uninterrupted):
    run = tmp_path / "run"
    real, calls = checkpoint.Pacer.due, []

    def due(self, step):
        calls.append(step)
        if step == 23:
            raise UncompletedJobError("Job not requeued because: timed-out too many times.")
        return real(self, step)

    monkeypatch.setattr(checkpoint.Pacer, "due", due)
    with pytest.raises(UncompletedJobError):
        train_runs(config(train__checkpoint_every=0), [run], **quiet)
    summary = summary_of(run)
    assert summary["status"] == "failed" and summary["error"].startswith("UncompletedJobError: Job not requeued")
    assert torch.load(run / "checkpoint.pt", weights_only=True)["step"] == 23
    monkeypatch.undo()
    resume_group([run], **quiet)
    assert_same_as(uninterrupted, run)


# ---- item 3: `completed` only once every end-of-run record is written


def test_an_interrupt_in_the_end_of_run_sweep_is_not_completed_and_resumes_to_the_same_end(
    tmp_path, monkeypatch, uninterrupted
):
    run = tmp_path / "run"

    def ctrl_c():  # as Ctrl-C arrives where no handler of ours could be installed (a worker thread)
        raise KeyboardInterrupt

    at_call(monkeypatch, "batch_size_sweep", 1, ctrl_c)
    with pytest.raises(Interrupted):
        train_runs(config(train__checkpoint_every=0), [run], **quiet)
    assert summary_of(run)["status"] == "interrupted"
    assert torch.load(run / "checkpoint.pt", weights_only=True)["step"] == 30  # all steps done, the sweep not
    monkeypatch.undo()
    (summary,) = resume_group([run], **quiet)
    assert summary["status"] == "completed" and "test_batch_stats/bs_0008_acc" in summary["final"]
    assert_same_as(uninterrupted, run)


def test_an_interrupt_in_the_last_evaluation_never_reports_the_previous_one_as_final(
    tmp_path, monkeypatch, uninterrupted
):
    run = tmp_path / "run"

    def ctrl_c():
        raise KeyboardInterrupt

    at_call(monkeypatch, "test_metrics", 2, ctrl_c)  # evaluations at 15 and 30: the last one
    with pytest.raises(Interrupted):
        train_runs(config(train__checkpoint_every=0), [run], **quiet)
    summary = summary_of(run)
    assert (
        summary["status"] == "interrupted"
        and summary["test_acc_final"] == summary_of(uninterrupted)["first"]["test/acc"]
    )  # the step-15 value, and not called final: the run is not completed
    monkeypatch.undo()
    (resumed,) = resume_group([run], **quiet)
    assert resumed["status"] == "completed"
    assert_same_as(uninterrupted, run)


# ---- item 4: TensorBoard keeps no end-of-run points of an interrupted attempt


def test_a_resumed_run_shows_no_end_of_run_points_of_the_interrupted_attempt(tmp_path, monkeypatch):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "run"
    at_call(monkeypatch, "train_step", 25, lambda: os.kill(os.getpid(), signal.SIGTERM))
    with pytest.raises(Interrupted):
        train_runs(config(probes__pictures=True), [run], **quiet)
    monkeypatch.undo()
    resume_group([run], **quiet)
    events = EventAccumulator(str(run), size_guidance={"images": 0, "scalars": 0})
    events.Reload()
    assert [e.step for e in events.Scalars("summary/test_acc_final")] == [30]
    assert [e.step for e in events.Scalars("train/loss")] == [1, 10, 20, 30]
    for tag in PICTURES.values():
        assert [e.step for e in events.Images(tag)] == [30], tag


# ---- item 10: a loadable file that is not a checkpoint is refused clearly


@pytest.mark.parametrize(
    "payload, message",
    [
        ([1, 2, 3], "it holds a list, not the dict"),
        (
            {"format": checkpoint.FORMAT, "version": checkpoint.bnrepro_version()},
            "not a bnrepro checkpoint: configs, history, .* missing or of the wrong type",
        ),
    ],
)
def test_a_checkpoint_that_is_not_one_is_refused_with_a_message(tmp_path, payload, message):
    run = tmp_path / "run"
    run.mkdir()
    torch.save(payload, run / "checkpoint.pt")
    with pytest.raises(checkpoint.CheckpointError, match=message):
        train_runs(config(), [run], resume=True, **quiet)


# ---- item 11: an interruption crosses a process boundary intact


@pytest.mark.parametrize("kind", ["Interrupted", "PackStopped"])
def test_an_interruption_survives_pickling(kind):
    from bnrepro.launch import stopping

    error = {"Interrupted": Interrupted, "PackStopped": getattr(stopping, "PackStopped", None)}[kind](signal.SIGTERM)
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is type(error) and again.signum == error.signum and str(again) == str(error)
