"""The schema every Hydra config is merged into: dataclasses, enums, ConfigStore entries.

The dataclasses are registered in Hydra's ConfigStore as `base_config`; conf/train.yaml
lists it first in its defaults, so every yaml file and command-line override is
checked against these types (unknown key, wrong type, invalid enum value) while the
config is composed. Each key is declared once, with its type, default, help text and
allowed range (`key()`, keys.py): checks.py checks the ranges (and the relations between
keys), and `bnrepro train --help` and docs/config.md (scripts/gen_docs.py) show them. All
of this runs before any run directory exists (see bnrepro/launch/sweep.py).

A new key is one line here: `name: type = key(default, "help", range)`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Dict, List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf

from .keys import Range, above, at_least, each, is_plain_name, key, odd, or_null, with_note, within
from .norms import NormConfig

# Ranges of more than a bound.
SEED = Range(lambda v: 0 <= v < 2**32, "must be in [0, 2^32)")
PLAIN_NAME = Range(
    is_plain_name,
    "must be a plain name (no '/', '\\', '..' or absolute path): it names runs/<name>/ and results/<name>.*",
)
# lr and its multipliers: inf is refused like nan (an infinite step only diverges)
FINITE_POSITIVE = Range(lambda v: 0 < v < math.inf, "must be finite and > 0")
LOW_HIGH = Range(
    lambda v: len(v) == 2 and 0 < v[0] <= v[1],
    "must be [low, high] with 0 < low <= high (multiples of the learning rate)",
)

__all__ = [
    "DatasetName",
    "Normalize",
    "Arch",
    "Activation",
    "BNPlacement",
    "Affine",
    "EvalStats",
    "Init",
    "Schedule",
    "OptimKind",
    "GaussianLabels",
    "FeatureShape",
    "Loss",
    "Output",
    "DropoutAt",
    "DeviceChoice",
    "GraphMode",
    "DataConfig",
    "LSTMConfig",
    "ModelConfig",
    "OptimConfig",
    "TrainConfig",
    "EvalConfig",
    "ProbeConfig",
    "ClaimConfig",
    "DroppedClaim",
    "PaperRow",
    "PaperTableConfig",
    "ReportConfig",
    "Config",
    "WHERE_KEYS",
    "IMAGE_SIDE",
    "TRAIN_SIZE",
    "input_values",
    "time_steps",
    "register",
]


# The choices of the enum-typed keys; what each choice means is its key's help below.


class DatasetName(Enum):
    mnist = "mnist"
    fashion_mnist = "fashion_mnist"
    cifar10 = "cifar10"
    synthetic = "synthetic"
    gaussian = "gaussian"


class GaussianLabels(Enum):
    random = "random"
    linear = "linear"
    regression = "regression"


class FeatureShape(Enum):
    """data.feature_shape: every other input feature (odd positions of the flattened input)
    passed through a fixed strictly increasing map, so no information is lost but its
    distribution is no longer Gaussian (seed 004: "highly non-Gaussian" variables)."""

    as_drawn = "as_drawn"
    heavy_tailed = "heavy_tailed"
    bimodal = "bimodal"


class Loss(Enum):
    cross_entropy = "cross_entropy"
    mse = "mse"


class Output(Enum):
    linear = "linear"
    sigmoid = "sigmoid"


class DropoutAt(Enum):
    every = "every"
    last = "last"


class Normalize(Enum):
    none = "none"
    standardize = "standardize"
    standardize_feature = "standardize_feature"
    center = "center"
    pca_whiten = "pca_whiten"
    zca_whiten = "zca_whiten"


class Arch(Enum):
    mlp = "mlp"
    convnet = "convnet"
    vgg = "vgg"
    lstm = "lstm"


class Activation(Enum):
    sigmoid = "sigmoid"
    tanh = "tanh"
    relu = "relu"
    linear = "linear"


class BNPlacement(Enum):
    none = "none"
    pre = "pre"
    post = "post"
    input = "input"
    both = "both"


class Affine(Enum):
    learn = "learn"
    none = "none"
    fixed_gamma = "fixed_gamma"
    no_beta = "no_beta"


class EvalStats(Enum):
    moving = "moving"
    population = "population"
    batch = "batch"


class Init(Enum):
    gaussian = "gaussian"
    xavier = "xavier"
    kaiming = "kaiming"
    xavier_uniform = "xavier_uniform"


class Schedule(Enum):
    constant = "constant"
    step = "step"
    cosine = "cosine"
    exponential = "exponential"


class OptimKind(Enum):
    sgd = "sgd"
    rmsprop = "rmsprop"
    adam = "adam"


class DeviceChoice(Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class GraphMode(Enum):
    auto = "auto"
    on = "on"
    off = "off"


@dataclass
class DataConfig:
    name: DatasetName = key(
        DatasetName.mnist,
        "the data set (or data=NAME): synthetic is generated, small and "
        "deterministic (tests, offline demos); gaussian: inputs N(0, 1), the classic initialization "
        "demonstrations",
    )
    root: str = key(
        "${oc.env:BNREPRO_DATA,'~/.cache/bnrepro/data'}",
        "where datasets are cached (~ expanded): $BNREPRO_DATA, else outside the source tree",
    )
    binarize: bool = key(False, "pixel > 0.5 -> 1, else 0 (the paper's MNIST is binary)")
    normalize: Normalize = key(
        Normalize.none,
        "none: pixels in [0, 1]; standardize: per channel, standardize_feature: "
        "per feature (pixel; a constant feature stays 0), with the training set's mean and std; "
        "the rest of the classic input ladder (LeCun et al. 1998, Efficient BackProp 4.3), every "
        "statistic from the training set: center: minus the mean per feature; pca_whiten: "
        "(x - mean) U diag(1 / sqrt(s + eps)) with the covariance's eigenvectors U and values s "
        "(decorrelated, unit variance, rotated); zca_whiten: pca_whiten rotated back by U^T "
        "(the pixels' own axes)",
    )
    train_limit: Optional[int] = key(None, "use only the first n training examples (null: all)", or_null(at_least(1)))
    augment: bool = key(
        False,
        "random crop (zero-pad by augment_pad, crop back) and left-right flip of every training "
        "example, on the device, from a hash of (run seed, step, example). Off by default: the paper's "
        "comparisons are of optimization speed on a fixed training set, and BN's recipe (4.2.1) reduces "
        "distortions; MNIST digits should not be flipped",
    )
    augment_pad: int = key(4, "data.augment: pixels of zero padding before the random crop", at_least(0))
    augment_flip: bool = key(True, "data.augment: also flip left-right")
    test_limit: Optional[int] = key(None, "use only the first n test examples (null: all)", or_null(at_least(1)))
    synthetic_train: int = key(4096, "synthetic and gaussian: training examples", at_least(1))
    synthetic_test: int = key(1024, "synthetic and gaussian: test examples", at_least(1))
    dim: int = key(500, "gaussian: the inputs' dimension", at_least(1))
    labels: GaussianLabels = key(
        GaussianLabels.linear,
        "gaussian: linear: the argmax of a fixed random linear map "
        "of the input (learnable); random: nothing to learn; regression: the map's values "
        "themselves, unit variance per target (needs train.loss=mse; accuracy is then how "
        "often the output's largest value is the target's largest)",
    )
    data_seed: int = key(
        # torch takes a negative seed modulo 2^64: -1 would silently be the seed 2^64 - 1
        0,
        "gaussian, feature_scales: the seed fixing the inputs, the linear map and the scales",
        SEED,
    )
    feature_scales: float = key(
        0.0,
        "r > 0: every input feature multiplied by its own fixed 10^u, u ~ U(-r/2, r/2) "
        "(seed data.data_seed), before data.normalize: raw features of very different scales "
        "(standardize_feature undoes it); 0: none",
        with_note(at_least(0), "a log10 range"),
    )
    feature_shape: FeatureShape = key(
        FeatureShape.as_drawn,
        "every other input feature (odd positions of the "
        "flattened input) passed through a fixed strictly increasing map, before "
        "data.feature_scales: as_drawn: unchanged; heavy_tailed: x -> sign(x) (exp(2|x|) "
        "- 1), rare values thousands of times the typical; bimodal: x -> sign(x) + 0.1 x, "
        "two clusters near -1 and +1 (seed 004: highly non-Gaussian variables)",
    )
    whiten_eps: float = key(
        0.01,
        "normalize=pca_whiten, zca_whiten: added to the covariance's eigenvalues (in the inputs' "
        "squared units; MNIST's largest is ~5 in [0, 1] grey levels), so directions of small "
        "variance are not blown up to 1 (MNIST's constant border makes the covariance singular)",
        with_note(above(0), "the covariance has zero eigenvalues"),
    )
    equal_variance: bool = key(
        False,
        "after data.normalize: train and test inputs times one factor, from the training set, that "
        "makes the mean over features of the training set's per-feature variance 1, so the input "
        "ladder's rungs differ in shape, not in scale (standardize_feature is unchanged but for "
        "constant features; none, center and the whitened rungs are rescaled)",
    )


@dataclass
class LSTMConfig:
    """The LSTM's options (model.arch=lstm; where BN goes is model.bn: none, input, both)."""

    step_inputs: int = key(
        28,
        "model.arch=lstm: input values per time step, the image (channels, rows, columns) "
        "flattened and cut into pieces of this many: 28 reads MNIST row by row (28 steps), 1 pixel "
        "by pixel (784 steps); must divide the image's values",
        at_least(1),
    )
    gamma: float = key(
        0.1,
        "model.arch=lstm: every BN gamma's initial value (Cooijmans et al. 2016: 0.1; BN's usual: 1)",
        with_note(above(0), "the initial BN gamma"),
    )
    stat_steps: Optional[int] = key(
        None,
        "model.arch=lstm: how many time steps keep their own BN statistics; later "
        "steps reuse the last one's, in training and evaluation (Cooijmans et al.: T_max's "
        "reused beyond it); null: every step of the sequence has its own",
        or_null(at_least(1)),
    )
    bn_cell: bool = key(
        False,
        "model.arch=lstm, model.bn=both: also BN(c_t) where the cell enters the output, "
        "h_t = o * tanh(BN(c_t)) (Cooijmans et al.'s equation for h_t); the recurrence "
        "c_t = f c_{t-1} + i g is never normalized",
    )


