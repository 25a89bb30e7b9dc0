"""Seeds per arm for 80% power, from a pilot's runs, with the verdict rule itself (issue 31, item 9).

The pilot is an experiment's finished runs (for a design that has not changed: its committed
results/runs/<name>). For each candidate number of seeds per arm n, `SIMS` simulated
experiments are drawn from the pilot and judged by the verdict code (claims.judge, then
claims.settle: the same rank, t, TOST, sign and Fisher tests, and Holm's correction over the
experiment's whole family), so the power is the power of the real rule, not of a textbook test.

A simulated experiment is a smoothed bootstrap of seeds:
- n seeds are drawn with replacement from the pilot's seeds, the same draw for every arm, so
  runs that share a seed stay paired (paired claims keep their per-seed correlation);
- each arm's run of the drawn seed is copied whole: its status (a diverged run stays diverged,
  ranked worst), its best accuracy (a run at chance stays at chance), every value a claim reads;
- each finite value a claim reads gets kernel noise (Gaussian, Silverman's bandwidth h times
  the arm's spread) rescaled by 1 / sqrt(1 + h^2) about the arm's mean, so the arm's mean and
  variance are the pilot's (a plain bootstrap of 3 to 5 seeds would repeat values, shrink the
  variance by (n - 1) / n and fake identical arms). The noise is independent between arms,
  which weakens a pairing a little: the n found for a paired claim errs on the safe side.

Power of a claim: the share of simulated experiments whose verdict is the decisive one the
pilot points to (`reproduced` where its p for the claim is the smaller, else `contradicted`).
n for 80% power: the smallest n of the grid reaching it; "> N_MAX" when none does (no effect,
or one too small for any affordable n). Checks, and claims the pilot cannot judge, have none.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..config import arms
from ..config.metric import COUNTED, Metric
from ..config.status import COMPLETED
from . import paper_table
from .claims import answer, judge, settle
from .stated import stated
from .summaries import TableError, config_keys, select_runs, with_history_metrics

POWER = 0.8
N_GRID = (3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30)
SIMS = 200


@dataclass
class ClaimPower:
    """One claim's (or one combination's) pilot verdict and the power of the rule at each n."""

    text: str
    combination: str
    test: str
    measured: str  # the pilot's arms: mean ± std, n, diverged / at chance
    pilot_n: list
    effect: float | None  # the pilot's estimate (difference, or mean |change|)
    p: float | None
    p_against: float | None
    target: str | None  # the verdict powered for; None: a check or not judgeable
    why_none: str = ""
    power: dict = None  # n -> share of simulations with the target verdict

    def n_needed(self) -> int | None:
        return next((n for n, share in sorted((self.power or {}).items()) if share >= POWER), None)


def pilot(runs_dir: Path) -> tuple[str, pd.DataFrame, list[dict]]:
    """(experiment, its runs with every column a claim reads, its claims as the file states them now)."""
    runs = select_runs([runs_dir]).runs
    names = sorted(set(runs["name"]))
    if len(names) != 1:
        raise TableError(f"{runs_dir}: the pilot must be one experiment's runs, found {', '.join(names)}")
    claims = stated(names[0], runs).claims
    runs = with_history_metrics(runs, [m for c in claims for m in (c.get("metric"), c.get("than_metric")) if m])
    spec = paper_table.spec(runs)
    if spec:
        runs = paper_table.with_steps_to_baseline(runs, spec)
    return names[0], runs, claims


def _read_columns(claims: list[dict]) -> list[str]:
    metrics = {m for c in claims for m in (c.get("metric", "test_acc_final"), c.get("than_metric")) if m}
    return sorted({Metric.parse(m).column for m in metrics if m not in COUNTED})


def _arm_groups(runs: pd.DataFrame, claims: list[dict]) -> list[pd.DataFrame]:
    """The pilot's configurations that some claim reads (seeds aside), each a frame of its runs."""
    flats = [
        {k.removeprefix("config."): v for k, v in row.items() if k.startswith("config.")} for _, row in runs.iterrows()
    ]
    conditions = [cond for c in claims for cond in arms.arms(c)]
    used = runs[[any(arms.matches(f, cond) for cond in conditions) for f in flats]]
    keys = [k for k in config_keys(used) if k != "config.seed"]
    read = set(_read_columns(claims)) | {"status", "test_acc_best", "path", "name"}
    used = used[[c for c in used.columns if c.startswith("config.") or c in read]]  # judging reads only these
    return [group for _, group in used.groupby(keys, sort=True, dropna=False)] if keys else [used]


def _smooth(values: np.ndarray, pilot_values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Kernel noise on the finite values, rescaled so that their mean and variance are the
    pilot arm's (`pilot_values`: its finite values)."""
    if len(pilot_values) < 2 or np.ptp(pilot_values) == 0:  # no spread to smooth
        return values
    mean, sd = pilot_values.mean(), pilot_values.std(ddof=1)
    h = (4 / (3 * len(pilot_values))) ** 0.2  # Silverman's rule for a Gaussian kernel
    out, finite = values.copy(), np.isfinite(values)
    out[finite] = mean + (values[finite] - mean + h * sd * rng.standard_normal(finite.sum())) / math.sqrt(1 + h * h)
    return out


def _numbers(frame: pd.DataFrame, column: str) -> np.ndarray:
    return pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float, copy=True)


