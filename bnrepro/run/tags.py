"""Names of everything bnrepro logs, and the TensorBoard custom-scalars layout.

Every tag is namespaced (train/, test/, optim/, grad_norm/, act/, act_hist/,
summary/) and explained in README.md's glossary; tests check that they match.
"""
from __future__ import annotations

import numpy as np

from ..stacked.model import layer_tag

# The hparams plugin's metrics: logged scalars it shows beside each run's hyper-parameters.
HPARAM_METRICS = ("test/acc", "test/loss", "train/loss", "summary/test_acc_best")


def train_scalars(metrics: np.ndarray, lr: np.ndarray, names: tuple, probed: np.ndarray, k: int) -> dict:
    """Scalars of run k from one probe step: metrics [3, K], lr [K], and the probes'
    values probed [len(names), K], row i being tag names[i] (the probes name their tags)."""
    values = {"train/loss": metrics[0, k], "train/acc": metrics[1, k], "optim/lr": lr[k]}
    values.update(zip(names, probed[:, k]))
    return {tag: float(v) for tag, v in values.items()}


def hist_tag(kind: str, hidden_index: int) -> str:
    """kind "z": nonlinearity inputs (act_hist/); "a": its outputs (out_hist/)."""
    return f"{'act' if kind == 'z' else 'out'}_hist/{layer_tag(hidden_index + 1)}"


def custom_scalars_layout(depth: int) -> dict:
    """Charts that group layers: TensorBoard's Custom Scalars tab."""
    last = layer_tag(depth)
    percentile_charts = {
        f"{layer_tag(i)}: unit percentiles (Fig. 1b,c)":
            ["Margin", [f"act/{layer_tag(i)}/unit_p50", f"act/{layer_tag(i)}/unit_p15", f"act/{layer_tag(i)}/unit_p85"]]
        for i in range(1, depth + 1)
    }
    return {
        "accuracy and loss": {
            "accuracy": ["Multiline", ["train/acc", "test/acc"]],
            "loss": ["Multiline", ["train/loss", "test/loss"]],
        },
        "gradients": {
            "gradient norm of every layer's weights": ["Multiline", [r"grad_norm/layer_\d+"]],
            "first / last hidden layer gradient norm": ["Multiline", ["grad_norm/first_over_last_hidden"]],
        },
        "nonlinearity inputs": {
            f"{last}: one unit's percentiles (paper Fig. 1b,c)":
                ["Margin", [f"act/{last}/unit_p50", f"act/{last}/unit_p15", f"act/{last}/unit_p85"]],
            "saturated fraction, every layer": ["Multiline", [r"act/layer_\d+/saturated"]],
            "mean, every layer": ["Multiline", [r"act/layer_\d+/mean"]],
            "std, every layer": ["Multiline", [r"act/layer_\d+/std"]],
        },
        "nonlinearity inputs per layer": percentile_charts,
    }