@dataclass
class ModelConfig:
    arch: Arch = key(
        Arch.mlp,
        "the network (or model=NAME): mlp; convnet: 3x3 convs, BN per channel over N, H, W, "
        "2x2 max-pool every model.pool_every layers, global average pool; vgg: the same in blocks of "
        "model.pool_every convs, channels doubling after each pool, dropout only before the classifier; lstm "
        "(model=lstm): an LSTM reading each image as a sequence of model.lstm.step_inputs values per "
        "time step (MNIST row by row: 28 steps of 28 pixels), its last hidden state classified "
        "(stacked/lstm.py)",
    )
    depth: int = key(3, "hidden layers (mlp), conv layers (convnet, vgg) or LSTM layers (lstm)", at_least(1))
    width: int = key(
        100, "units (mlp; lstm: of h_t) or channels (convnet; vgg: of its first block) per layer", at_least(1)
    )
    activation: Activation = key(
        Activation.sigmoid,
        "the nonlinearity; linear: g(z) = z, a deep linear network "
        "(Santurkar et al. 2018's DLN; probes log no saturation for it)",
    )
    bn: BNPlacement = key(
        BNPlacement.none,
        "where the norm layer goes: none; pre: BN(Wu) before the nonlinearity, "
        "as the paper; post: after it. The LSTM's (model.arch=lstm): none; input: BN on the "
        "input-to-hidden transform W_x x_t only (Laurent et al. 2016); both: separate BNs on W_x x_t "
        "and W_h h_{t-1} (Cooijmans et al. 2016); statistics per time step",
    )
    bias: Optional[bool] = key(
        None, "null: no bias where BN directly follows the layer (BN's beta replaces it); true / false force it"
    )
    dropout: float = key(
        0.0,
        "dropout rate after each hidden nonlinearity (after BN when post); vgg: once, on the "
        "pooled features before the classifier",
        within(0, 1, "[)"),
    )
    dropout_at: DropoutAt = key(
        DropoutAt.every,
        "which hidden layers dropout follows: every one (with BN: before the next "
        "layer's BN), or only the last, after every BN (Li et al. 2019)",
    )
    output: Output = key(
        Output.linear,
        "applied to the output layer before the loss: linear (as it is) or sigmoid (the classic squared-error setup)",
    )
    init: Init = key(
        Init.gaussian,
        "initial weights: gaussian N(0, init_std^2), the paper's \"small random Gaussian "
        'values"; xavier: normal, std = init_gain * sqrt(2 / (fan_in + fan_out)) (Glorot); kaiming: '
        "normal, std = init_gain * sqrt(2 / fan_in) (He); xavier_uniform: U(-a, a), a = init_gain * "
        "sqrt(6 / (fan_in + fan_out))",
    )
    init_std: float = key(0.01, "init=gaussian: the weights' standard deviation", above(0))
    init_gain: float = key(1.0, "init=xavier, kaiming, xavier_uniform: multiplies the textbook std", above(0))
    # The normalization layer model.bn places and its options: the config group `norm`
    # (conf/norm/NAME.yaml, a layer of the registry in norms.py), chosen with norm=NAME.
    norm: NormConfig = MISSING
    bn_affine: Affine = key(
        Affine.learn,
        "BN's gamma and beta: learn both (the paper); none (y = x_hat); "
        "fixed_gamma (gamma = model.bn_gamma, beta learned); no_beta (gamma learned, beta = 0)",
    )
    bn_gamma: float = key(1.0, "bn_affine=fixed_gamma: the fixed gamma", FINITE_POSITIVE)
    weight_scale: float = key(1.0, "multiplies the hidden layers' initial weights (scale invariance)", above(0))
    weight_norm: bool = key(
        False,
        "WeightNorm (Salimans and Kingma 2016): every layer's weight vectors (per output "
        "unit or channel, the output layer's too) w = g v / ||v||, g learned and started at ||v||; "
        "a reparametrization of the weights, not a norm layer: it goes with any norm=",
    )
    input_bn: bool = key(
        False,
        "a BN layer on the raw inputs, before the first layer (mlp only): PyTorch's BN (eps "
        "1e-5, momentum 0.1) over each input feature, learned gamma and beta, whatever model.bn and "
        "model.norm say about the hidden layers (seed 004: BN standardizing raw input variables)",
    )
    input_bn_group: Optional[int] = key(
        None,
        "input_bn's training statistics over each run of this many consecutive "
        "examples of the mini-batch (as model.norm.group; null: the whole mini-batch): "
        "the normalization group shrinks, the SGD batch does not",
        or_null(at_least(2)),
    )
    conv_kernel: int = key(3, "convnet, vgg: the kernel's side", odd(1))
    pool_every: int = key(
        2, "convnet, vgg: a 2x2 max-pool after every n-th conv layer (vgg: then channels x2)", at_least(1)
    )
    lstm: LSTMConfig = field(default_factory=LSTMConfig)  # model.arch=lstm only


