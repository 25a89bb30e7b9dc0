"""Range checks that types cannot express, run on every job before anything is created:
each key's declared range (schema.py's key(), walked generically), and the checks that
relate keys to each other, written here."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from .keys import range_of
from .metric import COUNTED, FORMS, is_metric
from .norms import NORMS, norm_spec
from .schema import (
    IMAGE_SIDE,
    TRAIN_SIZE,
    input_values,
    Activation,
    Arch,
    DatasetName,
    BNPlacement,
    Config,
    GaussianLabels,
    Loss,
    ModelConfig,
)


class ConfigError(ValueError):
    """A configuration value out of its allowed range; the message names the key."""


def _check(ok: bool, key: str, value: Any, allowed: str) -> None:
    if not ok:
        raise ConfigError(f"{key}={value} is out of range: {allowed}")


def validate(cfg: Config | DictConfig) -> None:
    """Every key against its declared range (schema.py's key()), then the checks that relate
    keys to each other. Raises ConfigError naming the key."""
    model, train, data, evaluation = cfg.model, cfg.train, cfg.data, cfg.eval
    _check_norm(model, evaluation)
    check_ranges(cfg, "")
    _check(
        cfg.profile == "full" or cfg.profile.startswith(f"{cfg.name}_"),
        "profile",
        cfg.profile,
        f"must be 'full' or one of experiment {cfg.name}'s profiles, conf/profile/{cfg.name}_<kind>.yaml "
        f"(a profile sets one experiment's scale)",
    )
    if uses_bn(model):
        _check(
            train.batch_size >= 2,
            "train.batch_size",
            train.batch_size,
            "must be >= 2 with batch normalization (a batch of one has no variance)",
        )
    _check(
        train.batch_size % train.class_block == 0,
        "train.class_block",
        train.class_block,
        f"must be >= 1 and divide train.batch_size={train.batch_size}",
    )
    _check(
        getattr(cfg.optim.kind, "value", cfg.optim.kind) != "adam" or cfg.optim.momentum == 0,
        "optim.momentum",
        cfg.optim.momentum,
        "must be 0 with optim.kind=adam (Adam's momentum is optim.betas[0])",
    )
    group = getattr(model.norm, "group", None)
    if group is not None:
        _check(
            group >= 2 and train.batch_size % group == 0,
            "model.norm.group",
            group,
            f"must be null (the whole batch) or >= 2 and divide train.batch_size={train.batch_size}",
        )
    _check(cfg.probes.unit < model.width, "probes.unit", cfg.probes.unit, f"must be in [0, model.width={model.width})")
    _check(
        not model.input_bn or model.arch == Arch.mlp,
        "model.input_bn",
        model.input_bn,
        "a BN layer on the inputs is built for model=mlp only (one channel per input feature)",
    )
    group = model.input_bn_group
    _check(
        group is None or (model.input_bn and train.batch_size % group == 0),
        "model.input_bn_group",
        group,
        f"must be null, or (with model.input_bn=true) >= 2 and divide train.batch_size={train.batch_size}",
    )
    _check(
        data.name != DatasetName.gaussian or model.arch == Arch.mlp,
        "data.name",
        data.name.value,
        "gaussian inputs are vectors: use model=mlp",
    )
    regression = data.name == DatasetName.gaussian and data.labels == GaussianLabels.regression
    _check(
        not regression or train.loss == Loss.mse,
        "train.loss",
        train.loss.value,
        "data.labels=regression has real-valued targets: use train.loss=mse",
    )
    if model.arch in (Arch.convnet, Arch.vgg):
        side, pools = IMAGE_SIDE[data.name], model.depth // model.pool_every
        _check(
            side >> pools >= 1,
            "model.depth",
            model.depth,
            f"{pools} 2x2 pools (one every model.pool_every={model.pool_every} layers) shrink a "
            f"{side}x{side} input to nothing",
        )
    n_train = min(TRAIN_SIZE.get(data.name, data.synthetic_train), data.train_limit or 2**62)
    _check(
        train.batch_size <= n_train,
        "train.batch_size",
        train.batch_size,
        f"must be <= the training set's size ({n_train})",
    )
    hist = cfg.probes.hist_every  # >= 0 or null: its range in the schema
    _check(
        hist is None or hist % train.log_every == 0,
        "probes.hist_every",
        hist,
        f"must be null (about 20 per run), 0 (never) or a multiple of train.log_every={train.log_every}",
    )
    _check_measures(cfg)
    _check_lstm(cfg)
    for column in cfg.report.columns:
        _check(
            is_metric(column) and column not in COUNTED,
            "report.columns",
            column,
            "entries are 'tag', 'tag:first', 'tag:final', 'tag:median', 'tag:change', 'tag:steps_to=X' "
            "or 'tag:median<=N'",
        )
    for i, claim in enumerate(cfg.report.claims):
        _check_claim(claim, f"report.claims[{i}]")
    for i, entry in enumerate(cfg.report.dropped):
        _check_dropped(entry, f"report.dropped[{i}]")


def _check_claim(claim, key: str) -> None:
    """A claim's fields, each against its allowed values (the schema's ClaimConfig says what they mean)."""
    _check(
        claim.op in (">", "<", "=", "!=") or (claim.op is None and claim.two_sided),
        f"{key}.op",
        claim.op,
        "must be '>', '<', '=' or '!=' (null only on a two_sided question, which then expects no side)",
    )
    compared = claim.than is not None or claim.than_metric is not None
    _check(
        compared != (claim.value is not None),
        key,
        claim.text,
        "needs either `than` / `than_metric` (another arm or metric) or `value` (a threshold)",
    )
    _check(
        not claim.paired or claim.than is not None,
        f"{key}.paired",
        claim.paired,
        "pairs two arms by seed: needs `than`",
    )
    for field in ("metric", "than_metric"):
        value = getattr(claim, field)
        _check(value is None or is_metric(value), f"{key}.{field}", value, FORMS)
    _check(claim.factor > 0, f"{key}.factor", claim.factor, "must be > 0 (it scales the compared value)")
    _check(claim.tol > 0, f"{key}.tol", claim.tol, "must be > 0 (a relative band)")
    _check(claim.tol_abs is None or claim.tol_abs >= 0, f"{key}.tol_abs", claim.tol_abs, "must be null or >= 0")
    _check(
        claim.better in (None, "higher", "lower"),
        f"{key}.better",
        claim.better,
        "must be null (from the metric's name), 'higher' or 'lower'",
    )
    _check(
        not claim.two_sided or claim.op in (">", "<", None),
        f"{key}.two_sided",
        claim.two_sided,
        "asks which side is higher: op must be '>' or '<' (the side a source expected) or null (none expected)",
    )
    _check(
        claim.underpowered is None or (bool(claim.underpowered.strip()) and not claim.check),
        f"{key}.underpowered",
        repr(claim.underpowered),
        "must be null or say why the claim is under-powered by design (docs/budget.md); a check has no power",
    )
    _check(
        not (claim.two_sided and claim.check),
        f"{key}.two_sided",
        claim.two_sided,
        "a check verifies one direction run by run: not two-sided",
    )
    if claim.metric in COUNTED:
        _check(
            claim.op in (">", "<", None) or claim.check,  # None: a two_sided question's (checked above)
            f"{key}.op",
            claim.op,
            f"{claim.metric} counts runs: compare rates with '>' or '<' (or make it a check)",
        )
        _check(
            claim.value is None or 0 <= claim.value <= 1,
            f"{key}.value",
            claim.value,
            f"{claim.metric} is a rate: a value in [0, 1]",
        )
        _check(
            claim.than_metric is None and not claim.paired and claim.better is None,
            key,
            claim.text,
            f"{claim.metric} counts runs of an arm: no than_metric, paired or better",
        )


def _check_dropped(entry, key: str) -> None:
    """A dropped claim's record: every field stated (claim, verdict, reason), the commit a hash."""
    for name in ("claim", "verdict", "reason"):
        value = getattr(entry, name)
        _check(
            isinstance(value, str) and value.strip() != "",
            f"{key}.{name}",
            repr(value),
            "must be stated (a dropped claim records its text, its last verdict, the commit and the reason)",
        )
    _check(
        isinstance(entry.commit, str) and re.fullmatch(r"[0-9a-f]{7,40}", entry.commit) is not None,
        f"{key}.commit",
        repr(entry.commit),
        "must be the commit whose results gave the last verdict (7-40 hex digits)",
    )


