"""What a run's probes and evaluations cost it, measured within the run.

Comparing two runs' rates (one with probes and evaluation, one without) mixes their cost
with the machine's drift between the runs: on the shared 2-core CPU, back-to-back
2,000-step runs of the same configuration differ by up to ~25% (bnrepro bench, 7 Dec), more
than the 15% the cost is held to. Here the steps that probe or evaluate are timed as they
happen, among the plain steps of the same seconds: their time beyond that many plain steps
(the plain steps' mean), plus step 0's probe and the end-of-run records, over the attempt's
training time (a compiled run's compile left out). Checkpoints and the summaries' heartbeat
count with the plain steps (at most ~2% of a run at the defaults); the first step, a probe
step, carries the first call's warm-up. On a GPU the host's clock does not see the device's
work (a plain step only queues it; a probe step waits for it), so no share is given there.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass
class LoggingCost:
    seconds: float = 0.0  # wall time of the timed steps and records, this process's
    steps: int = 0  # training steps among them

    def start(self) -> float:
        return time.perf_counter()

    def add(self, started: float, steps: int = 1) -> None:
        """A timed piece since `started` (steps: the training steps it holds, 0 for records alone)."""
        self.seconds += time.perf_counter() - started
        self.steps += steps

    def share(self, span_s: float, steps: int) -> float | None:
        """The share of `span_s` seconds (this process's training, `steps` steps) that probes
        and evaluation took beyond plain steps; None without a plain step to compare with."""
        plain_steps = steps - self.steps
        if plain_steps <= 0 or span_s <= 0:
            return None
        plain_step_s = max(span_s - self.seconds, 0.0) / plain_steps
        return min(max(self.seconds - self.steps * plain_step_s, 0.0) / span_s, 1.0)
