"""`bnrepro figures DIR...`: figures from runs' scalars.csv files, one set per experiment.

- <name>_test_acc.png: test accuracy against steps, mean and range over seeds per
  configuration (paper Fig. 1a; with a paper table, Fig. 2, and the baseline's best
  dashed), for up to 12 configurations;
- <name>_unit_percentiles.png: 15th/50th/85th percentiles of one unit's input to
  its nonlinearity in the last hidden layer, over training, one panel per
  configuration, first seed (paper Fig. 1b, c);
- <name>_grad_norms.png: gradient norm of each layer's weights (median over the
  run), mean over seeds per configuration, log scale (vanishing gradients);
- <name>_by_<key>.png, when a numeric config key takes 3 or more values (batch size,
  weight scale): what the experiment's claims are about (their metrics, e.g. the
  step-1 loss and gradient norm for scale_invariance; final test accuracy when the
  claims are about it) against that key, one line per other configuration;
- <name>_test_batch_size.png, when the runs measured eval.batch_sizes: test accuracy
  with each test batch's own statistics against the test batch size, and eval mode.
- <name>_heatmap.png, when two numeric config keys take 3 or more values each (learning
  rate x init scale): mean final test accuracy in every cell, one panel per
  configuration of the other keys; cells whose runs all diverged are marked;
- <name>_layer_histograms.png, when the runs kept histograms of nonlinearity outputs
  (probe `out` with probes.hist_every): each layer's first histogram (step 0 with
  probes.initial), one row per configuration, first seed (the classic picture);
- <name>_layer_std.png, with probe `out`: the outputs' std per layer at the first probe
  step, mean over seeds, one line per configuration.
- <name>_landscape.png, <name>_ics.png, <name>_shift.png, when the runs logged Santurkar et
  al.'s measures (report/santurkar_figures.py);
- <name>_groups.png, when BN over groups of examples sits beside GroupNorm / LayerNorm: test
  accuracy against the examples per normalization group (group_size_figure.py);
- <name>_hidden_grad.png, for LSTM runs with probe `lstm`: ||dL/dh_t|| against the time
  step, per configuration (Cooijmans et al. 2016, Fig. 1; lstm_figures.py);
- <name>_claimed_tags.png, when claims name logged tags (dead units, BN's gamma, the
  variance shift, the train-test gap, ...): each over training, per arm (claim_figures.py).
The per-configuration figures are drawn for sweeps of at most 6 configurations.
Every configuration has its own line style and marker, so coinciding curves stay
visible (and are annotated); every band says what it spans; short runs show points.
Figures count the runs tables count (summaries.select_runs, completed runs only: a
diverged or unfinished run is named in the caption, never averaged in; the heatmap
alone marks diverged cells), and every label says n. The PNGs carry no date or
software version: the same runs give the same bytes.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from ..config import arms
from ..config.metric import Metric
from ..config.status import COMPLETED, DIVERGED
from . import paper_table, plotting
from .claim_figures import claimed_tags_figure, claims_of
from .format import key_values
from .group_size_figure import group_size_figure
from .lstm_figures import lstm_figures
from .plotting import STYLES, configurations, style
from .santurkar_figures import santurkar_figures
from .summaries import config_keys, select_runs
from .words import header

MAX_PANELS = 6
MAX_CURVES = 12  # the test-accuracy figure holds more configurations than a row of panels


def _note_coinciding(ax, curves: dict) -> None:
    """Say so on the figure when two configurations' curves lie on top of each other."""
    labels = list(curves)
    notes = []
    for i, a in enumerate(labels):
        for b in labels[i + 1 :]:
            x, y = curves[a], curves[b]
            if len(x) == len(y) and len(x) and (abs(x - y) <= 1e-3 * abs(y).clip(lower=1e-12)).all():
                notes.append(f"{a} and {b} coincide")
    if notes:
        ax.text(
            0.02,
            0.02,
            "\n".join(notes),
            transform=ax.transAxes,
            fontsize=7,
            va="bottom",
            bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "grey"},
        )


