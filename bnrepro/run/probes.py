"""What the probes measure, computed on the device for K runs at once.

A probe is one function in the registry PROBES, taking a ProbeInput (what one training
step saw) and returning its values by name: {tag: [K] tensor}, registered with
`@probe(name, Tags(...), ..., needs=...)`: the tags it logs, each row with its meaning
(tags.Tags; the claims' checks in logged_tags.py and the glossary docs/tags.md come
from them), and what it needs the step to compute beyond the plain step (NEEDS).
Adding a probe is that function, in any module imported before training;
probes.which picks the ones that run.

Probes observe: they read the gradient, the nonlinearity inputs and outputs of a
training step and change nothing. Everything here is tensor arithmetic with shapes
fixed at trace time (no host sync, no host-to-device copies), so it can sit inside a
CUDA graph.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import torch

from ..config import Activation, Config, uses_bn
from ..stacked.model import layer_tag
from ..stacked.params import Layout, Slot
from .tags import Tags

QUANTILES = (0.15, 0.50, 0.85)  # paper Fig. 1(b, c)
SATURATION = 0.1  # an input is saturated where g'(z) < 10% of the nonlinearity's largest slope
LINEAR = 0.8  # and in its near-linear range where g'(z) >= 80% of it
OUTPUT_EDGE = 0.02  # an output is saturated within 2% of its range's bound (tanh |a| > 0.98)


@dataclass
class ProbeInput:
    """What a probe step saw; per hidden layer lists are [K, B, U, *rest]."""

    z: list  # nonlinearity inputs
    a: list  # nonlinearity outputs a = g(z)
    a_grad: list | None  # dL/da (None unless a probe asked for it)
    grad: torch.Tensor  # flat gradient of all parameters
    params: torch.Tensor  # flat parameters after the step's update (step 0: the initial ones)
    update: torch.Tensor | None  # flat parameter change of the step (None: step 0, or not asked for)
    layout: Layout
    weights: list  # the weight slots, first hidden layer to output layer
    biases: list  # each hidden layer's bias slot (None where it has none)
    unit: int
    activation: Activation
    memory: dict  # kept from one probe step to the next (StepState.memory; checkpointed)
    held_out_z: list | None = None  # nonlinearity inputs on the held-out batch (None unless asked for)
    affine: list = field(default_factory=list)  # each hidden layer's (gamma slot, beta slot), None where absent
    # each hidden layer's outputs on the held-out batch, (as they are, with layer 1's weights
    # perturbed: perturb_first_layer) (None unless asked for)
    perturbed_a: tuple | None = None


@dataclass(frozen=True)
class Probe:
    """A registered probe: its function, the tags it logs, what it needs from the step."""

    name: str
    fn: Callable[[ProbeInput], dict]
    tags: tuple
    needs: frozenset

    def __call__(self, inp: ProbeInput) -> dict:
        return self.fn(inp)


PROBES: dict[str, Probe] = {}
# The probes that need the step to compute more than the plain step (filled by @probe).
NEEDS_ACT_GRAD: set = set()  # dL/da of each hidden layer (ProbeInput.a_grad)
NEEDS_UPDATE: set = set()  # the step's parameter change (ProbeInput.update)
NEEDS_HELD_OUT: set = set()  # the nonlinearity inputs on the held-out batch (ProbeInput.held_out_z)
NEEDS_PERTURBED: set = set()  # the held-out outputs with layer 1 perturbed (ProbeInput.perturbed_a)
NEEDS = {"act_grad": NEEDS_ACT_GRAD, "update": NEEDS_UPDATE, "held_out": NEEDS_HELD_OUT, "perturbed": NEEDS_PERTURBED}
# The held-out batch: the first examples of the test set, normalized with their own batch
# statistics as in training (BN's running averages are not used: at step 0 they are not set).
HELD_OUT_EXAMPLES = 1000
# The amplify probe's perturbation of the first layer's weights: this fraction of their norm.
PERTURBATION = 1e-3


def probe(name: str, *tags: Tags, needs: tuple = ()):
    """Register the decorated function as the probe `name`, logging `tags` (in its own
    namespace, `name/...`, by convention), needing `needs` (keys of NEEDS)."""
    unknown = set(needs) - set(NEEDS)
    if not tags or unknown:
        raise ValueError(f"probe {name!r} must declare the tags it logs, and needs among {sorted(NEEDS)}")

    def add(fn):
        PROBES[name] = Probe(name, fn, tags, frozenset(needs))
        for need in needs:
            NEEDS[need].add(name)
        return fn

    return add


def run_probes(names, inp: ProbeInput) -> dict:
    """{tag: [K]} of the named probes, in the order named."""
    values = {}
    for name in names:
        values.update(PROBES[name].fn(inp))
    return values


def quantiles(values: torch.Tensor, qs=QUANTILES) -> torch.Tensor:
    """Linear-interpolated quantiles along dim 1 (as torch.quantile): [K, n] -> [K, len(qs)].

    Needs only a few order statistics: on the GPU one sort gives them all; on the CPU,
    where sorting thousands of values costs ~60 ns each, kthvalue selects them (7x faster)."""
    n = values.shape[1]
    positions = [q * (n - 1) for q in qs]
    ranks = sorted({r for p in positions for r in (math.floor(p), min(math.floor(p) + 1, n - 1))})
    if values.is_cuda or n <= 256:
        ordered = values.sort(dim=1).values
        stat = {r: ordered[:, r] for r in ranks}
    else:
        stat = {r: values.kthvalue(r + 1, dim=1).values for r in ranks}
    columns = []
    for p in positions:
        lo, hi = math.floor(p), min(math.floor(p) + 1, n - 1)
        columns.append(stat[lo] + (p - lo) * (stat[hi] - stat[lo]))
    return torch.stack(columns, dim=1)


def _percentiles(values: torch.Tensor, prefix: str = "") -> dict:
    """{prefix + 'p15': [K], ...} over dim 1 of values [K, n]."""
    q = quantiles(values)
    return {f"{prefix}p{round(100 * level)}": q[:, i] for i, level in enumerate(QUANTILES)}


def slope(z: torch.Tensor, activation: Activation) -> torch.Tensor:
    """g'(z) relative to its maximum (1 at the steepest point)."""
    if activation == Activation.sigmoid:
        s = torch.sigmoid(z)
        return 4 * s * (1 - s)
    if activation == Activation.tanh:
        return 1 - torch.tanh(z) ** 2
    if activation == Activation.linear:
        return torch.ones_like(z)
    return (z > 0).to(z.dtype)


