"""<name>_groups.png: test accuracy against the number of examples BN normalizes over (the
SGD batch, or model.norm.group), one line per batch-dependent layer (BN, Batch Renorm, lp),
beside the layers whose statistics are each example's own (GroupNorm, LayerNorm,
InstanceNorm) as flat lines: Wu and He 2018's Fig. 1 in our runs. Drawn when an experiment
has both (gn_small_batch)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..config import norm_spec
from . import plotting
from .plotting import STYLES

PER_EXAMPLE = ("groupnorm", "layernorm", "instancenorm")  # no statistics across examples


def group_size_figure(plt, experiment: pd.DataFrame, subtitle: str, path: Path) -> list[Path]:
    kind = experiment.get("config.model.norm.kind")
    if kind is None or not kind.isin(PER_EXAMPLE).any() or "config.model.norm.group" not in experiment:
        return []
    group = pd.to_numeric(experiment["config.model.norm.group"], errors="coerce")
    size = group.fillna(pd.to_numeric(experiment["config.train.batch_size"]))
    data = experiment.assign(size=size, y=pd.to_numeric(experiment["test_acc_final"], errors="coerce"))
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    sizes = sorted(data.loc[~kind.isin(PER_EXAMPLE), "size"].unique())
    for i, (name, runs) in enumerate(data.groupby("config.model.norm.kind", sort=True)):
        line, marker = STYLES[i % len(STYLES)]
        label = norm_spec(name).help.split(":")[0].split(" (")[0] if name not in ("torch",) else "BN"
        if name in PER_EXAMPLE:  # one value whatever the group: a flat line across the sizes
            mean, std, n = runs["y"].mean(), runs["y"].std(), runs["y"].count()
            ax.errorbar(
                sizes,
                [mean] * len(sizes),
                yerr=[0 if pd.isna(std) else std] * len(sizes),
                linestyle=line,
                marker=marker,
                capsize=3,
                label=f"{label} (n={n}, per-example statistics)",
            )
            continue
        stats = runs.groupby("size")["y"].agg(["mean", "std", "count"])
        ax.errorbar(
            stats.index,
            stats["mean"],
            yerr=stats["std"].fillna(0),
            linestyle=line,
            marker=marker,
            capsize=3,
            label=f"{label} (n={int(stats['count'].min())} per point)",
        )
    ax.set_xscale("log", base=2)
    ax.set_xticks(sizes, [str(int(s)) for s in sizes])
    ax.set(
        xlabel="examples per normalization group (SGD batch held)",
        ylabel="final test accuracy\n(mean ± std over seeds)",
        title="accuracy against BN's normalization group",
    )
    ax.legend(fontsize=7)
    fig.suptitle(subtitle, fontsize=10)
    return [plotting.save(fig, path)]
