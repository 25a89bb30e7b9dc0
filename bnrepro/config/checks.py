"""Range checks that types cannot express, run on every job before anything is created."""
from __future__ import annotations

import math
import re
from typing import Any

from omegaconf import DictConfig

from .metric import COUNTED, FORMS, is_metric
from .schema import (IMAGE_SIDE, TRAIN_SIZE, Activation, Arch, DatasetName, BatchNormConfig, BNPlacement, Config, GaussianLabels,
                     Loss, ModelConfig, NoiseOnlyConfig, NoisyConfig, NormConfig, NormKind, RenormConfig)


class ConfigError(ValueError):
    """A configuration value out of its allowed range; the message names the key."""


def _check(ok: bool, key: str, value: Any, allowed: str) -> None:
    if not ok:
        raise ConfigError(f"{key}={value} is out of range: {allowed}")


def _check_update_rule(optim) -> None:
    betas = list(optim.betas)
    _check(len(betas) == 2 and all(0 <= b < 1 for b in betas), "optim.betas", betas,
           "must be two numbers in [0, 1) (Adam's decay rates of the gradient's mean and square)")
    _check(0 <= optim.alpha < 1, "optim.alpha", optim.alpha, "must be in [0, 1) (RMSprop's decay rate of the squared gradient)")
    _check(optim.eps > 0, "optim.eps", optim.eps, "must be > 0 (it keeps the update's denominator away from 0)")
    kind = getattr(optim.kind, "value", optim.kind)
    _check(kind != "adam" or optim.momentum == 0, "optim.momentum", optim.momentum,
           "must be 0 with optim.kind=adam (Adam's momentum is optim.betas[0])")