@dataclass
class OptimConfig:
    # The paper does not state its MNIST optimizer; SGD (optim.kind) is the default.
    lr: float = key(0.1, "the learning rate", FINITE_POSITIVE)
    momentum: float = key(0.0, "SGD's momentum", within(0, 1, "[)"))
    weight_decay: float = key(0.0, "L2 weight decay", Range(lambda v: 0 <= v < math.inf, "must be finite and >= 0"))
    schedule: Schedule = key(
        Schedule.constant,
        "the learning rate over the steps: constant; step: x decay_factor "
        "every decay_every steps (lr * decay_factor ** floor(step / decay_every)); exponential: x "
        "decay_factor per decay_every steps, smoothly (lr * decay_factor ** (step / decay_every)); "
        "cosine: lr * 0.5 * (1 + cos(pi * step / train.steps))",
    )
    decay_every: int = key(1000, "schedule=step, exponential: steps per decay", at_least(1))
    decay_factor: float = key(0.1, "schedule=step, exponential: the factor per decay", within(0, 1, "(]"))
    # The paper's section 4.2.1 changes that come with BN, each its own key so BN-x5 is the
    # recipe exactly and every change can be undone alone (model.dropout=0 removes dropout).
    lr_mult: float = key(1.0, "the learning rate is optim.lr * lr_mult (the paper's BN-x5: 5)", FINITE_POSITIVE)
    weight_decay_div: float = key(
        1.0, "the L2 weight decay is optim.weight_decay / weight_decay_div (paper: 5)", FINITE_POSITIVE
    )
    decay_speedup: float = key(1.0, "the schedule's clock runs this many times faster (paper: 6)", FINITE_POSITIVE)
    # The update rule (torch.optim's defaults). lr, weight_decay (added to the gradient, L2 as in
    # torch.optim, not AdamW's decoupled decay) and the schedule act the same for every kind.
    kind: OptimKind = key(
        OptimKind.sgd,
        "the update rule, each the same as torch.optim's class of that name "
        "(stacked/optim.py): sgd (with optim.momentum: heavy ball, dampening 0, no Nesterov); "
        "rmsprop (optim.alpha, optim.eps after the square root, optim.momentum); adam (bias-corrected, "
        "optim.betas, optim.eps after the square root)",
    )
    betas: List[float] = key(
        help="adam: the decay rates of the gradient's mean and square",
        range=Range(
            lambda v: len(v) == 2 and all(0 <= b < 1 for b in v),
            "must be two numbers in [0, 1) (Adam's decay rates of the gradient's mean and square)",
        ),
        factory=lambda: [0.9, 0.999],
    )
    alpha: float = key(0.99, "rmsprop: the squared gradient's decay rate", within(0, 1, "[)"))
    eps: float = key(
        1e-8,
        "rmsprop, adam: added to the denominator after the square root",
        with_note(above(0), "it keeps the update's denominator away from 0"),
    )


