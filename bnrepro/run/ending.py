"""How a group's attempt ended: decided once, by `decide`, from what its session saw.

Every way a group ends goes through `decide`: each run's final status, the attempt's
`ended_as` (its record in the summaries' `attempts`), and what train_runs does next
(return the summaries, re-raise the exception, raise Interrupted, hand the signal on to
submitit's handler first). It is a pure function of the facts below, so every ending is
tested on its own (tests/test_ending.py) without training anything.

An attempt that dies without a word (kill -9, the OOM killer) cannot decide anything:
the attempt that resumes its checkpoint records it `killed` (checkpoint.earlier_attempts).
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from enum import Enum

from .checkpoint import FINISHED
from ..config.status import COMPLETED, FAILED, INTERRUPTED, RUNNING


class Exit(Enum):
    """What train_runs does once the summaries are written."""

    RETURN = "return"  # the summaries
    RERAISE = "reraise"  # the exception that stopped the loop, as it came
    CTRL_C = "ctrl_c"  # Interrupted(SIGINT), from a KeyboardInterrupt no handler of ours turned into a stop
    STOPPED = "stopped"  # Interrupted(signal): the group stopped unfinished, the sweep stops
    FINISHED_THEN_STOPPED = "finished_then_stopped"  # RunsFinished(signal): it came too late to stop the group


@dataclass(frozen=True)
class Ending:
    statuses: tuple[str, ...]  # each run's final status
    ended_as: str  # the attempt's: finished, interrupted or failed
    signal: str | None  # the stop signal that came (or the exception's, an Interrupted's), by name
    error: str | None  # "Type: message" of the exception that failed the runs
    exit: Exit
    hand_on: bool  # call the signal's earlier handler (submitit's: it requeues the job) before the exit

    @property
    def finished(self) -> bool:
        return all(status in FINISHED for status in self.statuses)


def decide(
    statuses: tuple[str, ...],
    records_written: bool,
    error: BaseException | None = None,
    received: int | None = None,
    owned: bool = False,
) -> Ending:
    """statuses: each run's status as the loop left it (`running`, or `diverged`);
    records_written: every step done and the end-of-run records (the last evaluation, the
    batch-size sweep) written; error: what stopped the loop, if anything raised; received:
    the stop signal that came while training or finishing; owned: that signal had a handler
    of someone else's before (submitit's)."""
    failed = isinstance(error, Exception)  # KeyboardInterrupt and SystemExit interrupt, they do not fail
    unfinished = COMPLETED if records_written else FAILED if failed else INTERRUPTED
    final = tuple(unfinished if status == RUNNING else status for status in statuses)
    finished = all(status in FINISHED for status in final)
    stopped_by = received or getattr(error, "signum", None)
    return Ending(
        statuses=final,
        ended_as="finished" if finished else FAILED if failed else INTERRUPTED,
        signal=signal.Signals(stopped_by).name if stopped_by else None,
        error=f"{type(error).__name__}: {error}" if failed else None,
        exit=_exit(error, received, finished, owned),
        hand_on=error is None and received is not None and not finished and owned,
    )


def _exit(error: BaseException | None, received: int | None, finished: bool, owned: bool) -> Exit:
    if type(error) is KeyboardInterrupt:  # Ctrl-C without our handler: the summaries say interrupted
        return Exit.CTRL_C
    if error is not None:
        return Exit.RERAISE
    if received is None or (finished and owned):  # a finished group under submitit ends its job normally
        return Exit.RETURN
    return Exit.FINISHED_THEN_STOPPED if finished else Exit.STOPPED