def validate(cfg: Config | DictConfig) -> None:
    """Range checks that types cannot express. Raises ConfigError naming the key."""
    model, optim, train, data, evaluation = cfg.model, cfg.optim, cfg.train, cfg.data, cfg.eval
    _check(is_plain_name(cfg.name), "name", cfg.name,
           "must be a plain name (no '/', '\\', '..' or absolute path): it names runs/<name>/ and results/<name>.*")
    _check(cfg.profile == "full" or cfg.profile.startswith(f"{cfg.name}_"), "profile", cfg.profile,
           f"must be 'full' or one of experiment {cfg.name}'s profiles, conf/profile/{cfg.name}_<kind>.yaml "
           f"(a profile sets one experiment's scale)")
    _check(0 <= cfg.seed < 2**32, "seed", cfg.seed, "must be in [0, 2^32)")
    _check(model.depth >= 1, "model.depth", model.depth, "must be >= 1")
    _check(model.width >= 1, "model.width", model.width, "must be >= 1")
    _check(0.0 <= model.dropout < 1.0, "model.dropout", model.dropout, "must be in [0, 1)")
    _check(model.init_std > 0, "model.init_std", model.init_std, "must be > 0")
    _check(model.init_gain > 0, "model.init_gain", model.init_gain, "must be > 0")
    _check_norm(model.norm)
    _check(model.weight_scale > 0, "model.weight_scale", model.weight_scale, "must be > 0")
    _check(evaluation.population_batches >= 1, "eval.population_batches", evaluation.population_batches, "must be >= 1")
    _check(evaluation.batch_size is None or evaluation.batch_size >= 1, "eval.batch_size", evaluation.batch_size, "must be null or >= 1")
    for size in evaluation.batch_sizes:
        _check(size >= 1, "eval.batch_sizes", list(evaluation.batch_sizes), "entries must be >= 1")
    _check(model.conv_kernel >= 1 and model.conv_kernel % 2 == 1, "model.conv_kernel", model.conv_kernel,
           "must be an odd number >= 1")
    _check(model.pool_every >= 1, "model.pool_every", model.pool_every, "must be >= 1")
    _check(data.whiten_eps > 0, "data.whiten_eps", data.whiten_eps, "must be > 0 (the covariance has zero eigenvalues)")
    _check(0 < optim.lr < math.inf, "optim.lr", optim.lr, "must be finite and > 0")
    _check(0 <= optim.momentum < 1, "optim.momentum", optim.momentum, "must be in [0, 1)")
    _check(0 <= optim.weight_decay < math.inf, "optim.weight_decay", optim.weight_decay, "must be finite and >= 0")
    _check(optim.decay_every >= 1, "optim.decay_every", optim.decay_every, "must be >= 1")
    _check(0 < optim.decay_factor <= 1, "optim.decay_factor", optim.decay_factor, "must be in (0, 1]")
    for key in ("lr_mult", "weight_decay_div", "decay_speedup"):
        _check(0 < getattr(optim, key) < math.inf, f"optim.{key}", getattr(optim, key), "must be finite and > 0")
    _check_update_rule(optim)
    _check(train.steps >= 1, "train.steps", train.steps, "must be >= 1")
    min_batch = 2 if uses_bn(model) else 1
    _check(train.batch_size >= min_batch, "train.batch_size", train.batch_size,
           "must be >= 2 with batch normalization (a batch of one has no variance)"
           if min_batch == 2 else "must be >= 1")
    _check(train.class_block >= 1 and train.batch_size % train.class_block == 0, "train.class_block",
           train.class_block, f"must be >= 1 and divide train.batch_size={train.batch_size}")
    group = getattr(model.norm, "group", None)
    if group is not None:
        _check(group >= 2 and train.batch_size % group == 0, "model.norm.group", group,
               f"must be null (the whole batch) or >= 2 and divide train.batch_size={train.batch_size}")
    _check(train.eval_every >= 1, "train.eval_every", train.eval_every, "must be >= 1")
    _check(train.log_every >= 1, "train.log_every", train.log_every, "must be >= 1")
    _check(train.checkpoint_every >= 0, "train.checkpoint_every", train.checkpoint_every, "must be >= 0 (0: never)")
    _check(train.checkpoint_min_s >= 0, "train.checkpoint_min_s", train.checkpoint_min_s, "must be >= 0")
    _check(train.eval_batch_size >= 1, "train.eval_batch_size", train.eval_batch_size, "must be >= 1")
    _check(train.threads is None or train.threads >= 1, "train.threads", train.threads, "must be null or >= 1")
    _check(0 <= cfg.probes.unit < model.width, "probes.unit", cfg.probes.unit,
           f"must be in [0, model.width={model.width})")
    _check(not model.input_bn or model.arch == Arch.mlp, "model.input_bn", model.input_bn,
           "a BN layer on the inputs is built for model=mlp only (one channel per input feature)")
    group = model.input_bn_group
    _check(group is None or (model.input_bn and group >= 2 and train.batch_size % group == 0),
           "model.input_bn_group", group, f"must be null, or (with model.input_bn=true) >= 2 and divide "
           f"train.batch_size={train.batch_size}")
    _check(data.name != DatasetName.gaussian or model.arch == Arch.mlp, "data.name", data.name.value,
           "gaussian inputs are vectors: use model=mlp")
    regression = data.name == DatasetName.gaussian and data.labels == GaussianLabels.regression
    _check(not regression or train.loss == Loss.mse, "train.loss", train.loss.value,
           "data.labels=regression has real-valued targets: use train.loss=mse")
    _check(data.feature_scales >= 0, "data.feature_scales", data.feature_scales, "must be >= 0 (a log10 range)")
    if model.arch in (Arch.convnet, Arch.vgg):
        side, pools = IMAGE_SIDE[data.name], model.depth // model.pool_every
        _check(side >> pools >= 1, "model.depth", model.depth,
               f"{pools} 2x2 pools (one every model.pool_every={model.pool_every} layers) shrink a "
               f"{side}x{side} input to nothing")
    n_train = min(TRAIN_SIZE.get(data.name, data.synthetic_train), data.train_limit or 2**62)
    _check(train.batch_size <= n_train, "train.batch_size", train.batch_size,
           f"must be <= the training set's size ({n_train})")
    hist = cfg.probes.hist_every
    _check(hist is None or (hist >= 0 and hist % train.log_every == 0), "probes.hist_every", hist,
           f"must be null (about 20 per run), 0 (never) or a multiple of train.log_every={train.log_every}")
    _check_measures(cfg)
    for key in ("train_limit", "test_limit"):
        value = getattr(data, key)
        _check(value is None or value >= 1, f"data.{key}", value, "must be null or >= 1")
    _check(data.augment_pad >= 0, "data.augment_pad", data.augment_pad, "must be >= 0")
    _check(data.synthetic_train >= 1, "data.synthetic_train", data.synthetic_train, "must be >= 1")
    _check(data.dim >= 1, "data.dim", data.dim, "must be >= 1")
    _check(data.synthetic_test >= 1, "data.synthetic_test", data.synthetic_test, "must be >= 1")
    for column in cfg.report.columns:
        _check(is_metric(column) and column not in COUNTED, "report.columns", column,
               "entries are 'tag', 'tag:first', 'tag:final', 'tag:median', 'tag:change', 'tag:steps_to=X' or 'tag:median<=N'")
    for i, claim in enumerate(cfg.report.claims):
        _check_claim(claim, f"report.claims[{i}]")
    for i, entry in enumerate(cfg.report.dropped):
        _check_dropped(entry, f"report.dropped[{i}]")