@dataclass
class TrainConfig:
    steps: int = key(
        1000,
        "training steps (mini-batches)",
        # 0 steps would evaluate nothing and end with no result; what a network is at
        # initialization is probes.initial's step-0 probe, with 1 step (experiment init_statistics)
        with_note(at_least(1), "statistics at initialization: probes.initial=true with steps=1"),
    )
    batch_size: int = key(
        60, "examples per mini-batch (>= 2 with batch normalization: a batch of one has no variance)", at_least(1)
    )
    eval_every: int = key(
        500, "steps between evaluations: test loss and accuracy, eval mode, whole test set", at_least(1)
    )
    log_every: int = key(100, "steps between probe steps: train metrics and probes", at_least(1))
    eval_batch_size: int = key(10000, "the chunk size of the evaluation's forward pass", at_least(1))
    loss: Loss = key(
        Loss.cross_entropy,
        "cross_entropy: softmax on the logits; mse: 1/2 sum over classes of "
        "(output - one-hot)^2, mean over the batch, on model.output's values",
    )
    class_block: int = key(
        1,
        "non-i.i.d. mini-batches: each epoch's order sorted by class, cut into blocks of this "
        "many examples, the blocks shuffled (1: shuffled, i.i.d.; batch_size: one class per "
        "batch); must divide train.batch_size",
        at_least(1),
    )
    graph: GraphMode = key(
        GraphMode.auto, "capture the step in CUDA graphs: auto (on a GPU; eager on the CPU), on, off"
    )
    compile: GraphMode = key(
        GraphMode.auto,
        "torch.compile the training step but for its probe steps (run/compiled.py): auto (on the CPU "
        "for an MLP group of at most 2 runs and at least 30,000 steps, where it pays), on, off; "
        "a compile that fails trains eagerly with a warning (the summaries' compile_error) unless on; "
        "on a GPU CUDA graphs come first (train.graph=off and train.compile=on to compile there)",
    )
    progress: Optional[bool] = key(
        None, "null: a progress bar on a terminal, else a plain line every 10%; true: the bar; false: silent"
    )
    checkpoint_every: int = key(
        1000,
        "save the group's whole state once train.checkpoint_min_s seconds of training "
        "have passed since the last save (and at most 2% of the time), at whatever step that "
        "falls; 0: only when stopped by a signal (run/checkpoint.py)",
        with_note(at_least(0), "0: never"),
    )
    checkpoint_min_s: float = key(
        30.0, "the pacing of checkpoints; 0: every train.checkpoint_every steps, unpaced", at_least(0)
    )
    threads: Optional[int] = key(
        None,
        "intra-op threads on the CPU while a group trains; null: 1 for the MLP and "
        "the LSTM (little to gain from more for their small operations, and they collapse "
        "under other load), torch's setting (every core) for conv nets (run/cpu.py)",
        or_null(at_least(1)),
    )
    processes: Optional[int] = key(
        None,
        "the sweep's packs trained at once, each in its own child process with cores / N "
        "intra-op threads (launch/local.py); null (auto): on a CPU, one per core with one thread "
        "each when there are several packs and enough work, else this process, one pack after "
        "another (launch/schedule.py states the rule); 1: always this process. One value per "
        "sweep; not with hydra/launcher=...",
        or_null(at_least(1)),
    )


