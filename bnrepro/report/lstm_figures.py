"""<name>_hidden_grad.png: the LSTM's gradient through time (probe `lstm`, model.arch=lstm).

Cooijmans et al. 2016's Figure 1 in our runs: ||dL/dh_t|| against the time step t, one line
per configuration (mean over seeds, band from the lowest to the highest seed, log scale), at
the first probe step (step 0 with probes.initial: the initial network) and at the last; and
the fraction of saturated gate inputs per time step at the last probe step. Layer 1 (the
only one in lstm_bn); read from the summaries' first and final values.
"""

from __future__ import annotations

import re
from pathlib import Path

from . import plotting
from .plotting import configurations, style

PANELS = (
    ("first", "hidden_grad", "||dL/dh_t||, first probe step", True),
    ("final", "hidden_grad", "||dL/dh_t||, last probe step", True),
    ("final", "gates_saturated", "saturated fraction of gate inputs, last probe step", False),
)


def _steps(experiment, when: str, name: str) -> list[tuple[int, str]]:
    """(time step, column) of layer 1's per-step tag `name`, in step order."""
    pattern = re.compile(rf"^{when}:lstm/layer_01/step_(\d+)/{name}$")
    found = [(int(m.group(1)), c) for c in experiment.columns if (m := pattern.match(c))]
    return sorted(found)


def lstm_figures(plt, experiment, subtitle: str, out: Path, name: str) -> list[Path]:
    steps = _steps(experiment, "final", "hidden_grad")
    if not steps or not experiment[[c for _, c in steps]].notna().any().any():
        return []  # no LSTM runs here (a table read with other experiments has their columns, empty)
    fig, axes = plt.subplots(1, len(PANELS), figsize=(5.2 * len(PANELS), 4.2), squeeze=False)
    for ax, (when, tag, title, log) in zip(axes[0], PANELS):
        positive = False  # a log axis needs a value above 0 (a 20-step run's gradients can all be 0)
        for i, (label, group) in enumerate(configurations(experiment)):
            steps = _steps(group, when, tag)
            if not steps:
                continue
            values = group[[c for _, c in steps]].astype(float)
            x = [t for t, _ in steps]
            positive = positive or bool((values.to_numpy() > 0).any())
            (line,) = ax.plot(x, values.mean(axis=0).values, label=f"{label} (n={len(group)})", **style(i, len(x)))
            ax.fill_between(x, values.min(axis=0).values, values.max(axis=0).values, alpha=0.15, color=line.get_color())
        ax.set(
            xlabel="time step t (row of the image)",
            ylabel=f"{title.split(',')[0]}\n(mean over seeds; band: lowest to highest)",
            title=title,
        )
        if log and positive:
            ax.set_yscale("log")
        ax.legend(fontsize=7)
    fig.suptitle(f"Gradient through time (Cooijmans et al. 2016, Fig. 1), layer 1\n{subtitle}", fontsize=10)
    return [plotting.save(fig, out / f"{name}_hidden_grad.png")]
