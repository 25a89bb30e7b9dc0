"""Names of everything bnrepro logs, and the TensorBoard custom-scalars layout.

Every tag is namespaced (train/, test/, optim/, grad_norm/, grad_norm_log10/, act/,
act_hist/, pictures/, summary/, and the optional probes' own) and explained in README.md's
glossary; tests check that they match.
"""
from __future__ import annotations

import math

import numpy as np

from ..stacked.model import layer_tag

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
    gradients = {"first / last hidden layer gradient norm, log10 (below -2: vanishing)":
                 _chart("grad_norm_log10/first_over_last_hidden")} if depth >= 2 else {}
    for tag in [*layers, output]:
        where = "output layer" if tag == output else tag.replace("_", " ")
        gradients[f"{where}: log10 gradient norm"] = _chart(f"grad_norm_log10/{tag}")
    percentiles = {
        f"{tag.replace('_', ' ')}: one unit's input, 15/50/85th percentiles (paper Fig. 1b,c)":
            ["Margin", [f"act/{tag}/unit_p50", f"act/{tag}/unit_p15", f"act/{tag}/unit_p85"]]
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
            f"{tag.replace('_', ' ')}: saturated fraction": _chart(f"act/{tag}/saturated") for tag in layers},
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
        charts.update({"loss range along the gradient (max - min over step sizes)": _chart("landscape/loss_range"),
                       "loss rise along the gradient (over its lowest at a smaller step)": _chart("landscape/loss_rise"),
                       "gradient predictiveness: max ||g - g'|| along the gradient":
                           _chart("landscape/grad_change_max"),
                       "effective beta-smoothness": _chart("landscape/beta_smoothness")})
    if probes.get("ics_every"):
        for number in probes.get("ics_layers", []):
            tag = layer_tag(number)
            charts[f"ICS, {tag.replace('_', ' ')}: ||G - G'|| / ||G||"] = _chart(f"ics/{tag}/rel")
            charts[f"ICS, {tag.replace('_', ' ')}: cos(G, G')"] = _chart(f"ics/{tag}/cos")
    if "shift" in probes.get("which", []):
        charts.update({f"{tag.replace('_', ' ')}: input mean shift since the previous probe step":
                       _chart(f"shift/{tag}/mean") for tag in layers})
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