@dataclass
class EvalConfig:
    stats: EvalStats = key(
        EvalStats.moving,
        "what test/loss and test/acc normalize BN with: moving (running "
        "averages), population (Algorithm 2: averaged over many training mini-batches), batch (each "
        "test batch's own statistics: wrong at test time)",
    )
    compare_stats: bool = key(False, "also log test accuracy under every choice of statistics (test_stats/)")
    population_batches: int = key(
        100, "Algorithm 2: the training mini-batches averaged (of train.batch_size)", at_least(1)
    )
    batch_size: Optional[int] = key(
        None, "the test batch size for stats=batch (null: train.batch_size)", or_null(at_least(1))
    )
    batch_sizes: List[int] = key(
        help="at the end: test accuracy with batch statistics for each of these test batch sizes (test_batch_stats/)",
        range=each(at_least(1)),
        factory=list,
    )
    variance_shift: bool = key(
        False,
        "log Li et al. 2019's variance shift per BN layer (bn_shift/): BN's moving "
        "variance against its input's variance on training examples in inference mode",
    )
    train_gap: bool = key(
        False,
        "log accuracy on the first training examples (as many as the test set has) in eval "
        "mode, and that minus test accuracy: the generalization gap (train_eval/)",
    )


@dataclass
class ProbeConfig:
    unit: int = key(
        0, 'the "typical unit" whose input percentiles are tracked (paper Fig. 1b,c); < model.width', at_least(0)
    )
    hist_every: Optional[int] = key(
        None,
        "steps between histograms of the nonlinearity inputs: a multiple of "
        "train.log_every, 0 never, null about 20 per run",
        or_null(with_note(at_least(0), "0: never")),
    )
    pictures: bool = key(
        True,
        "at the end of each run: its gradient and activation profiles as images (Images "
        "tab); about 0.3 s per run on a CPU",
    )
    which: List[str] = key(
        help="the probes that run on a probe step (the registry in run/probes.py; their tags: docs/tags.md)",
        factory=lambda: ["grad_norm", "act"],
    )
    initial: bool = key(False, "also probe at step 0: after initialization, before any update")
    ics_every: int = key(
        0,
        "steps between measurements of internal covariate shift as Santurkar et al. define it "
        "(run/measures.py): 0 never, else a multiple of train.log_every",
        with_note(at_least(0), "0: never"),
    )
    ics_layers: List[int] = key(
        help="the layers whose ICS is measured (2 = second hidden .. depth + 1 = output; "
        "layer 1 has no layers before it)",
        factory=lambda: [2],
    )
    landscape_every: int = key(
        0,
        "steps between measurements of the loss landscape along the gradient "
        "(run/measures.py): 0 never, else a multiple of train.log_every",
        with_note(at_least(0), "0: never"),
    )
    landscape_sizes: int = key(8, "the landscape's step sizes, geometric over probes.landscape_range", at_least(1))
    landscape_range: List[float] = key(
        help="the smallest and largest step size, in units of the learning rate (Santurkar et al.: 1/2 to 4)",
        range=LOW_HIGH,
        factory=lambda: [0.5, 4.0],
    )
    landscape_max_step: Optional[float] = key(
        None,
        "the largest step size c * lr probed (null: no cap; above it a "
        "run's steps are scaled down together): Santurkar et al. keep the "
        "steps below the learning rate at which the network without BN "
        "diverges",
        or_null(above(0)),
    )


