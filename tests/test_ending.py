"""Every way a group's attempt ends, decided by run.ending.decide on its own (no training):
each run's final status, the attempt's `ended_as`, and what train_runs does next; and how
the attempt that resumes a checkpoint records the one before it."""

from __future__ import annotations

import pickle
import signal
import sys

import pytest

from bnrepro.run.checkpoint import earlier_attempts
from bnrepro.run.ending import Exit, decide
from bnrepro.run.signals import Interrupted, RunsFinished

TERM, USR2 = signal.SIGTERM, signal.SIGUSR2


def outcome(ending) -> tuple:
    return ending.statuses, ending.ended_as, ending.signal, ending.error, ending.exit, ending.hand_on


@pytest.mark.parametrize(
    "statuses, kwargs, expected",
    [
        # every step and the end-of-run records done: completed; a run that diverged stays so
        (
            ("running", "running"),
            dict(records_written=True),
            (("completed", "completed"), "finished", None, None, Exit.RETURN, False),
        ),
        (
            ("diverged", "running"),
            dict(records_written=True),
            (("diverged", "completed"), "finished", None, None, Exit.RETURN, False),
        ),
        # every run diverged: the loop stops early, nothing left to train
        (
            ("diverged", "diverged"),
            dict(records_written=False),
            (("diverged", "diverged"), "finished", None, None, Exit.RETURN, False),
        ),
        # a stop signal mid-run: interrupted, and the sweep stops
        (
            ("running", "diverged"),
            dict(records_written=False, received=TERM),
            (("interrupted", "diverged"), "interrupted", "SIGTERM", None, Exit.STOPPED, False),
        ),
        # SLURM's warning with submitit's handler: handed on (it requeues the job) ...
        (
            ("running",),
            dict(records_written=False, received=USR2, owned=True),
            (("interrupted",), "interrupted", "SIGUSR2", None, Exit.STOPPED, True),
        ),
        # ... unless the group finished anyway: its job ends normally
        (
            ("running",),
            dict(records_written=True, received=USR2, owned=True),
            (("completed",), "finished", "SIGUSR2", None, Exit.RETURN, False),
        ),
        # issue 28 item 3: a signal after the last step: completed, and said so (RunsFinished)
        (
            ("running", "running"),
            dict(records_written=True, received=TERM),
            (("completed", "completed"), "finished", "SIGTERM", None, Exit.FINISHED_THEN_STOPPED, False),
        ),
        # a run's files could not be written (it says failed): no exception, the summaries returned
        (("failed",), dict(records_written=True), (("failed",), "interrupted", None, None, Exit.RETURN, False)),
    ],
)
def test_how_a_group_ends(statuses, kwargs, expected):
    assert outcome(decide(statuses, **kwargs)) == expected


def test_an_exception_fails_the_running_runs_by_name_and_is_raised_again():
    ending = decide(("running", "diverged"), False, error=ZeroDivisionError("a bug in the step"))
    assert outcome(ending) == (
        ("failed", "diverged"),
        "failed",
        None,
        "ZeroDivisionError: a bug in the step",
        Exit.RERAISE,
        False,
    )
    # even with a signal received before it: the exception is what callers see, nothing is handed on
    assert decide(("running",), False, error=OSError("disk full"), received=USR2, owned=True).exit is Exit.RERAISE


@pytest.mark.parametrize(
    "error, exit",
    [(KeyboardInterrupt(), Exit.CTRL_C), (SystemExit(1), Exit.RERAISE), (Interrupted(TERM), Exit.RERAISE)],
)
def test_ctrl_c_and_system_exit_interrupt_they_do_not_fail(error, exit):
    ending = decide(("running",), False, error=error)
    assert (ending.statuses, ending.ended_as, ending.error, ending.exit) == (
        ("interrupted",),
        "interrupted",
        None,
        exit,
    )
    assert ending.signal == ("SIGTERM" if isinstance(error, Interrupted) else None)


def test_runs_finished_is_an_interruption_that_says_so_across_a_process_boundary():
    from bnrepro.cli import _interrupted

    again = pickle.loads(pickle.dumps(RunsFinished(TERM)))
    assert isinstance(again, Interrupted) and again.signum == TERM and again.runs_finished
    assert not getattr(Interrupted(TERM), "runs_finished", False)
    assert _interrupted(again) == 128 + TERM


# ---- a sweep's packs in other processes: the same ending as in-process (issue: joblib said "interrupted")


