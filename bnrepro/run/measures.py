"""Santurkar et al.'s measures (2018, "How does batch normalization help optimization?"):
internal covariate shift as they define it, and the loss landscape along the gradient.

Unlike the probes (probes.py), which read what a training step computed, these re-run
the forward and backward pass of a probe step's mini-batch at other points of the
parameter space, so they live here, on their own schedule (probes.ics_every,
probes.landscape_every; multiples of train.log_every: they run on probe steps):

- ICS (`ics/layer_NN/...`): G = the gradient of layer i's weights at the step; G' = the
  same gradient after layers 1..i-1 have taken this step's update (the optimizer's real
  update: momentum and weight decay included), layers i.. unchanged, same mini-batch.
  Logged: ||G - G'||_2 (l2), ||G - G'|| / ||G|| (rel) and cos(G, G') (cos).
- Landscape (`landscape/...`): from the weights before the step, move along -g by step
  sizes c * lr (c geometric over probes.landscape_range, probes.landscape_sizes of them;
  with probes.landscape_max_step, scaled down together so that the largest is at most that:
  Santurkar et al. keep the steps below the learning rate at which the network without BN
  diverges), and take the loss and gradient g' there, same mini-batch. Logged: the loss's min, max
  and range (max - min); the range split in two, from the same points in order of step size:
  the descent (the loss at the smallest step minus the lowest) and the rise (the largest
  increase of the loss over its lowest value at any smaller step: 0 where the loss only falls
  along the gradient), because a range mixes useful descent with roughness; ||g - g'|| min
  and max (gradient predictiveness: the max), and the effective beta-smoothness
  max ||g - g'|| / ||c lr g||.

They observe: every pass evaluates the model at a point given as an argument (the model's
own parameters are never written), in training mode (BN with the batch's statistics and
the step's dropout masks and noise, as the step itself), and every buffer BN's training
mode writes (running statistics) is restored afterwards. Per run, on the device, for K
runs at once; no value is read back to the host.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..stacked.model import layer_tag
from . import losses


@dataclass
class StepRecord:
    """What a probe step keeps for the measures (CUDA graphs: static tensors, read at once)."""

    x: torch.Tensor  # the step's mini-batch as the model saw it (augmented), [K, B, C, H, W]
    y: torch.Tensor  # its labels [K, B]
    before: torch.Tensor  # flat parameters before the step's update
    grad: torch.Tensor  # flat gradient of the step's loss at `before`
    step: torch.Tensor  # completed steps before this one (dropout masks, noise, lr schedule)


def run_norms(flat: torch.Tensor, layout) -> torch.Tensor:
    """Per-run l2 norm [K] of a flat parameter-shaped vector."""
    return torch.stack([v.flatten(1).pow(2).sum(1) for v in layout.per_run(flat).values()]).sum(0).sqrt()


def loss_and_grad(state, record: StepRecord, point: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-run loss [K] and flat gradient at `point`, on the record's mini-batch, in training
    mode; the model's buffers (BN's running statistics) are left as they were."""
    p = point.detach().requires_grad_(True)
    with state.model.buffers_kept(), torch.enable_grad():
        logits = state.model(record.x, "train", step=record.step, params=p)
        loss = losses.per_example(logits, record.y, state.loss, state.output).mean(1)  # [K, B] -> [K]
        (grad,) = torch.autograd.grad(loss.sum(), [p])
    return loss.detach(), grad


def _before_layer(layout, layer: int, device) -> torch.Tensor:
    """[size] bool: the elements of every slot of layers 1..layer-1."""
    parts = [
        torch.full(
            (layout.runs * slot.numel,), int(name.split(".")[0].split("_")[1]) < layer, dtype=torch.bool, device=device
        )  # filled there: no host-to-device copy
        for name, slot in layout.slots.items()
    ]
    return torch.cat(parts)