def activation_stats(z: torch.Tensor, unit: int, activation: Activation) -> dict:
    """Statistics of one hidden layer's nonlinearity input z [K, B, U, *rest] -> {name: [K]}.

    unit_p*: percentiles over the batch (and positions) of one fixed unit; p*, mean,
    std: over all units; saturated / linear: fraction of all units' inputs where
    g' < 10% / g' >= 80% of its maximum (not for the linear activation: its slope is 1
    everywhere, nothing saturates).
    """
    z = z.detach().float()
    K = z.shape[0]
    every = z.reshape(K, -1)
    stats = {
        **_percentiles(z[:, :, unit].reshape(K, -1), "unit_"),
        **_percentiles(every),
        "mean": every.mean(1),
        "std": every.std(1),
    }
    if activation != Activation.linear:
        g = slope(every, activation)
        stats.update(saturated=(g < SATURATION).float().mean(1), linear=(g >= LINEAR).float().mean(1))
    return stats


def output_stats(a: torch.Tensor, activation: Activation) -> dict:
    """Statistics of one hidden layer's nonlinearity output a = g(z) [K, B, U, *rest] -> {name: [K]}:
    mean, std, percentiles over all units, and the fraction saturated: within 2% of the
    output range's bounds (sigmoid a < 0.02 or > 0.98, tanh |a| > 0.98; ReLU: a = 0; not
    for the linear activation, whose range has no bounds)."""
    every = a.detach().float().reshape(a.shape[0], -1)
    stats = {"mean": every.mean(1), "std": every.std(1), **_percentiles(every)}
    if activation == Activation.sigmoid:
        edge = (every < OUTPUT_EDGE) | (every > 1 - OUTPUT_EDGE)
    elif activation == Activation.tanh:
        edge = every.abs() > 1 - OUTPUT_EDGE
    elif activation == Activation.relu:
        edge = every <= 0
    else:
        return stats
    return {**stats, "saturated": edge.float().mean(1)}


