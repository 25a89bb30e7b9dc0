"""`bnrepro figures DIR...`: figures from runs' scalars.csv files, one set per experiment.

- <name>_test_acc.png: test accuracy against steps, mean and range over seeds per
  configuration (paper Fig. 1a);
- <name>_unit_percentiles.png: 15th/50th/85th percentiles of one unit's input to
  its nonlinearity in the last hidden layer, over training, one panel per
  configuration, first seed (paper Fig. 1b, c);
- <name>_grad_norms.png: gradient norm of each layer's weights (median over the
  run), mean over seeds per configuration, log scale (vanishing gradients).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from .tables import TableError, config_keys, load_summaries


def _label(row: pd.Series, keys: list[str]) -> str:
    return ", ".join(f"{k.removeprefix('config.').split('.')[-1]}={row[k]}" for k in keys) or "all runs"


def _configurations(runs: pd.DataFrame):
    keys = config_keys(runs)
    runs = runs.assign(label=[_label(row, keys) for _, row in runs.iterrows()])
    return [(label, group.sort_values("config.seed")) for label, group in runs.groupby("label", sort=True)]


def _scalars(group: pd.DataFrame) -> list[pd.DataFrame]:
    return [pd.read_csv(Path(path) / "scalars.csv") for path in group["path"]]


def figures(paths: list[Path], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = load_summaries(paths)
    written = []
    out.mkdir(parents=True, exist_ok=True)
    for name, experiment in runs.groupby("name"):
        configs = _configurations(experiment)
        subtitle = f"{name}: n = {len(experiment)} runs, {experiment['device_name'].iloc[0]}"

        fig, ax = plt.subplots(figsize=(6, 4))
        for label, group in configs:
            curves = [s.set_index("step")["test/acc"].dropna() for s in _scalars(group) if "test/acc" in s]
            if not curves:
                continue
            frame = pd.concat(curves, axis=1)
            line, = ax.plot(frame.index, frame.mean(axis=1), label=f"{label} (n={frame.shape[1]})")
            ax.fill_between(frame.index, frame.min(axis=1), frame.max(axis=1), alpha=0.2, color=line.get_color())
        ax.set(xlabel="training step", ylabel="test accuracy", title=subtitle)
        ax.legend()
        written.append(_save(fig, out / f"{name}_test_acc.png"))

        depth = int(experiment["config.model.depth"].iloc[0])
        tag = f"act/layer_{depth:02d}/unit_p"
        fig, axes = plt.subplots(1, len(configs), figsize=(4 * len(configs), 3.5), sharey=True, squeeze=False)
        for ax, (label, group) in zip(axes[0], configs):
            first = _scalars(group.head(1))[0].set_index("step")
            for q in ("15", "50", "85"):
                if f"{tag}{q}" in first:
                    ax.plot(first.index, first[f"{tag}{q}"], label=f"p{q}")
            ax.set(title=f"{label}, seed {group['config.seed'].iloc[0]}", xlabel="training step")
            ax.legend()
        axes[0][0].set_ylabel(f"input to one unit's nonlinearity, layer {depth}")
        fig.suptitle(subtitle)
        written.append(_save(fig, out / f"{name}_unit_percentiles.png"))

        fig, ax = plt.subplots(figsize=(6, 4))
        for label, group in configs:
            medians = group.filter(regex=r"^median:grad_norm/layer_\d+$")
            layers = [int(c.rsplit("_", 1)[1]) for c in medians.columns]
            ax.plot(layers, medians.mean(axis=0).values, marker="o", label=f"{label} (n={len(group)})")
        ax.set(yscale="log", xlabel="layer (last = output layer)", ylabel="gradient norm of weights (median)",
               title=subtitle)
        ax.legend()
        written.append(_save(fig, out / f"{name}_grad_norms.png"))
    return written


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    tmp.replace(path)
    return path


def main(args: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bnrepro figures", description=__doc__.split("\n")[0])
    parser.add_argument("dirs", nargs="+", type=Path, help="run or sweep directories (searched recursively)")
    parser.add_argument("--out", type=Path, default=Path("results"), help="output folder (default: results)")
    opts = parser.parse_args(args)
    try:
        for path in figures(opts.dirs, opts.out):
            print(path)
    except TableError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0
