"""bnrepro's own local runner: packs in independent child processes, n at a time.

`run_packs(sweep_dir, numbers, n_jobs)` trains the packs `numbers` of a sweep (their
files are <sweep>/.packs/<n>/pack.json), each in a child process of its own
(`python -m bnrepro.launch.local SWEEP N`) started in a session of its own, at most
n_jobs at once; it returns one PackOutcome per pack. The Hydra launcher
`hydra/launcher=local` (hydra_plugin/) is a thin shim over it.

Why not joblib: its loky pool ends every worker with SIGKILL as soon as one dies, so a
kill -9 or the OOM killer taking one pack took all the others' work since their last
checkpoint. Here a child's death is that pack's alone:

- a child killed by a signal (kill -9, the OOM killer) leaves its runs at its last
  checkpoint; the runner marks their summaries `killed` (status and the attempt's
  `ended_as`, with the signal) and the other children train on to completion;
- SIGINT, SIGTERM or SIGHUP to the runner (a terminal's Ctrl-C reaches the runner only:
  the children have sessions of their own) writes <sweep>/.packs/STOP, relays SIGINT to
  every child training, starts no more, and waits: each checkpoints and stops
  (`interrupted`), the packs not started stay `pending`; then Interrupted is raised
  (RunsFinished where every pack it reached had finished its steps, as their summaries
  say: the in-process launcher and joblib's path say it the same way);
- a stop signal sent to one child stops its pack only; the others finish, and then
  Interrupted is raised as above;
- a child whose group is busy (another process holds its lock) exits with BUSY_EXIT;
  its pack is skipped, not failed (the outcome names the holder);
- the runner killed (kill -9, the OOM killer): on Linux each child gets SIGTERM from the
  kernel (prctl PR_SET_PDEATHSIG, die_with_parent), so it checkpoints and stops
  (`interrupted`) instead of training on, orphaned, into the sweep; `bnrepro resume`
  continues it from that checkpoint. Elsewhere the children train on to their end.

A child's exit status says how its pack ended (0, BUSY_EXIT, 128 + signal, else failed);
its log goes to the runner's stderr.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .outcomes import BUSY_EXIT
from ..config.status import FAILED, INTERRUPTED, KILLED, PENDING, RUNNING

RELAYED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
RUNNER_ENV = "BNREPRO_LOCAL_RUNNER"  # the runner's pid, as its children are told it
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


@dataclass
class PackOutcome:
    number: int
    how: str  # "finished", INTERRUPTED, "busy", FAILED or KILLED
    detail: str = ""  # the signal that killed it, or the child's exit status
    signum: int | None = None  # the signal that stopped or killed it


def _outcome(number: int, code: int, stopping: int | None) -> PackOutcome:
    if code == 0:
        return PackOutcome(number, "finished")
    if code == BUSY_EXIT:
        return PackOutcome(number, "busy", "another process holds its lock")
    if code < 0 and stopping is None:  # ended by a signal that nobody relayed: killed
        return PackOutcome(number, KILLED, signal.Signals(-code).name, -code)
    if code < 0:  # the relayed SIGINT came before Python could handle it: its runs stay pending
        return PackOutcome(number, INTERRUPTED, signum=stopping)
    if code > 128:  # stopped by a signal after its checkpoint (child_main)
        return PackOutcome(number, INTERRUPTED, signum=code - 128)
    return PackOutcome(number, FAILED, f"exit status {code}")


def _child_env(n_jobs: int) -> dict:
    """Each child gets a share of the cores for its intra-op threads (as joblib's workers
    do), unless the user set OMP_NUM_THREADS; and is told how many packs train at once
    (its runs' summaries record it)."""
    from ..run.cpu import PROCESSES_ENV

    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // n_jobs)))
    env[PROCESSES_ENV] = str(n_jobs)
    env[RUNNER_ENV] = str(os.getpid())
    return env


def die_with_parent(parent: int, signum: int = signal.SIGTERM) -> bool:
    """Ask the kernel for `signum` when this process's parent dies (Linux's
    PR_SET_PDEATHSIG; a no-op elsewhere); False if the parent `parent` is already gone.
    The parent can die between this process's start and the request: it then has been
    re-parented, so getppid() no longer says `parent`, and no signal will ever come.
    (The signal follows the death of the parent's thread that started us: the runner
    starts its children from its main thread.)"""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signum), 0, 0, 0)
        except (OSError, AttributeError):  # no libc prctl to call: the children outlive a killed runner, as before
            pass
    return os.getppid() == parent