def _per_layer(namespace: str, stats: list[dict]) -> dict:
    """[{name: [K]} per hidden layer] -> {namespace/layer_NN/name: [K]}."""
    return {
        f"{namespace}/{layer_tag(i + 1)}/{name}": value
        for i, layer in enumerate(stats)
        for name, value in layer.items()
    }


def grad_norms(grad: torch.Tensor, layout: Layout, slots: list[Slot]) -> torch.Tensor:
    """Frobenius norm of each weight matrix's gradient, per run: [len(slots), K]."""
    views = layout.per_run(grad)
    return torch.stack([views[slot.name].flatten(1).norm(dim=1) for slot in slots])


@probe(
    "grad_norm",
    Tags(
        ("grad_norm/{layer}",),
        "Frobenius norm of the gradient of layer NN's weight matrix (conv: kernel), on the probe step's mini-batch",
    ),
    Tags(
        ("grad_norm/first_over_last_hidden",),
        "`grad_norm/layer_01` / `grad_norm/layer_<depth>`: below 1e-2 means vanishing gradients",
        lambda cfg: cfg.model.depth >= 2,
    ),
    Tags(
        ("grad_norm_log10/{layer}",),
        "log10 of `grad_norm/layer_NN` (empty where the norm is 0): 1e-6 and 1e-1 "
        "are -6 and -1, far apart on TensorBoard's default linear axis, where the raw values would both sit at 0",
    ),
    Tags(
        ("grad_norm_log10/first_over_last_hidden",),
        "log10 of `grad_norm/first_over_last_hidden`",
        lambda cfg: cfg.model.depth >= 2,
    ),
)
def _grad_norm(inp: ProbeInput) -> dict:
    norms = grad_norms(inp.grad, inp.layout, inp.weights)
    values = {f"grad_norm/{layer_tag(i + 1)}": norm for i, norm in enumerate(norms)}
    hidden = len(inp.weights) - 1
    if hidden >= 2:  # the vanishing-gradient ratio across the hidden stack
        values["grad_norm/first_over_last_hidden"] = norms[0] / norms[hidden - 1]
    return values


@probe(
    "act",
    Tags(
        ("act/{hidden}/unit_p15", "act/{hidden}/unit_p50", "act/{hidden}/unit_p85"),
        "15th, 50th, 85th "
        "percentile of one fixed unit's input to its nonlinearity (unit `probes.unit`; conv: that channel, over "
        "batch and positions), over the probe step's mini-batch: paper Fig. 1(b, c)",
    ),
    Tags(
        ("act/{hidden}/p15", "act/{hidden}/p50", "act/{hidden}/p85"), "the same percentiles over all units of the layer"
    ),
    Tags(("act/{hidden}/mean", "act/{hidden}/std"), "mean and standard deviation of all units' nonlinearity inputs"),
    Tags(
        ("act/{hidden}/saturated",),
        "fraction of nonlinearity inputs where the slope g'(z) is below 10% of its "
        "maximum: sigmoid \\|z\\| > 3.64, tanh \\|z\\| > 1.82, ReLU z ≤ 0 (not logged for "
        "`model.activation=linear`, nor `linear` below: its slope is 1 everywhere)",
    ),
    Tags(
        ("act/{hidden}/linear",),
        "fraction of nonlinearity inputs in its near-linear range, where g'(z) is at "
        "least 80% of its maximum: sigmoid \\|z\\| < 0.96, tanh \\|z\\| < 0.48, ReLU z > 0",
    ),
)
def _act(inp: ProbeInput) -> dict:
    return _per_layer("act", [activation_stats(z, inp.unit, inp.activation) for z in inp.z])


