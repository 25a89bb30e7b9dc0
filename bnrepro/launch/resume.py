"""`bnrepro resume SWEEP_DIR`: continue every run of a sweep that did not finish.

A sweep's groups (the runs trained together) come from its pack files
(`.packs/<n>/pack.json`, written by the sweeper); runs that no pack names (runs trained
by train_runs directly) from their summary's `group`. Every name must stay inside the
sweep directory (symbolic links resolved), and no run may belong to two groups: a group
that breaks these rules is reported, never trained. The checkpoint, when there is one,
must name the same runs (checkpoint.load).

Every group with a run that is not `completed` or `diverged` (pending, running,
interrupted, failed, or killed) is trained again with train_runs(resume=True): from its
checkpoint when it has one (exactly where it stopped), from the start otherwise, in the
same directories. A group that cannot be resumed (a checkpoint that is unreadable or
other code's, a pack file out of bounds) is reported with the reason and the others go
on; the command then exits 1. A group whose lock a live process holds is skipped as
busy (one line; exit BUSY_EXIT, 75, when nothing failed: try later).
`restart` (`--restart-group RUN`) starts the group of RUN over from step 0.
resume_group is the plain function a cluster job calls to continue its own group.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from ..config import from_plain
from ..run.checkpoint import FINISHED
from ..run.files import read_summary
from ..run.lock import GroupBusy
from ..run.signals import Interrupted
from .outcomes import BUSY_EXIT, SweepNotFinished, busy_line
from .packs import PACK_FILE, PACKS_DIR, read_pack


class ResumeIncomplete(RuntimeError):
    """Some groups of the sweep could not be resumed; the message lists them with the reasons."""


@dataclass
class Group:
    dirs: list[Path]
    swept: tuple[str, ...] = ()
    problem: str | None = None  # why it cannot be trained (set when its membership is not to be trusted)

    @property
    def names(self) -> str:
        return ", ".join(d.name for d in self.dirs)


def inside(sweep_dir: Path, name: object, base: Path | None = None) -> Path | None:
    """base/name (base: the sweep directory unless given), resolved, if name is a relative
    path to a directory strictly inside the sweep (after following symbolic links); None otherwise."""
    if not isinstance(name, str) or not name or "\0" in name or Path(name).is_absolute():
        return None
    root = sweep_dir.resolve()
    try:
        found = ((base or root) / name).resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    return found if found != root and found.is_relative_to(root) and found.is_dir() else None


def confined(sweep_dir: Path, names: list, base: Path | None = None) -> list[Path]:
    """The run directories `names` (relative to base, by default the sweep); ValueError
    naming any that is not inside the sweep, or that the list names twice (two writers
    would share one directory)."""
    if not isinstance(names, list):
        raise ValueError(f"{names!r}: not a list of run directory names")
    found = [inside(sweep_dir, name, base) for name in names]
    outside = [repr(name) for name, path in zip(names, found) if path is None]
    if outside:
        raise ValueError(f"{', '.join(outside)}: not a run directory inside {sweep_dir}")
    twice = sorted({path.name for path in found if found.count(path) > 1})
    if twice:
        raise ValueError(f"names {', '.join(twice)} twice: a run belongs to its group once")
    return found


def _is_run(sweep_dir: Path, path: Path) -> bool:
    """A run directory: it holds config.yaml, and no directory on the way is hidden (.packs, .submitit)."""
    return not any(part.startswith(".") for part in path.relative_to(sweep_dir).parts)


def sweep_groups(sweep_dir: Path) -> tuple[list[Group], list[Path]]:
    """Every group of the sweep (see the module), and every run directory in it. A run
    whose own summary's group is unusable (or disagrees) but which another run's group
    names is trained with that group; only a run that no group takes is reported."""
    root = sweep_dir.resolve()
    runs = sorted({p.parent.resolve() for p in root.rglob("config.yaml") if _is_run(root, p.parent)})
    groups: list[Group] = []
    for pack_file in sorted((root / PACKS_DIR).glob(f"*/{PACK_FILE}")):
        try:
            names, swept = read_pack(pack_file.parent)
            groups.append(Group(confined(root, names), swept))
        except (OSError, ValueError, KeyError, TypeError) as e:
            groups.append(
                Group(
                    [],
                    problem=f"pack file {pack_file} not used: {e} (the runs it "
                    "names are grouped by their summaries instead)",
                )
            )
    claimed = {d for g in groups if g.problem is None for d in g.dirs}
    problems: dict[Path, str] = {}
    for run in runs:
        if run in claimed:
            continue
        names = (read_summary(run) or {}).get("group") or [run.name]
        try:
            members = confined(root, names, base=run.parent)  # a summary's group is relative to its parent
        except ValueError as e:
            problems[run] = f"its summary's group {names!r}: {e}"
            continue
        if run not in members or claimed & set(members):
            problems[run] = f"its summary's group {names} does not match the other runs' groups"
            continue
        groups.append(Group(members))
        claimed |= set(members)
    groups += [Group([run], problem=problem) for run, problem in problems.items() if run not in claimed]
    return groups, runs


def unfinished(group: Group) -> bool:
    return any((read_summary(d) or {}).get("status") not in FINISHED for d in group.dirs)


def resume_group(
    run_dirs: list[Path],
    log=lambda message: print(message, file=sys.stderr),
    swept: tuple[str, ...] = (),
    allow_other_code: bool = False,
    restart: bool = False,
) -> list[dict]:
    """Continue one group of runs (trained together) from its run directories; return the
    summaries. Finished groups are returned as they are. swept: the sweep's varying keys
    (TensorBoard hparams of a run that starts from step 0). allow_other_code: even from a
    checkpoint that other code wrote. restart: from step 0, whatever the checkpoint (the
    group's lock is taken before it is deleted)."""
    from ..run.loop import train_runs

    cfgs = [from_plain(yaml.safe_load((d / "config.yaml").read_text())) for d in run_dirs]
    command = (read_summary(run_dirs[0]) or {}).get("command", "")
    return train_runs(
        cfgs, run_dirs, command, log=log, resume=not restart, swept=swept, allow_other_commit=allow_other_code
    )


def resume_sweep(
    sweep_dir: Path,
    log=lambda message: print(message, file=sys.stderr),
    allow_other_code: bool = False,
    restart: tuple[str, ...] = (),
) -> list[dict]:
    """Resume every unfinished group of the sweep. At the end, ResumeIncomplete if some could
    not be (a failure), else SweepNotFinished with BUSY_EXIT if some were busy (try later)."""
    if not sweep_dir.is_dir():
        raise FileNotFoundError(f"{sweep_dir}: no such directory")
    groups, runs = sweep_groups(sweep_dir)
    if not runs:
        raise FileNotFoundError(f"{sweep_dir}: no runs here (no config.yaml below it)")
    known = {d.name for g in groups if g.problem is None for d in g.dirs}
    unknown = sorted(set(restart) - known)
    if unknown:
        raise FileNotFoundError(f"--restart-group {', '.join(unknown)}: no such run in a group of {sweep_dir}")
    again = [g for g in groups if g.problem is None and {d.name for d in g.dirs} & set(restart)]
    todo = [g for g in groups if g.problem is not None or g in again or unfinished(g)]
    if not todo:
        log(f"{sweep_dir}: nothing to resume: all {len(runs)} runs finished (completed or diverged)")
        return []
    count = len({d for g in todo for d in g.dirs if g.problem is None})
    log(f"{sweep_dir}: resuming {count} of {len(runs)} runs in {sum(g.problem is None for g in todo)} group(s)")
    summaries, refused, busy, trained = [], [], [], 0
    for group in todo:
        label = f"{group.names}: " if group.dirs else ""
        if group.problem is not None:
            refused.append(f"{label}{group.problem}")
            log(f"not resumed: {refused[-1]}")
            continue
        try:
            summaries += resume_group(group.dirs, log, group.swept, allow_other_code, restart=group in again)
            trained += 1
        except (Interrupted, KeyboardInterrupt, SystemExit):
            raise  # the user (or the cluster) stops the whole resume
        except GroupBusy as e:  # another process trains it now: not a failure
            busy.append(busy_line(e))
            log(busy[-1])
        except Exception as e:  # this group only: the others go on
            refused.append(f"{label}{type(e).__name__}: {e}")
            log(f"not resumed: {refused[-1]}")
    if refused:
        others = f"{trained} other group(s) resumed" if trained else "no group resumed"
        raise ResumeIncomplete(
            f"{sweep_dir}: {len(refused)} problem(s), {others}"
            + (f", {len(busy)} busy" if busy else "")
            + ":\n  "
            + "\n  ".join(refused + busy)
            + "\n(`bnrepro resume --restart-group RUN` starts a broken group over from step 0)"
        )
    if busy:
        raise SweepNotFinished("\n".join(busy), BUSY_EXIT)
    return summaries
