"""How long `bnrepro` takes to start (a benchmark, not a test).

    .venv/bin/python scripts/cli_latency.py [--repeats 5] [--only-start] [--profile]

The commands that only print: each runs --repeats times in a fresh process (in a
temporary directory, so nothing is written into the checkout); the median and range of
the wall time are printed. Target: under 1 s each on a 2-core CPU (issue 10).

Training start-up (issue 27): a one-run `bnrepro train` up to its first training step,
and a whole experiment's sweep (fig3: 35 jobs, each composed and checked) up to the
launch of its first pack; the process stops there (nothing trains). Wall time and CPU
time (user + sys: the number to compare on a loaded machine) are printed; --profile adds
where the start-up goes (cProfile, cumulative seconds, inflated by profiling). Targets on
an idle CPU: ~3 s to the first step, fig3's sweep ~5 s.
"""

from __future__ import annotations

import argparse
import math
import os
import pstats
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BNREPRO = [sys.executable, "-m", "bnrepro"]
COMMANDS = {
    "bnrepro --version": (["--version"], {}),
    "bnrepro train --help": (["train", "--help"], {}),
    "bnrepro train --cfg job +experiment=sigmoid10": (["train", "--cfg", "job", "+experiment=sigmoid10"], {}),
    "bnrepro train --cfg job model.bn=none,pre seed=1,2": (
        ["train", "--cfg", "job", "model.bn=none,pre", "seed=1,2"],
        {},
    ),
    "completion: bnrepro train model.b<TAB>": (["-sc", "query=bash"], {"COMP_LINE": "bnrepro train model.b"}),
    "completion: bnrepro train model.bn=<TAB>": (["-sc", "query=bash"], {"COMP_LINE": "bnrepro train model.bn="}),
    "bnrepro table --help": (["table", "--help"], {}),
}


def timed(args: list[str], env: dict, cwd: str) -> float:
    """Seconds, or NaN when the command fails (older versions lack some commands)."""
    start = time.perf_counter()
    done = subprocess.run(
        [*BNREPRO, *args], cwd=cwd, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return time.perf_counter() - start if done.returncode == 0 else math.nan


# Training start-ups: (label, arguments, where the process stops: the first training step or
# the launch of the sweep's first pack).
STARTS = {
    "one run to its first step: bnrepro train +experiment=mnist_fig1 seed=1 model.bn=pre train.steps=1": (
        ["train", "+experiment=mnist_fig1", "seed=1", "model.bn=pre", "train.steps=1"],
        "step",
    ),
    "fig3's sweep (35 jobs) to its first pack: bnrepro train +experiment=fig3": (
        ["train", "+experiment=fig3"],
        "launch",
    ),
    "one fig3 run to its first step: bnrepro train +experiment=fig3 +fig3=bn_x5_sigmoid seed=1": (
        ["train", "+experiment=fig3", "+fig3=bn_x5_sigmoid", "seed=1"],
        "step",
    ),
}

# Run in the measured process: stop it where its start-up ends, without training.
STOPPER = """
import cProfile, os, sys
profiler = cProfile.Profile() if {profile!r} else None
def stop(*args, **kwargs):
    if profiler:
        profiler.disable(); profiler.dump_stats({profile!r})
    sys.stdout.flush(); sys.stderr.flush(); os._exit(0)
if {at!r} == "step":
    import bnrepro.run.loop as loop
    loop.train_step = stop
else:
    import bnrepro.launch.stopping as stopping
    stopping.launch = stop
    try:  # since issue 30 the sweeper launches through launch/schedule.py (older commits lack it)
        import bnrepro.launch.schedule as schedule
        schedule.launch = stop
    except ImportError:
        pass
if profiler:
    profiler.enable()
from bnrepro.cli import main
sys.exit(main({args!r}))
"""

PHASES = [  # (label, end of the profiled file's name, function)
    ("compose every job", "hydra_plugin/__init__.py", "_configs"),
    ("  Hydra compositions (load_sweep_config)", "config_loader_impl.py", "load_sweep_config"),
    ("check (types, ranges, data)", "launch/sweep.py", "check"),
    ("check the experiment's claims", "launch/sweep.py", "check_experiment_claims"),
    ("name runs, write pending summaries and packs", "launch/sweep.py", "form_packs"),
    ("a pack's Hydra job to its first step", "launch/app.py", "main"),
    ("import torch", "torch/__init__.py", "<module>"),
]


def started(args: list[str], at: str, cwd: str, profile: str | None = None) -> tuple[float, float]:
    """(wall s, CPU s) of a start-up, stopped where it ends; NaN when it fails."""
    code = STOPPER.format(at=at, args=[*args, f"out_dir={cwd}/runs"], profile=profile)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        print(done.stderr[-1500:], file=sys.stderr)
        return math.nan, math.nan
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def phases(profile: str) -> list[tuple[str, float, int]]:
    stats = pstats.Stats(profile).stats  # {(file, line, function): (cc, calls, tottime, cumtime, callers)}
    rows = []
    for label, file_end, function in PHASES:
        found = [(v[1], v[3]) for (f, _, fn), v in stats.items() if f.endswith(file_end) and fn == function]
        if found:
            rows.append((label, max(s for _, s in found), sum(c for c, _ in found)))
    return rows


def start_table(repeats: int, profile: bool) -> None:
    print(f"\nload average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs\n")
    print(f"| start-up | wall s, median (n={repeats}) | CPU s (user+sys), median |\n|---|---|---|")
    for label, (args, at) in STARTS.items():
        with tempfile.TemporaryDirectory() as cwd:
            times = [started(args, at, cwd) for _ in range(repeats)]
            print(
                f"| {label} | {statistics.median(t[0] for t in times):.2f} | "
                f"{statistics.median(t[1] for t in times):.2f} |"
            )
            if profile:
                started(args, at, cwd, profile=str(Path(cwd) / "start.prof"))
                for phase, seconds, calls in phases(str(Path(cwd) / "start.prof")):
                    print(f"|   {phase} (profiled{f', {calls} calls' if calls > 1 else ''}) | {seconds:.2f} | |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs of each command (median reported)")
    parser.add_argument("--only-start", action="store_true", help="only the training start-ups")
    parser.add_argument("--profile", action="store_true", help="where the training start-ups go (cProfile)")
    opts = parser.parse_args()
    if not opts.only_start:
        print_only(opts.repeats)
    start_table(opts.repeats, opts.profile)


def print_only(repeats: int) -> None:
    with tempfile.TemporaryDirectory() as cwd:
        timed(["--help"], {}, cwd)  # warm the file cache
        print(f"| command | median s | range s (n={repeats}) |\n|---|---|---|")
        for label, (args, env) in COMMANDS.items():
            times = [timed(args, env, cwd) for _ in range(repeats)]
            if any(math.isnan(t) for t in times):
                print(f"| `{label}` | fails | |")
            else:
                print(f"| `{label}` | {statistics.median(times):.2f} | {min(times):.2f}–{max(times):.2f} |")
        assert not any(Path(cwd).iterdir()), "a command that only prints wrote files"


if __name__ == "__main__":
    main()