def _check_claim(claim, key: str) -> None:
    """A claim's fields, each against its allowed values (the schema's ClaimConfig says what they mean)."""
    _check(claim.op in (">", "<", "=", "!="), f"{key}.op", claim.op, "must be '>', '<', '=' or '!='")
    compared = claim.than is not None or claim.than_metric is not None
    _check(compared != (claim.value is not None), key, claim.text,
           "needs either `than` / `than_metric` (another arm or metric) or `value` (a threshold)")
    _check(not claim.paired or claim.than is not None, f"{key}.paired", claim.paired,
           "pairs two arms by seed: needs `than`")
    for field in ("metric", "than_metric"):
        value = getattr(claim, field)
        _check(value is None or is_metric(value), f"{key}.{field}", value, FORMS)
    _check(claim.factor > 0, f"{key}.factor", claim.factor, "must be > 0 (it scales the compared value)")
    _check(claim.tol > 0, f"{key}.tol", claim.tol, "must be > 0 (a relative band)")
    _check(claim.tol_abs is None or claim.tol_abs >= 0, f"{key}.tol_abs", claim.tol_abs, "must be null or >= 0")
    _check(claim.better in (None, "higher", "lower"), f"{key}.better", claim.better,
           "must be null (from the metric's name), 'higher' or 'lower'")
    _check(not claim.two_sided or claim.op in (">", "<"), f"{key}.two_sided", claim.two_sided,
           "asks one question in both directions: op must be '>' or '<' (the side the source expects)")
    _check(not (claim.two_sided and claim.check), f"{key}.two_sided", claim.two_sided,
           "a check verifies one direction run by run: not two-sided")
    if claim.metric in COUNTED:
        _check(claim.op in (">", "<") or claim.check, f"{key}.op", claim.op,
               f"{claim.metric} counts runs: compare rates with '>' or '<' (or make it a check)")
        _check(claim.value is None or 0 <= claim.value <= 1, f"{key}.value", claim.value,
               f"{claim.metric} is a rate: a value in [0, 1]")
        _check(claim.than_metric is None and not claim.paired and claim.better is None, key, claim.text,
               f"{claim.metric} counts runs of an arm: no than_metric, paired or better")