def simulate(groups: list[pd.DataFrame], columns: list[str], n: int, rng: np.random.Generator) -> pd.DataFrame:
    """One simulated experiment of n seeds per arm (the module's docstring: a smoothed bootstrap)."""
    seeds = sorted({s for g in groups for s in g["config.seed"]})
    drawn = rng.choice(len(seeds), size=n)
    frames = []
    for group in groups:
        by_seed = {s: i for i, s in enumerate(group["config.seed"])}
        frame = group.iloc[[by_seed.get(seeds[d], rng.integers(len(group))) for d in drawn]].copy()
        frame["config.seed"] = np.arange(1, n + 1)
        done, pilot_done = (frame["status"] == COMPLETED).to_numpy(), (group["status"] == COMPLETED).to_numpy()
        for column in (c for c in columns if c in frame):
            values, pilot_values = _numbers(frame, column), _numbers(group, column)[pilot_done]
            values[done] = _smooth(values[done], pilot_values[np.isfinite(pilot_values)], rng)
            frame[column] = values
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _judged(runs: pd.DataFrame, claims: list[dict]):
    return settle([v for c in claims for v in judge(runs, c)])


def _target(v) -> tuple[str | None, str]:
    if v.verdict.startswith("check"):
        return None, "a check (holds or fails run by run): no test to power"
    if v.verdict == "not applicable":
        return None, "not applicable in the pilot"
    if v.exact is not None:
        return answer(v, v.exact), ""
    if not v.tested():
        return None, "no test in the pilot (" + (v.test or "too few runs") + ")"
    p, against = (v.p if v.p is not None else 1.0), (v.p_against if v.p_against is not None else 1.0)
    return answer(v, p <= against), ""  # a neutral question: the side the pilot found higher


def power_table(
    runs: pd.DataFrame, claims: list[dict], grid=N_GRID, sims: int = SIMS, seed: int = 0
) -> list[ClaimPower]:
    """Each claim's pilot verdict and the power of the verdict rule at each n of the grid
    (the grid stops at the first n where every powered claim reaches 80%)."""
    pilot_verdicts = _judged(runs, claims)
    found = []
    for v in pilot_verdicts:
        target, why = _target(v)
        found.append(
            ClaimPower(
                v.claim["text"],
                v.combination,
                v.test or v.verdict,
                v.measured,
                v.n,
                v.difference,
                v.p,
                v.p_against,
                target,
                why,
                {},
            )
        )
    groups, columns = _arm_groups(runs, claims), _read_columns(claims)
    rng = np.random.default_rng(seed)
    for n in grid:
        if all(c.target is None or c.n_needed() is not None for c in found):
            break
        hits = np.zeros(len(found))
        for _ in range(sims):
            verdicts = _judged(simulate(groups, columns, n, rng), claims)
            if len(verdicts) != len(found):
                raise TableError(
                    f"a simulated experiment of {n} seeds gave {len(verdicts)} verdicts, the pilot "
                    f"{len(found)}: its arms differ from the pilot's"
                )
            hits += [c.target is not None and v.verdict == c.target for c, v in zip(found, verdicts)]
        for c, h in zip(found, hits):
            if c.target is not None:
                c.power[n] = h / sims
    return found


def needed_text(c: ClaimPower, n_max: int) -> str:
    if c.target is None:
        return "none (" + c.why_none + ")"
    n = c.n_needed()
    if n is not None:
        return f"{n} (power {c.power[n]:.2f})"
    tried = max(c.power) if c.power else n_max
    return f"> {tried} (power {c.power.get(tried, 0):.2f} at {tried}): under-powered at any affordable n"


def markdown(name: str, found: list[ClaimPower], sims: int, n_max: int) -> str:
    from .format import markdown_table

    rows = [
        {
            "claim": c.text + (f" ({c.combination})" if c.combination else ""),
            "pilot": c.measured,
            "pilot n": "/".join(map(str, c.pilot_n)),
            "effect": "" if c.effect is None else f"{c.effect:+.3g}",
            "pilot p (for / against)": "" if c.p is None and c.p_against is None else f"{_p(c.p)} / {_p(c.p_against)}",
            "test": c.test,
            "powered for": c.target or "",
            "n per arm for 80%": needed_text(c, n_max),
        }
        for c in found
    ]
    needs = [c.n_needed() for c in found if c.target is not None]
    most = "none" if not needs else (f"> {n_max}" if None in needs else str(max(needs)))
    return "\n".join(
        [
            f"# Power of {name}'s claims",
            "",
            f"{sims} simulated experiments per n (smoothed bootstrap of the pilot's seeds), each "
            "judged by the verdict rule with Holm's correction over the experiment's family.",
            "",
            markdown_table(pd.DataFrame(rows)),
            "",
            f"Seeds per arm for 80% power on every claim: {most}",
        ]
    )


def _p(value: float | None) -> str:
    return "-" if value is None else f"{value:.2g}"
