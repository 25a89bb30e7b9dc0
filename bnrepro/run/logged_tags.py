"""Which tags and summary values a configuration's runs will have, told before training.

`bnrepro train` refuses a claim whose metric no run of its arms can ever log (a typo, a
probe not switched on, a layer the network does not have): otherwise the claim would
wait forever for a value. The tags follow the probes (probes.py), the measures
(measures.py), the evaluation (evaluation.py) and the loop (loop.py's summary); a probe
added to the registry whose tags this file does not know yet is trusted with any tag in
its own namespace (the convention: a probe names its tags `<probe>/...`).
"""
from __future__ import annotations

import re

from ..config import Config, uses_bn
from ..stacked.model import layer_tag

# Values of summary.json a claim may name (loop.py's _summary), and the values the
# report computes per run: steps_to_baseline_best (report.paper_table), diverged, at_chance.
SUMMARY = ("test_acc_final", "test_loss_final", "test_acc_best", "best_step", "train_loss_final", "steps_done",
           "wall_time_s", "steps_per_s")
COUNTED = ("diverged", "at_chance")
HOW = ("", "first", "final", "median", "change")

_ACT = ("unit_p15", "unit_p50", "unit_p85", "p15", "p50", "p85", "mean", "std", "saturated", "linear")
_OUT = ("mean", "std", "p15", "p50", "p85", "saturated")


def _layers(numbers) -> str:
    return "(" + "|".join(layer_tag(i) for i in numbers) + ")"


def tag_patterns(cfg: Config) -> list[re.Pattern]:
    """Every tag a run of this configuration logs, as patterns."""
    depth, which, probes = cfg.model.depth, set(cfg.probes.which), cfg.probes
    hidden, every = _layers(range(1, depth + 1)), _layers(range(1, depth + 2))
    has_bn = uses_bn(cfg.model)
    has_bias = (cfg.model.bn.value != "pre" or not has_bn) if cfg.model.bias is None else cfg.model.bias
    found = [r"train/(loss|acc)", r"optim/lr", r"test/(loss|acc)"]
    if "grad_norm" in which:
        found.append(rf"grad_norm(_log10)?/{every}")
        found += [r"grad_norm(_log10)?/first_over_last_hidden"] if depth >= 2 else []
    if "act" in which:
        found.append(rf"act/{hidden}/({'|'.join(_ACT)})")
    if "out" in which:
        found.append(rf"out/{hidden}/({'|'.join(_OUT)})")
    if "act_grad" in which:
        found.append(rf"act_grad/{hidden}/(norm|std)")
    if "update_ratio" in which:
        found.append(rf"update_ratio/{every}")
    if "shift" in which:
        found.append(rf"shift/{hidden}/(mean|std)")
    if "bias" in which and has_bias:
        found.append(rf"bias/{hidden}/(grad_norm|norm)")
    if "lstm" in which:  # the LSTM's probe (run/lstm_probes.py): per layer, per time step
        found.append(rf"lstm/{hidden}/(grad_norm_input|grad_norm_hidden|hidden_grad_first_over_last|"
                     r"step_\d\d/(hidden_grad|gates_mean|gates_std|gates_saturated))")
    known = {"grad_norm", "act", "out", "act_grad", "update_ratio", "shift", "bias", "lstm"}
    found += [rf"{re.escape(name)}/.+" for name in which - known]  # a newer probe: its own namespace
    if has_bn and cfg.eval.compare_stats:
        found += [r"test_stats/(moving|population|batch)_acc", r"test_stats/moving_population_gap"]
    if has_bn and cfg.eval.variance_shift:
        found.append(rf"bn_shift/{hidden}")
    if has_bn and cfg.eval.batch_sizes:
        found.append(r"test_batch_stats/bs_(" + "|".join(f"{n:04d}" for n in cfg.eval.batch_sizes) + ")_acc")
    if cfg.eval.train_gap:
        found.append(r"train_eval/(acc|gap)")
    if probes.ics_every > 0 and probes.ics_layers:
        found.append(rf"ics/{_layers(probes.ics_layers)}/(l2|rel|cos)")
    if probes.landscape_every > 0:
        found.append(r"landscape/(loss_min|loss_max|loss_range|grad_change_min|grad_change_max|beta_smoothness)")
    return [re.compile(p) for p in found]


def why_missing(cfg: Config, metric: str) -> str | None:
    """None when runs of this configuration will have the metric; else why they never will."""
    if "/" not in metric:
        if metric in SUMMARY or metric in COUNTED:
            return None
        if metric == "steps_to_baseline_best":
            return None if cfg.report.paper_table is not None else "it needs report.paper_table"
        return f"no summary value {metric!r} (there are {', '.join(SUMMARY + COUNTED)})"
    tag, _, how = metric.partition(":")
    if how not in HOW and not how.startswith("steps_to="):
        return f"no way {how!r} to read a tag (':first', ':final', ':median', ':change' or ':steps_to=X')"
    if any(p.fullmatch(tag) for p in tag_patterns(cfg)):
        return None
    return (f"no run with this configuration logs the tag {tag!r} (depth {cfg.model.depth}, probes.which="
            f"{list(cfg.probes.which)}, BN {'on' if uses_bn(cfg.model) else 'off'}; see the README's tag glossary)")