def _counts(runs: pd.DataFrame) -> str:
    """'10 completed runs' or '9 completed runs (1 diverged, left out)'."""
    done = int((runs["status"] == COMPLETED).sum())
    others = runs.loc[runs["status"] != COMPLETED, "status"].value_counts().sort_index()
    left = ", ".join(f"{count} {status}" for status, count in others.items())
    return f"{done} completed runs" + (f" ({left}, left out)" if left else "")


def figures(paths: list[Path], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = select_runs(paths).runs
    written = []
    out.mkdir(parents=True, exist_ok=True)
    for name, everything in runs.groupby("name"):
        # The runs tables count: completed ones; the rest are named in the caption.
        experiment = everything[everything["status"] == COMPLETED]
        if experiment.empty:
            continue
        configs = configurations(experiment)
        subtitle = f"{name}: {_counts(everything)}, {', '.join(sorted(set(experiment['device_name'])))}"
        if len(configs) <= MAX_CURVES:
            paper = paper_table.spec(experiment)
            goal = paper_table.target(experiment, paper) if paper else None
            written.append(_accuracy_curves(plt, configs, subtitle, out / f"{name}_test_acc.png", goal))
        if len(configs) <= MAX_PANELS:
            written += [
                _unit_percentiles(plt, experiment, configs, subtitle, out / f"{name}_unit_percentiles.png"),
                _grad_norms(plt, configs, subtitle, out / f"{name}_grad_norms.png"),
            ]
            written += _layer_histograms(plt, configs, subtitle, out / f"{name}_layer_histograms.png")
            written += _layer_std(plt, configs, subtitle, out / f"{name}_layer_std.png")
        written += _by_numeric_key(plt, experiment, subtitle, out, name)
        written += _heatmaps(plt, everything, subtitle, out / f"{name}_heatmap.png")  # marks diverged cells
        written += _test_batch_sizes(plt, configs, subtitle, out / f"{name}_test_batch_size.png")
        written += santurkar_figures(plt, experiment, subtitle, out, name)  # when the runs measured them
        written += claimed_tags_figure(plt, experiment, subtitle, out / f"{name}_claimed_tags.png")
        written += group_size_figure(plt, experiment, subtitle, out / f"{name}_groups.png")
        written += lstm_figures(plt, experiment, subtitle, out, name)  # the LSTM's gradient through time
    return written


def _accuracy_curves(plt, configs, subtitle: str, path: Path, goal: float | None = None) -> Path:
    fig, ax = plt.subplots(figsize=(7, 4.5) if len(configs) > MAX_PANELS else (6.5, 4.2))
    if goal is not None and goal == goal:  # a paper table's target: the baseline's best
        ax.axhline(goal, color="gray", linestyle="--", linewidth=1, label=f"baseline's best ({goal:.4f})")
    means = {}
    for i, (label, group) in enumerate(configs):
        curves = [s.set_index("step")["test/acc"].dropna() for s in plotting.scalars(group) if "test/acc" in s]
        if not curves:
            continue
        frame = pd.concat(curves, axis=1)
        n = frame.shape[1]
        (line,) = ax.plot(frame.index, frame.mean(axis=1), label=f"{label}: mean of {n} seeds", **style(i, len(frame)))
        if n > 1:
            ax.fill_between(
                frame.index,
                frame.min(axis=1),
                frame.max(axis=1),
                alpha=0.2,
                color=line.get_color(),
                label=f"{label}: min–max over {n} seeds",
            )
        means[label] = frame.mean(axis=1).values
    _note_coinciding(ax, {k: pd.Series(v) for k, v in means.items()})
    ax.set(
        xlabel="training step",
        ylabel="test accuracy (whole test set, eval mode)",
        title=f"Test accuracy during training (paper Fig. 1a)\n{subtitle}",
    )
    ax.legend(fontsize=8)
    return plotting.save(fig, path)


def _unit_percentiles(plt, experiment, configs, subtitle: str, path: Path) -> Path:
    depth = int(experiment["config.model.depth"].iloc[0])
    tag = f"act/layer_{depth:02d}/unit_p"
    fig, axes = plt.subplots(1, len(configs), figsize=(4 * len(configs), 3.8), sharey=True, squeeze=False)
    for ax, (label, group) in zip(axes[0], configs):
        first = plotting.scalars(group.head(1))[0].set_index("step")
        if all(f"{tag}{q}" in first for q in ("15", "50", "85")):
            curve = first[f"{tag}50"].dropna()
            ax.plot(curve.index, curve, label="median (p50)", **style(0, len(curve)))
            ax.fill_between(first.index, first[f"{tag}15"], first[f"{tag}85"], alpha=0.25, label="15th–85th percentile")
        ax.set(
            title=f"{label}\n(seed {group['config.seed'].iloc[0]}, one of {len(group)} runs)", xlabel="training step"
        )
        ax.legend(fontsize=8)
    axes[0][0].set_ylabel(
        f"input to unit {int(experiment['config.probes.unit'].iloc[0])}'s nonlinearity, layer {depth}"
    )
    fig.suptitle(f"One unit's input distribution over training (paper Fig. 1b,c)\n{subtitle}", fontsize=10)
    return plotting.save(fig, path)


def _grad_norms(plt, configs, subtitle: str, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    layers = []
    for i, (label, group) in enumerate(configs):
        medians = group.filter(regex=r"^median:grad_norm/layer_\d+$")
        layers = [int(c.rsplit("_", 1)[1]) for c in medians.columns]
        n = len(group)
        (line,) = ax.plot(
            layers, medians.mean(axis=0).values, label=f"{label}: mean of {n} seeds", **style(i, len(layers))
        )
        if n > 1:
            ax.fill_between(
                layers,
                medians.min(axis=0).values,
                medians.max(axis=0).values,
                alpha=0.2,
                color=line.get_color(),
                label=f"{label}: min–max over {n} seeds",
            )
    if layers:
        ax.set_xticks(layers)
    ax.set(
        yscale="log",
        xlabel=f"layer (1 = first hidden, {max(layers, default=1)} = output)",
        ylabel="gradient norm of the layer's weights\n(median over the run)",
        title=f"Gradient norm by layer (log scale)\n{subtitle}",
    )
    ax.legend(fontsize=8)
    return plotting.save(fig, path)


def _claim_metrics(experiment) -> list[str]:
    """What the experiment's claims are about, in order; final test accuracy if nothing else."""
    metrics = list(dict.fromkeys(c["metric"] for c in claims_of(experiment)))
    return metrics or ["test_acc_final"]


def _by_numeric_key(plt, experiment, subtitle: str, out: Path, name: str) -> list[Path]:
    keys = config_keys(experiment)
    written = []
    for key in _numeric_keys(experiment):
        values = pd.to_numeric(experiment[key])
        others = [k for k in keys if k != key]
        short = key.removeprefix("config.")
        metrics = [m for m in _claim_metrics(experiment) if Metric.parse(m).column in experiment]
        fig, axes = plt.subplots(1, len(metrics), figsize=(6 * len(metrics), 4.2), squeeze=False)
        for ax, metric in zip(axes[0], metrics):
            column = Metric.parse(metric).column
            for i, (label, group) in enumerate(experiment.groupby(others, sort=True) if others else [((), experiment)]):
                data = group.assign(x=pd.to_numeric(group[key]), y=pd.to_numeric(group[column], errors="coerce"))
                stats = data.groupby("x")["y"].agg(["mean", "std", "count"])
                text = key_values(others, label)
                line, marker = STYLES[i % len(STYLES)]
                ax.errorbar(
                    stats.index,
                    stats["mean"],
                    yerr=stats["std"].fillna(0),
                    marker=marker,
                    linestyle=line,
                    capsize=3,
                    label=f"{text or 'all runs'} (n={int(stats['count'].min())} per point)",
                )
            if metric.startswith("grad_norm/") and short == "model.weight_scale":
                ax.set_yscale("log")
                _reference_inverse(ax, experiment, key, column)
            ax.set(xlabel=short, ylabel=f"{header(metric)}\n(mean ± std over seeds)", title=header(metric))
            _log_ticks(ax, sorted(values.unique()))
            ax.legend(fontsize=7)
        fig.suptitle(subtitle, fontsize=10)
        written.append(plotting.save(fig, out / f"{name}_by_{short.split('.')[-1]}.png"))
    return written


def _reference_inverse(ax, experiment, key: str, column: str) -> None:
    """The line a gradient follows if it scales as 1/a, through the runs' mean at a = 1."""
    at_one = pd.to_numeric(experiment.loc[pd.to_numeric(experiment[key]) == 1, column], errors="coerce").mean()
    if pd.notna(at_one):
        a = sorted(pd.to_numeric(experiment[key]).unique())
        ax.plot(
            a,
            [at_one / x for x in a],
            color="grey",
            linewidth=3,
            alpha=0.4,
            zorder=0,
            label="∝ 1/a (BN's scale invariance)",
        )


def _test_batch_sizes(plt, configs, subtitle: str, path: Path) -> list[Path]:
    fig, ax, drawn = None, None, False
    for label, group in configs:
        columns = sorted(
            c for c in group.columns if c.startswith("final:test_batch_stats/bs_") and group[c].notna().any()
        )
        if not columns:
            continue
        if fig is None:
            fig, ax = plt.subplots(figsize=(6, 4))
        sizes = [int(c.split("bs_")[1].split("_")[0]) for c in columns]
        (line,) = ax.plot(
            sizes, group[columns].mean(axis=0).values, marker="o", label=f"{label}: test batch's own statistics"
        )
        ax.axhline(
            group["test_acc_final"].mean(),
            linestyle="--",
            color=line.get_color(),
            label=f"{label}: eval mode (any batch size)",
        )
        drawn = True
    if not drawn:
        return []
    ax.set(xlabel="test batch size", ylabel="test accuracy (mean over seeds)", title=subtitle)
    _log_ticks(ax, sizes)
    ax.legend(fontsize=8)
    return [plotting.save(fig, path)]


def _numeric_keys(experiment) -> list[str]:
    """Config keys with 3 or more numeric values (seed aside). Keys that vary together, one
    value of one always with the same value of the other (batch_gap's batch size, steps and
    learning rate), are one axis: the one the claims name is kept, else the first."""
    named = {key for claim in claims_of(experiment) for cond in arms.arms(claim) for key in cond}
    candidates = [
        key
        for key in config_keys(experiment)
        if key != "config.seed"
        and not pd.to_numeric(experiment[key], errors="coerce").isna().any()
        and experiment[key].nunique() >= 3
    ]
    keys: list[str] = []
    for key in sorted(candidates, key=lambda k: k.removeprefix("config.") not in named):
        if not any(_one_to_one(experiment[key], experiment[kept]) for kept in keys):
            keys.append(key)
    return keys


def _one_to_one(a: pd.Series, b: pd.Series) -> bool:
    pairs = pd.DataFrame({"a": a.astype(str), "b": b.astype(str)}).drop_duplicates()
    return pairs["a"].is_unique and pairs["b"].is_unique


def _heatmaps(plt, experiment, subtitle: str, path: Path) -> list[Path]:
    numeric = _numeric_keys(experiment)
    if len(numeric) != 2:
        return []
    x_key, y_key = numeric
    others = [k for k in config_keys(experiment) if k not in numeric]
    panels = list(experiment.groupby(others, sort=True)) if others else [((), experiment)]
    xs, ys = sorted(experiment[x_key].unique()), sorted(experiment[y_key].unique())
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels) + 1.5, 3.6), squeeze=False)
    fig.subplots_adjust(left=0.06, right=0.86, bottom=0.16, top=0.82, wspace=0.3)
    for ax, (label, group) in zip(axes[0], panels):
        done = group[group["status"] == COMPLETED]
        cells = done.groupby([y_key, x_key])["test_acc_final"].mean()
        grid = [[cells.get((y, x), math.nan) for x in xs] for y in ys]
        image = ax.imshow(grid, vmin=0, vmax=1, cmap="viridis", origin="lower", aspect="auto")
        for i, y in enumerate(ys):
            for j, x in enumerate(xs):
                cell = group[(group[y_key] == y) & (group[x_key] == x)]
                value, diverged = grid[i][j], int((cell["status"] == DIVERGED).sum())
                text = "div" if not math.isfinite(value) else f"{value:.2f}" + ("*" if diverged else "")
                ax.text(
                    j,
                    i,
                    text,
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if math.isfinite(value) and value < 0.6 else "black",
                )
        ax.set_xticks(range(len(xs)), [f"{v:g}" for v in xs], fontsize=7)
        ax.set_yticks(range(len(ys)), [f"{v:g}" for v in ys], fontsize=7)
        ax.set(
            xlabel=x_key.removeprefix("config."), ylabel=y_key.removeprefix("config."), title=key_values(others, label)
        )
        ax.title.set_fontsize(8)
    fig.colorbar(image, ax=axes[0].tolist(), label="final test accuracy (mean over seeds)")
    fig.suptitle(f"{subtitle}; div: every seed diverged, *: some did", fontsize=8)
    return [plotting.save(fig, path, tight=False)]