def run_packs(
    sweep_dir: Path, numbers: list[int], n_jobs: int, log=lambda message: print(message, file=sys.stderr)
) -> list[PackOutcome]:
    """Train the packs `numbers` of the sweep, at most n_jobs at once (see the module).
    Interrupted if the runner was signalled (after every child has stopped)."""
    from ..run.signals import sweep_stopped
    from .stopping import stop_file

    n_jobs = max(1, min(n_jobs, len(numbers)))
    waiting, running, outcomes = list(numbers), {}, {}
    stopping: list[int] = []

    def stop(signum, frame) -> None:
        if stopping:
            log(f"{signal.Signals(signum).name}: the packs are still saving their checkpoints")
            return
        stopping.append(signum)
        from ..run.files import atomic_write

        atomic_write(stop_file(sweep_dir), f"{int(signum)}\n")  # a child starting now sees it
        log(
            f"{signal.Signals(signum).name}: stopping the sweep: {len(running)} pack(s) training now save a "
            f"checkpoint and stop; {len(waiting)} not started stay pending (`bnrepro resume`)"
        )
        for child in running.values():
            child.send_signal(signal.SIGINT)

    stop_file(sweep_dir).unlink(missing_ok=True)
    previous = {sig: signal.signal(sig, stop) for sig in RELAYED}
    env = _child_env(n_jobs)
    try:
        while waiting or running:
            while waiting and len(running) < n_jobs and not stopping:
                number = waiting.pop(0)
                running[number] = subprocess.Popen(
                    [sys.executable, "-m", "bnrepro.launch.local", str(sweep_dir), str(number)],
                    stdin=subprocess.DEVNULL,
                    env=env,
                    start_new_session=True,
                )
            if stopping:
                waiting.clear()
            for number, child in list(running.items()):
                code = child.poll()
                if code is not None:
                    del running[number]
                    outcomes[number] = _outcome(number, code, stopping[0] if stopping else None)
                    if outcomes[number].how == KILLED:
                        mark_killed(sweep_dir, number, child.pid, outcomes[number].detail, log)
                        log(
                            f"pack {number}: its process was killed by {outcomes[number].detail}; its runs are "
                            f"marked killed, the other packs go on"
                        )
                    elif outcomes[number].how == "busy":
                        outcomes[number].detail = busy_detail(sweep_dir, number)
            time.sleep(0.05)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    # A stop signal sent to one child stops its pack only; the sweep still ends as stopped (as under joblib).
    stopped = [o for o in outcomes.values() if o.how == INTERRUPTED]
    if stopping or stopped:
        reached = [pack_finished(sweep_dir, o.number) for o in stopped]
        raise sweep_stopped((stopping or [stopped[0].signum])[0], [f for f in reached if f is not None])
    return [outcomes[n] for n in numbers]


def pack_finished(sweep_dir: Path, number: int) -> bool | None:
    """Whether a stopped pack's runs had finished their steps (the stop came after the last:
    their summaries say completed or diverged); None if it never began (all `pending`).
    The child's exit status (128 + signal) says it stopped, its summaries how far it got."""
    from ..config.status import FINISHED
    from ..run.files import read_summary

    try:
        statuses = [(read_summary(d) or {}).get("status") for d in _runs(sweep_dir, number)]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    if all(status == PENDING for status in statuses):
        return None
    return all(status in FINISHED for status in statuses)


def _runs(sweep_dir: Path, number: int) -> list[Path]:
    from .packs import pack_dir, read_pack
    from .resume import confined

    return confined(sweep_dir, read_pack(pack_dir(sweep_dir, number))[0])


