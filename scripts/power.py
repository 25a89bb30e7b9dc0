"""Seeds per arm for 80% power on each claim of an experiment, from its pilot runs.

    .venv/bin/python scripts/power.py results/runs/NAME [--sims 200] [--n-max 30] [--seed 0]

The pilot is the experiment's finished runs in that folder, judged against its experiment
file's claims as they are now; the method is bnrepro/report/power.py's. Prints a markdown
table: per claim the pilot's arms, effect and p, the test the verdict code used, and the
seeds per arm giving 80% power at the Holm level of the experiment's family (or "> N_MAX").
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bnrepro.report.power import N_GRID, SIMS, markdown, pilot, power_table
from bnrepro.report.summaries import TableError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, help="the pilot: one experiment's runs (e.g. results/runs/mnist_fig1)")
    parser.add_argument("--sims", type=int, default=SIMS, help="simulated experiments per n (default %(default)s)")
    parser.add_argument("--n-max", type=int, default=max(N_GRID), help="the largest n tried (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="the simulation's random seed (default %(default)s)")
    args = parser.parse_args(argv)
    if args.sims < 10:
        parser.error(f"--sims {args.sims}: at least 10 simulations per n give a power worth reading")
    if args.n_max < min(N_GRID):
        parser.error(f"--n-max {args.n_max}: the grid starts at {min(N_GRID)} seeds per arm")
    try:
        name, runs, claims = pilot(args.runs)
        grid = [n for n in N_GRID if n <= args.n_max]
        found = power_table(runs, claims, grid, args.sims, args.seed)
    except TableError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(markdown(name, found, args.sims, max(grid)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