@dataclass
class ClaimConfig:
    """A claim an experiment tests, judged by `bnrepro table` from the runs' summaries.

    metric: a summary value (test_acc_final, test_acc_best, best_step) or a logged
    tag ("grad_norm/layer_01" for its final value, "...:first", "...:median" over
    the run, "...:change" for |final - first|).
    where / than: the arms compared, as "key=value[,key=value]" over config keys; each
    must select one configuration of the experiment's own sweep (seeds aside).
    than_metric: compare with another metric (of the `than` arm, or of `where` itself).
    Claim: `where`'s metric <op> factor * the other (or factor * `value`); op "="
    within a relative tolerance `tol`, op "!=" beyond it. The verdict rule (t-tests, rank
    tests, TOST, Holm's correction) is in bnrepro/report/claims.py and docs/verdicts.md.
    paired: the arms' runs share seeds and the claim holds seed by seed (the same
    init up to the scale, the same data): judged on the per-seed differences.
    tol_abs: for "=" / "!=", an absolute tolerance used instead of tol x |target| (a
    target of 0 has no relative band).
    check: a verification, not a reproduction (an identity at initialization, a claim
    that cannot fail): verified and shown, never counted among the reproductions.
    two_sided: a neutral question ("BN before or after ReLU: which trains better?"): one
    two-sided test, answered "<A> higher", "<B> higher" or "no difference detected" (A, B:
    the arms' short labels), counted as a neutral answer, never as a reproduction or a
    contradiction. `op` may name the side a source expected ('>': A higher, '<': B higher),
    shown beside the answer ("as expected" / "against the expectation"), or be null: no side
    expected.
    better: "higher" or "lower": which values of the metric are better, so a diverged
    run ranks as the worst possible value (null: from the metric's name: accuracies
    higher; losses and steps-to lower; for any other metric a diverged run has no value
    and the claim is "not applicable" with the reason). Only for outcomes: set on a
    mechanism (a dead-unit fraction), it makes a diverged run count as its worst value.
    at_chance_counts: for a metric that is not an outcome, a run at chance (best test
    accuracy below 2 / classes) still gives a meaningful value: the claim is about why the
    network stays at chance (sigmoid10: vanishing gradients). Default false: a dead network's
    value (a flat landscape, no shift) is left out, as a diverged run's always is. Metrics
    read at the first step (`:first`) keep such runs anyway: nothing has trained yet.
    At chance applies only to classifiers: a run on regression targets (data.labels=regression)
    has no chance level and is never at chance.
    ranked: judge an ordering (`>`, `<`) by a rank test even when every value is finite: the
    sign test (exact binomial) on per-run or per-seed differences, Mann-Whitney U between two
    arms. For a per-run monotone claim ("the loss fell in every run"), whose differences are
    skewed in size, where only their sign is the question; a t-test otherwise.
    Special metrics: `diverged` (1 for a run that diverged, else 0: counts, judged by
    Fisher's exact test between arms, or a binomial test against `value`) and
    `at_chance` (1 for a run whose best test accuracy is below 2 / classes, or that
    diverged).
    paper / paper_source: the published number for the same quantity and where it is
    from, printed beside the measured one.
    underpowered: why the claim is under-powered by design (docs/budget.md: the seeds its
    power asks for do not fit the suite's budget, or no seed count decides the pilot's effect),
    stated before the runs: it is still judged, and every table and total shows it apart
    (inconclusive because under-powered, not because the effect is small). Not on a check.
    """

    text: str = "???"
    source: str = ""  # where the paper (or a later paper) makes it
    metric: str = "test_acc_final"
    where: str = ""
    op: Optional[str] = ">"  # null only on a two_sided question: no side expected
    than: Optional[str] = None
    than_metric: Optional[str] = None
    value: Optional[float] = None
    factor: float = 1.0
    tol: float = 0.01
    paired: bool = False  # compare the arms seed by seed (an identity per seed), not Welch
    tol_abs: Optional[float] = None  # "=" / "!=": absolute tolerance, instead of tol x |target|
    check: bool = False  # a verification row (identity, cannot fail): shown, not counted
    two_sided: bool = False  # a neutral question: a two-sided test, answered 'A higher' / 'B higher' / none
    better: Optional[str] = None  # "higher" / "lower" (null: from the metric's name); diverged ranks worst
    at_chance_counts: bool = False  # a mechanism metric's value still counts in a run at chance
    ranked: bool = False  # a rank or sign test even with finite values (per-run monotone claims)
    paper: Optional[str] = None
    paper_source: str = ""
    underpowered: Optional[str] = None  # why it is under-powered by design (docs/budget.md); null: powered