@probe(
    "out",
    Tags(
        ("out/{hidden}/mean", "out/{hidden}/std", "out/{hidden}/p15", "out/{hidden}/p50", "out/{hidden}/p85"),
        "mean, standard deviation and percentiles of all units' nonlinearity outputs a = g(z)",
    ),
    Tags(
        ("out/{hidden}/saturated",),
        "fraction of outputs within 2% of the output range's bounds: sigmoid "
        "a < 0.02 or > 0.98, tanh \\|a\\| > 0.98; ReLU a = 0",
    ),
    Tags(
        ("out_hist/{hidden}",),
        "histogram of the layer's nonlinearity outputs, on the same steps as `act_hist`",
        lambda cfg: cfg.probes.hist_every != 0,
        metric=False,
    ),
)
def _out(inp: ProbeInput) -> dict:
    return _per_layer("out", [output_stats(a, inp.activation) for a in inp.a])


@probe(
    "act_grad",
    Tags(
        ("act_grad/{hidden}/norm", "act_grad/{hidden}/std"),
        "norm (over the mini-batch and units) and standard "
        "deviation of dL/da, the loss's gradient with respect to the layer's nonlinearity outputs (L: the "
        "mini-batch's mean loss)",
    ),
    needs=("act_grad",),
)
def _act_grad(inp: ProbeInput) -> dict:
    """dL/da per hidden layer: its norm over the batch and units, and its std over them."""
    flat = [g.detach().float().flatten(1) for g in inp.a_grad]
    return _per_layer("act_grad", [{"norm": g.norm(dim=1), "std": g.std(dim=1)} for g in flat])


@probe(
    "update_ratio",
    Tags(
        ("update_ratio/{layer}",),
        "‖W after − W before‖ / ‖W before‖ of layer NN's weights on the probe step, "
        "i.e. ‖lr · update‖ / ‖W‖ (not at step 0)",
    ),
    needs=("update",),
)
def _update_ratio(inp: ProbeInput) -> dict:
    """||W_after - W_before|| / ||W_before|| per weight matrix (the step's lr * update)."""
    if inp.update is None:
        return {}
    before, change = inp.layout.per_run(inp.params - inp.update), inp.layout.per_run(inp.update)
    return {
        f"update_ratio/{layer_tag(i + 1)}": change[s.name].flatten(1).norm(dim=1)
        / before[s.name].flatten(1).norm(dim=1)
        for i, s in enumerate(inp.weights)
    }


@probe(
    "shift",
    Tags(
        ("shift/{hidden}/mean", "shift/{hidden}/std"),
        "how far the layer's nonlinearity inputs moved since the "
        "previous probe step. Per unit, the batch mean μ and std σ of its input (over examples and positions); "
        "`mean`: mean over units of \\|μ − μ_prev\\| in units of the layer's previous rms σ; `std`: mean over "
        "units of \\|ln(σ / σ_prev)\\|. Not at a run's first probe step",
    ),
)
def _shift(inp: ProbeInput) -> dict:
    """How far each layer's nonlinearity inputs moved since the previous probe step: per unit,
    the batch mean mu and std sigma of z (over examples and positions); mean: the mean over
    units of |mu - mu_prev| in units of the layer's rms sigma_prev; std: the mean over units
    of |ln(sigma / sigma_prev)|. Nothing at a run's first probe step (no previous one)."""
    values = {}
    for i, z in enumerate(inp.z):
        z = z.detach().float()
        per_unit = z.transpose(1, 2).reshape(z.shape[0], z.shape[2], -1)  # [K, U, B * positions]
        mean, std = per_unit.mean(2), per_unit.std(2)
        key = f"shift/{layer_tag(i + 1)}"
        if key in inp.memory:  # copied in place: a CUDA graph keeps the same tensors
            prev_mean, prev_std = inp.memory[key]
            scale = prev_std.pow(2).mean(1).sqrt().clamp_min(1e-12)
            values[f"{key}/mean"] = (mean - prev_mean).abs().mean(1) / scale
            values[f"{key}/std"] = (std.clamp_min(1e-12).log() - prev_std.clamp_min(1e-12).log()).abs().mean(1)
            prev_mean.copy_(mean)
            prev_std.copy_(std)
        else:
            inp.memory[key] = (mean.clone(), std.clone())
    return values


