"""Typed configuration: the schema every Hydra config is merged into, and range checks.

The dataclasses are registered in Hydra's ConfigStore as `base_config`; conf/train.yaml
lists it first in its defaults, so every yaml file and command-line override is
checked against these types (unknown key, wrong type, invalid enum value) while the
config is composed. `validate` adds the range checks a type cannot express. Both
run before any run directory exists (see bnrepro/sweep.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf


class DatasetName(Enum):
    mnist = "mnist"
    fashion_mnist = "fashion_mnist"
    cifar10 = "cifar10"
    synthetic = "synthetic"


class Normalize(Enum):
    none = "none"  # pixels scaled to [0, 1]
    standardize = "standardize"  # per channel, with the training set's mean and std


class Arch(Enum):
    mlp = "mlp"
    convnet = "convnet"


class Activation(Enum):
    sigmoid = "sigmoid"
    tanh = "tanh"
    relu = "relu"


class BNPlacement(Enum):
    none = "none"
    pre = "pre"  # BN(Wu), then the nonlinearity: the paper's placement
    post = "post"  # the nonlinearity, then BN


class NormKind(Enum):
    none = "none"  # no normalization, wherever model.bn would place it
    torch = "torch"  # PyTorch's BatchNorm kernels
    paper = "paper"  # Algorithm 1 with the paper's backward pass; Algorithm 2 available
    renorm = "renorm"  # Batch Renormalization (Ioffe 2017)


class Affine(Enum):
    learn = "learn"  # learnable gamma and beta (the paper)
    none = "none"  # no gamma, no beta: y = x_hat
    fixed_gamma = "fixed_gamma"  # gamma fixed at model.bn_gamma, beta learnable


class EvalStats(Enum):
    moving = "moving"  # running averages collected during training
    population = "population"  # Algorithm 2: averaged over many training mini-batches
    batch = "batch"  # each test batch normalized with its own statistics (wrong at test time)


class Init(Enum):
    gaussian = "gaussian"  # N(0, init_std^2), the paper's "small random Gaussian values"
    xavier = "xavier"  # normal, std = init_gain * sqrt(2 / (fan_in + fan_out)) (Glorot)
    kaiming = "kaiming"  # normal, std = init_gain * sqrt(2 / fan_in) (He)


class Schedule(Enum):
    constant = "constant"
    step = "step"  # lr * decay_factor ** floor(step / decay_every)
    cosine = "cosine"  # lr * 0.5 * (1 + cos(pi * step / train.steps))


class DeviceChoice(Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class GraphMode(Enum):
    auto = "auto"  # capture the step in CUDA graphs on a GPU, eager on the CPU
    on = "on"
    off = "off"


@dataclass
class DataConfig:
    name: DatasetName = DatasetName.mnist
    # Where datasets are cached; ~ is expanded. Outside the source tree by default.
    root: str = "${oc.env:BNREPRO_DATA,'~/.cache/bnrepro/data'}"
    binarize: bool = False  # pixel > 0.5 -> 1 else 0 (the paper's MNIST is binary)
    normalize: Normalize = Normalize.none
    train_limit: Optional[int] = None  # use only the first n training examples
    test_limit: Optional[int] = None
    # synthetic only: sizes of a deterministic, learnable 10-class problem
    synthetic_train: int = 4096
    synthetic_test: int = 1024


@dataclass
class ModelConfig:
    arch: Arch = Arch.mlp
    depth: int = 3  # hidden layers (mlp) or conv layers (convnet)
    width: int = 100  # units (mlp) or channels (convnet) per layer
    activation: Activation = Activation.sigmoid
    bn: BNPlacement = BNPlacement.none
    # null: drop the bias where BN directly follows the layer (BN's beta replaces it)
    bias: Optional[bool] = None
    dropout: float = 0.0  # after each hidden nonlinearity (and after BN when post)
    init: Init = Init.gaussian
    init_std: float = 0.01  # gaussian only
    init_gain: float = 1.0  # xavier / kaiming: multiplies the textbook std
    # Which normalization, where model.bn places one (none: no normalization at all).
    norm: NormKind = NormKind.torch
    bn_affine: Affine = Affine.learn
    bn_gamma: float = 1.0  # the fixed gamma of bn_affine=fixed_gamma
    bn_eps: float = 1e-5
    # PyTorch convention: running = (1 - m) * running + m * batch_statistic
    bn_momentum: float = 0.1
    # Batch Renormalization (norm=renorm): plain BN for renorm_warmup steps, then r_max
    # rises linearly to renorm_rmax at step renorm_rmax_at, d_max to renorm_dmax at
    # renorm_dmax_at; moving averages of mu and sigma at rate renorm_rate.
    renorm_rmax: float = 3.0
    renorm_dmax: float = 5.0
    renorm_warmup: int = 5000
    renorm_rmax_at: int = 40000
    renorm_dmax_at: int = 25000
    renorm_rate: float = 0.01
    weight_scale: float = 1.0  # multiplies the hidden layers' initial weights (scale invariance)
    conv_kernel: int = 3
    pool_every: int = 2  # convnet: 2x2 max-pool after every n-th conv layer


@dataclass
class OptimConfig:
    # SGD with momentum; the paper does not state its MNIST optimizer.
    lr: float = 0.1
    momentum: float = 0.0
    weight_decay: float = 0.0
    schedule: Schedule = Schedule.constant
    decay_every: int = 1000  # schedule=step
    decay_factor: float = 0.1  # schedule=step


@dataclass
class TrainConfig:
    steps: int = 1000
    batch_size: int = 60
    eval_every: int = 500  # test loss/accuracy, eval mode, whole test set
    log_every: int = 100  # train metrics and probes
    eval_batch_size: int = 10000  # chunk size of the eval forward pass
    graph: GraphMode = GraphMode.auto
    progress: Optional[bool] = None  # null: a progress bar when stderr is a terminal


@dataclass
class EvalConfig:
    stats: EvalStats = EvalStats.moving  # what test/loss and test/acc normalize BN with
    compare_stats: bool = False  # also log test accuracy under every choice of statistics
    population_batches: int = 100  # Algorithm 2: training mini-batches averaged (size train.batch_size)
    batch_size: Optional[int] = None  # test batch size for stats=batch (null: train.batch_size)
    # At the end: test accuracy with batch statistics for each of these test batch sizes.
    batch_sizes: List[int] = field(default_factory=list)


@dataclass
class ProbeConfig:
    unit: int = 0  # the "typical unit" whose input percentiles are tracked (paper Fig. 1b,c)
    hist_every: int = 5000  # histograms (0: never); a multiple of train.log_every


@dataclass
class ClaimConfig:
    """A claim an experiment tests, judged by `bnrepro table` from the runs' summaries.

    metric: a summary value (test_acc_final, test_acc_best, best_step) or a logged
    tag ("grad_norm/layer_01" for its final value, "...:first", "...:median" over
    the run, "...:change" for |final - first|).
    where / than: the arms compared, as "key=value[,key=value]" over config keys.
    than_metric: compare with another metric (of the `than` arm, or of `where` itself).
    Verdict: `where`'s mean <op> factor * the other mean (or factor * `value`); op "="
    holds within a relative tolerance `tol`, op "!=" beyond it.
    """
    text: str = "???"
    source: str = ""  # where the paper (or a later paper) makes it
    metric: str = "test_acc_final"
    where: str = ""
    op: str = ">"
    than: Optional[str] = None
    than_metric: Optional[str] = None
    value: Optional[float] = None
    factor: float = 1.0
    tol: float = 0.01


@dataclass
class ReportConfig:
    # Extra table columns: a logged tag for its final value, "tag:median" for its
    # median over the run, "tag:change" for |final - first|. Tables always have the
    # test accuracies and status.
    columns: List[str] = field(default_factory=list)
    claims: List[ClaimConfig] = field(default_factory=list)


@dataclass
class Config:
    name: str = "default"  # the experiment; names results/<name>.csv and runs/<name>/
    seed: int = 0
    device: DeviceChoice = DeviceChoice.auto
    out_dir: str = "runs"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    probes: ProbeConfig = field(default_factory=ProbeConfig)
    report: ReportConfig = field(default_factory=ReportConfig)


# Keys that say where or how a run executes, not what it computes.
WHERE_KEYS = ("device", "out_dir", "data.root", "train.progress", "train.graph")

# Image side and training-set size of each dataset, for checks before any data is read.
IMAGE_SIDE = {DatasetName.mnist: 28, DatasetName.fashion_mnist: 28, DatasetName.cifar10: 32, DatasetName.synthetic: 28}
TRAIN_SIZE = {DatasetName.mnist: 60000, DatasetName.fashion_mnist: 60000, DatasetName.cifar10: 50000}


def register() -> None:
    ConfigStore.instance().store(name="base_config", node=Config)


class ConfigError(ValueError):
    """A configuration value out of its allowed range; the message names the key."""


def _check(ok: bool, key: str, value: Any, allowed: str) -> None:
    if not ok:
        raise ConfigError(f"{key}={value} is out of range: {allowed}")


def validate(cfg: Config | DictConfig) -> None:
    """Range checks that types cannot express. Raises ConfigError naming the key."""
    m, o, t, d = cfg.model, cfg.optim, cfg.train, cfg.data
    _check(0 <= cfg.seed < 2**32, "seed", cfg.seed, "must be in [0, 2^32)")
    _check(m.depth >= 1, "model.depth", m.depth, "must be >= 1")
    _check(m.width >= 1, "model.width", m.width, "must be >= 1")
    _check(0.0 <= m.dropout < 1.0, "model.dropout", m.dropout, "must be in [0, 1)")
    _check(m.init_std > 0, "model.init_std", m.init_std, "must be > 0")
    _check(m.init_gain > 0, "model.init_gain", m.init_gain, "must be > 0")
    _check(m.bn_eps > 0, "model.bn_eps", m.bn_eps, "must be > 0")
    _check(0 < m.bn_momentum <= 1, "model.bn_momentum", m.bn_momentum, "must be in (0, 1]")
    _check(m.renorm_rmax >= 1, "model.renorm_rmax", m.renorm_rmax, "must be >= 1")
    _check(m.renorm_dmax >= 0, "model.renorm_dmax", m.renorm_dmax, "must be >= 0")
    _check(m.renorm_warmup >= 0, "model.renorm_warmup", m.renorm_warmup, "must be >= 0")
    for key in ("renorm_rmax_at", "renorm_dmax_at"):
        _check(getattr(m, key) >= m.renorm_warmup, f"model.{key}", getattr(m, key),
               f"must be >= model.renorm_warmup={m.renorm_warmup}")
    _check(0 < m.renorm_rate <= 1, "model.renorm_rate", m.renorm_rate, "must be in (0, 1]")
    _check(m.weight_scale > 0, "model.weight_scale", m.weight_scale, "must be > 0")
    e = cfg.eval
    _check(e.population_batches >= 1, "eval.population_batches", e.population_batches, "must be >= 1")
    _check(e.batch_size is None or e.batch_size >= 1, "eval.batch_size", e.batch_size, "must be null or >= 1")
    for n in e.batch_sizes:
        _check(n >= 1, "eval.batch_sizes", list(e.batch_sizes), "entries must be >= 1")
    _check(m.conv_kernel >= 1 and m.conv_kernel % 2 == 1, "model.conv_kernel", m.conv_kernel,
           "must be an odd number >= 1")
    _check(m.pool_every >= 1, "model.pool_every", m.pool_every, "must be >= 1")
    _check(o.lr > 0, "optim.lr", o.lr, "must be > 0")
    _check(0 <= o.momentum < 1, "optim.momentum", o.momentum, "must be in [0, 1)")
    _check(o.weight_decay >= 0, "optim.weight_decay", o.weight_decay, "must be >= 0")
    _check(o.decay_every >= 1, "optim.decay_every", o.decay_every, "must be >= 1")
    _check(0 < o.decay_factor <= 1, "optim.decay_factor", o.decay_factor, "must be in (0, 1]")
    _check(t.steps >= 1, "train.steps", t.steps, "must be >= 1")
    min_batch = 2 if uses_bn(m) else 1
    _check(t.batch_size >= min_batch, "train.batch_size", t.batch_size,
           "must be >= 2 with batch normalization (a batch of one has no variance)"
           if min_batch == 2 else "must be >= 1")
    _check(t.eval_every >= 1, "train.eval_every", t.eval_every, "must be >= 1")
    _check(t.log_every >= 1, "train.log_every", t.log_every, "must be >= 1")
    _check(t.eval_batch_size >= 1, "train.eval_batch_size", t.eval_batch_size, "must be >= 1")
    _check(0 <= cfg.probes.unit < m.width, "probes.unit", cfg.probes.unit,
           f"must be in [0, model.width={m.width})")
    if m.arch == Arch.convnet:
        side, pools = IMAGE_SIDE[d.name], m.depth // m.pool_every
        _check(side >> pools >= 1, "model.depth", m.depth,
               f"{pools} 2x2 pools (one every model.pool_every={m.pool_every} layers) shrink a "
               f"{side}x{side} input to nothing")
    n_train = min(TRAIN_SIZE.get(d.name, d.synthetic_train), d.train_limit or 2**62)
    _check(t.batch_size <= n_train, "train.batch_size", t.batch_size,
           f"must be <= the training set's size ({n_train})")
    _check(cfg.probes.hist_every >= 0 and cfg.probes.hist_every % t.log_every == 0,
           "probes.hist_every", cfg.probes.hist_every,
           f"must be 0 or a multiple of train.log_every={t.log_every}")
    for key in ("train_limit", "test_limit"):
        value = getattr(d, key)
        _check(value is None or value >= 1, f"data.{key}", value, "must be null or >= 1")
    _check(d.synthetic_train >= 1, "data.synthetic_train", d.synthetic_train, "must be >= 1")
    _check(d.synthetic_test >= 1, "data.synthetic_test", d.synthetic_test, "must be >= 1")
    for column in cfg.report.columns:
        tag, _, how = column.partition(":")
        _check(bool(tag) and how in ("", "first", "final", "median", "change"), "report.columns", column,
               "entries are 'tag', 'tag:first', 'tag:final', 'tag:median' or 'tag:change'")
    for i, claim in enumerate(cfg.report.claims):
        key = f"report.claims[{i}]"
        _check(claim.op in (">", "<", "=", "!="), f"{key}.op", claim.op, "must be '>', '<', '=' or '!='")
        compared = claim.than is not None or claim.than_metric is not None
        _check(compared != (claim.value is not None), key, claim.text,
               "needs either `than` / `than_metric` (another arm or metric) or `value` (a threshold)")


def uses_bn(model: ModelConfig) -> bool:
    """model.bn says where, model.norm which: either none means no normalization."""
    return model.bn != BNPlacement.none and model.norm != NormKind.none


def to_plain(cfg: Config | DictConfig) -> dict:
    """The config as plain JSON-able Python (enums as their names), without hydra."""
    node = cfg if isinstance(cfg, DictConfig) else OmegaConf.structured(cfg)
    plain = OmegaConf.to_container(node, resolve=True, enum_to_str=True)
    plain.pop("hydra", None)
    return plain


def from_plain(plain: dict) -> Config:
    """A typed Config from plain values (as stored in a run's summary.json)."""
    merged = OmegaConf.merge(OmegaConf.structured(Config), plain)
    return OmegaConf.to_object(merged)


def flatten(plain: dict, prefix: str = "") -> dict:
    """{'model': {'bn': 'pre'}} -> {'model.bn': 'pre'}; lists stay as values."""
    out = {}
    for key, value in plain.items():
        full = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, full + "."))
        else:
            out[full] = value
    return out
