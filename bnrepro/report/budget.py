"""Each experiment's budget: its wall time alone as the budget probe predicted it
(results/budget/*.json, written by scripts/budget_probe.py; docs/budget.md, "Measured"), and
by how much the wall time scripts/reproduce.sh measured ran over it (the results index).

A measured wall time is over its prediction when it exceeds it by more than OVER_SHARE of the
prediction and more than OVER_S seconds; otherwise it is within. A prediction is compared only
with runs of the design it probed (the same runs and steps) and with a wall time measured alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .summaries import TableError

# Other processes keeping more than this many cores busy (of 2) while an experiment trained:
# it was not measured alone and its wall time is not comparable (scripts/reproduce.sh warns too).
OTHERS_CORES = 0.1
# Over: more than 10% (the share of the two hours docs/budget.md keeps for the probe's error, 108
# of 120 minutes) and more than 30 s (its fit moves a prediction by about 25 s when a start-up
# varies by 0.5 s: docs/budget.md, "Measured") above the prediction.
OVER_SHARE = 0.10
OVER_S = 30.0
# The suite's budget in minutes: docs/budget.md, "Measured budget, 7 Dec" (its rule: "the suite
# gets at most 108 of the 120 minutes"; tests/test_budget_index.py holds the page to it)
SUITE_BUDGET_MIN = 108
TWO_HOURS_MIN = 120


def probe_notes(row: dict) -> list[str]:
    """What qualifies a probed row's prediction (the probe's table and the index say the same)."""
    notes = []
    if row["measured"]:
        notes.append("measured at full length")
    if not row["measured"] and row["b_s_per_step"] <= 0:
        notes.append("the longer probe was not slower: no fit, rerun alone")
    if row["diverged"]:
        notes.append(f"{row['diverged']} run(s) diverged: an upper bound")
    if row["others_cores"] > OTHERS_CORES:
        notes.append("not measured alone")
    return notes


@dataclass(frozen=True)
class Prediction:
    """One probed experiment: its predicted wall time alone for `runs` runs of `steps` steps."""

    seconds: float
    runs: int
    steps: int
    fitted: bool  # False: the longer probe was not slower, the prediction means nothing
    notes: tuple[str, ...]
    date: str  # when the probe ran (conditions.date): the later of two probes counts

    def words(self) -> str:
        """'2.7 min' or '1.0 min (13 run(s) diverged: an upper bound)'."""
        notes = f" ({'; '.join(self.notes)})" if self.notes else ""
        return f"{self.seconds / 60:.1f} min{notes}"


def prediction(row: dict, date: str) -> Prediction:
    """A probed row of the probe's record (its `experiments`, with `predicted_s`) as a Prediction."""
    return Prediction(
        seconds=float(row["predicted_s"]),
        runs=int(row["runs"]),
        steps=int(row["steps"]),
        fitted=row["measured"] or row["b_s_per_step"] > 0,
        notes=tuple(probe_notes(row)),
        date=date,
    )


def predictions(budget: Path) -> dict[str, Prediction]:
    """Every probed experiment's prediction in a budget folder (results/budget/*.json), by name;
    where two probes measured one experiment, the later probe's. {} when the folder is absent."""
    found: dict[str, Prediction] = {}
    for path in sorted(budget.glob("*.json")) if budget.is_dir() else []:
        try:
            record = json.loads(path.read_text())
            date = record["conditions"]["date"]
            for row in record["experiments"]:
                if row.get("predicted_s") is None:  # the probe failed for it (its "error")
                    continue
                seen = prediction(row, date)
                if row["experiment"] not in found or found[row["experiment"]].date <= date:
                    found[row["experiment"]] = seen
        except (ValueError, KeyError, TypeError) as e:
            raise TableError(f"{path}: not a budget probe's record ({type(e).__name__}: {e}): rerun the probe") from e
    return found


@dataclass(frozen=True)
class Budget:
    """An experiment's prediction beside its measured wall time (prediction None: not probed)."""

    prediction: Prediction | None
    wall_s: float | None  # measured by scripts/reproduce.sh; None: not recorded
    runs: int
    steps: list[int]  # the runs' lengths
    alone: bool | None  # others kept at most OTHERS_CORES busy while it trained; None: not recorded

    @property
    def same_design(self) -> bool:
        """Whether the probe trained the runs these are: as many, each as long."""
        p = self.prediction
        return p is not None and (p.runs, [p.steps]) == (self.runs, self.steps)

    @property
    def compared(self) -> bool:
        """Whether the wall time is measured against the prediction: a fitted prediction of the
        same design (runs and steps), and a wall time measured alone."""
        p = self.prediction
        return p is not None and p.fitted and self.same_design and self.wall_s is not None and self.alone is True

    def words(self) -> str:
        """The index's budget cell: '2.7 min; over by 1.0 min (+37%)', '0.5 min; within (+0.1 min,
        +20%)', 'not probed', or why the two are not compared."""
        p = self.prediction
        if p is None:
            return "not probed"
        if self.compared:
            return f"{p.words()}; {against(self.wall_s, p.seconds)}"
        if p.fitted and not self.same_design:
            lengths = ", ".join(f"{s:,}" for s in self.steps) or "unrecorded"
            return (
                f"{p.words()} for {p.runs} runs of {p.steps:,} steps; not compared: "
                f"these are {self.runs} runs of {lengths} steps"
            )
        if p.fitted and self.wall_s is not None:
            alone = "not trained alone" if self.alone is False else "not recorded whether it trained alone"
            return f"{p.words()}; not compared: {alone}"
        return p.words()


