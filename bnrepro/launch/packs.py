"""Packs: the runs that train together in one process, the unit a Hydra launcher runs.

bnrepro's sweeper checks every job of a sweep, names the runs, groups compatible ones
into packs and writes each pack to <sweep>/.packs/<n>/pack.json: its runs' names,
directories (relative to the sweep) and typed configs. It then hands one Hydra job per
pack to whatever launcher is configured (Hydra's basic launcher: packs one after
another in this process; joblib: in parallel processes; submitit_slurm: one SLURM job
each). The job's task function reads its pack back and trains it, resuming from any
checkpoint its runs left behind, so a requeued or relaunched pack continues.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..config import Config, from_plain, to_plain
from ..run.files import atomic_write

PACKS_DIR = ".packs"  # hydra.sweep.subdir is .packs/${hydra.job.num}: a pack's job directory
PACK_FILE = "pack.json"


@dataclass
class Pack:
    number: int
    names: list[str]
    configs: list[Config]
    overrides: list[list[str]]  # each run's own command-line overrides
    swept: tuple[str, ...] = ()  # the config keys the sweep varies (TensorBoard hparams)

    def run_dirs(self, sweep_dir: Path) -> list[Path]:
        return [sweep_dir / name for name in self.names]


def pack_dir(sweep_dir: Path, number: int) -> Path:
    return sweep_dir / PACKS_DIR / str(number)


def write_pack(sweep_dir: Path, pack: Pack) -> Path:
    path = pack_dir(sweep_dir, pack.number) / PACK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    runs = [{"name": n, "overrides": o, "config": to_plain(c)}
            for n, o, c in zip(pack.names, pack.overrides, pack.configs)]
    atomic_write(path, json.dumps({"pack": pack.number, "swept": list(pack.swept), "runs": runs}, indent=1) + "\n")
    return path


def read_pack(job_dir: Path) -> Pack:
    """The pack whose job directory is `job_dir` (<sweep>/.packs/<n>)."""
    path = job_dir / PACK_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no pack file (was this directory made by bnrepro's sweeper?)")
    plain = json.loads(path.read_text())
    runs = plain["runs"]
    return Pack(plain["pack"], [r["name"] for r in runs], [from_plain(r["config"]) for r in runs],
                [list(r["overrides"]) for r in runs], tuple(plain.get("swept", ())))
