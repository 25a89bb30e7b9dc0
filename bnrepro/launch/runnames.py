"""Run directory names, from the overrides that differ between the jobs of a sweep.

`bnrepro train +experiment=mnist_fig1 seed=1,2` gives runs named `bn=none_seed=1`,
`bn=none_seed=2`, `bn=pre_seed=1`, ...: only what varies, and always the seed, so
seeds never collide. The experiment's own axes (its hydra.sweeper.params) stay in the
name even when the command line fixes them: `+experiment=sigmoid10 model.bn=pre`
gives `bn=pre_seed=1`, which sits beside the full sweep's runs in one TensorBoard. Declared
arms (launch/declared_arms.py) are axes too: `bn=pre_norm=paper_seed=1`. A key is
shortened to its last part when that is unambiguous in the config (optim.lr -> lr).
Characters TensorBoard or shells dislike become '-'.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..config import WHERE_KEYS

# Overrides that never name a run: they choose what to run or where, not what differs.
_IGNORED = ("experiment", *WHERE_KEYS)
# Config groups chosen on the command line, and the config key each one sets.
GROUP_KEYS = {"norm": "model.norm.kind", "data": "data.name", "model": "model.arch"}


def _parse(override: str) -> tuple[str, str]:
    key, _, value = override.partition("=")
    return key.lstrip("+~"), value


def _short(key: str, leaf_counts: dict) -> str:
    leaf = key.rsplit(".", 1)[-1]
    return leaf if leaf_counts.get(leaf, 0) == 1 else key


def _clean(value: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]+", "-", value).strip("-") or "empty"


def varying_keys(job_overrides: list[list[str]], axes: tuple[str, ...] = ()) -> list[str]:
    """Override keys that name the runs: those whose value differs between jobs, the
    experiment's axes, and seed."""
    parsed = [dict(_parse(o) for o in job) for job in job_overrides]
    keys: list[str] = []
    for job in parsed:
        keys += [k for k in job if k not in keys and not k.startswith(("hydra.", "hydra/")) and k not in _IGNORED]
    return [k for k in keys if len({job.get(k) for job in parsed}) > 1 or k == "seed" or k in axes]


def swept_config_keys(job_overrides: list[list[str]], axes: tuple[str, ...] = ()) -> tuple[str, ...]:
    """varying_keys as config keys (norm -> model.norm.kind): the runs' TensorBoard hparams."""
    return tuple(GROUP_KEYS.get(k, k) for k in varying_keys(job_overrides, axes))


def run_names(
    job_overrides: list[list[str]], seeds: list[int], config_keys: list[str], axes: tuple[str, ...] = ()
) -> list[str]:
    parsed = [dict(_parse(o) for o in job) for job in job_overrides]
    varying = varying_keys(job_overrides, axes)
    leaf_counts: dict[str, int] = {}
    for key in config_keys:
        leaf = key.rsplit(".", 1)[-1]
        leaf_counts[leaf] = leaf_counts.get(leaf, 0) + 1
    names, seen = [], set()
    for job, seed in zip(parsed, seeds):
        # in the job's own order: a grid's jobs all share one; a declared arm's keys come first, as
        # the arm lists them, so no other arm changes its runs' names
        parts = [f"{_short(k, leaf_counts)}={_clean(v)}" for k, v in job.items() if k in varying and k != "seed"]
        parts.append(f"seed={seed}")
        name = "_".join(parts)
        unique, n = name, 2
        while unique in seen:
            unique, n = f"{name}-{n}", n + 1
        seen.add(unique)
        names.append(unique)
    return names


def fresh_dir(parent: Path, name: str) -> Path:
    """Create parent/name, or parent/name-2, ... if it exists: an exclusive create
    (mkdir fails if another process made it first), so no two processes ever share a
    sweep or run directory, even when they start in the same second."""
    parent.mkdir(parents=True, exist_ok=True)
    candidate, n = parent / name, 2
    while True:
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            candidate, n = parent / f"{name}-{n}", n + 1