def over(wall_s: float, predicted_s: float) -> bool:
    """The rule: more than OVER_SHARE of the prediction and more than OVER_S seconds above it."""
    diff = wall_s - predicted_s
    return diff > OVER_SHARE * predicted_s and diff > OVER_S


def against(wall_s: float, predicted_s: float) -> str:
    """'over by 1.0 min (+37%)' or 'within (-0.2 min, -8%)': a wall time against its prediction."""
    diff = wall_s - predicted_s
    share = f"{round(diff / predicted_s, 2) + 0.0:+.0%}" if predicted_s > 0 else "n/a"
    if over(wall_s, predicted_s):
        return f"over by {diff / 60:.1f} min ({share})"
    return f"within ({round(diff / 60, 1) + 0.0:+.1f} min, {share})"  # + 0.0: no '-0.0'


def suite_budget(budgets: list[tuple[str, Budget, bool]], unrun: int) -> str:
    """The index's paragraph on the budget: the CPU suite's measured minutes against its share of
    the two hours, and the compared experiments' minutes against their predictions alone.
    budgets: (experiment, its Budget, whether it is in the CPU suite), one per experiment here;
    unrun: how many of the suite's experiments have no runs here."""
    suite = [b for _, b, in_suite in budgets if in_suite and b.wall_s is not None]
    outside = [(n, b) for n, b, in_suite in budgets if not in_suite and b.wall_s is not None]
    spent = sum(b.wall_s for b in suite) / 60
    verdict = (
        f"over it by {spent - SUITE_BUDGET_MIN:.1f} minutes"
        if spent > SUITE_BUDGET_MIN
        else f"within it ({SUITE_BUDGET_MIN - spent:.1f} minutes to spare)"
    )
    text = (
        f"The budget ([docs/budget.md](../docs/budget.md), 'Measured budget, 7 Dec'): the CPU suite, what "
        f"`scripts/reproduce.sh` trains with no names, gets at most {SUITE_BUDGET_MIN} of the two hours' "
        f"{TWO_HOURS_MIN} minutes (the rest is kept for the budget probe's error and the experiments it did "
        f"not probe). "
        + (
            f"Here its {len(suite)} experiments with a recorded wall time took {spent:.1f} minutes: {verdict}"
            if suite
            else "Here none of its experiments has a recorded wall time"
        )
        + (f"; {unrun} of its experiments have no runs here (listed below), none in that total" if unrun else "")
    )
    if outside:
        names = ", ".join(n for n, _ in outside)
        more = sum(b.wall_s for _, b in outside) / 60
        text += f"; the {len(outside)} trained outside it ({names}) took {more:.1f} more"
    compared = [(n, b) for n, b, _ in budgets if b.compared]
    text += ". Against the budget probe's predictions alone (the budget column): "
    if compared:
        took = sum(b.wall_s for _, b in compared)
        expected = sum(b.prediction.seconds for _, b in compared)
        late = [n for n, b in compared if over(b.wall_s, b.prediction.seconds)]
        text += (
            f"the {len(compared)} experiments compared took {took / 60:.1f} minutes where {expected / 60:.1f} were "
            f"predicted, {against(took, expected)}; "
            + (f"{len(late)} of them over its own prediction ({', '.join(late)})" if late else "none over its own")
        )
    else:
        text += "none compared"
    apart = {
        "not probed": [n for n, b, _ in budgets if b.prediction is None],
        "probed at another design, other runs or steps": [
            n for n, b, _ in budgets if b.prediction is not None and b.prediction.fitted and not b.same_design
        ],
        "without a fit": [n for n, b, _ in budgets if b.prediction is not None and not b.prediction.fitted],
        "not measured alone or without a wall time": [
            n for n, b, _ in budgets if b.same_design and b.prediction.fitted and not b.compared
        ],
    }
    why = [f"{len(names)} {reason} ({', '.join(names)})" for reason, names in apart.items() if names]
    return text + (f"; not compared: {'; '.join(why)}." if why else ".")
