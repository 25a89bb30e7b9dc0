"""How `bnrepro train` and `bnrepro resume` end when not every group trained, and the exit status that says so.

- 0: every group trained (or had already finished);
- 1: a group failed (an error, a checkpoint refused) or a pack's process was killed:
  its runs are not finished, `bnrepro resume` continues them;
- 75 (BUSY_EXIT): some groups were skipped because another process trains them (holds
  their lock), and nothing failed: busy, try later. EX_TEMPFAIL of sysexits.h;
- 128 + n: stopped by signal n (checkpoints written; `bnrepro resume` continues).
"""

from __future__ import annotations

BUSY_EXIT = 75
FAILED_EXIT = 1


class SweepNotFinished(BaseException):
    """Some packs of a sweep were skipped (busy) or killed; the message is one line per pack.

    A BaseException on purpose: Hydra reports any Exception from a sweep itself and exits 1
    (hydra_internals.py pins that); this one must reach the cli with its own exit status."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


def busy_line(error: BaseException) -> str:
    """The one line for a group whose lock another process holds (GroupBusy names its runs)."""
    return f"skipped, busy (try later): {error}"


class PackKilled(Exception):
    """A pack whose process was killed by a signal nobody relayed (kill -9, the OOM killer)."""

    def __init__(self, signame: str):
        super().__init__(f"its process was killed by {signame}")
        self.signame = signame

    def __reduce__(self):
        return type(self), (self.signame,)


def settle(values: list, pack_runs: list[list[str]], sweep_dir, log) -> None:
    """After a sweep's launch, from each pack's result (`values`; pack_runs: its runs'
    names): the first failure is raised as it is (Hydra reports it, exit 1), after one line
    for each pack that was killed or busy; otherwise SweepNotFinished if some were."""
    from ..run.lock import GroupBusy

    lines, code = [], 0
    for value, runs in zip(values, pack_runs):
        what = f"runs {', '.join(runs)}"
        if isinstance(value, PackKilled):
            lines.append(f"{what}: not finished, {value} (`bnrepro resume {sweep_dir}` continues them)")
            code = FAILED_EXIT
        elif isinstance(value, GroupBusy):
            lines.append(busy_line(value))
            code = code or BUSY_EXIT
    failure = next((v for v in values if isinstance(v, Exception) and not isinstance(v, (PackKilled, GroupBusy))), None)
    if failure is not None:
        for line in lines:
            log(line)
        raise failure
    if lines:
        raise SweepNotFinished("\n".join(lines), code)
