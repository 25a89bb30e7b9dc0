"""CUDA graphs around a step function: after a few eager warm-up steps (real training
steps), the plain step and the probe step are each captured once and then replayed,
so a whole step costs one launch. The step function itself knows nothing of this.
"""

from __future__ import annotations

from typing import Callable

import torch

WARMUP_STEPS = 3  # eager steps before capture (the first is a probe step)


class GraphedStep:
    """step(probe) -> output, eager until captured, then replayed. With required=False a
    failed capture falls back to eager steps with a warning (slower, not wrong)."""

    def __init__(self, step: Callable[[bool], object], required: bool = False, warn=print):
        self.step, self.required, self.warn = step, required, warn
        self.graphs: dict[bool, torch.cuda.CUDAGraph] | None = None
        self.outputs: dict[bool, object] = {}
        self.eager_steps, self.enabled = 0, True
        self.side_stream = torch.cuda.Stream()

    @property
    def graphed(self) -> bool:
        return self.graphs is not None

    def __call__(self, probe: bool):
        if self.graphs is not None:
            self.graphs[probe].replay()
            return self.outputs[probe]
        if not self.enabled:
            return self.step(probe)
        # Warm-up on a side stream, as CUDA-graph capture requires; these are real steps.
        self.side_stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(self.side_stream):
            out = self.step(probe)
        torch.cuda.current_stream().wait_stream(self.side_stream)
        self.eager_steps += 1
        if self.eager_steps >= WARMUP_STEPS:
            try:
                self._capture()
            except Exception as e:
                if self.required:
                    raise
                torch.cuda.synchronize()
                self.enabled = False
                self.warn(f"CUDA graph capture failed ({type(e).__name__}: {e}); training eagerly")
        return out

    def _capture(self) -> None:
        """Record one plain and one probe step. Capture runs no kernels: state is unchanged."""
        graphs = {}
        for probe in (False, True):
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                self.outputs[probe] = self.step(probe)
            graphs[probe] = graph
        self.graphs = graphs
