"""Names of everything bnrepro logs, and the TensorBoard custom-scalars layout.

Every tag is namespaced (train/, test/, optim/, grad_norm/, grad_norm_log10/, act/,
act_hist/, pictures/, summary/, and the optional probes' own) and declared once, with
its meaning, as a `Tags` row: a probe's with the probe (probes.py), the others below
(LOGGED). The checks of claims' metrics (logged_tags.py) and the glossary in
docs/tags.md (generated: scripts/gen_docs.py) come from those declarations; a test
checks that every tag a run logs is declared.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..config import Config, uses_bn
from ..stacked.model import layer_tag


@dataclass(frozen=True)
class Tags:
    """One row of the tag glossary: tags logged together, and what they mean.

    names: the tags, with placeholders: {hidden} each hidden layer (layer_01 ..
    layer_<depth>), {layer} each layer with weights (the output layer too), {ics} each of
    probes.ics_layers, {bs} each of eval.batch_sizes (4 digits), {step} each time step of
    an LSTM (step_01 .. step_T, T = config.time_steps). when: whether a run of
    a configuration logs them (for a probe's tags: beyond the probe being on); None:
    always. metric: False for what a claim or table column cannot name (histograms,
    images, the end-of-run summary scalars; claims use summary.json's values)."""

    names: tuple
    meaning: str
    when: Callable[[Config], bool] | None = None
    metric: bool = True


def has_bn(cfg: Config) -> bool:
    return uses_bn(cfg.model)


# Everything logged that no probe logs: the loop's, the evaluation's, the measures', the writers'.
LOGGED = (
    Tags(("train/loss",), "mean cross-entropy over the training mini-batches since the previous probe step"),
    Tags(("train/acc",), "mean accuracy over the same mini-batches"),
    Tags(
        ("test/loss",),
        "cross-entropy on the whole test set in eval mode, every `train.eval_every` steps and at "
        "the end; BN normalizes with `eval.stats` (default: its running averages)",
    ),
    Tags(("test/acc",), "accuracy on the whole test set, same schedule and statistics"),
    Tags(
        ("test_stats/moving_acc", "test_stats/population_acc", "test_stats/batch_acc"),
        "with `eval.compare_stats=true`: test accuracy with BN using its running averages, Algorithm 2's "
        "population statistics (`eval.population_batches` training mini-batches), or each test batch's own "
        "statistics (batches of `eval.batch_size`, default `train.batch_size`)",
        lambda cfg: has_bn(cfg) and cfg.eval.compare_stats,
    ),
    Tags(
        ("test_stats/moving_population_gap",),
        "with `eval.compare_stats=true`: mean over BN units of \\|running mean − population mean\\| / population std",
        lambda cfg: has_bn(cfg) and cfg.eval.compare_stats,
    ),
    Tags(
        ("test_batch_stats/bs_{bs}_acc",),
        "at the end, for each n in `eval.batch_sizes`: test accuracy when every "
        "group of n test examples is normalized with its own statistics",
        lambda cfg: has_bn(cfg) and bool(cfg.eval.batch_sizes),
    ),
    Tags(("optim/lr",), "learning rate of the probe step"),
    Tags(
        ("act_hist/{hidden}",),
        "histogram of the layer's nonlinearity inputs on one mini-batch, every "
        "`probes.hist_every` steps (default: about 20 per run) and at step 1 (and step 0 with `probes.initial`)",
        lambda cfg: cfg.probes.hist_every != 0,
        metric=False,
    ),
    Tags(
        ("ics/{ics}/l2", "ics/{ics}/rel", "ics/{ics}/cos"),
        "every `probes.ics_every` steps, for each layer in `probes.ics_layers`: internal covariate shift as "
        "Santurkar et al. (2018) define it. G = the gradient of layer NN's weights at the step; G′ = the same "
        "after layers 1..NN−1 took this step's update (layers NN.. unchanged, same mini-batch): ‖G − G′‖₂, "
        "‖G − G′‖ / ‖G‖, and cos(G, G′)",
        lambda cfg: cfg.probes.ics_every > 0 and bool(cfg.probes.ics_layers),
    ),
    Tags(
        ("landscape/loss_min", "landscape/loss_max", "landscape/loss_range"),
        "every `probes.landscape_every` steps: the loss on the step's mini-batch at `probes.landscape_sizes` "
        "points w − c·lr·g along the gradient g, c geometric over `probes.landscape_range` (default 8 points, "
        "½ to 4; with `probes.landscape_max_step`, a run's step sizes c·lr are scaled down together so the "
        "largest is at most that): its min, max and range (max − min; Santurkar et al.'s \"variation of the "
        'loss")',
        lambda cfg: cfg.probes.landscape_every > 0,
    ),
    Tags(
        ("landscape/loss_descent", "landscape/loss_rise"),
        "same points, in order of step size: the descent, the "
        "loss at the smallest step minus the lowest; the rise, the largest increase of the loss over its lowest "
        "value at any smaller step (0 where the loss only falls along the gradient). The range mixes the two: "
        "useful descent and roughness",
        lambda cfg: cfg.probes.landscape_every > 0,
    ),
    Tags(
        ("landscape/grad_change_min", "landscape/grad_change_max"),
        "same points: min and max of ‖g − g′‖ "
        '(g′: the gradient there). The max is the "gradient predictiveness" (smaller: more predictive)',
        lambda cfg: cfg.probes.landscape_every > 0,
    ),
    Tags(
        ("landscape/beta_smoothness",),
        'same points: max of ‖g − g′‖ / ‖c·lr·g‖, the "effective β-smoothness"',
        lambda cfg: cfg.probes.landscape_every > 0,
    ),
    Tags(
        ("train_eval/acc", "train_eval/gap"),
        "with `eval.train_gap=true`, at each evaluation: accuracy on the "
        "first training examples (as many as the test set has) in eval mode, and that minus `test/acc` (the "
        "generalization gap)",
        lambda cfg: cfg.eval.train_gap,
    ),
    Tags(
        ("bn_shift/{hidden}",),
        "with `eval.variance_shift=true`, at each evaluation: Li et al. 2019's variance "
        "shift as they measure it (their Fig. 1): max(a/b, b/a) of a, the BN layer's moving variance, and b, the "
        "variance of its input over the first training examples (as many as the test set has) in inference mode "
        "(dropout off), each the mean over the layer's units. 1: none; dropout before BN makes it exceed 1",
        lambda cfg: has_bn(cfg) and cfg.eval.variance_shift,
    ),
    Tags(
        ("pictures/grad_norm_by_layer",),
        "image, drawn at the end of the run (or when it is interrupted) from "
        "the logged `grad_norm/layer_NN`: x = layer, y = gradient norm (log scale), one line per probe step (up "
        "to 8, first and last included)",
        lambda cfg: cfg.probes.pictures,
        metric=False,
    ),
    Tags(
        ("pictures/nonlinearity_inputs_by_layer",),
        "image, same time: x = hidden layer, the median (line) and "
        "15th–85th percentiles (band) of all units' nonlinearity inputs (`act/layer_NN/p15`, `p50`, `p85`) at "
        "up to 4 probe steps",
        lambda cfg: cfg.probes.pictures,
        metric=False,
    ),
    Tags(("summary/test_acc_best", "summary/test_acc_final"), "written once, at the end of the run", metric=False),
)

# The hparams plugin's metrics: logged scalars it shows beside each run's hyper-parameters.
HPARAM_METRICS = ("test/acc", "test/loss", "train/loss", "summary/test_acc_best")
# Shown as hparams in every run, besides the keys its sweep varies: what a reader asks first.
HPARAM_KEYS = ("model.bn", "model.activation", "optim.lr", "seed")
# The pictures drawn at the end of a run (run/pictures.py), in the Images tab.
PICTURES = {"grad_norm": "pictures/grad_norm_by_layer", "act": "pictures/nonlinearity_inputs_by_layer"}
HISTOGRAMS_PER_RUN = 20  # probes.hist_every=null: about this many histograms over a run


def _log10(value: float) -> float:
    """log10, NaN for 0 or less: gradient norms span 1e-7..1 and vanish on a linear axis."""
    return math.log10(value) if value > 0 else math.nan


def train_scalars(metrics: np.ndarray, lr: np.ndarray, names: tuple, probed: np.ndarray, k: int) -> dict:
    """Scalars of run k from one probe step: metrics [3, K], lr [K], and the probes'
    values probed [len(names), K], row i being tag names[i] (the probes name their tags)."""
    values = {"train/loss": metrics[0, k], "train/acc": metrics[1, k], "optim/lr": lr[k]}
    values.update(zip(names, probed[:, k]))
    for tag in [t for t in values if t.startswith("grad_norm/")]:  # log10 beside every gradient norm
        values[tag.replace("grad_norm/", "grad_norm_log10/", 1)] = _log10(float(values[tag]))
    return {tag: float(v) for tag, v in values.items()}


def hist_tag(kind: str, hidden_index: int) -> str:
    """kind "z": nonlinearity inputs (act_hist/); "a": its outputs (out_hist/)."""
    return f"{'act' if kind == 'z' else 'out'}_hist/{layer_tag(hidden_index + 1)}"


def histogram_every(steps: int, log_every: int, hist_every: int | None) -> int:
    """Steps between histograms: hist_every as set (0: never), or when null about
    HISTOGRAMS_PER_RUN over the run, on probe steps (a multiple of log_every)."""
    if hist_every is not None:
        return hist_every
    return max(1, round(steps / HISTOGRAMS_PER_RUN / log_every)) * log_every


def _chart(tag: str) -> list:
    """A chart of exactly one tag: one line per run (Custom Scalars reads tags as regexes)."""
    return ["Multiline", [f"^{tag}$"]]


def custom_scalars_layout(depth: int, probes: dict | None = None) -> dict:
    """TensorBoard's Custom Scalars tab: one chart per quantity and layer, one line per
    run in each, so runs compare at a glance; gradients on a log10 tag, readable on
    TensorBoard's default linear axis. probes (the run's plain probes config): a category
    for Santurkar et al.'s measures the run logs."""
    layers = [layer_tag(i) for i in range(1, depth + 1)]
    output = layer_tag(depth + 1)
    gradients = (
        {
            "first / last hidden layer gradient norm, log10 (below -2: vanishing)": _chart(
                "grad_norm_log10/first_over_last_hidden"
            )
        }
        if depth >= 2
        else {}
    )
    for tag in [*layers, output]:
        where = "output layer" if tag == output else tag.replace("_", " ")
        gradients[f"{where}: log10 gradient norm"] = _chart(f"grad_norm_log10/{tag}")
    percentiles = {
        f"{tag.replace('_', ' ')}: one unit's input, 15/50/85th percentiles (paper Fig. 1b,c)": [
            "Margin",
            [f"act/{tag}/unit_p50", f"act/{tag}/unit_p15", f"act/{tag}/unit_p85"],
        ]
        for tag in layers
    }
    return {  # the first category is the one TensorBoard opens
        "gradients (log10 of the weights' gradient norm)": gradients,
        "accuracy and loss": {
            "test accuracy": _chart("test/acc"),
            "train accuracy (mini-batches)": _chart("train/acc"),
            "test loss": _chart("test/loss"),
            "train loss (mini-batches)": _chart("train/loss"),
        },
        "nonlinearity inputs: one unit (paper Fig. 1b,c)": percentiles,
        "nonlinearity inputs: saturated fraction": {
            f"{tag.replace('_', ' ')}: saturated fraction": _chart(f"act/{tag}/saturated") for tag in layers
        },
        "nonlinearity inputs: mean and std": {
            **{f"{tag.replace('_', ' ')}: mean": _chart(f"act/{tag}/mean") for tag in layers},
            **{f"{tag.replace('_', ' ')}: std": _chart(f"act/{tag}/std") for tag in layers},
        },
        **({"why BN works (Santurkar et al. 2018)": santurkar} if (santurkar := _santurkar(layers, probes)) else {}),
        **({"BN's scales and dead units": units} if (units := _units(layers, probes)) else {}),
    }


def _santurkar(layers: list[str], probes: dict | None) -> dict:
    """Charts of the measures a run's probes config switches on (none by default)."""
    probes = probes or {}
    charts = {}
    if probes.get("landscape_every"):
        charts.update(
            {
                "loss range along the gradient (max - min over step sizes)": _chart("landscape/loss_range"),
                "loss rise along the gradient (over its lowest at a smaller step)": _chart("landscape/loss_rise"),
                "gradient predictiveness: max ||g - g'|| along the gradient": _chart("landscape/grad_change_max"),
                "effective beta-smoothness": _chart("landscape/beta_smoothness"),
            }
        )
    if probes.get("ics_every"):
        for number in probes.get("ics_layers", []):
            tag = layer_tag(number)
            charts[f"ICS, {tag.replace('_', ' ')}: ||G - G'|| / ||G||"] = _chart(f"ics/{tag}/rel")
            charts[f"ICS, {tag.replace('_', ' ')}: cos(G, G')"] = _chart(f"ics/{tag}/cos")
    if "shift" in probes.get("which", []):
        charts.update(
            {
                f"{tag.replace('_', ' ')}: input mean shift since the previous probe step": _chart(f"shift/{tag}/mean")
                for tag in layers
            }
        )
    return charts


def _units(layers: list[str], probes: dict | None) -> dict:
    """Charts of the probes `dead` (ReLUs that never fire) and `affine` (BN's gamma, beta), when on."""
    which = (probes or {}).get("which", [])
    charts = {}
    if "dead" in which:
        charts["dead ReLUs, all hidden layers (never fire on the held-out batch)"] = _chart("dead/all")
        charts.update({f"{tag.replace('_', ' ')}: dead ReLUs": _chart(f"dead/{tag}") for tag in layers})
    if "affine" in which:
        charts.update({f"{tag.replace('_', ' ')}: mean BN gamma": _chart(f"affine/{tag}/gamma_mean") for tag in layers})
        charts.update({f"{tag.replace('_', ' ')}: mean BN beta": _chart(f"affine/{tag}/beta_mean") for tag in layers})
    return charts