def _check_measures(cfg) -> None:
    """The ICS and landscape measures run on probe steps, on layers that exist.
    (probes.which is checked against the registry by launch/sweep.py: it lives in run/.)"""
    probes, log_every, depth = cfg.probes, cfg.train.log_every, cfg.model.depth
    for key in ("ics_every", "landscape_every"):  # >= 0: their ranges in the schema
        every = getattr(probes, key)
        _check(
            every % log_every == 0,
            f"probes.{key}",
            every,
            f"must be 0 (never) or a multiple of train.log_every={log_every}",
        )
    for layer in probes.ics_layers:
        _check(
            2 <= layer <= depth + 1,
            "probes.ics_layers",
            list(probes.ics_layers),
            f"layers 2 to {depth + 1} (layer 1 has no layers before it; {depth + 1} is the output layer)",
        )
    _check(
        "dead" not in probes.which or cfg.model.activation == Activation.relu,
        "probes.which",
        list(probes.which),
        "the probe `dead` counts ReLUs that never fire: it needs model.activation=relu",
    )


# The LSTM's placements of BN (model.bn), and the probes it supports: the others read per-layer
# nonlinearity inputs, which an LSTM has per gate and time step (its own probe `lstm` logs those).
LSTM_PLACEMENTS = (BNPlacement.none, BNPlacement.input, BNPlacement.both)
LSTM_PROBES = ("grad_norm", "update_ratio", "lstm")


