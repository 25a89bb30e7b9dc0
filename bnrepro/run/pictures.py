"""Per-run pictures for TensorBoard's Images tab, drawn from values the host already has.

- gradient profile: x = layer, y = gradient norm of its weights (log scale), one line
  per probe step (up to 8, evenly spaced, first and last included): "the first layers'
  gradients vanish without BN" in one look;
- activation profile: x = layer, the 15th/50th/85th percentiles of all units' inputs to
  the nonlinearity, at up to 4 steps.

Drawn from the writer's history at the end of the run (and when it is interrupted):
no device work, no extra sync. Matplotlib loads only here.
"""

from __future__ import annotations

import re

import numpy as np

MAX_LINES = 8
MAX_BANDS = 4


def _pick(steps: list[int], n: int) -> list[int]:
    if len(steps) <= n:
        return steps
    return [steps[i] for i in sorted({round(j * (len(steps) - 1) / (n - 1)) for j in range(n)})]


def _layer_values(history: list[tuple[int, dict]], pattern: str) -> tuple[list[int], dict[int, np.ndarray]]:
    """Steps and, per step, the values of the tags matching pattern (a layer number group) in layer order."""
    regex = re.compile(pattern)
    by_step: dict[int, dict[int, float]] = {}
    for step, values in history:
        for tag, value in values.items():
            found = regex.fullmatch(tag)
            if found:
                by_step.setdefault(step, {})[int(found.group(1))] = value
    layers = sorted({layer for row in by_step.values() for layer in row})
    return layers, {step: np.array([row.get(layer, np.nan) for layer in layers]) for step, row in by_step.items()}


def gradient_profile(plt, history, title: str):
    """The figure, or None when nothing was logged."""
    layers, rows = _layer_values(history, r"grad_norm/layer_(\d+)")
    if not rows:
        return None
    steps = _pick(sorted(rows), MAX_LINES)
    fig, ax = plt.subplots(figsize=(6, 4))
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(steps)))
    for step, color in zip(steps, colors):
        values = np.where(rows[step] > 0, rows[step], np.nan)
        ax.plot(layers, values, marker="o", color=color, label=f"step {step}")
    ax.set(
        yscale="log",
        xlabel=f"layer (1 = first hidden, {layers[-1]} = output)",
        ylabel="gradient norm of the layer's weights",
        title=title,
    )
    ax.set_xticks(layers)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def activation_profile(plt, history, title: str):
    layers, p50 = _layer_values(history, r"act/layer_(\d+)/p50")
    if not p50:
        return None
    _, p15 = _layer_values(history, r"act/layer_(\d+)/p15")
    _, p85 = _layer_values(history, r"act/layer_(\d+)/p85")
    steps = _pick(sorted(p50), MAX_BANDS)
    fig, ax = plt.subplots(figsize=(6, 4))
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(steps)))
    for step, color in zip(steps, colors):
        ax.plot(layers, p50[step], marker="o", color=color, label=f"step {step}")
        ax.fill_between(layers, p15[step], p85[step], color=color, alpha=0.12)
    ax.text(0.01, 0.99, "line: median; band: 15th-85th percentile", transform=ax.transAxes, fontsize=7, va="top")
    ax.set(xlabel="hidden layer", ylabel="input to the nonlinearity (all units)", title=title)
    ax.set_xticks(layers)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig
