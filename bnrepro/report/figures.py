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
  weight scale): final test accuracy against it, one line per other configuration;
- <name>_test_batch_size.png, when the runs measured eval.batch_sizes: test accuracy
  with each test batch's own statistics against the test batch size, and eval mode.
The per-configuration figures are drawn for sweeps of at most 6 configurations.
Figures count the runs tables count (summaries.select_runs, completed runs only: a
diverged or unfinished run is named in the caption, never averaged in), and every
label says n. The PNGs carry no date or software version: the same runs give the
same bytes.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from . import paper_table
from .summaries import config_keys, select_runs

MAX_PANELS = 6
MAX_CURVES = 12  # the test-accuracy figure holds more configurations than a row of panels


def _label(row: pd.Series, keys: list[str]) -> str:
    if "config.variant" in keys:  # the experiment names its arms (fig3: BN-x5, ...)
        return str(row["config.variant"])
    return ", ".join(f"{k.removeprefix('config.').split('.')[-1]}={row[k]}" for k in keys) or "all runs"


def _configurations(runs: pd.DataFrame):
    keys = config_keys(runs)
    runs = runs.assign(label=[_label(row, keys) for _, row in runs.iterrows()])
    return [(label, group.sort_values("config.seed")) for label, group in runs.groupby("label", sort=True)]


def _counts(runs: pd.DataFrame) -> str:
    """'10 completed runs' or '9 completed runs (1 diverged, left out)'."""
    done = int((runs["status"] == "completed").sum())
    others = runs.loc[runs["status"] != "completed", "status"].value_counts().sort_index()
    left = ", ".join(f"{count} {status}" for status, count in others.items())
    return f"{done} completed runs" + (f" ({left}, left out)" if left else "")


def _scalars(group: pd.DataFrame) -> list[pd.DataFrame]:
    return [pd.read_csv(Path(path) / "scalars.csv") for path in group["path"]]


def figures(paths: list[Path], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = select_runs(paths).runs
    written = []
    out.mkdir(parents=True, exist_ok=True)
    for name, everything in runs.groupby("name"):
        experiment = everything[everything["status"] == "completed"]
        if experiment.empty:
            continue
        configs = _configurations(experiment)
        subtitle = f"{name}: {_counts(everything)}, {', '.join(sorted(set(experiment['device_name'])))}"
        if len(configs) <= MAX_CURVES:
            paper = paper_table.spec(experiment)
            goal = paper_table.target(experiment, paper) if paper else None
            written.append(_accuracy_curves(plt, configs, subtitle, out / f"{name}_test_acc.png", goal))
        if len(configs) <= MAX_PANELS:
            written += [_unit_percentiles(plt, experiment, configs, subtitle, out / f"{name}_unit_percentiles.png"),
                        _grad_norms(plt, configs, subtitle, out / f"{name}_grad_norms.png")]
        written += _by_numeric_key(plt, experiment, subtitle, out, name)
        written += _test_batch_sizes(plt, configs, subtitle, out / f"{name}_test_batch_size.png")
    return written


def _accuracy_curves(plt, configs, subtitle: str, path: Path, goal: float | None = None) -> Path:
    fig, ax = plt.subplots(figsize=(7, 4.5) if len(configs) > MAX_PANELS else (6, 4))
    if goal is not None and goal == goal:  # a paper table's target: the baseline's best
        ax.axhline(goal, color="gray", linestyle="--", linewidth=1, label=f"baseline's best ({goal:.4f})")
    for label, group in configs:
        curves = [s.set_index("step")["test/acc"].dropna() for s in _scalars(group) if "test/acc" in s]
        if not curves:
            continue
        frame = pd.concat(curves, axis=1)
        line, = ax.plot(frame.index, frame.mean(axis=1), label=f"{label} (n={frame.shape[1]})")
        ax.fill_between(frame.index, frame.min(axis=1), frame.max(axis=1), alpha=0.2, color=line.get_color())
    ax.set(xlabel="training step", ylabel="test accuracy", title=subtitle)
    ax.legend(fontsize=8)
    return _save(fig, path)


def _unit_percentiles(plt, experiment, configs, subtitle: str, path: Path) -> Path:
    depth = int(experiment["config.model.depth"].iloc[0])
    tag = f"act/layer_{depth:02d}/unit_p"
    fig, axes = plt.subplots(1, len(configs), figsize=(4 * len(configs), 3.5), sharey=True, squeeze=False)
    for ax, (label, group) in zip(axes[0], configs):
        first = _scalars(group.head(1))[0].set_index("step")
        for q in ("15", "50", "85"):
            if f"{tag}{q}" in first:
                ax.plot(first.index, first[f"{tag}{q}"], label=f"p{q}")
        ax.set(title=f"{label}, seed {group['config.seed'].iloc[0]} (one of n={len(group)})", xlabel="training step")
        ax.legend()
    axes[0][0].set_ylabel(f"input to one unit's nonlinearity, layer {depth}")
    fig.suptitle(subtitle)
    return _save(fig, path)


def _grad_norms(plt, configs, subtitle: str, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, group in configs:
        medians = group.filter(regex=r"^median:grad_norm/layer_\d+$")
        layers = [int(c.rsplit("_", 1)[1]) for c in medians.columns]
        ax.plot(layers, medians.mean(axis=0).values, marker="o", label=f"{label} (n={len(group)})")
    ax.set(yscale="log", xlabel="layer (last = output layer)", ylabel="gradient norm of weights (median)",
           title=subtitle)
    ax.legend(fontsize=8)
    return _save(fig, path)


def _by_numeric_key(plt, experiment, subtitle: str, out: Path, name: str) -> list[Path]:
    keys = config_keys(experiment)
    written = []
    for key in keys:
        values = pd.to_numeric(experiment[key], errors="coerce")
        if key == "config.seed":
            continue
        if values.isna().any() or values.nunique() < 3:
            continue
        others = [k for k in keys if k != key]
        fig, ax = plt.subplots(figsize=(6, 4))
        for label, group in (experiment.groupby(others, sort=True) if others else [((), experiment)]):
            label = label if isinstance(label, tuple) else (label,)
            stats = group.assign(x=pd.to_numeric(group[key])).groupby("x")["test_acc_final"].agg(["mean", "std",
                                                                                                   "count"])
            text = ", ".join(f"{k.removeprefix('config.').split('.')[-1]}={v}" for k, v in zip(others, label))
            counts = sorted(set(stats["count"]))
            n = counts[0] if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
            text = f"{text or 'all runs'} (n={n} per point)"
            ax.errorbar(stats.index, stats["mean"], yerr=stats["std"].fillna(0), marker="o", capsize=3,
                        label=text)
        short = key.removeprefix("config.")
        ax.set(xlabel=short, ylabel="final test accuracy (mean ± std over seeds)", title=subtitle)
        _log_ticks(ax, sorted(values.unique()))
        ax.legend()
        written.append(_save(fig, out / f"{name}_by_{short.split('.')[-1]}.png"))
    return written


def _test_batch_sizes(plt, configs, subtitle: str, path: Path) -> list[Path]:
    fig, ax, drawn = None, None, False
    for label, group in configs:
        columns = sorted(c for c in group.columns
                         if c.startswith("final:test_batch_stats/bs_") and group[c].notna().any())
        if not columns:
            continue
        if fig is None:
            fig, ax = plt.subplots(figsize=(6, 4))
        sizes = [int(c.split("bs_")[1].split("_")[0]) for c in columns]
        line, = ax.plot(sizes, group[columns].mean(axis=0).values, marker="o",
                        label=f"{label} (n={len(group)}): test batch's own statistics")
        ax.axhline(group["test_acc_final"].mean(), linestyle="--", color=line.get_color(),
                   label=f"{label}: eval mode (any batch size)")
        drawn = True
    if not drawn:
        return []
    ax.set(xlabel="test batch size", ylabel="test accuracy (mean over seeds)", title=subtitle)
    _log_ticks(ax, sizes)
    ax.legend(fontsize=8)
    return [_save(fig, path)]


def _log_ticks(ax, values) -> None:
    """A log axis labelled with the values themselves (2, 4, 8, ...), not powers of ten."""
    from matplotlib.ticker import FixedFormatter, FixedLocator, NullLocator

    ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator(values))
    ax.xaxis.set_major_formatter(FixedFormatter([f"{v:g}" for v in values]))
    ax.xaxis.set_minor_locator(NullLocator())


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=120, metadata={"Software": None})
    plt.close(fig)
    tmp.replace(path)
    return path