def has_bias(cfg: Config) -> bool:
    """Whether the hidden layers have a bias b (null model.bias: not where BN directly follows)."""
    if cfg.model.bias is not None:
        return cfg.model.bias
    return cfg.model.bn.value != "pre" or not uses_bn(cfg.model)


@probe(
    "bias",
    Tags(
        ("bias/{hidden}/grad_norm", "bias/{hidden}/norm"),
        "for hidden layers that have a bias b "
        "(`model.bias`): the norm of b's gradient, and of b itself (b starts at 0, so: how far it has moved)",
        lambda cfg: has_bias(cfg),
    ),
)
def _bias(inp: ProbeInput) -> dict:
    """Each hidden layer's bias b (where it has one): the norm of its gradient, and its norm
    (b starts at 0, so that is how far it has moved)."""
    grad, value = inp.layout.per_run(inp.grad), inp.layout.per_run(inp.params)
    return {
        f"bias/{layer_tag(i + 1)}/{name}": v[s.name].norm(dim=1)
        for i, s in enumerate(inp.biases)
        if s is not None
        for name, v in (("grad_norm", grad), ("norm", value))
    }


@probe(
    "dead",
    Tags(
        ("dead/{hidden}", "dead/all"),
        "(ReLU only) the fraction of the layer's units (conv: channels) whose "
        "input z is ≤ 0 for every example and position of the held-out batch, and that fraction over all hidden "
        "units. The held-out batch: the first 1,000 test examples, normalized with their own batch statistics "
        "as in training (no dropout; BN's running averages are not used, so step 0 counts too)",
    ),
    needs=("held_out",),
)
def _dead(inp: ProbeInput) -> dict:
    """Dead ReLUs: the fraction of each hidden layer's units (conv: channels) whose input z is
    <= 0 for every example (and position) of the held-out batch (a ReLU that never fires
    there gets no gradient from it), and the fraction over all hidden units."""
    dead = [(z.detach().transpose(1, 2).flatten(2) <= 0).all(2) for z in inp.held_out_z]  # [K, U] per layer
    values = {f"dead/{layer_tag(i + 1)}": d.float().mean(1) for i, d in enumerate(dead)}
    values["dead/all"] = torch.cat(dead, 1).float().mean(1)
    return values


@probe(
    "affine",
    Tags(
        (
            "affine/{hidden}/gamma_mean",
            "affine/{hidden}/gamma_dev",
            "affine/{hidden}/beta_mean",
            "affine/{hidden}/beta_abs",
        ),
        "for BN layers with a learned γ (β): mean γ, mean \\|γ − 1\\| (how far "
        "the scales moved from their initial 1), mean β and mean \\|β\\| over the layer's units",
    ),
)
def _affine(inp: ProbeInput) -> dict:
    """Each hidden layer's BN gamma and beta (where learned): mean gamma, mean |gamma - 1| (how
    far the scales moved from their initial 1), mean beta and mean |beta| over the units."""
    value = inp.layout.per_run(inp.params)
    values = {}
    for i, (gamma, beta) in enumerate(inp.affine):
        tag = f"affine/{layer_tag(i + 1)}"
        if gamma is not None:
            values.update(
                {
                    f"{tag}/gamma_mean": value[gamma.name].mean(1),
                    f"{tag}/gamma_dev": (value[gamma.name] - 1).abs().mean(1),
                }
            )
        if beta is not None:
            values.update(
                {f"{tag}/beta_mean": value[beta.name].mean(1), f"{tag}/beta_abs": value[beta.name].abs().mean(1)}
            )
    return values


def perturb_first_layer(params: torch.Tensor, grad: torch.Tensor, layout: Layout, slot: Slot) -> torch.Tensor:
    """A copy of the flat parameters with the first layer's weights W moved along -grad (the way
    training moves them) by PERTURBATION * ||W||, per run; every other parameter as it is."""
    moved = params.detach().clone()
    w, g = layout.per_run(moved)[slot.name], layout.per_run(grad)[slot.name]
    scale = PERTURBATION * w.flatten(1).norm(dim=1) / g.flatten(1).norm(dim=1).clamp(min=1e-30)
    w.sub_(scale.view(-1, *[1] * (w.dim() - 1)) * g)
    return moved