def _check_lstm(cfg) -> None:
    """model.arch=lstm and its keys (model.lstm.*, model.bn=input/both) belong together."""
    model, data = cfg.model, cfg.data
    if model.arch != Arch.lstm:
        _check(
            model.bn not in (BNPlacement.input, BNPlacement.both),
            "model.bn",
            model.bn.value,
            "input and both are the LSTM's placements (model.arch=lstm); here: none, pre or post",
        )
        _check(
            "lstm" not in cfg.probes.which,
            "probes.which",
            list(cfg.probes.which),
            "the probe `lstm` reads an LSTM's time steps: it needs model.arch=lstm",
        )
        return
    lstm = model.lstm
    _check(
        model.bn in LSTM_PLACEMENTS,
        "model.bn",
        model.bn.value,
        "with model.arch=lstm: none, input (W_x x_t only) or both (W_x x_t and W_h h_{t-1})",
    )
    _check(
        not lstm.bn_cell or model.bn == BNPlacement.both,
        "model.lstm.bn_cell",
        lstm.bn_cell,
        "normalizes c_t on its way to h_t in the BN-LSTM: needs model.bn=both",
    )
    _check(
        not model.weight_norm,
        "model.weight_norm",
        model.weight_norm,
        "reparametrizes the MLP's and conv nets' weights: not the LSTM's (model.arch=lstm)",
    )
    size = input_values(data)
    _check(
        size % lstm.step_inputs == 0,
        "model.lstm.step_inputs",
        lstm.step_inputs,
        f"must divide the {size} input values of data.name={data.name.value} into time steps",
    )
    _check(model.dropout == 0, "model.dropout", model.dropout, "the LSTM has no dropout: must be 0")
    _check(not cfg.eval.variance_shift, "eval.variance_shift", True, "reads per-layer BN inputs: not for the LSTM")
    _check(
        set(cfg.probes.which) <= set(LSTM_PROBES),
        "probes.which",
        list(cfg.probes.which),
        f"with model.arch=lstm: any of {list(LSTM_PROBES)}",
    )


def _schema_type(node) -> type:
    return OmegaConf.get_type(node) if isinstance(node, DictConfig) else type(node)


def check_ranges(node, prefix: str) -> None:
    """Every key of `node` (a dataclass or its DictConfig) and of the dataclasses inside it
    against the range its key() declares."""
    for f in dataclasses.fields(_schema_type(node)):
        value = getattr(node, f.name)
        allowed = range_of(f)
        if allowed is not None:
            shown = list(value) if isinstance(value, (list, ListConfig)) else value
            _check(allowed.ok(value), f"{prefix}{f.name}", shown, allowed.text)
        elif isinstance(value, DictConfig) or dataclasses.is_dataclass(value):
            check_ranges(value, f"{prefix}{f.name}.")


def registered_norm(kind: str):
    """The registry's entry for model.norm.kind (ConfigError naming the key when there is none)."""
    _check(kind in NORMS, "model.norm.kind", kind, f"must be a registered layer: {', '.join(NORMS)}")
    return norm_spec(kind)


def _check_norm(model: ModelConfig, evaluation) -> None:
    """model.norm: a registered layer with its own options, in range, and evaluation
    statistics it supports."""
    norm = model.norm
    spec = registered_norm(norm.kind)
    _check(
        issubclass(_schema_type(norm), spec.options),
        "model.norm.kind",
        norm.kind,
        f"{norm.kind}'s options are {spec.options.__name__}'s: choose it with norm={norm.kind}",
    )
    typed = OmegaConf.to_object(norm) if isinstance(norm, DictConfig) else norm
    for option, value, allowed in (*typed.problems(), *typed.model_problems(model)):
        _check(False, f"model.norm.{option}", value, allowed)
    if not has_norm_layer(model):
        return
    supported = ("moving", *spec.eval_stats)
    _check(
        evaluation.stats.value in supported,
        "eval.stats",
        evaluation.stats.value,
        f"norm={norm.kind} supports {', '.join(supported)}",
    )
    _check(
        not evaluation.compare_stats or len(supported) == 3,
        "eval.compare_stats",
        evaluation.compare_stats,
        f"compares moving, population and batch statistics: norm={norm.kind} supports {', '.join(supported)}",
    )
    _check(
        not evaluation.batch_sizes or "batch" in supported,
        "eval.batch_sizes",
        list(evaluation.batch_sizes),
        f"test batches normalized with their own statistics: norm={norm.kind} does not support them",
    )


def uses_bn(model: ModelConfig) -> bool:
    """model.bn says where, model.norm which: either none (or a layer that normalizes
    nothing, as noise_only, which places noise) means no normalization."""
    return has_norm_layer(model) and norm_spec(model.norm.kind).normalizes


def has_norm_layer(model: ModelConfig) -> bool:
    """A layer of the norm registry sits where model.bn says (noise_only's noise included;
    norm=none registers no layer)."""
    return model.bn != BNPlacement.none and norm_spec(model.norm.kind).layer is not None