def _sweep_with_pack(tmp_path, statuses: list[str]):
    import json

    from bnrepro.launch.packs import Pack, write_pack

    names = [f"seed={n}" for n in range(len(statuses))]
    write_pack(tmp_path, Pack(0, names, [[name] for name in names]))
    for name, status in zip(names, statuses):
        (tmp_path / name).mkdir()
        (tmp_path / name / "summary.json").write_text(json.dumps({"status": status}))
    return tmp_path


@pytest.mark.parametrize(
    "statuses, finished",
    [(["completed", "diverged"], True), (["completed", "interrupted"], False), (["pending", "pending"], None)],
)
def test_the_local_runner_reads_from_a_stopped_packs_summaries_whether_its_runs_finished(tmp_path, statuses, finished):
    from bnrepro.launch.local import pack_finished

    assert pack_finished(_sweep_with_pack(tmp_path, statuses), 0) is finished


def test_a_stop_after_every_reached_packs_last_step_ends_the_sweep_as_runs_finished_under_joblib_too(tmp_path):
    from bnrepro.launch.hydra_internals import job_return
    from bnrepro.launch.stopping import PackStopped, StopRelay
    from bnrepro.run.signals import sweep_stopped

    assert type(sweep_stopped(TERM, [True, True])) is RunsFinished
    assert type(sweep_stopped(TERM, [True, False])) is Interrupted  # one pack still has steps to resume
    assert type(sweep_stopped(TERM, [])) is Interrupted

    def ending(*values) -> KeyboardInterrupt:
        with pytest.raises(Interrupted) as raised:
            StopRelay(tmp_path, []).raise_if_stopped([job_return([], pickle.loads(pickle.dumps(v))) for v in values])
        return raised.value

    # a worker's pack that finished before the stop reached it returns None; one not begun stays pending
    finished = ending(None, PackStopped(TERM, runs_finished=True), PackStopped(TERM, started=False))
    assert type(finished) is RunsFinished and finished.signum == TERM
    assert type(ending(PackStopped(TERM, runs_finished=True), PackStopped(TERM))) is Interrupted


# ---- resumed: the attempt before, as the one that resumes its checkpoint records it


def _resumed(said: str | None) -> dict:
    attempt = {"pid": 7, "started": "t0", "ended_as": "running", "steps_to": 10}
    summary = {
        "updated": "t1",
        "attempts": [] if said is None else [{**attempt, "ended_as": said, "ended": "t2", "signal": "SIGTERM"}],
    }
    (earlier,) = earlier_attempts({"attempts": [attempt], "step": 20}, summary)
    return earlier


@pytest.mark.parametrize(
    "said, ended_as, ended",
    [
        ("interrupted", "interrupted", "t2"),  # it said so itself
        ("failed", "failed", "t2"),
        ("running", "killed", "t1"),  # kill -9 mid-run: its summary still says running
        (None, "killed", "t1"),
        ("finished", "killed", "t1"),  # issue 28 item 4: killed while writing its end-of-run files
    ],
)
def test_a_resumed_attempt_records_how_the_one_before_ended(said, ended_as, ended):
    earlier = _resumed(said)
    assert (earlier["ended_as"], earlier["ended"], earlier["steps_to"]) == (ended_as, ended, 20)


def test_a_stop_signal_after_the_last_step_says_the_runs_finished_not_that_they_will_checkpoint():
    from bnrepro.run.signals import StopSignals

    lines = []
    with StopSignals(lines.append) as signals:
        signals.trained = True
        signals._handle(signal.SIGTERM, None)
    assert signals.received == signal.SIGTERM
    assert lines == ["SIGTERM: the runs have finished their steps; writing their summaries, then stopping"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_local_runner_child_asks_for_sigterm_at_its_parents_death_and_sees_a_parent_already_gone():
    """In a forked process (the request is per process: not pytest's own)."""
    import ctypes
    import os

    from bnrepro.launch.local import die_with_parent

    pid = os.fork()
    if pid == 0:  # the child: exit status 1 + what it saw, 0 bits for a failed check
        try:
            alive = die_with_parent(os.getppid())
            asked = ctypes.c_int()
            ctypes.CDLL(None).prctl(2, ctypes.byref(asked), 0, 0, 0)  # PR_GET_PDEATHSIG
            gone = not die_with_parent(os.getppid() + 1)  # a pid that is not its parent: the runner died first
            os._exit(10 + 4 * alive + 2 * (asked.value == signal.SIGTERM) + gone)
        finally:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 10 + 4 + 2 + 1
