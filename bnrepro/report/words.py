"""Table headers in words, and the footnote that gives each header's tag and meaning.

`act/layer_03/unit_p50:change` is exact but opaque to a new reader; its column is
headed `unit p50 drift (layer 3)` and a footnote below the table says which tag it
is and what it measures. The definitions are docs/tags.md's glossary, shortened.
"""

from __future__ import annotations

import re

from ..config.metric import Metric, MetricError

# (tag pattern, words, definition); {n} is the layer number, {q} a percentile, {b} a batch size.
_TAGS = [
    (r"train/loss", "train loss", "mean cross-entropy over the training mini-batches of a probe interval"),
    (r"train/acc", "train acc", "mean accuracy over the training mini-batches of a probe interval"),
    (r"test/loss", "test loss", "cross-entropy on the whole test set, eval mode"),
    (r"test/acc", "test acc", "accuracy on the whole test set, eval mode"),
    (r"optim/lr", "learning rate", "the learning rate of the step"),
    (r"grad_norm/layer_(?P<n>\d+)", "gradient norm", "Frobenius norm of the gradient of layer {n}'s weights"),
    (
        r"grad_norm/first_over_last_hidden",
        "first / last hidden layer gradient norm",
        "the first hidden layer's gradient norm over the last hidden layer's (below 1e-2: vanishing)",
    ),
    (r"grad_norm_log10/layer_(?P<n>\d+)", "log10 gradient norm", "log10 of layer {n}'s weight gradient norm"),
    (
        r"grad_norm_log10/first_over_last_hidden",
        "log10 first / last hidden gradient norm",
        "log10 of the first over the last hidden layer's gradient norm",
    ),
    (
        r"act/layer_(?P<n>\d+)/unit_p(?P<q>\d+)",
        "unit p{q}",
        "{q}th percentile over the mini-batch of one fixed unit's input to its nonlinearity in layer {n}",
    ),
    (
        r"act/layer_(?P<n>\d+)/p(?P<q>\d+)",
        "p{q} of all units",
        "{q}th percentile of all units' inputs to the nonlinearity in layer {n}",
    ),
    (r"act/layer_(?P<n>\d+)/mean", "mean input", "mean of all units' inputs to the nonlinearity in layer {n}"),
    (r"act/layer_(?P<n>\d+)/std", "input std", "standard deviation of all units' nonlinearity inputs in layer {n}"),
    (
        r"act/layer_(?P<n>\d+)/saturated",
        "saturated fraction",
        "fraction of layer {n}'s nonlinearity inputs where its slope is below 10% of its maximum",
    ),
    (
        r"act/layer_(?P<n>\d+)/linear",
        "near-linear fraction",
        "fraction of layer {n}'s nonlinearity inputs where its slope is at least 80% of its maximum",
    ),
    (
        r"test_stats/(?P<s>moving|population|batch)_acc",
        "test acc, {s} statistics",
        "test accuracy with BN normalizing by its {s} statistics",
    ),
    (
        r"test_stats/moving_population_gap",
        "moving vs population gap",
        "mean over BN units of |running mean - population mean| / population std",
    ),
    (
        r"dead/layer_(?P<n>\d+)",
        "dead ReLUs",
        "fraction of layer {n}'s units whose input is <= 0 for every example of the held-out batch",
    ),
    (
        r"dead/all",
        "dead ReLUs (all layers)",
        "fraction of all hidden units whose input is <= 0 for every example of the held-out batch",
    ),
    (r"affine/layer_(?P<n>\d+)/gamma_mean", "mean gamma", "mean of layer {n}'s BN scales gamma"),
    (r"affine/layer_(?P<n>\d+)/gamma_dev", "gamma drift from 1", "mean of abs(gamma - 1) over layer {n}'s BN scales"),
    (r"affine/layer_(?P<n>\d+)/beta_mean", "mean beta", "mean of layer {n}'s BN shifts beta"),
    (r"affine/layer_(?P<n>\d+)/beta_abs", "mean abs(beta)", "mean of abs(beta) over layer {n}'s BN shifts"),
    (
        r"test_batch_stats/bs_(?P<b>\d+)_acc",
        "test acc, own statistics, batch {b}",
        "test accuracy when every group of {b} test examples is normalized with its own statistics",
    ),
]
# How a logged series becomes one number per run (docs/results.md: `:first`, `:median`, `:change`).
_HOW = {
    "final": ("", "its value at the end of the run"),
    "first": (" at step 1", "its value at the first probe step"),
    "median": (", run median", "its median over the run's probe steps"),
    "change": (" drift", "|final - first|: how far it moved over the run"),
}
BASE = {
    "test_acc_final": ("test acc (final)", "test accuracy at the end of the run"),
    "test_acc_best": ("test acc (best)", "the highest test accuracy of any evaluation"),
    "best_step": ("step of best (mean over seeds)", "the step of the best test accuracy, mean over seeds"),
}


def _describe(metric: str) -> tuple[str, str]:
    if metric in BASE:
        return BASE[metric]
    try:
        spec = Metric.parse(metric)
    except MetricError:
        return metric, ""
    tag, how = spec.tag, spec.how
    if how == "steps_to":
        target = metric.split("=", 1)[1]  # as written
        suffix, how_text = (
            f": steps to {target}",
            (
                f"the first evaluated step at which it reached {target}; "
                "how many runs did, and the median with never counted as "
                "infinitely late"
            ),
        )
    elif spec.until is not None:
        suffix, how_text = f", median to step {spec.until}", f"its median over the probe steps up to {spec.until}"
    elif how in _HOW:
        suffix, how_text = _HOW[how]
    else:
        return metric, ""
    for pattern, words, definition in _TAGS:
        found = re.fullmatch(pattern, tag)
        if found:
            values = {k: str(int(v)) if v.isdigit() else v for k, v in found.groupdict().items()}
            where = f" (layer {values['n']})" if "n" in values else ""
            return f"{words.format(**values)}{suffix}{where}", f"{definition.format(**values)}; {how_text}"
    return metric, ""


def header(metric: str) -> str:
    """`act/layer_03/unit_p50:change` -> `unit p50 drift (layer 3)`."""
    return _describe(metric)[0]


def footnotes(metrics: list[str]) -> list[str]:
    """One line per column whose header is in words: the header, its tag, what it measures."""
    return [f"- {header(m)}: `{m}`, {_describe(m)[1]}" for m in metrics if m not in BASE and _describe(m)[1]]
