"""Which tags and summary values a configuration's runs will have, told before training,
and the tag glossary: both from the tags' declarations (tags.Tags: a probe's with the
probe in probes.py, the rest in tags.LOGGED).

`bnrepro train` refuses a claim whose metric no run of its arms can ever log (a typo, a
probe not switched on, a layer the network does not have): otherwise the claim would
wait forever for a value.
"""

from __future__ import annotations

import re

from ..config import Config, time_steps, uses_bn
from ..config.metric import COUNTED, Metric, MetricError
from ..config.nearest import nearest_note
from ..stacked.model import layer_tag
from .lstm_probes import step_tag
from .probes import PROBES
from .tags import LOGGED, Tags

# Values of summary.json a claim may name (loop.py's _summary), and the values the
# report computes per run: steps_to_baseline_best (report.paper_table), diverged, at_chance.
SUMMARY = (
    "test_acc_final",
    "test_loss_final",
    "test_acc_best",
    "best_step",
    "train_loss_final",
    "steps_done",
    "wall_time_s",
    "steps_per_s",
)


def declared() -> list[tuple[str | None, Tags]]:
    """(the probe that logs them or None, Tags) for every declared row, the loop's first."""
    return [(None, row) for row in LOGGED] + [(name, row) for name, p in PROBES.items() for row in p.tags]


def _layers(numbers) -> str:
    return "(" + "|".join(layer_tag(i) for i in numbers) + ")"


def _pattern(name: str, cfg: Config) -> str:
    """A declared tag name as a regular expression over this configuration's layers."""
    depth = cfg.model.depth
    fill = {
        "hidden": _layers(range(1, depth + 1)),
        "layer": _layers(range(1, depth + 2)),
        "ics": _layers(cfg.probes.ics_layers),
        "bs": "(" + "|".join(f"{n:04d}" for n in cfg.eval.batch_sizes) + ")",
        "step": "(" + "|".join(step_tag(t) for t in range(1, time_steps(cfg) + 1)) + ")",
    }
    return re.sub(r"\\\{(\w+)\\\}", lambda m: fill[m.group(1)], re.escape(name))


def _logged_names(cfg: Config) -> list[str]:
    """The declared names (with their {placeholders}) of the tags a run of this configuration logs."""
    which = set(cfg.probes.which)
    return [
        name
        for probe, row in declared()
        if row.metric and (probe is None or probe in which) and (row.when is None or row.when(cfg))
        for name in row.names
    ]


def tag_patterns(cfg: Config) -> list[re.Pattern]:
    """Every tag a run of this configuration logs that a claim or column may name, as patterns."""
    return [re.compile(_pattern(name, cfg)) for name in _logged_names(cfg)]


def _nearest(cfg: Config, tag: str) -> str:
    """The logged tags closest to `tag`, a layer written NN (for a message)."""
    names = sorted(
        {
            re.sub(r"\{(hidden|layer|ics)\}", "layer_NN", re.sub(r"\{(bs|step)\}", r"\1_NN", name))
            for name in _logged_names(cfg)
        }
    )
    general = re.sub(r"layer_\d+", "layer_NN", tag)
    return nearest_note(general, names)


def why_missing(cfg: Config, metric: str) -> str | None:
    """None when runs of this configuration will have the metric; else why they never will."""
    if "/" not in metric:
        if metric in SUMMARY or metric in COUNTED:
            return None
        if metric == "steps_to_baseline_best":
            return None if cfg.report.paper_table is not None else "it needs report.paper_table"
        return f"no summary value {metric!r} (there are {', '.join(SUMMARY + COUNTED)})"
    try:
        tag = Metric.parse(metric).tag
    except MetricError as e:
        return str(e)
    if any(p.fullmatch(tag) for p in tag_patterns(cfg)):
        return None
    return (
        f"no run with this configuration logs the tag {tag!r} (depth {cfg.model.depth}, probes.which="
        f"{list(cfg.probes.which)}, BN {'on' if uses_bn(cfg.model) else 'off'}{_nearest(cfg, tag)}; "
        f"see docs/tags.md)"
    )


GLOSSARY_HEAD = """# Tag glossary

Every tag a run logs, generated from the tags' declarations (`Tags` rows: a probe's in
`bnrepro/run/probes.py`, the others in `bnrepro/run/tags.py`) by `scripts/gen_docs.py`;
a test fails when this file is stale.

`NN` is a layer number: `01` is the first hidden layer, `depth` the last hidden one,
`depth+1` the output layer. "Probe step": step 1, every `train.log_every` steps, and
the last step; with `probes.initial=true` also step 0: the first mini-batch through the
initial network, before any update (its `train/loss` is that batch's loss; the state of
the run is left untouched, so its trajectory is the same as without). Which probes run
is `probes.which` (default `[grad_norm, act]`; the registry in `run/probes.py` also has
{others}): tags below marked "probe X" appear only when X is named.
Santurkar et al.'s measures (`run/measures.py`) have their own schedules, `probes.ics_every`
and `probes.landscape_every` (0: off; multiples of `train.log_every`).

| tag | meaning |
|---|---|
"""


def _shown(name: str) -> str:
    return re.sub(r"\{(hidden|layer|ics)\}", "layer_NN", name).replace("{bs}", "NNNN").replace("{step}", "step_NN")


def glossary() -> str:
    """docs/tags.md: one row per declared Tags row, the loop's first, then each probe's."""
    others = ", ".join(f"`{name}`" for name in PROBES if name not in ("grad_norm", "act"))
    rows = []
    for probe, row in declared():
        first, *rest = [_shown(name) for name in row.names]
        folder = first.rsplit("/", 1)[0] + "/"
        names = [f"`{first}`"] + [
            f"`{n[len(folder) :]}`" if n.startswith(folder) and n.count("/") == first.count("/") else f"`{n}`"
            for n in rest
        ]
        meaning = row.meaning if probe is None or probe in ("grad_norm", "act") else f"probe `{probe}`: {row.meaning}"
        rows.append(f"| {', '.join(names)} | {meaning} |\n")
    return GLOSSARY_HEAD.replace("{others}", others) + "".join(rows)