@dataclass
class DroppedClaim:
    """A claim removed from an experiment file after runs judged it, kept so that it is never
    dropped in silence: results/claims.md lists it with its last verdict and the reason."""

    # Empty by default, not "???": checks.py names a field left out with a clear message.
    claim: str = ""  # its text as the runs judged it
    verdict: str = ""  # its last verdict, in the words of the report that gave it
    commit: str = ""  # the commit whose results gave that verdict
    reason: str = ""  # why it was removed


@dataclass
class PaperRow:
    """One variant's row of a paper table: the paper's numbers for the arm named `variant`."""

    variant: str = "???"
    paper_name: str = ""  # what the paper calls it
    steps: Optional[float] = None  # the paper's steps to reach the baseline's best (null: never)
    best: Optional[float] = None  # the paper's best accuracy


@dataclass
class PaperTableConfig:
    """Per variant (config key `variant`): steps to reach the `baseline` variant's best
    `metric` (mean over its seeds), the best `metric`, the speed-up over the baseline, and
    the paper's numbers beside them (paper Figure 3's table)."""

    baseline: str = "???"
    metric: str = "test/acc"
    source: str = ""
    paper_steps_unit: str = "steps"  # e.g. "M steps" when the paper's numbers are in millions
    rows: List[PaperRow] = field(default_factory=list)