def _check_dropped(entry, key: str) -> None:
    """A dropped claim's record: every field stated (claim, verdict, reason), the commit a hash."""
    for name in ("claim", "verdict", "reason"):
        value = getattr(entry, name)
        _check(isinstance(value, str) and value.strip() != "", f"{key}.{name}", repr(value),
               "must be stated (a dropped claim records its text, its last verdict, the commit and the reason)")
    _check(isinstance(entry.commit, str) and re.fullmatch(r"[0-9a-f]{7,40}", entry.commit) is not None,
           f"{key}.commit", repr(entry.commit), "must be the commit whose results gave the last verdict (7-40 hex digits)")


def _check_measures(cfg) -> None:
    """The ICS and landscape measures run on probe steps, on layers that exist.
    (probes.which is checked against the registry by launch/sweep.py: it lives in run/.)"""
    probes, log_every, depth = cfg.probes, cfg.train.log_every, cfg.model.depth
    for key in ("ics_every", "landscape_every"):
        every = getattr(probes, key)
        _check(every >= 0 and every % log_every == 0, f"probes.{key}", every,
               f"must be 0 (never) or a multiple of train.log_every={log_every}")
    for layer in probes.ics_layers:
        _check(2 <= layer <= depth + 1, "probes.ics_layers", list(probes.ics_layers),
               f"layers 2 to {depth + 1} (layer 1 has no layers before it; {depth + 1} is the output layer)")
    _check(probes.landscape_sizes >= 1, "probes.landscape_sizes", probes.landscape_sizes, "must be >= 1")
    low_high = list(probes.landscape_range)
    _check(len(low_high) == 2 and 0 < low_high[0] <= low_high[1], "probes.landscape_range", low_high,
           "must be [low, high] with 0 < low <= high (multiples of the learning rate)")
    _check("dead" not in probes.which or cfg.model.activation == Activation.relu, "probes.which",
           list(probes.which), "the probe `dead` counts ReLUs that never fire: it needs model.activation=relu")
    cap = probes.landscape_max_step
    _check(cap is None or cap > 0, "probes.landscape_max_step", cap, "must be null (no cap) or > 0")


def _check_norm(norm: NormConfig) -> None:
    if isinstance(norm, BatchNormConfig):
        _check(norm.eps > 0, "model.norm.eps", norm.eps, "must be > 0")
        _check(0 < norm.momentum <= 1, "model.norm.momentum", norm.momentum, "must be in (0, 1]")
    if isinstance(norm, (NoisyConfig, NoiseOnlyConfig)):
        for key, low in (("n_mu", 0), ("n_sigma", 1), ("r_mu", 0), ("r_sigma", 0)):
            _check(getattr(norm, key) >= low, f"model.norm.{key}", getattr(norm, key), f"must be >= {low}")
    if isinstance(norm, RenormConfig):
        _check(norm.eps > 0, "model.norm.eps", norm.eps, "must be > 0")
        _check(norm.rmax >= 1, "model.norm.rmax", norm.rmax, "must be >= 1")
        _check(norm.dmax >= 0, "model.norm.dmax", norm.dmax, "must be >= 0")
        _check(norm.warmup >= 0, "model.norm.warmup", norm.warmup, "must be >= 0")
        for key in ("rmax_at", "dmax_at"):
            _check(getattr(norm, key) >= norm.warmup, f"model.norm.{key}", getattr(norm, key),
                   f"must be >= model.norm.warmup={norm.warmup}")
        _check(0 < norm.rate <= 1, "model.norm.rate", norm.rate, "must be in (0, 1]")


def is_plain_name(name: str) -> bool:
    """A name that stays one directory level: runs/<name>/ and results/<name>.md never escape."""
    return bool(name) and name not in (".", "..") and not any(c in name for c in "/\\\0") and ".." not in name


def uses_bn(model: ModelConfig) -> bool:
    """model.bn says where, model.norm which: either none (or noise_only, which places noise
    and normalizes nothing) means no normalization."""
    return has_norm_layer(model) and model.norm.kind != NormKind.noise_only


def has_norm_layer(model: ModelConfig) -> bool:
    """A layer of the norm registry sits where model.bn says (noise_only's noise included)."""
    return model.bn != BNPlacement.none and model.norm.kind != NormKind.none


