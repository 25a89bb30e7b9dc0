"""Figures of Santurkar et al.'s measures (run/measures.py and the `shift` probe), in the
style of their paper, drawn by `bnrepro figures` when the runs logged them:

- <name>_landscape.png (their Fig. 4): over training, the band between the smallest and
  largest loss along the gradient (step sizes c * lr), the band of ||g - g'|| (gradient
  predictiveness) and the effective beta-smoothness; one column per configuration of the
  other keys (network, learning rate), one band per BN setting, mean over seeds of each edge;
- <name>_ics.png (their Fig. 3): ||G - G'|| / ||G|| and cos(G, G') of each measured layer
  over training, same layout;
- <name>_shift.png (their Fig. 2's question, as numbers): training accuracy and how far
  the nonlinearity inputs moved between probe steps, one line per configuration.
Every line is a mean over seeds (n in the legend) of completed runs only.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from . import plotting
from .format import key_values
from .plotting import configurations, curves, style
from .summaries import config_keys

SPLIT_KEYS = ("config.model.bn", "config.model.norm.kind")  # what the bands compare, in this order
DRAWN = ("landscape/", "ics/", "shift/")  # the tags these figures draw


def santurkar_figures(plt, experiment: pd.DataFrame, subtitle: str, out: Path, name: str) -> list[Path]:
    frames = {path: frame.set_index("step") for path, frame in zip(experiment["path"], plotting.scalars(experiment))}
    columns = {c for frame in frames.values() for c in frame.columns}
    written = []
    if "landscape/loss_min" in columns:
        rows = [
            (
                "loss along the gradient\n(band: min–max over step sizes)",
                "landscape/loss_min",
                "landscape/loss_max",
                False,
            ),
            (
                "‖g − g′‖ along the gradient\n(band: min–max; max = gradient predictiveness)",
                "landscape/grad_change_min",
                "landscape/grad_change_max",
                True,
            ),
            ("effective β-smoothness\nmax ‖g − g′‖ / ‖c·lr·g‖", "landscape/beta_smoothness", None, True),
        ]
        written.append(
            _grid(
                plt,
                experiment,
                frames,
                rows,
                subtitle,
                out / f"{name}_landscape.png",
                "Loss landscape along the gradient (Santurkar et al. 2018, Fig. 4)",
            )
        )
    ics_layers = sorted({m.group(1) for c in columns if (m := re.match(r"ics/(layer_\d\d)/rel$", c))})
    if ics_layers:
        rows = []
        for layer in ics_layers:
            number = int(layer.split("_")[1])
            rows += [
                (f"layer {number}: ‖G − G′‖ / ‖G‖", f"ics/{layer}/rel", None, True),
                (f"layer {number}: cos(G, G′)", f"ics/{layer}/cos", None, False),
            ]
        written.append(
            _grid(
                plt,
                experiment,
                frames,
                rows,
                subtitle,
                out / f"{name}_ics.png",
                "Internal covariate shift as Santurkar et al. define it (their Fig. 3)",
            )
        )
    shift_layers = sorted({m.group(1) for c in columns if (m := re.match(r"shift/(layer_\d\d)/mean$", c))})
    if shift_layers:
        written.append(_shift(plt, experiment, frames, shift_layers, subtitle, out / f"{name}_shift.png"))
    return written


def _split(experiment: pd.DataFrame) -> tuple[str | None, list[str]]:
    """The key the lines compare (BN placement, else the norm layer) and the panels' keys."""
    keys = config_keys(experiment)
    split = next((k for k in SPLIT_KEYS if k in keys), None)
    return split, [k for k in keys if k != split]


def _grid(plt, experiment, frames, rows, subtitle: str, path: Path, title: str) -> Path:
    split, panel_keys = _split(experiment)
    panels = list(experiment.groupby(panel_keys, sort=True)) if panel_keys else [((), experiment)]
    order = sorted(experiment[split].astype(str).unique()) if split else ["all runs"]  # one style per value
    fig, axes = plt.subplots(len(rows), len(panels), figsize=(4.2 * len(panels), 2.9 * len(rows)), squeeze=False)
    for col, (panel, runs) in enumerate(panels):
        lines = list(runs.groupby(split, sort=True)) if split else [("all runs", runs)]
        for row, (ylabel, low_tag, high_tag, log) in enumerate(rows):
            ax = axes[row][col]
            for value, group in lines:
                i = order.index(str(value))
                low = curves(frames, group, low_tag)
                if low.empty:
                    continue
                label = f"{key_values([split], value) if split else value} (n={low.shape[1]})"
                (line,) = ax.plot(low.index, low.mean(axis=1), label=label, color=f"C{i}", **style(i, len(low)))
                if high_tag is not None:
                    high = curves(frames, group, high_tag)
                    ax.plot(high.index, high.mean(axis=1), color=line.get_color(), linestyle=line.get_linestyle())
                    ax.fill_between(low.index, low.mean(axis=1), high.mean(axis=1), color=line.get_color(), alpha=0.25)
            if log:
                ax.set_yscale("log")
            if row == 0:
                ax.set_title(key_values(panel_keys, panel) or "all runs", fontsize=9)
            if row == len(rows) - 1:
                ax.set_xlabel("training step")
            if col == 0:
                ax.set_ylabel(ylabel, fontsize=8)
            ax.legend(fontsize=7)
    fig.suptitle(f"{title}; mean over seeds\n{subtitle}", fontsize=10)
    return plotting.save(fig, path)


def _shift(plt, experiment, frames, layers: list[str], subtitle: str, path: Path) -> Path:
    picked = list(dict.fromkeys([layers[0], layers[len(layers) // 2], layers[-1]]))
    tags = [("train/acc", "training accuracy (mini-batches)", False)] + [
        (
            f"shift/{layer}/mean",
            f"layer {int(layer.split('_')[1])}: input mean shift\nsince the previous probe step (in stds)",
            True,
        )
        for layer in picked
    ]
    fig, axes = plt.subplots(1, len(tags), figsize=(4.2 * len(tags), 3.6), squeeze=False)
    for ax, (tag, ylabel, log) in zip(axes[0], tags):
        for i, (label, group) in enumerate(configurations(experiment)):
            runs = curves(frames, group, tag)
            if not runs.empty:
                ax.plot(
                    runs.index,
                    runs.mean(axis=1),
                    label=f"{label} (n={runs.shape[1]})",
                    color=f"C{i}",
                    **style(i, len(runs)),
                )
        if log:
            ax.set_yscale("log")
        ax.set(xlabel="training step", ylabel=ylabel)
        ax.legend(fontsize=7)
    fig.suptitle(
        f"Training accuracy and activation shift (Santurkar et al. 2018, noisy BN); mean over seeds\n{subtitle}",
        fontsize=10,
    )
    return plotting.save(fig, path)
