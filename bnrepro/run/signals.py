"""The signals that stop a group of runs, and the exception that says one did.

While a group trains, SIGINT (Ctrl-C), SIGTERM, SIGHUP, SIGUSR1 and SIGUSR2 only set
`StopSignals.received`: the loop checks it after each step, then checkpoints, writes
the summaries (`interrupted`) and raises Interrupted. SIGUSR2 is the signal submitit
asks SLURM to send before a time limit or a preemption; SIGUSR1 is a common choice of
other SLURM scripts (`--signal=USR1@120`). A signal that had a Python handler before
(submitit's: it requeues the job and exits) is handed on to it once the checkpoint and
summaries are on disk (`hand_on`), so the requeued job resumes from that checkpoint.

A second signal while the checkpoint and summaries are written is noted and ignored,
so a second Ctrl-C cannot lose them (kill -9 still stops it: the previous checkpoint
stays valid).

`remember_stops()` is for processes that train one group after another for someone
else (a joblib worker): a stop signal that comes between groups, or while a group sets
up, is remembered and stops the next group after its first step, instead of ending the
worker (which would break the whole pool).

While `bnrepro train` starts, a Ctrl-C is *held* wherever Hydra and OmegaConf build
configs (`startup_sigint` for the command, `held_sigint` around each composition): it is
noted and raised as KeyboardInterrupt when that composition is done (~0.3 s a job).
Raised inside OmegaConf, a KeyboardInterrupt can meet a half-built node in the `finally`
of its flag_override, whose AttributeError then replaces it, and Hydra reports an
invalid configuration with exit status 1 (reproduced: Ctrl-C ~0.9 s into `bnrepro train
+experiment=fig3`, 3 times in 41 tries). A second Ctrl-C while one is held raises at once.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator

STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGUSR1", "SIGUSR2") if hasattr(signal, name)
)
_remembered: list[int] = []  # stop signals received between groups (see remember_stops)


class Interrupted(KeyboardInterrupt):
    """Stopped by a signal (Ctrl-C, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2) after the runs'
    checkpoint and summaries were written; `signum` says which (the exit status is 128 +
    signum). Picklable, so that a process pool can send it back to its parent."""

    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(signal.Signals(signum).name)
        self.signum = int(signum)

    def __reduce__(self):
        return type(self), (self.signum,)


class RunsFinished(Interrupted):
    """A stop signal that came after the group's last step: its runs finished anyway (their
    summaries say `completed` or `diverged`, with final numbers; no checkpoint is left). It
    still stops the sweep, as any stop signal does, so runs not started stay `pending`; the
    exit status is 128 + signum, as for any process stopped by a signal."""

    runs_finished = True  # what the command line reads (it imports no torch, so not this class)


def sweep_stopped(signum: int, packs_finished: list[bool]) -> Interrupted:
    """How a sweep that a stop signal ended says so, whatever ran its packs (this process,
    the local runner's children, joblib's workers): packs_finished, for each pack that was
    training when the stop came, whether its runs had finished their steps (packs not
    started yet stay `pending` and are not in it). RunsFinished when every one had, so the
    sweep's last line says the runs completed, not that they wait for a resume."""
    return RunsFinished(signum) if packs_finished and all(packs_finished) else Interrupted(signum)


# What holds a Ctrl-C now: the command's start, until the sweeper runs (startup_sigint,
# release_startup), and the held_sigint blocks open; `pending`: a Ctrl-C noted while held.
_hold = {"startup": False, "depth": 0, "pending": False}


def _holding() -> bool:
    return _hold["startup"] or _hold["depth"] > 0


def _held(signum, frame) -> None:
    """SIGINT's handler while `bnrepro train` starts: noted while held, else (or the second
    time) Python's own KeyboardInterrupt at once."""
    if _holding() and not _hold["pending"]:
        _hold["pending"] = True
        return
    raise KeyboardInterrupt


def _raise_held() -> None:
    if _hold["pending"] and not _holding():
        _hold["pending"] = False
        raise KeyboardInterrupt


@contextmanager
def held_sigint() -> Iterator[None]:
    """A Ctrl-C inside waits for the end of the block (where startup_sigint installed the
    handler; elsewhere it changes nothing)."""
    _hold["depth"] += 1
    try:
        yield
    finally:
        _hold["depth"] -= 1
        _raise_held()


@contextmanager
def startup_sigint() -> Iterator[None]:
    """Around `bnrepro train`'s Hydra app: SIGINT gets the `_held` handler (only where it had
    Python's own: a SIGINT ignored stays ignored), held from the start until
    `release_startup()` (the sweeper calls it once Hydra's own composition is done), and
    Python's handler is back afterwards."""
    ours = threading.current_thread() is threading.main_thread()
    ours = ours and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    previous = signal.signal(signal.SIGINT, _held) if ours else None
    _hold["startup"] = True
    try:
        yield
    finally:
        _hold["startup"] = False
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        _raise_held()


def release_startup() -> None:
    """Hydra has composed the primary config: a Ctrl-C held since the start is raised now,
    and from here only held_sigint blocks hold one."""
    _hold["startup"] = False
    _raise_held()


def _remember(signum, frame) -> None:
    _remembered.append(signum)


def remember_stops() -> None:
    """From now on, a stop signal outside a group's training is remembered (see the module)."""
    if threading.current_thread() is threading.main_thread():
        for sig in STOP_SIGNALS:
            if sig != getattr(signal, "SIGUSR2", None):  # a cluster's warning: its own handler decides
                signal.signal(sig, _remember)


class StopSignals:
    def __init__(self, log):
        self.log, self.received, self._previous = log, None, {}
        self.trained = False  # set by the loop once the last step is done: a signal then stops nothing

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is threading.main_thread():  # Python's rule for handlers
            for sig in STOP_SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        if _remembered:
            self._handle(_remembered.pop(), None)
            _remembered.clear()
        return self

    def _handle(self, signum, frame) -> None:
        name = signal.Signals(signum).name
        if self.received is None:
            self.received = signum
            if self.trained:
                self.log(f"{name}: the runs have finished their steps; writing their summaries, then stopping")
                return
            self.log(
                f"{name}: stopping after this step; saving a checkpoint and the summaries "
                f"(resume with `bnrepro resume`)"
            )
        else:
            self.log(f"{name}: still saving the checkpoint and summaries; they will be written")

    def __exit__(self, *exc) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)

    def owned(self) -> bool:
        """Whether the received signal had a handler of someone else's before (submitit's).
        Python's own Ctrl-C handler and the defaults do not count: Interrupted says it."""
        previous = self._previous.get(self.received)
        return callable(previous) and previous not in (signal.default_int_handler, _remember, _held)

    def hand_on(self) -> None:
        """Call that handler (after __exit__): submitit's requeues the job and raises
        SystemExit, or UncompletedJobError when it may not requeue it."""
        if self.owned():
            self._previous[self.received](self.received, None)
