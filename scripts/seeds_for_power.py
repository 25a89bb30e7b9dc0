"""Seeds per arm for 80% power, by simulation with the verdict code's own tests (report/
significance.py: Welch's one-sided t-test for '>' / '<', TOST for '='), at the smallest level
Holm's correction can ask of a claim, 0.05 / m (m: the experiment's number of tests).

    python scripts/seeds_for_power.py MEAN_A SD_A MEAN_B SD_B OP M [BAND]

MEAN/SD: a pilot's estimates for the claim's two arms (`where`, `than`); OP: >, < or =; BAND:
the absolute tolerance of '='. Prints the smallest n (2 .. 40) whose power reaches 80%, or
"> 40". Values are drawn Gaussian with the pilot's means and spreads, 4,000 draws per n."""

from __future__ import annotations

import sys

import numpy as np

sys.path.insert(0, ".")
from bnrepro.report import significance as sig  # noqa: E402


def power(mean_a, sd_a, mean_b, sd_b, op, level, n, band=None, draws=4000, seed=0) -> float:
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(draws):
        a, b = rng.normal(mean_a, sd_a, n), rng.normal(mean_b, sd_b, n)
        p = sig.band_tests(a, b, 0.0, band)[0].p_for if op == "=" else sig.ordering(a, b, 0.0, op).p_for
        hits += p is not None and p < level
    return hits / draws


def seeds(mean_a, sd_a, mean_b, sd_b, op, m, band=None) -> str:
    for n in range(2, 41):
        if (
            power(mean_a, sd_a, mean_b, sd_b, op, 0.05 / m, n, band, draws=1000) >= 0.8
            and power(mean_a, sd_a, mean_b, sd_b, op, 0.05 / m, n, band) >= 0.8
        ):
            return str(n)
    return "> 40"


if __name__ == "__main__":
    args = sys.argv[1:]
    mean_a, sd_a, mean_b, sd_b = map(float, args[:4])
    print(seeds(mean_a, sd_a, mean_b, sd_b, args[4], int(args[5]), float(args[6]) if len(args) > 6 else None))