def ics(state, record: StepRecord, layers) -> dict:
    """{ics/layer_NN/l2|rel|cos: [K]} for each layer in `layers` (2 .. depth + 1)."""
    model = state.model
    layout, weights = model.layout, model.weight_slots()
    with torch.no_grad():
        update = model.params.detach() - record.before
    values = {}
    for layer in layers:
        moved = _before_layer(layout, layer, record.before.device)
        point = record.before + torch.where(moved, update, torch.zeros_like(update))
        _, grad_after = loss_and_grad(state, record, point)
        slot = weights[layer - 1].name
        g = layout.per_run(record.grad)[slot].flatten(1)
        g2 = layout.per_run(grad_after)[slot].flatten(1)
        diff, norm, norm2 = (g - g2).norm(dim=1), g.norm(dim=1), g2.norm(dim=1)
        tag = f"ics/{layer_tag(layer)}"
        values[f"{tag}/l2"] = diff
        values[f"{tag}/rel"] = diff / norm
        values[f"{tag}/cos"] = (g * g2).sum(1) / (norm * norm2)
    return values


def step_multiples(sizes: int, low_high) -> list[float]:
    """`sizes` multiples of the learning rate, geometric from low to high."""
    low, high = low_high
    if sizes == 1:
        return [float(low)]
    return [float(low * (high / low) ** (i / (sizes - 1))) for i in range(sizes)]


def landscape_points(
    state, record: StepRecord, multiples, max_step: float | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Losses [n, K], gradient changes ||g - g'|| [n, K] and distances moved [n, K] at
    before - s * g for each multiple c, s = c * lr (lr: each run's learning rate at the
    step). With max_step, a run whose largest step would exceed it has all its steps scaled
    down by the same factor, so the largest is max_step: the same number of distinct points,
    the same ratios between them."""
    model = state.model
    layout = model.layout
    lr = state.optimizer.lr_at(record.step)  # [K]
    if max_step is not None:
        lr = lr * (max_step / (max(multiples) * lr)).clamp(max=1.0)
    g_norm = run_norms(record.grad, layout)
    losses_, changes, distances = [], [], []
    for c in multiples:
        size = c * lr  # [K]
        point = record.before - layout.per_element(size) * record.grad
        loss, grad = loss_and_grad(state, record, point)
        losses_.append(loss)
        changes.append(run_norms(grad - record.grad, layout))
        distances.append(size * g_norm)
    return torch.stack(losses_), torch.stack(changes), torch.stack(distances)


def descent_and_rise(loss: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """From losses [n, K] at increasing step sizes: the descent loss[0] - min and the rise
    max_j (loss[j] - min_{i <= j} loss[i]), each [K] and >= 0."""
    lowest_so_far = torch.cummin(loss, dim=0).values
    return loss[0] - loss.min(0).values, (loss - lowest_so_far).max(0).values


def landscape(state, record: StepRecord, sizes: int, low_high, max_step: float | None = None) -> dict:
    """{landscape/...: [K]} along the step's gradient (see the module's docstring)."""
    loss, change, distance = landscape_points(state, record, step_multiples(sizes, low_high), max_step)
    descent, rise = descent_and_rise(loss)
    return {
        "landscape/loss_descent": descent,
        "landscape/loss_rise": rise,
        "landscape/loss_min": loss.min(0).values,
        "landscape/loss_max": loss.max(0).values,
        "landscape/loss_range": loss.max(0).values - loss.min(0).values,
        "landscape/grad_change_min": change.min(0).values,
        "landscape/grad_change_max": change.max(0).values,
        "landscape/beta_smoothness": (change / distance).max(0).values,
    }


def due(step_no: int, every: int) -> bool:
    return every > 0 and step_no % every == 0


def measure(state, record: StepRecord | None, step_no: int, probes) -> dict:
    """The measures due at step `step_no` (probes: the config's ProbeConfig)."""
    values = {}
    if record is None:
        return values
    if due(step_no, probes.ics_every):
        values.update(ics(state, record, probes.ics_layers))
    if due(step_no, probes.landscape_every):
        values.update(
            landscape(state, record, probes.landscape_sizes, probes.landscape_range, probes.landscape_max_step)
        )
    return values
