"""`bnrepro resume SWEEP_DIR`: continue every run of a sweep that did not finish.

A sweep's run directories each hold config.yaml and summary.json; the summary names
the group the run trains with (`group`, written before training starts, `pending`).
Every group with a run that is not `completed` or `diverged` (pending, running,
interrupted, failed, or killed: a `running` summary nobody updates) is trained again
with train_runs(resume=True): from its checkpoint when it has one (exactly where it
stopped), from the start otherwise, in the same directories. resume_group is the
plain function a cluster job calls to continue its own group.
"""
from __future__ import annotations

import sys
from pathlib import Path

import yaml

from ..config import from_plain
from ..run.checkpoint import FINISHED
from ..run.files import read_summary


def _summary(run_dir: Path) -> dict:
    return read_summary(run_dir) or {}  # none: killed before its first summary, it starts again


def resume_group(run_dirs: list[Path], log=lambda message: print(message, file=sys.stderr),
                 swept: tuple[str, ...] = ()) -> list[dict]:
    """Continue one group of runs (trained together) from its run directories; return the
    summaries. Finished groups are returned as they are. swept: the sweep's varying keys
    (TensorBoard hparams of a run that starts from step 0)."""
    from ..run.loop import train_runs

    cfgs = [from_plain(yaml.safe_load((d / "config.yaml").read_text())) for d in run_dirs]
    command = _summary(run_dirs[0]).get("command", "")
    return train_runs(cfgs, run_dirs, command, log=log, resume=True, swept=swept)


def unfinished_groups(sweep_dir: Path) -> tuple[list[list[Path]], int]:
    """The groups of run directories under sweep_dir with a run left to train, and how
    many runs there are in all."""
    runs = sorted({p.parent for p in sweep_dir.rglob("config.yaml")})
    found: dict[tuple, list[Path]] = {}
    unfinished: set[tuple] = set()
    for run_dir in runs:
        summary = _summary(run_dir)
        members = [(run_dir.parent / name).resolve() for name in summary.get("group") or [run_dir.name]]
        key = tuple(members)
        found[key] = members
        if summary.get("status") not in FINISHED:
            unfinished.add(key)
    return [found[key] for key in found if key in unfinished], len(runs)


def resume_sweep(sweep_dir: Path, log=lambda message: print(message, file=sys.stderr)) -> list[dict]:
    if not sweep_dir.is_dir():
        raise FileNotFoundError(f"{sweep_dir}: no such directory")
    todo, total = unfinished_groups(sweep_dir)
    if not total:
        raise FileNotFoundError(f"{sweep_dir}: no runs here (no config.yaml below it)")
    if not todo:
        log(f"{sweep_dir}: nothing to resume: all {total} runs finished (completed or diverged)")
        return []
    log(f"{sweep_dir}: resuming {sum(map(len, todo))} of {total} runs in {len(todo)} group(s)")
    return [summary for group in todo for summary in resume_group(group, log)]
