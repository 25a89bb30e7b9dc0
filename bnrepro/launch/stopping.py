"""Stopping a sweep whose packs train in worker processes of this machine (Hydra's joblib launcher).

joblib ends its whole pool with SIGKILL as soon as one task raises, or the parent gets a
KeyboardInterrupt, or a worker dies: the packs still training would lose everything
since their last checkpoint. So a stop is relayed instead:

- the parent (the sweeper, around the launch) holds StopRelay: on SIGINT, SIGTERM or
  SIGHUP it writes <sweep>/.packs/STOP, sends SIGINT to the workers training a pack now
  (the holders of the sweep's group locks that are its own children), and waits;
- a worker (train_pack) checks STOP before it trains, remembers a stop signal that comes
  between packs (signals.remember_stops), and returns an interruption as PackStopped,
  an Exception that Hydra's run_job keeps in the job's result, so joblib goes on
  collecting the others' results instead of killing the pool;
- after the launch the parent raises Interrupted if it was signalled or a pack stopped,
  RunsFinished where every pack the stop reached had finished its steps (as the local
  runner and the in-process launcher say it: signals.sweep_stopped).

A Ctrl-C in the terminal reaches the parent and every worker at once (one process
group); the sweeper runs at most one worker per pack, so none waits idle where the
signal would end it.
"""

from __future__ import annotations

import os
import platform
import signal
import sys
from pathlib import Path

from ..run import lock
from ..run.files import atomic_write
from ..run.signals import Interrupted, RunsFinished, sweep_stopped
from .packs import PACKS_DIR

STOP_FILE = "STOP"
RELAYED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class PackStopped(Exception):
    """A pack stopped by a signal, as a worker returns it to the sweeper (see the module):
    runs_finished, the signal came after its last step (RunsFinished); started=False, it
    came before the pack began (its runs stay `pending`)."""

    def __init__(self, signum: int, runs_finished: bool = False, started: bool = True):
        super().__init__(f"pack stopped by {signal.Signals(signum).name}")
        self.signum, self.runs_finished, self.started = int(signum), runs_finished, started

    def __reduce__(self):
        return type(self), (self.signum, self.runs_finished, self.started)


def stop_file(sweep_dir: Path) -> Path:
    return sweep_dir / PACKS_DIR / STOP_FILE


def stopped_by(sweep_dir: Path) -> int | None:
    """The signal that stopped the sweep, if its sweeper was stopped."""
    try:
        return int(stop_file(sweep_dir).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat[stat.rindex(")") + 2 :].split()[1])  # after the command name: state, ppid
    except (OSError, ValueError, IndexError):
        return None


class StopRelay:
    """`with StopRelay(sweep_dir, first_run_dirs) as relay:` around the launch (see the module)."""

    def __init__(self, sweep_dir: Path, first_run_dirs: list[Path], log=lambda m: print(m, file=sys.stderr)):
        self.sweep_dir, self.firsts, self.log = sweep_dir, first_run_dirs, log
        self.received: int | None = None
        self._previous: dict = {}

    def __enter__(self) -> "StopRelay":
        stop_file(self.sweep_dir).unlink(missing_ok=True)
        for sig in RELAYED:
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)

    def _handle(self, signum, frame) -> None:
        if self.received is not None:
            self.log(f"{signal.Signals(signum).name}: the packs are still saving their checkpoints")
            return
        self.received = signum
        atomic_write(stop_file(self.sweep_dir), f"{int(signum)}\n")  # packs not started yet stay pending
        workers = self.training_workers()
        self.log(
            f"{signal.Signals(signum).name}: stopping the sweep: {len(workers)} pack(s) training now "
            f"save a checkpoint and stop; the rest stay pending (`bnrepro resume`)"
        )
        for pid in workers:
            try:
                os.kill(pid, signal.SIGINT)  # a worker's SIGINT is always ours to handle, even mid set-up
            except ProcessLookupError:
                pass

    def training_workers(self) -> list[int]:
        """Pids of this process's children that hold a group lock of the sweep."""
        found = []
        for first in self.firsts:
            holder = lock.holder(first) or {}
            pid = holder.get("pid")
            if holder.get("host") == platform.node() and isinstance(pid, int) and _parent_of(pid) == os.getpid():
                found.append(pid)
        return found

    def raise_if_stopped(self, results) -> None:
        """After the launch: Interrupted (or RunsFinished) if this process was signalled or a
        pack was stopped."""
        from .hydra_internals import value_of

        packs = [value_of(r) for r in results if isinstance(value_of(r), PackStopped)]
        if self.received is not None or packs:
            raise sweep_stopped(self.received or packs[0].signum, [p.runs_finished for p in packs if p.started])


def effective_jobs(n_jobs) -> int:
    """joblib's n_jobs as a count: negative counts back from the CPUs (-1: all of them)."""
    n = int(n_jobs or -1)
    return n if n > 0 else max(1, (os.cpu_count() or 1) + 1 + n)


def uses_pool(launcher_target: str) -> bool:
    """Whether a Hydra launcher runs the jobs in a pool of processes of this machine (joblib's)."""
    return "joblib" in launcher_target.lower()


def launch(launcher, target: str, jobs: list, sweep_dir: Path, first_run_dirs: list[Path]):
    """The sweeper's launch of its packs (one job each) by Hydra's `launcher` (`target`: its
    class); under joblib, with the stop relayed (see the module)."""
    if not uses_pool(target):
        return launcher.launch(jobs, initial_job_idx=0)
    pool = launcher.joblib
    pool["n_jobs"] = min(effective_jobs(pool.get("n_jobs")), len(jobs))  # no idle worker for a Ctrl-C to end
    with StopRelay(sweep_dir, first_run_dirs) as relay:
        results = launcher.launch(jobs, initial_job_idx=0)
    relay.raise_if_stopped(results)
    return results


def in_pool(sweep_dir: Path, work):
    """A pool worker's pack: `work()` unless the sweep was stopped; an interruption comes
    back as PackStopped (see the module)."""
    from ..run.signals import remember_stops

    remember_stops()
    try:
        signum = stopped_by(sweep_dir)
        if signum is not None:
            raise PackStopped(signum, started=False)
        return work()
    except Interrupted as e:
        raise PackStopped(e.signum, runs_finished=isinstance(e, RunsFinished)) from None
    except KeyboardInterrupt:
        raise PackStopped(signal.SIGINT) from None
