"""How long the `bnrepro` commands that only print take (a benchmark, not a test).

    .venv/bin/python scripts/cli_latency.py [--repeats 5]

Each command runs --repeats times in a fresh process (in a temporary directory, so
nothing is written into the checkout); the median and range of the wall time are
printed. Target: under 1 s each on a 2-core CPU (issue 10).
"""
from __future__ import annotations

import argparse
import math
import os
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
    "bnrepro train --cfg job model.bn=none,pre seed=1,2": (["train", "--cfg", "job", "model.bn=none,pre",
                                                              "seed=1,2"], {}),
    "completion: bnrepro train model.b<TAB>": (["-sc", "query=bash"], {"COMP_LINE": "bnrepro train model.b"}),
    "completion: bnrepro train model.bn=<TAB>": (["-sc", "query=bash"], {"COMP_LINE": "bnrepro train model.bn="}),
    "bnrepro table --help": (["table", "--help"], {}),
}


def timed(args: list[str], env: dict, cwd: str) -> float:
    """Seconds, or NaN when the command fails (older versions lack some commands)."""
    start = time.perf_counter()
    done = subprocess.run([*BNREPRO, *args], cwd=cwd, env={**os.environ, **env},
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start if done.returncode == 0 else math.nan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs of each command (median reported)")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as cwd:
        timed(["--help"], {}, cwd)  # warm the file cache
        print(f"| command | median s | range s (n={opts.repeats}) |\n|---|---|---|")
        for label, (args, env) in COMMANDS.items():
            times = [timed(args, env, cwd) for _ in range(opts.repeats)]
            if any(math.isnan(t) for t in times):
                print(f"| `{label}` | fails | |")
            else:
                print(f"| `{label}` | {statistics.median(times):.2f} | {min(times):.2f}–{max(times):.2f} |")
        assert not any(Path(cwd).iterdir()), "a command that only prints wrote files"


if __name__ == "__main__":
    main()
