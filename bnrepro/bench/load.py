"""How busy the machine was while the benchmark measured: figures taken beside other work
are not comparable with figures taken on an idle machine, and never go into results/.

Two figures: the 1-minute load average before and after (after includes the benchmark's
own threads, so it cannot tell who was busy), and the CPU time other processes used in
between: the machine's busy time (Linux /proc/stat, steal time included: a neighbour on
the host) minus this process's own.
"""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass
from pathlib import Path

# Not comparable when the load average before exceeds half the cores (1.0 on a 2-core
# machine), or when other processes used more than a tenth of the machine meanwhile.
BUSY_LOAD_PER_CORE = 0.5
BUSY_OTHERS_PER_CORE = 0.1
PROC_STAT = Path("/proc/stat")


@dataclass(frozen=True)
class Sample:
    load: float  # 1-minute load average
    busy_s: float | None  # CPU seconds the whole machine has been busy (None: not Linux)
    own_s: float  # CPU seconds of this process and its waited-for children
    wall_s: float


def sample() -> Sample:
    own = sum(
        getattr(resource.getrusage(who), field)
        for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
        for field in ("ru_utime", "ru_stime")
    )
    return Sample(os.getloadavg()[0], _machine_busy_s(), own, time.monotonic())


def _machine_busy_s() -> float | None:
    try:
        fields = [int(v) for v in PROC_STAT.read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def others_cores(before: Sample, now: Sample) -> float | None:
    """Cores other processes kept busy on average between two samples: the machine's busy
    time minus this process's own and its waited-for children's (None: not Linux)."""
    elapsed = now.wall_s - before.wall_s
    if before.busy_s is None or now.busy_s is None or elapsed <= 0:
        return None
    return max(0.0, (now.busy_s - before.busy_s) - (now.own_s - before.own_s)) / elapsed


@dataclass(frozen=True)
class Verdict:
    comparable: bool
    text: str  # one line for the report


def judge(before: Sample, now: Sample, cores: int | None = None) -> Verdict:
    """Whether figures measured between `before` and `now` are comparable, and why."""
    cores = cores or os.cpu_count() or 1
    parts = [
        f"1-minute load average {before.load:.2f} before, {now.load:.2f} now/after (after includes "
        f"the benchmark's own threads) on {cores} cores"
    ]
    reasons = []
    if before.load > BUSY_LOAD_PER_CORE * cores:
        reasons.append(f"the load before was above {BUSY_LOAD_PER_CORE * cores:g}")
    others = others_cores(before, now)
    if others is not None:
        parts.append(f"other processes used {others:.2f} cores on average meanwhile")
        if others > BUSY_OTHERS_PER_CORE * cores:
            reasons.append(f"other processes used more than {BUSY_OTHERS_PER_CORE * cores:g} cores")
    text = "; ".join(parts) + ": "
    if reasons:
        return Verdict(
            False, text + "**not comparable** with figures from an idle machine (" + "; ".join(reasons) + ")"
        )
    return Verdict(True, text + "an idle machine, figures comparable")
