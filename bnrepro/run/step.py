"""The training step for a group of K runs, as one plain function.

train_step reads top to bottom: gather each run's batch on the device (random crops and
flips if data.augment), forward, per-run mean loss (train.loss), backward (of the sum
over runs: each run's gradient is its own loss's gradient), SGD update, and on-device
bookkeeping (running sums of loss, accuracy and of steps whose loss was not finite). A
probe step also returns the probes' values by name (probes.py's registry, the ones
probes.which names).

A probe step of a run with Santurkar et al.'s measures (measures.py: ICS, the loss
landscape) also keeps a StepRecord: its batch, its gradient and the parameters before
the update, which the measures re-evaluate after the step (eagerly, outside any graph).

initial_probe measures the same at step 0, after initialization and before any
update, and leaves every piece of state as it found it (BN's running statistics
included): a run with it has the same trajectory as one without.

Nothing here reads a value back to the host, so the same function runs eagerly or
replayed from a CUDA graph (graphs.py wraps it; it knows nothing of graphs).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..config import Loss, Output
from ..data import Dataset
from ..stacked.model import StackedNet
from ..stacked.optim import StackedSGD
from . import losses, probes
from .augment import augment
from .measures import StepRecord
from .sampler import Sampler


@dataclass
class ProbeOutput:
    names: tuple  # one tag per row of values
    values: torch.Tensor  # [tags, K]
    z: list  # nonlinearity inputs per hidden layer, [K, B, U, *rest]
    a: list  # nonlinearity outputs per hidden layer
    record: StepRecord | None = None  # for the measures (StepState.keep_record)

    def by_name(self) -> dict:
        return dict(zip(self.names, self.values))

    def with_values(self, more: dict) -> "ProbeOutput":
        """A copy with more tags {tag: [K]} (the measures' values) after the probes'."""
        if not more:
            return self
        return ProbeOutput(
            (*self.names, *more),
            torch.cat([self.values, torch.stack(list(more.values()))]),
            self.z,
            self.a,
            self.record,
        )


@dataclass
class StepState:
    """Everything a step reads or changes. `step` and `sums` live on the device."""

    model: StackedNet
    optimizer: StackedSGD
    sampler: Sampler
    data: Dataset
    unit: int  # the unit whose input percentiles are probed
    which: tuple = ("grad_norm", "act")  # the probes that run on a probe step
    loss: Loss = Loss.cross_entropy
    output: Output = Output.linear
    augment: tuple | None = None  # (pad, flip) of data.augment (augment.py); None: off
    keep_record: bool = False  # probe steps keep a StepRecord (the measures need one)
    step: torch.Tensor = field(init=False)  # completed steps (int64 scalar)
    sums: torch.Tensor = field(init=False)  # [3, K]: loss, accuracy, non-finite-loss steps
    memory: dict = field(init=False)  # what probes keep from one probe step to the next (shift)

    def __post_init__(self):
        device = self.model.params.device
        self.step = torch.zeros((), dtype=torch.int64, device=device)
        self.sums = torch.zeros((3, self.model.K), device=device)
        self.memory = {}

    def take_train_metrics(self, steps_in_interval: int) -> torch.Tensor:
        """[3, K]: mean loss and accuracy over the interval, and how many of its steps had a
        non-finite loss; resets the sums."""
        metrics = self.sums.clone()
        metrics[:2] /= steps_in_interval
        self.sums.zero_()
        return metrics


def _forward_backward(state: StepState, probe: bool):
    """Loss [K], accuracy [K], flat gradient, (probe steps) z, a and dL/da per layer, and the
    batch (x, y) as the model saw it."""
    model, K, B = state.model, state.model.K, state.sampler.batch_size
    x, y = state.data.train_batch(state.sampler.indices(state.step))
    if state.augment is not None:
        x = augment(x, model.seeds, state.step, *state.augment)
    z, a = ([], []) if probe else (None, None)
    logits = model(x, "train", step=state.step, taps=z, outputs=a)
    loss = losses.per_example(logits, y, state.loss, state.output).view(K, B).mean(1)
    wants_a_grad = probe and bool(probes.NEEDS_ACT_GRAD & set(state.which))
    grads = torch.autograd.grad(loss.sum(), [model.params, *(a if wants_a_grad else [])])
    with torch.no_grad():
        accuracy = losses.correct(logits, y).mean(1)
    return loss.detach(), accuracy, grads[0], z, a, (list(grads[1:]) if wants_a_grad else None), (x, y)


def _held_out_z(state: StepState) -> list:
    """Each hidden layer's nonlinearity inputs on the held-out batch (probes.HELD_OUT_EXAMPLES
    test examples, normalized with their own statistics, no dropout); nothing of the run changes."""
    z: list = []
    with torch.no_grad():
        state.model(state.data.test_x[: probes.HELD_OUT_EXAMPLES], ("batch", None), taps=z)
    return z


def _perturbed_a(state: StepState, grad) -> tuple[list, list]:
    """Each hidden layer's outputs on the held-out batch at the run's parameters and with its
    first layer's weights perturbed (probes.perturb_first_layer), both normalized with their
    own batch statistics, no dropout; evaluated at a copy: nothing of the run changes."""
    model = state.model
    x = state.data.test_x[: probes.HELD_OUT_EXAMPLES]
    moved = probes.perturb_first_layer(model.params, grad, model.layout, model.weight_slots()[0])
    a: list = []
    a_moved: list = []
    with torch.no_grad():
        model(x, ("batch", None), outputs=a)
        model(x, ("batch", None), outputs=a_moved, params=moved)
    return a, a_moved


def _probe_output(state: StepState, grad, update, z, a, a_grad) -> ProbeOutput:
    model = state.model
    inp = probes.ProbeInput(
        z=z,
        a=a,
        a_grad=a_grad,
        grad=grad,
        params=model.params.detach(),
        update=update,
        layout=model.layout,
        weights=model.weight_slots(),
        biases=[layer["bias"] for layer in model.hidden],
        unit=state.unit,
        activation=model.activation_name,
        memory=state.memory,
        held_out_z=_held_out_z(state) if probes.NEEDS_HELD_OUT & set(state.which) else None,
        affine=[(layer["gamma"], layer["beta"]) for layer in model.hidden],
        perturbed_a=_perturbed_a(state, grad) if probes.NEEDS_PERTURBED & set(state.which) else None,
    )
    values = probes.run_probes(state.which, inp)
    return ProbeOutput(
        tuple(values), torch.stack(list(values.values())), [t.detach() for t in z], [t.detach() for t in a]
    )


def train_step(state: StepState, probe: bool) -> ProbeOutput | None:
    model = state.model
    loss, accuracy, grad, z, a, a_grad, (x, y) = _forward_backward(state, probe)
    with torch.no_grad():
        keep = probe and bool(probes.NEEDS_UPDATE & set(state.which))
        record = (
            StepRecord(x, y, model.params.detach().clone(), grad, state.step.clone())
            if probe and state.keep_record
            else None
        )
        before = (record.before if record is not None else model.params.detach().clone()) if keep else None
        state.optimizer.update(model.params, grad, state.step)
        state.step += 1
        state.sums += torch.stack([loss, accuracy, (~torch.isfinite(loss)).float()])
        if not probe:
            return None
        out = _probe_output(state, grad, model.params.detach() - before if keep else None, z, a, a_grad)
        out.record = record
        return out


def initial_probe(state: StepState) -> tuple[torch.Tensor, ProbeOutput]:
    """Step 0: the probes on the first mini-batch, before any update. Returns the
    metrics [3, K] (that batch's loss, accuracy, non-finite flag) and the probes' values.
    BN's buffers (running statistics) are restored: nothing of the run changes."""
    with state.model.buffers_kept():
        loss, accuracy, grad, z, a, a_grad, _ = _forward_backward(state, probe=True)
    with torch.no_grad():
        metrics = torch.stack([loss, accuracy, (~torch.isfinite(loss)).float()])
        return metrics, _probe_output(state, grad, None, z, a, a_grad)
