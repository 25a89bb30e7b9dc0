"""The LSTM's probe `lstm` (model.arch=lstm; stacked/lstm.py): what happens at each time step.

Per layer NN and time step SS (01 = the first step), on the probe step's mini-batch:
- lstm/layer_NN/step_SS/hidden_grad: ||dL/dh_t|| over the batch and units, the total
  gradient reaching h_t (through the later steps and the layers above): Cooijmans et al.
  2016's Figure 1, where it vanishes over the steps with BN's gamma = 1;
- lstm/layer_NN/step_SS/gates_mean, gates_std: of all gates' inputs (after BN and the bias);
- lstm/layer_NN/step_SS/gates_saturated: the fraction of gate inputs where their
  nonlinearity's slope is below 10% of its maximum (sigmoid for i, f, o; tanh for g);
and per layer: lstm/layer_NN/hidden_grad_first_over_last (||dL/dh_1|| / ||dL/dh_T||, below 1:
the gradient fades going back in time) and lstm/layer_NN/grad_norm_input, grad_norm_hidden
(the gradient norms of W_x and of W_h, the two parts of grad_norm/layer_NN).
Other networks' taps have no time axis: for them it logs nothing (config checks refuse it).
"""

from __future__ import annotations

import torch

from ..config import Activation
from ..stacked.model import layer_tag
from .probes import SATURATION, ProbeInput, probe, slope
from .tags import Tags


def step_tag(t: int) -> str:
    """Time steps are numbered from 1."""
    return f"step_{t:02d}"


def _gate_stats(z: torch.Tensor) -> dict:
    """z: gate inputs [K, B, 4U, T] (i, f, g, o) -> {name: [K, T]}."""
    i, f, g, o = z.chunk(4, dim=2)
    flat = [
        slope(i, Activation.sigmoid),
        slope(f, Activation.sigmoid),
        slope(g, Activation.tanh),
        slope(o, Activation.sigmoid),
    ]
    saturated = (torch.cat(flat, dim=2) < SATURATION).float().flatten(1, 2).mean(1)
    every = z.flatten(1, 2)  # [K, B * 4U, T]
    return {"gates_mean": every.mean(1), "gates_std": every.std(1), "gates_saturated": saturated}


# needs act_grad: dL/dh_t comes as the gradient of the LSTM's `outputs`
@probe(
    "lstm",
    Tags(
        ("lstm/{hidden}/{step}/hidden_grad",),
        "`model.arch=lstm` only; `step_NN` is the time step, `step_01` "
        "the first. ‖dL/dh_t‖ over the mini-batch and units, the whole gradient reaching the hidden state h_t of step "
        "t (through the later steps and the layers above): Cooijmans et al. 2016's Figure 1. For the LSTM, "
        "`grad_norm/layer_NN` is the norm of the layer's whole [W_x; W_h] gradient and `act_hist/layer_NN` the "
        "histogram of its gates' inputs over all steps",
    ),
    Tags(
        ("lstm/{hidden}/{step}/gates_mean", "lstm/{hidden}/{step}/gates_std", "lstm/{hidden}/{step}/gates_saturated"),
        "mean and standard deviation of the layer's gate inputs at step t (after BN and the bias), and the "
        "fraction of them where their nonlinearity's slope is below 10% of its maximum (sigmoid for the input, "
        "forget and output gates, tanh for the candidate)",
    ),
    Tags(
        ("lstm/{hidden}/hidden_grad_first_over_last",),
        "‖dL/dh_1‖ / ‖dL/dh_T‖ (T the last step): below 1, the gradient fades going back in time",
    ),
    Tags(
        ("lstm/{hidden}/grad_norm_input", "lstm/{hidden}/grad_norm_hidden"),
        "the gradient norms of the layer's "
        "input-to-hidden W_x and hidden-to-hidden W_h, the two parts of `grad_norm/layer_NN`",
    ),
    needs=("act_grad",),
)
def _lstm(inp: ProbeInput) -> dict:
    if not inp.z or inp.z[0].dim() != 4:
        return {}
    grads = inp.layout.per_run(inp.grad)
    values = {}
    for index, (z, h_grad, slot) in enumerate(zip(inp.z, inp.a_grad, inp.weights)):
        tag = f"lstm/{layer_tag(index + 1)}"
        weight_grad = grads[slot.name]  # [K, inputs + U, 4U]: rows W_x, then W_h
        inputs = weight_grad.shape[1] - weight_grad.shape[2] // 4
        values[f"{tag}/grad_norm_input"] = weight_grad[:, :inputs].flatten(1).norm(dim=1)
        values[f"{tag}/grad_norm_hidden"] = weight_grad[:, inputs:].flatten(1).norm(dim=1)
        per_step = {
            "hidden_grad": h_grad.detach().float().flatten(1, 2).norm(dim=1),  # [K, T]
            **_gate_stats(z.detach().float()),
        }
        values[f"{tag}/hidden_grad_first_over_last"] = per_step["hidden_grad"][:, 0] / per_step["hidden_grad"][:, -1]
        for t in range(z.shape[-1]):
            values.update({f"{tag}/{step_tag(t + 1)}/{name}": v[:, t] for name, v in per_step.items()})
    return values