def _layer_histograms(plt, configs, subtitle: str, path: Path) -> list[Path]:
    first = {
        label: json.loads((Path(group["path"].iloc[0]) / "summary.json").read_text()).get("histograms", {})
        for label, group in configs
    }
    if not any(tag.startswith("out_hist/") for hists in first.values() for tag in hists):
        return []
    layers = max(len([t for t in hists if t.startswith("out_hist/")]) for hists in first.values())
    fig, axes = plt.subplots(
        len(configs), layers, figsize=(1.6 * layers, 1.5 * len(configs) + 0.6), squeeze=False, sharey="row"
    )
    for row, (label, _) in enumerate(configs):
        for col in range(layers):
            ax, hist = axes[row][col], first[label].get(f"out_hist/layer_{col + 1:02d}", {}).get("first")
            if hist:
                edges = hist["edges"]
                ax.stairs(hist["counts"], edges, fill=True)
                ax.set_xlim(min(edges[0], -1), max(edges[-1], 1))
                if edges[-1] - edges[0] < 0.02:  # narrower than a pixel: mark where it is
                    ax.axvline((edges[0] + edges[-1]) / 2, linewidth=1.5)
            ax.tick_params(labelsize=5)
            ax.set_yticks([])
            if row == 0:
                ax.set_title(f"layer {col + 1}", fontsize=7)
        axes[row][0].set_ylabel(label, fontsize=6)
    fig.suptitle(f"{subtitle}: nonlinearity outputs a = g(z), first probe step, first seed", fontsize=8)
    return [plotting.save(fig, path)]


def _layer_std(plt, configs, subtitle: str, path: Path) -> list[Path]:
    fig, ax, drawn = None, None, False
    for label, group in configs:
        columns = sorted(c for c in group.columns if c.startswith("first:out/layer_") and c.endswith("/std"))
        if not columns:
            continue
        if fig is None:
            fig, ax = plt.subplots(figsize=(6, 4))
        layers = [int(c.split("layer_")[1].split("/")[0]) for c in columns]
        ax.plot(layers, group[columns].mean(axis=0).values, marker="o", label=f"{label} (n={len(group)})")
        drawn = True
    if not drawn:
        return []
    ax.set(yscale="log", xlabel="hidden layer", ylabel="std of outputs a = g(z), first probe step", title=subtitle)
    ax.legend(fontsize=7)
    return [plotting.save(fig, path)]


def _log_ticks(ax, values) -> None:
    """A log axis labelled with the values themselves (2, 4, 8, ...), not powers of ten."""
    from matplotlib.ticker import FixedFormatter, FixedLocator, NullLocator

    ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator(values))
    ax.xaxis.set_major_formatter(FixedFormatter([f"{v:g}" for v in values]))
    ax.xaxis.set_minor_locator(NullLocator())
