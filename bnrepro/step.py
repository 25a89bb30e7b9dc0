"""The training step for a group of K runs, eager or replayed from CUDA graphs.

One step: gather each run's batch on the device, forward, per-run mean cross-entropy,
backward (the sum over runs: each run's gradient is its own loss's gradient), SGD
update, and on-device bookkeeping (running sums of loss, accuracy and of steps whose
loss was not finite). A probe step does the same and also returns gradient norms and
nonlinearity-input statistics.

Nothing here reads a value back to the host. On a GPU, after a few eager warm-up
steps (real training steps), the plain step and the probe step are each captured
once as a CUDA graph and replayed: the whole step costs one launch.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from . import probes
from .data import Dataset
from .model import StackedNet
from .optim import StackedSGD
from .sampler import Sampler

WARMUP_STEPS = 3  # eager steps before capture (the first is a probe step)


@dataclass
class ProbeOutput:
    grad_norm: torch.Tensor  # [weights, K]
    act: torch.Tensor  # [hidden layers, K, len(probes.ACT_STATS)]
    taps: list  # nonlinearity inputs per hidden layer, [K, B, U, *rest]


class Stepper:
    def __init__(self, model: StackedNet, opt: StackedSGD, sampler: Sampler, data: Dataset,
                 unit: int, use_graph: bool, graph_required: bool = False, warn=print):
        self.model, self.opt, self.sampler, self.data, self.unit = model, opt, sampler, data, unit
        K, device = model.K, model.theta.device
        self.t = torch.zeros((), dtype=torch.int64, device=device)  # completed steps
        self.sums = torch.zeros((3, K), device=device)  # loss, accuracy, non-finite steps
        self.use_graph, self.graph_required, self.warn = use_graph, graph_required, warn
        self.graphs: dict[bool, torch.cuda.CUDAGraph] | None = None
        self.graph_out: dict[bool, ProbeOutput | None] = {}
        self.eager_steps = 0
        self.side_stream = torch.cuda.Stream() if use_graph else None

    def _step(self, probe: bool) -> ProbeOutput | None:
        model, K, B = self.model, self.model.K, self.sampler.batch_size
        x, y = self.data.train_batch(self.sampler.indices(self.t))
        taps: list | None = [] if probe else None
        logits = model(x, train=True, step=self.t, taps=taps)
        loss = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none").view(K, B).mean(1)
        (grad,) = torch.autograd.grad(loss.sum(), model.theta)
        with torch.no_grad():
            self.opt.update(model.theta, grad, self.t)
            self.t += 1
            accuracy = (logits.argmax(-1) == y).float().mean(1)
            self.sums += torch.stack([loss, accuracy, (~torch.isfinite(loss)).float()])
            if not probe:
                return None
            act = torch.stack([probes.activation_stats(z, self.unit, model.activation_name) for z in taps])
            return ProbeOutput(probes.grad_norms(grad, model.layout, model.weight_slots()), act,
                               [z.detach() for z in taps])

    def step(self, probe: bool) -> ProbeOutput | None:
        if self.graphs is not None:
            self.graphs[probe].replay()
            return self.graph_out[probe]
        if not self.use_graph:
            return self._step(probe)
        # Warm-up on a side stream, as CUDA-graph capture requires; these are real steps.
        self.side_stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(self.side_stream):
            out = self._step(probe)
        torch.cuda.current_stream().wait_stream(self.side_stream)
        self.eager_steps += 1
        if self.eager_steps >= WARMUP_STEPS:
            try:
                self._capture()
            except Exception as e:  # train.graph=auto: slower, not wrong; say so
                if self.graph_required:
                    raise
                torch.cuda.synchronize()
                self.use_graph = False
                self.warn(f"CUDA graph capture failed ({type(e).__name__}: {e}); training eagerly")
        return out

    def _capture(self) -> None:
        """Record one plain and one probe step. Capture runs no kernels: state is unchanged."""
        graphs = {}
        for probe in (False, True):
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                self.graph_out[probe] = self._step(probe)
            graphs[probe] = graph
        self.graphs = graphs

    @property
    def graphed(self) -> bool:
        return self.graphs is not None

    def take_train_metrics(self, steps_in_interval: int) -> torch.Tensor:
        """[3, K]: mean loss and accuracy over the interval, and how many of its steps had a
        non-finite loss; resets the sums."""
        metrics = self.sums.clone()
        metrics[:2] /= steps_in_interval
        self.sums.zero_()
        return metrics