@dataclass
class ReportConfig:
    columns: List[str] = key(
        help="extra table columns: a logged tag for its final value, tag:median for its median "
        "over the run, tag:change for |final - first| (tables always have the test accuracies "
        "and status)",
        factory=list,
    )
    claims: List[ClaimConfig] = field(default_factory=list)
    underpowered_here: Dict[str, str] = key(
        help="this file's own under-powered marks on the claims it inherits: {exact claim text: "
        "why}, applied after composition (that claim gets `underpowered: why`, replacing its "
        "mark), so one claim list serves a file and one that extends it with fewer seeds "
        "(placement_deep); a text that matches no claim, or an empty reason, is refused",
        factory=dict,
    )
    # Claims removed after runs judged them (claim, last verdict, commit, reason): listed, never silent.
    dropped: List[DroppedClaim] = field(default_factory=list)
    range_key: Optional[str] = key(
        None,
        "tables: the range of this numeric key's values (e.g. optim.lr) over which "
        "the mean test_acc_final reaches report.range_threshold, one row per "
        "configuration of the other keys",
    )
    range_threshold: float = key(0.9, "see report.range_key")
    # A table in the paper's Figure 3 format (report/paper_table.py); null: none.
    paper_table: Optional[PaperTableConfig] = None


@dataclass
class Config:
    name: str = key("default", "the experiment; names runs/<name>/ and results/<name>.*", PLAIN_NAME)
    variant: Optional[str] = key(
        None,
        "an experiment's name for this arm (fig3: BN-x5, ...), shown in tables and "
        "figures and used by claims (where: variant=BN-x5)",
    )
    profile: str = key(
        "full",
        "the experiment's scale: full (its file's own settings) or a committed profile "
        "conf/profile/<name>_<kind>.yaml (fig3_cpu: a narrower net and fewer steps for a 2-core CPU; "
        "fig3_gpu: the paper's scale), chosen by the file or with profile=; tables and the results "
        "index name it: a reduction is never silent",
    )
    seed: int = key(0, "the run's seed: initialization, data order, dropout masks, noise", SEED)
    device: DeviceChoice = key(DeviceChoice.auto, "where runs train (auto: a GPU when there is one)")
    out_dir: str = key("runs", "runs go to <out_dir>/<name>/<time>/<run>")
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    probes: ProbeConfig = field(default_factory=ProbeConfig)
    report: ReportConfig = field(default_factory=ReportConfig)


# Keys that say where or how a run executes, not what it computes.
WHERE_KEYS = (
    "device",
    "out_dir",
    "data.root",
    "train.progress",
    "train.graph",
    "train.compile",  # changes float rounding only, as device does (run/compiled.py)
    "train.checkpoint_every",
    "train.checkpoint_min_s",
    "train.threads",
    "train.processes",
)

# Image side and training-set size of each dataset, for checks before any data is read.
IMAGE_SIDE = {
    DatasetName.mnist: 28,
    DatasetName.fashion_mnist: 28,
    DatasetName.cifar10: 32,
    DatasetName.synthetic: 28,
    DatasetName.gaussian: 1,
}
TRAIN_SIZE = {DatasetName.mnist: 60000, DatasetName.fashion_mnist: 60000, DatasetName.cifar10: 50000}


def input_values(data: DataConfig) -> int:
    """The values of one input (channels x rows x columns; gaussian: data.dim), which the
    LSTM reads model.lstm.step_inputs at a time."""
    if data.name == DatasetName.gaussian:
        return data.dim
    return (3 if data.name == DatasetName.cifar10 else 1) * IMAGE_SIDE[data.name] ** 2


def time_steps(cfg: "Config") -> int:
    """model.arch=lstm: the sequence's length T, input_values / model.lstm.step_inputs."""
    return input_values(cfg.data) // cfg.model.lstm.step_inputs


def register() -> None:
    """The schema as `base_config` (the norm layers' schemas are stored as they register), and
    the resolver ${bnrepro_keys:} that conf/train.yaml's help template lists the keys with."""
    store = ConfigStore.instance()
    store.store(name="base_config", node=Config)

    def key_list() -> str:
        from .docs import key_list

        return key_list().replace("$", "$$")  # Hydra's help fills the template with string.Template

    OmegaConf.register_new_resolver("bnrepro_keys", key_list, replace=True)
