"""What training prints while it runs, and the one-line result of each run.

On a terminal: a tqdm bar. Without one (piped, a SLURM log): a plain line about every
10% of the run (step, steps/s, ETA, mean test accuracy), so a log shows progress
without carriage returns. `train.progress`: null chooses by the terminal, true forces
the bar, false prints nothing.
"""

from __future__ import annotations

import math
import sys
import time

import numpy as np
from tqdm import tqdm

LINES = 10  # plain lines per run


class Progress:
    def __init__(self, name: str, steps: int, runs: int, setting: bool | None, log, eval_every: int = 0):
        self.name, self.steps, self.runs, self.log, self.eval_every = name, steps, runs, log, eval_every
        terminal = sys.stderr.isatty()
        self.bar = tqdm(
            total=steps,
            unit="step",
            desc=name,
            dynamic_ncols=True,
            file=sys.stderr,
            smoothing=0.1,
            disable=not (setting if setting is not None else terminal),
        )
        self.lines = setting is None and not terminal
        self.next_line, self.step, self.acc, self.waiting = max(1, steps // LINES), 0, None, False
        self.start = time.perf_counter()

    def accuracy(self, accs: list[float]) -> None:
        """The runs' latest test accuracies."""
        self.acc = float(np.nanmean(accs)) if accs and not all(math.isnan(a) for a in accs) else None
        if self.acc is not None:
            self.bar.set_postfix_str(f"test acc {self.acc:.4f}" + (" (mean)" if self.runs > 1 else ""))
        if self.waiting:
            self.waiting = False
            self.log(self.line())

    def update(self, step: int) -> None:
        self.bar.update(step - self.bar.n)
        self.step = step
        if self.lines and step >= self.next_line and step < self.steps:
            # An evaluation of this step arrives just after its training record: wait for it.
            if self.eval_every and step % self.eval_every == 0:
                self.waiting = True
            else:
                self.log(self.line())
            self.next_line = (step // max(1, self.steps // LINES) + 1) * max(1, self.steps // LINES)

    def line(self) -> str:
        elapsed = time.perf_counter() - self.start
        rate = self.step / elapsed if elapsed > 0 else math.nan
        eta = (self.steps - self.step) / rate if rate > 0 else math.nan
        acc = (
            "no evaluation yet"
            if self.acc is None
            else f"test acc {self.acc:.4f}" + (f" (mean of {self.runs})" if self.runs > 1 else "")
        )
        return (
            f"{self.name}: step {self.step}/{self.steps} ({100 * self.step / self.steps:.0f}%), "
            f"{rate:.0f} steps/s, ETA {_duration(eta)}, {acc}"
        )

    def close(self) -> None:
        self.bar.close()


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def result_line(run_dir, summary: dict) -> str:
    """`  DIR: completed, test acc 0.9586 (best 0.9590 at step 4500)`, or `no evaluation yet`."""
    final, best = summary.get("test_acc_final"), summary.get("test_acc_best")
    if final is None or not math.isfinite(final):
        return f"  {run_dir}: {summary['status']}, no evaluation yet"
    best_text = f" (best {best:.4f} at step {summary['best_step']})" if best is not None else ""
    return f"  {run_dir}: {summary['status']}, test acc {final:.4f}{best_text}"
