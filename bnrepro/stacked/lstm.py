"""An LSTM for K runs at once, on images read as sequences (model.arch=lstm).

Each image (channels, rows, columns) is flattened and cut into T pieces of
model.lstm.step_inputs values: with 28, MNIST is read row by row (T = 28 steps of 28 pixels);
the last hidden state of the last layer goes to a linear classifier. Layer l, step t
(gates in torch.nn.LSTM's order i, f, g, o; sigma the logistic function):

    gates = N_x(W_x x_t) + N_h(W_h h_{t-1}) + b
    c_t = sigma(f) * c_{t-1} + sigma(i) * tanh(g)        (the cell's recurrence: never normalized)
    h_t = sigma(o) * tanh(N_c(c_t))

model.bn picks the N's: none (all identities: torch.nn.LSTM exactly), input (N_x is BN:
Laurent et al. 2016), both (N_x and N_h are separate BNs: Cooijmans et al. 2016; with
model.lstm.bn_cell also N_c, as in their equation for h_t). N_x and N_h have a gamma (initial
value model.lstm.gamma) and no beta (b is the shift; Cooijmans et al. set beta_x = beta_h = 0);
N_c has gamma and beta. Every BN keeps its statistics per time step: step t uses layer
min(t, S - 1) of its list (S = model.lstm.stat_steps, null: every step its own), in
training and at evaluation alike, so steps beyond S reuse step S's population statistics.
h_0 = 0, so W_h h_0 = 0 has no statistics: N_h starts at step 1.

Layout: activations [K, B, F] as the MLP's (batched matmuls); BN sees [B, K * F], one
channel per (run, unit). Parameters per layer: one weight [inputs + U, 4U] (rows: W_x, then
W_h; grad_norm/layer_NN is the whole layer's gradient), b [4U], the gammas.

Probes (run/lstm_probes.py): on a probe step, `taps` receives each layer's gate inputs
[K, B, 4U, T], and `outputs` a zero tensor [K, B, U, T] added to every h_t: the gradient with
respect to it is dL/dh_t at every step (how far back the gradient reaches; Cooijmans et al.'s
Figure 1). Adding zeros changes no value; plain steps and evaluation skip it.
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import BNPlacement, ModelConfig, has_norm_layer
from .model import StackedNet, _initial_values, layer_tag, norm_runs
from .norms import Mode, make_norm
from .params import Layout


class StackedLSTM(StackedNet):
    def __init__(self, cfgs: list[ModelConfig], seeds: list[int], input_shape: tuple, classes: int):
        nn.Module.__init__(self)
        shared = cfgs[0]
        self.K = K = len(cfgs)
        self.arch, self.depth, self.width = shared.arch, shared.depth, shared.width
        self.activation_name = shared.activation  # unused by the LSTM's gates; the probes' interface
        size = int(torch.tensor(input_shape).prod())
        self.step_inputs = shared.lstm.step_inputs
        if size % self.step_inputs:
            raise ValueError(f"model.lstm.step_inputs={self.step_inputs} does not divide the {size} input values")
        self.steps = T = size // self.step_inputs
        self.bn = shared.bn if has_norm_layer(shared) else BNPlacement.none
        U = shared.width
        self.widths = [4 * U] * shared.depth  # the widest activation per layer: the gates
        layout = Layout(K)
        self.hidden: list[dict] = []
        fan_in = self.step_inputs
        bn_cell = self.bn == BNPlacement.both and shared.lstm.bn_cell
        for index in range(1, shared.depth + 1):
            tag = layer_tag(index)
            self.hidden.append(
                {
                    "inputs": fan_in,
                    "weight": layout.add(f"{tag}.weight", "weight", (fan_in + U, 4 * U)),
                    "bias": layout.add(f"{tag}.bias", "bias", (4 * U,), (K, 1, 4 * U)),
                    "gamma": layout.add(f"{tag}.gamma_x", "gamma", (4 * U,), (K * 4 * U,))
                    if self.bn != BNPlacement.none
                    else None,
                    "gamma_h": layout.add(f"{tag}.gamma_h", "gamma", (4 * U,), (K * 4 * U,))
                    if self.bn == BNPlacement.both
                    else None,
                    "gamma_c": layout.add(f"{tag}.gamma_c", "gamma", (U,), (K * U,)) if bn_cell else None,
                    "beta": layout.add(f"{tag}.beta_c", "beta", (U,), (K * U,)) if bn_cell else None,
                }
            )
            fan_in = U
        self._add_output_layer(layout, U, classes)
        values = _initial_values(layout, cfgs, seeds, [h["weight"].name for h in self.hidden])
        per_run = layout.per_run(values)  # views: gammas start at model.lstm.gamma, each run its own
        initial_gamma = torch.tensor([c.lstm.gamma for c in cfgs]).view(K, 1)
        for slot in layout.slots.values():
            if slot.kind == "gamma":
                per_run[slot.name].copy_(initial_gamma.expand(K, slot.numel))
        self.params = nn.Parameter(values)

        # Per layer: the BNs of each normalized transform, one per time step with its own statistics.
        S = min(shared.lstm.stat_steps or T, T)
        self.stat_steps = S
        self.norm_x, self.norm_h, self.norm_c = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        for layer in self.hidden:
            self.norm_x.append(self._norms(shared, S, 4 * U) if layer["gamma"] is not None else nn.ModuleList())
            self.norm_h.append(
                self._norms(shared, min(S, T - 1), 4 * U) if layer["gamma_h"] is not None else nn.ModuleList()
            )
            self.norm_c.append(self._norms(shared, S, U) if layer["gamma_c"] is not None else nn.ModuleList())
        # Every BN layer in one list: what evaluation's Algorithm 2 and the statistics checks walk.
        self.norms = [n for lists in (self.norm_x, self.norm_h, self.norm_c) for per_step in lists for n in per_step]
        self.register_buffer("fixed_gamma", None)
        self.register_buffer("seeds", torch.tensor(seeds, dtype=torch.int64))
        for index, norm in enumerate(self.norms):
            norm.attach(self.seeds, index)

    def _norms(self, shared: ModelConfig, count: int, units: int) -> nn.ModuleList:
        return nn.ModuleList([make_norm(shared.norm, self.K * units) for _ in range(count)])

    def forward(
        self,
        x: torch.Tensor,
        mode: Mode = "train",
        *,
        step: torch.Tensor | None = None,
        taps: list | None = None,
        outputs: list | None = None,
        bn_inputs: list | None = None,
        params: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """x: [K, B, C, H, W] (each run its own batch) or [N, C, H, W] (shared) -> logits [K, B, classes].
        As StackedNet.forward; taps and outputs as the module docstring says (bn_inputs: unused)."""
        views = self.layout.split(self.params if params is None else params)
        shared_input = x.dim() == 4
        seq = x.flatten(-3).unflatten(-1, (self.steps, self.step_inputs)).movedim(-2, 0)  # [T, (K,) B, I]
        for index, layer in enumerate(self.hidden):
            weight = views[layer["weight"].name]  # [K, inputs + U, 4U]
            w_x, w_h = weight[:, : layer["inputs"]], weight[:, layer["inputs"] :]
            if shared_input and index == 0:  # one matmul against all runs' W_x side by side
                T, N, _ = seq.shape
                xw = (seq @ w_x.permute(1, 0, 2).flatten(1)).view(T, N, self.K, -1).transpose(1, 2)
            else:
                xw = torch.matmul(seq, w_x)  # [T, K, B, 4U]
            seq = self._layer(index, layer, views, xw, w_h, mode, step, taps, outputs)
        return torch.baddbmm(views[self.out_bias.name], seq[-1], views[self.out_weight.name])

    def _layer(
        self,
        index: int,
        layer: dict,
        views: dict,
        xw: torch.Tensor,
        w_h: torch.Tensor,
        mode: Mode,
        step,
        taps: list | None,
        outputs: list | None,
    ) -> torch.Tensor:
        """One LSTM layer over the sequence: xw [T, K, B, 4U] (W_x x_t, every step) -> h [T, K, B, U]."""
        T, K, B, _ = xw.shape
        U = self.width
        bias = views[layer["bias"].name]  # [K, 1, 4U]
        gamma_x, gamma_h, gamma_c, beta_c = (
            views[layer[key].name] if layer[key] is not None else None
            for key in ("gamma", "gamma_h", "gamma_c", "beta")
        )
        norm_x, norm_h, norm_c = self.norm_x[index], self.norm_h[index], self.norm_c[index]
        if gamma_x is None:
            xw = xw + bias  # no BN on the input side: the bias folds into every step at once
        probe = (
            torch.zeros(K, B, U, T, device=xw.device, dtype=xw.dtype, requires_grad=True)
            if outputs is not None
            else None
        )
        h = c = None
        hs, gate_inputs = [], []
        for t in range(T):
            gates = xw[t]
            if gamma_x is not None:
                gates = norm_runs(norm_x[min(t, len(norm_x) - 1)], gates, gamma_x, None, mode, step) + bias
            if h is not None:  # h_0 = 0: nothing to add at the first step
                hw = torch.bmm(h, w_h)
                if gamma_h is not None:
                    hw = norm_runs(norm_h[min(t - 1, len(norm_h) - 1)], hw, gamma_h, None, mode, step)
                gates = gates + hw
            if taps is not None:
                gate_inputs.append(gates)
            i, f, g, o = gates.chunk(4, dim=-1)
            c = (
                torch.sigmoid(i) * torch.tanh(g)
                if c is None
                else torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            )
            cell = c if gamma_c is None else norm_runs(norm_c[min(t, len(norm_c) - 1)], c, gamma_c, beta_c, mode, step)
            h = torch.sigmoid(o) * torch.tanh(cell)
            if probe is not None:
                h = h + probe[..., t]  # + 0: its gradient is dL/dh_t
            hs.append(h)
        if taps is not None:
            taps.append(torch.stack(gate_inputs, dim=-1))  # [K, B, 4U, T]
        if outputs is not None:
            outputs.append(probe)
        return torch.stack(hs)
