"""Packs: the runs that train together in one process, the unit a Hydra launcher runs.

bnrepro's sweeper checks every job of a sweep, names the runs, groups compatible ones
into packs and writes each pack to <sweep>/.packs/<n>/pack.json: its runs' directory
names (relative to the sweep; each holds its config.yaml) and the swept keys. It then hands one Hydra job per
pack to whatever launcher is configured (Hydra's basic launcher: packs one after
another in this process; joblib: in parallel processes; submitit_slurm: one SLURM job
each). The job's task function reads its pack back and trains it, resuming from any
checkpoint its runs left behind (launch/resume.py), so a requeued or relaunched pack continues.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..config import Arch, ModelConfig
from ..run.files import atomic_write

PACKS_DIR = ".packs"  # hydra.sweep.subdir is .packs/${hydra.job.num}: a pack's job directory
PACK_FILE = "pack.json"

# Conv nets on the CPU: the runs of a pack share per-operation overhead and nothing else (each
# has its own convolutions), and that overhead's share shrinks as the width grows. A pack of 4
# against one run alone, per run (CPU time, fig3's BN-Baseline net, batch 32, 1 thread; back to
# back in one process, 3-5 rounds, the shared 2-core VM at load ~12, 6 Dec), one convolution per
# run (the CPU's default) / one grouped kernel: width 8 (the CPU profiles) 1.13x / 1.44x, width 16
# 1.01x / 1.12x, width 32 0.93x / 0.98x: wider, a pack loses either way.
CPU_CONV_PACK_MAX_WIDTH = 16


@dataclass
class Pack:
    number: int
    names: list[str]
    overrides: list[list[str]]  # each run's own command-line overrides
    swept: tuple[str, ...] = ()  # the config keys the sweep varies (TensorBoard hparams)


def pack_dir(sweep_dir: Path, number: int) -> Path:
    return sweep_dir / PACKS_DIR / str(number)


def write_pack(sweep_dir: Path, pack: Pack) -> Path:
    path = pack_dir(sweep_dir, pack.number) / PACK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    runs = [{"name": n, "overrides": o} for n, o in zip(pack.names, pack.overrides)]
    atomic_write(path, json.dumps({"pack": pack.number, "swept": list(pack.swept), "runs": runs}, indent=1) + "\n")
    return path


def read_pack(job_dir: Path) -> tuple[list[str], tuple[str, ...]]:
    """The run directory names and swept keys of the pack whose job directory is
    `job_dir` (<sweep>/.packs/<n>); the runs' configs are in their config.yaml."""
    path = job_dir / PACK_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no pack file (was this directory made by bnrepro's sweeper?)")
    plain = json.loads(path.read_text())
    return [r["name"] for r in plain["runs"]], tuple(plain.get("swept", ()))


def pack_arm(job_dir: Path) -> str:
    """The swept overrides all the pack's runs share: the sweep's arm they are (e.g.
    `model.bn=pre norm=paper`), for its progress lines; "" when the sweep varies nothing else."""
    from .runnames import GROUP_KEYS

    plain = json.loads((job_dir / PACK_FILE).read_text())
    runs, swept = plain["runs"], set(plain.get("swept", ())) - {"seed"}
    shared = [o for o in runs[0]["overrides"] if all(o in r["overrides"] for r in runs[1:])]
    keys = [o.lstrip("+~").partition("=")[0] for o in shared]
    return " ".join(o for o, key in zip(shared, keys) if key in swept or GROUP_KEYS.get(key) in swept)


def cpu_pack_limit(model: ModelConfig) -> int | None:
    """The most runs of this network one pack should hold when it trains on the CPU: 1 for a
    conv net wider than CPU_CONV_PACK_MAX_WIDTH (a pack would lose to its runs one by one),
    None otherwise (no limit but hydra.sweeper.max_runs). For whatever forms the packs and
    knows their device (the sweeper, the scheduler)."""
    if model.arch in (Arch.convnet, Arch.vgg) and model.width > CPU_CONV_PACK_MAX_WIDTH:
        return 1
    return None
