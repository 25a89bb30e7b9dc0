"""<name>_claimed_tags.png: what an experiment's claims are about, over training.

One panel per logged tag a claim names (its value at the end, its median or its drift over
the run: `dead/all`, `affine/layer_02/gamma_dev`, `bn_shift/layer_02`, `train_eval/gap`,
...): the tag against the training step, one line per configuration the claims about it
compare (their `where` and `than` arms), the mean over seeds with a band from the lowest to
the highest seed. Tags Santurkar et al.'s figures draw (santurkar_figures.DRAWN) are left to
them; at most MAX_PANELS panels, MAX_LINES lines each.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from ..config import arms
from ..config.metric import Metric
from . import plotting
from .plotting import configurations, curves, style
from .santurkar_figures import DRAWN
from .words import header

MAX_PANELS = 6
MAX_LINES = 12
OVER_TRAINING = ("final", "median", "change")  # ways of reading a tag that summarize its series over training


def claims_of(experiment: pd.DataFrame) -> list[dict]:
    """The experiment's claims (the same in every run's config)."""
    column = "config.report.claims"
    return json.loads(experiment[column].iloc[0]) if column in experiment else []


def claimed_tags(experiment: pd.DataFrame) -> dict[str, list[dict]]:
    """Tag -> the claims about it, for tags logged over training and not drawn elsewhere."""
    tags: dict[str, list[dict]] = {}
    for claim in claims_of(experiment):
        spec = Metric.parse(claim["metric"])
        if spec.logged and spec.how in OVER_TRAINING and not spec.tag.startswith(DRAWN):
            tags.setdefault(spec.tag, []).append(claim)
    return dict(list(tags.items())[:MAX_PANELS])


def _flat(row: pd.Series) -> dict:
    return {
        k.removeprefix("config."): v
        for k, v in row.items()
        if k.startswith("config.") and not (isinstance(v, float) and math.isnan(v))
    }


def _in_arms(group: pd.DataFrame, claims: list[dict]) -> bool:
    """Whether a configuration's runs are an arm of one of the claims."""
    flat = _flat(group.iloc[0])
    return any(arms.matches(flat, condition) for claim in claims for condition in arms.arms(claim))


def claimed_tags_figure(plt, experiment: pd.DataFrame, subtitle: str, path: Path) -> list[Path]:
    tags = claimed_tags(experiment)
    if not tags:
        return []
    frames = {p: frame.set_index("step") for p, frame in zip(experiment["path"], plotting.scalars(experiment))}
    configs = configurations(experiment)
    fig, axes = plt.subplots(1, len(tags), figsize=(max(7.5, 5.2 * len(tags)), 4.2), squeeze=False)
    for ax, (tag, claims) in zip(axes[0], tags.items()):
        drawn = 0
        for i, (label, group) in enumerate(configs):
            runs = curves(frames, group, tag)
            if runs.empty or not _in_arms(group, claims) or drawn == MAX_LINES:
                continue
            n, mean, low, high = runs.shape[1], runs.mean(axis=1), runs.min(axis=1), runs.max(axis=1)
            if len(runs) == 1:  # one logged step (one evaluation): the seeds' range as an error bar
                ax.errorbar(
                    runs.index,
                    mean,
                    yerr=[mean - low, high - mean],
                    label=f"{label} (n={n})",
                    color=f"C{i % 10}",
                    capsize=4,
                    **style(i, 1),
                )
            else:
                ax.plot(runs.index, mean, label=f"{label} (n={n})", color=f"C{i % 10}", **style(i, len(runs)))
                ax.fill_between(runs.index, low, high, color=f"C{i % 10}", alpha=0.15)
            drawn += 1
        words = header(tag)
        ax.set(
            xlabel="training step",
            ylabel=f"{words}\n(mean over seeds; band or bar: lowest to highest)",
            title=tag if words == tag else f"{words}\n`{tag}`",
        )
        ax.title.set_fontsize(9)
        if drawn:
            ax.legend(fontsize=7)
    fig.suptitle(f"What the claims are about, over training\n{subtitle}", fontsize=10)
    return [plotting.save(fig, path)]