@probe(
    "amplify",
    Tags(
        ("amplify/{hidden}", "amplify/last_over_first"),
        "how a small change of the first layer's weights grows "
        "through depth. On the held-out batch (as for `dead`), each hidden layer's outputs a with the run's "
        "parameters and a′ with the first layer's weights W moved along −∇W by 10⁻³·‖W‖ (`probes.PERTURBATION`), "
        "evaluated at a copy (the run is untouched): ‖a′ − a‖ / ‖a‖ ÷ 10⁻³, 1 where the change passes on "
        "unamplified; `last_over_first`: the last hidden layer's over the first's",
    ),
    needs=("perturbed",),
)
def _amplify(inp: ProbeInput) -> dict:
    """How a small change of the first layer's weights grows through depth (seed 000, line 7):
    per hidden layer, the relative change of its outputs on the held-out batch, ||a' - a|| / ||a||,
    over the relative change of W1 (PERTURBATION): 1 where the change passes unamplified."""
    if inp.perturbed_a is None:
        return {}
    change = [
        (moved - a).flatten(1).norm(dim=1) / a.flatten(1).norm(dim=1).clamp(min=1e-30) / PERTURBATION
        for a, moved in zip(*inp.perturbed_a)
    ]
    values = {f"amplify/{layer_tag(i + 1)}": c for i, c in enumerate(change)}
    if len(change) >= 2:
        values["amplify/last_over_first"] = change[-1] / change[0].clamp(min=1e-30)
    return values


GAUSS_SAMPLE = 4096  # values per layer and run for the KS distance: a fixed, evenly strided subset


def gaussianity(z: torch.Tensor) -> dict:
    """How far one hidden layer's nonlinearity inputs z [K, B, U, *rest], pooled over units,
    examples and positions (as Santurkar et al.'s Fig. 14 samples a layer's activations), are
    from a Gaussian -> {name: [K]}: the excess kurtosis (0 for a Gaussian) and the
    Kolmogorov-Smirnov distance between the standardized values and N(0, 1) (on GAUSS_SAMPLE of
    them, evenly strided; 0 for a perfect Gaussian sample, up to 1)."""
    every = z.detach().float().reshape(z.shape[0], -1)
    centered = every - every.mean(1, keepdim=True)
    var = centered.pow(2).mean(1).clamp_min(1e-30)
    kurtosis = centered.pow(4).mean(1) / var.pow(2) - 3
    n = every.shape[1]
    picked = centered[:, torch.linspace(0, n - 1, min(n, GAUSS_SAMPLE), device=z.device).long()]
    standardized = (picked / var.sqrt().unsqueeze(1)).sort(dim=1).values
    cdf = 0.5 * (1 + torch.erf(standardized / math.sqrt(2)))
    m = standardized.shape[1]
    rank = torch.arange(1, m + 1, device=z.device, dtype=cdf.dtype) / m
    ks = torch.maximum(rank - cdf, cdf - (rank - 1 / m)).amax(1)
    return {"kurtosis": kurtosis, "ks": ks}


@probe(
    "gauss",
    Tags(
        ("gauss/{hidden}/kurtosis",),
        "excess kurtosis of all of layer NN's nonlinearity inputs pooled (units, "
        "examples, positions) on the probe step's mini-batch: 0 for a Gaussian",
    ),
    Tags(
        ("gauss/{hidden}/ks",),
        "Kolmogorov-Smirnov distance between the same values, standardized, and "
        "N(0, 1) (4,096 of them, evenly strided): 0 Gaussian, up to 1 (Santurkar et al.'s Fig. 14 question: "
        "are a layer's activations Gaussian-like?)",
    ),
    Tags(("gauss/ks_mean",), "mean of `gauss/layer_NN/ks` over the hidden layers"),
)
def _gauss(inp: ProbeInput) -> dict:
    per_layer = [gaussianity(z) for z in inp.z]
    values = _per_layer("gauss", per_layer)
    values["gauss/ks_mean"] = torch.stack([layer["ks"] for layer in per_layer]).mean(0)
    return values


from . import lstm_probes  # noqa: E402,F401  (registers the LSTM's probe, `lstm`)
