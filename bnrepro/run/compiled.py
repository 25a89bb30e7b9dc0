"""torch.compile (inductor) around the plain training step; probe steps stay eager.

The rule (train.compile=auto): compile on the CPU for an MLP group of at most
MAX_RUNS runs and at least MIN_STEPS steps; never on a GPU (CUDA graphs already make a
step one launch there, graphs.py), nor for conv nets (bound by oneDNN's convolutions,
which inductor leaves alone) or the LSTM (not measured). train.compile=on compiles
wherever it is asked, a failure then an error (on a GPU only with train.graph=off: CUDA
graphs come first); off never.

The evidence (issue 30; mnist_fig1's 784-100-100-100-10 sigmoid net, batch 60, 1 thread,
CPU time per step of the eager step and the compiled one measured side by side in one
process, 5 interleaved rounds, the shared 2-core VM at load ~1, 7 Dec 2026, torch 2.14.1;
indicative, not benchmark results): eager/compiled per step with BN, K runs together:
K=1 1.91-1.96x (1.12 -> 0.57 ms), K=2 1.59x, K=4 1.31x, K=8 1.09-1.17x; without BN K=1
1.68x, K=8 1.17x. Compiling took 8-15 s of wall time with a cold inductor cache (a few
seconds once the same graph is in the cache). Over 50,000 steps with a cold cache that
is ~1.3x for one run and ~1.3x for two, ~1.16x for four, ~1.05x for eight (the GEMMs,
left to MKL's bmm, are ~60% of a pack's step and compile does not speed them up:
inductor's own CPU GEMM, mode="max-autotune-no-cudagraphs", was 2.5x slower than bmm at
every shape). MIN_STEPS: from 30,000 steps on one run saves more than a cold compile's
~15 s (0.55 ms a step), two runs more so (0.76 ms a step). No experiment of the CPU suite
meets the rule (only mnist_fig1 trains that long, in packs of 8): it trains as before.

The step is traced whole, forward, torch.autograd.grad and the update in one graph
(dynamo's trace_autograd_ops): with the autograd call as a graph break, a pack of 8 was
slower compiled than eager (0.93x). Compiled results equal eager ones to float rounding
(fused operations round differently: 2e-8 of the largest parameter after one step),
not bit for bit; tests/test_compiled.py checks a short run against eager.
"""

from __future__ import annotations

import time
from typing import Callable

import torch

from ..config import Arch, Config, GraphMode

MAX_RUNS = 2  # auto: groups of at most this many runs (4 runs: ~1.16x over 50,000 steps, 8: ~1.05x)
MIN_STEPS = 30_000  # auto: runs at least this long (a cold compile costs ~15 s of wall time)


def wanted(cfg: Config, runs: int, device: torch.device) -> bool:
    """Whether a group of `runs` runs of `cfg` trains with a compiled step (the rule above)."""
    if cfg.train.compile != GraphMode.auto:
        return cfg.train.compile == GraphMode.on
    return device.type == "cpu" and cfg.model.arch == Arch.mlp and runs <= MAX_RUNS and cfg.train.steps >= MIN_STEPS


class CompiledStep:
    """step(probe) -> output: plain steps compiled on first use, probe steps eager. With
    required=False a compile that fails falls back to eager steps with a warning (slower,
    not wrong), and `error` names the reason for the summaries."""

    def __init__(self, step: Callable[[bool], object], required: bool = False, warn=print):
        self.step, self.required, self.warn = step, required, warn
        # fullgraph: one graph or an error at tracing, before anything runs (no half-done step)
        self.compiled = torch.compile(self._plain, dynamic=False, fullgraph=True)
        self.ready = False  # compiled and used once
        self.error: str | None = None  # why compiling failed (then every step is eager)
        self.compile_s = 0.0  # wall time of the first compiled call, compiling included

    @property
    def graphed(self) -> bool:
        return False  # no CUDA graphs (the summaries' cuda_graphs)

    def _plain(self):
        return self.step(False)

    def __call__(self, probe: bool):
        if probe or self.error is not None:
            return self.step(probe)
        # The autograd call traced into the graph, not a graph break (see the module's docstring).
        with torch._dynamo.config.patch(trace_autograd_ops=True):
            if self.ready:
                return self.compiled()
            start = time.perf_counter()
            try:
                out = self.compiled()  # traced and compiled whole before it runs: a failure changes nothing
            except Exception as e:
                if self.required:
                    raise RuntimeError(f"train.compile=on: torch.compile failed ({type(e).__name__}: {e})") from e
                self.error = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:300]
                self.warn(f"torch.compile failed ({self.error}); training eagerly")
                return self.step(False)
            self.compile_s, self.ready = time.perf_counter() - start, True
            return out