def busy_detail(sweep_dir: Path, number: int) -> str:
    """Who holds the lock of a busy pack's group, as GroupBusy would say it."""
    from ..run import lock

    runs = _runs(sweep_dir, number)
    holder = lock.holder(runs[0])
    who = f"being trained by {lock.describe(holder)}" if holder else "another process held its lock"
    return f"runs {', '.join(d.name for d in runs)}: {who}; its lock is {lock.path_for(runs[0])}"


def launch_packs(sweep_dir: Path, job_overrides, first_number: int, n_jobs: int) -> list:
    """The Hydra launcher's work (hydra_plugin/): packs first_number, ... (one per job), each
    job's result as Hydra's JobReturn: an exception for a pack killed, busy or failed."""
    from ..run.lock import GroupBusy
    from .hydra_internals import job_return
    from .outcomes import PackKilled

    numbers = list(range(first_number, first_number + len(job_overrides)))
    values = {
        "killed": lambda o: PackKilled(o.detail),
        "busy": lambda o: GroupBusy(o.detail),
        FAILED: lambda o: RuntimeError(f"pack {o.number} failed ({o.detail}): its error is above"),
        "finished": lambda o: None,
    }
    return [
        job_return(overrides, values[o.how](o))
        for overrides, o in zip(job_overrides, run_packs(sweep_dir, numbers, n_jobs))
    ]


def mark_killed(sweep_dir: Path, number: int, pid: int, signame: str, log) -> None:
    """The summaries of a pack whose child was killed: `killed` where they still say
    `running` (or `pending`), and the dead child's attempt ended `killed` by `signame`.
    Under the group's lock, which the kernel freed with the child: a resume that took the
    group meanwhile owns its files."""
    from datetime import datetime, timezone

    from ..run.files import read_summary
    from ..run.lock import GroupBusy, GroupLock
    from ..run.writers import write_summary

    try:
        run_dirs = _runs(sweep_dir, number)
        with GroupLock(run_dirs[0], f"pack {number}"):
            now = datetime.now(timezone.utc).isoformat(timespec="seconds")
            for run_dir in run_dirs:
                summary = read_summary(run_dir)
                if summary is None or summary.get("status") not in (RUNNING, PENDING):
                    continue
                summary["status"] = KILLED
                for attempt in summary.get("attempts") or []:
                    if isinstance(attempt, dict) and attempt.get("pid") == pid and attempt.get("ended_as") == RUNNING:
                        attempt.update(ended=now, ended_as=KILLED, signal=signame)
                write_summary(run_dir, summary)
    except (GroupBusy, OSError, ValueError, KeyError, TypeError) as e:
        log(f"pack {number}: its summaries could not be marked killed ({type(e).__name__}: {e})")


def child_main(sweep_dir: Path, number: int) -> int:
    """One pack, in a child of run_packs: its exit status says how it ended."""
    from ..run.signals import remember_stops

    remember_stops()  # a relayed stop during set-up stops the pack after its first step
    runner = os.environ.get(RUNNER_ENV)
    if runner is not None and not die_with_parent(int(runner)):  # the runner died before we could ask
        return 128 + signal.SIGTERM  # nothing begun: the pack's runs stay pending
    from ..run.lock import GroupBusy
    from ..run.signals import Interrupted
    from .packs import pack_dir
    from .stopping import stopped_by
    from .sweep import train_pack

    signum = stopped_by(sweep_dir)
    if signum is not None:
        return 128 + signum
    try:
        train_pack(pack_dir(sweep_dir, number), sweep_dir, number)
    except Interrupted as e:
        return 128 + e.signum
    except KeyboardInterrupt:
        return 128 + signal.SIGINT
    except GroupBusy:
        return BUSY_EXIT  # the runner says so, once, naming the holder
    return 0


if __name__ == "__main__":
    sys.exit(child_main(Path(sys.argv[1]), int(sys.argv[2])))
