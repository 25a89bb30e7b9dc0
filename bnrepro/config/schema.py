"""The schema every Hydra config is merged into: dataclasses, enums, ConfigStore entries.

The dataclasses are registered in Hydra's ConfigStore as `base_config`; conf/train.yaml
lists it first in its defaults, so every yaml file and command-line override is
checked against these types (unknown key, wrong type, invalid enum value) while the
config is composed. checks.py adds the range checks a type cannot express. Both
run before any run directory exists (see bnrepro/launch/sweep.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

__all__ = ["DatasetName", "Normalize", "Arch", "Activation", "BNPlacement", "NormKind", "Affine", "EvalStats", "Init", "Schedule", "OptimKind", "GaussianLabels", "FeatureShape", "Loss", "Output", "DropoutAt", "DeviceChoice", "GraphMode", "DataConfig", "NormConfig", "NoNormConfig", "BatchNormConfig", "RenormConfig", "NoisyConfig", "NoiseOnlyConfig", "ModelConfig", "OptimConfig", "TrainConfig", "EvalConfig", "ProbeConfig", "ClaimConfig", "DroppedClaim", "PaperRow", "PaperTableConfig", "ReportConfig", "Config", "WHERE_KEYS", "IMAGE_SIDE", "TRAIN_SIZE", "NORM_SCHEMAS", "register"]


class DatasetName(Enum):
    mnist = "mnist"
    fashion_mnist = "fashion_mnist"
    cifar10 = "cifar10"
    synthetic = "synthetic"
    gaussian = "gaussian"  # inputs drawn N(0, 1): the classic initialization demonstrations


class GaussianLabels(Enum):
    random = "random"  # uniformly random classes: nothing to learn, statistics only
    linear = "linear"  # argmax of a fixed random linear map of the input: learnable
    # regression: the targets are the fixed random linear map's 10 values themselves (train.loss=mse;
    # "accuracy" is then how often the output's largest value is the target's largest)
    regression = "regression"


class FeatureShape(Enum):
    """data.feature_shape: every other input feature (odd positions of the flattened input)
    passed through a fixed strictly increasing map, so no information is lost but its
    distribution is no longer Gaussian (seed 004: "highly non-Gaussian" variables)."""
    as_drawn = "as_drawn"  # unchanged
    heavy_tailed = "heavy_tailed"  # x -> sign(x) (exp(2|x|) - 1): rare values thousands of times the typical
    bimodal = "bimodal"  # x -> sign(x) + 0.1 x: two clusters near -1 and +1, almost nothing between


class Loss(Enum):
    cross_entropy = "cross_entropy"  # softmax cross-entropy on the logits
    mse = "mse"  # squared error against one-hot targets, on model.output's values


class Output(Enum):
    linear = "linear"  # the output layer's values as they are
    sigmoid = "sigmoid"  # squashed by a sigmoid (the classic squared-error setup)


class DropoutAt(Enum):
    every = "every"  # after every hidden layer (with BN: before the next layer's BN)
    last = "last"  # only after the last hidden layer, after every BN (Li et al. 2019)


class Normalize(Enum):
    none = "none"  # pixels scaled to [0, 1]
    standardize = "standardize"  # per channel, with the training set's mean and std
    standardize_feature = "standardize_feature"  # per feature (pixel), with the training set's mean and std
    # the rest of the classic input ladder (LeCun et al. 1998, "Efficient BackProp" 4.3), every
    # statistic from the training set: the mean per feature; the covariance's eigenvectors U and
    # values s, with data.whiten_eps added to s (a rank-deficient covariance: MNIST's constant border)
    center = "center"  # per feature: minus the training set's mean
    pca_whiten = "pca_whiten"  # (x - mean) U diag(1 / sqrt(s + eps)): decorrelated, unit variance, rotated
    zca_whiten = "zca_whiten"  # pca_whiten rotated back, (x - mean) U diag(1 / sqrt(s + eps)) U^T: the pixels' own axes


class Arch(Enum):
    mlp = "mlp"
    convnet = "convnet"
    # VGG-style: blocks of `pool_every` convs, channels doubling after each 2x2 pool,
    # global average pool, dropout only before the classifier (see stacked/model.py)
    vgg = "vgg"


class Activation(Enum):
    sigmoid = "sigmoid"
    tanh = "tanh"
    relu = "relu"
    linear = "linear"  # g(z) = z: a deep linear network (Santurkar et al. 2018's DLN)


class BNPlacement(Enum):
    none = "none"
    pre = "pre"  # BN(Wu), then the nonlinearity: the paper's placement
    post = "post"  # the nonlinearity, then BN


class NormKind(Enum):
    none = "none"  # no normalization, wherever model.bn would place it
    torch = "torch"  # PyTorch's BatchNorm kernels
    paper = "paper"  # Algorithm 1 with the paper's backward pass; Algorithm 2 available
    renorm = "renorm"  # Batch Renormalization (Ioffe 2017)
    noisy = "noisy"  # BN followed by random shift and scale, redrawn every step (Santurkar et al. 2018)
    noise_only = "noise_only"  # the same noise where BN would be, without BN (their control): not a BN layer


class Affine(Enum):
    learn = "learn"  # learnable gamma and beta (the paper)
    none = "none"  # no gamma, no beta: y = x_hat
    fixed_gamma = "fixed_gamma"  # gamma fixed at model.bn_gamma, beta learnable
    no_beta = "no_beta"  # gamma learnable, no beta: y = gamma * x_hat


class EvalStats(Enum):
    moving = "moving"  # running averages collected during training
    population = "population"  # Algorithm 2: averaged over many training mini-batches
    batch = "batch"  # each test batch normalized with its own statistics (wrong at test time)


class Init(Enum):
    gaussian = "gaussian"  # N(0, init_std^2), the paper's "small random Gaussian values"
    xavier = "xavier"  # normal, std = init_gain * sqrt(2 / (fan_in + fan_out)) (Glorot)
    kaiming = "kaiming"  # normal, std = init_gain * sqrt(2 / fan_in) (He)
    xavier_uniform = "xavier_uniform"  # U(-a, a), a = init_gain * sqrt(6 / (fan_in + fan_out))


class Schedule(Enum):
    constant = "constant"
    step = "step"  # lr * decay_factor ** floor(step / decay_every)
    cosine = "cosine"  # lr * 0.5 * (1 + cos(pi * step / train.steps))
    exponential = "exponential"  # lr * decay_factor ** (step / decay_every), smoothly


class OptimKind(Enum):
    # each the same update as torch.optim's class of that name (stacked/optim.py)
    sgd = "sgd"  # SGD, with optim.momentum (torch's heavy ball: dampening 0, no Nesterov)
    rmsprop = "rmsprop"  # RMSprop: optim.alpha, optim.eps (after the square root), optim.momentum
    adam = "adam"  # Adam with bias correction: optim.betas, optim.eps (after the square root)


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
    # Random crop (zero-pad by augment_pad, crop back) and horizontal flip of each training
    # example, on the device (run/augment.py). Off by default: the paper's comparisons are of
    # optimization speed on a fixed training set, and BN's recipe (4.2.1) *reduces* distortions.
    augment: bool = False
    augment_pad: int = 4
    augment_flip: bool = True
    test_limit: Optional[int] = None
    # synthetic only: sizes of a deterministic, learnable 10-class problem
    synthetic_train: int = 4096
    synthetic_test: int = 1024
    # gaussian only: inputs N(0, 1) of this dimension; sizes from synthetic_train/_test;
    # the inputs (and the linear map of labels=linear) are fixed by data_seed
    dim: int = 500
    labels: GaussianLabels = GaussianLabels.linear
    data_seed: int = 0
    # Every input feature (pixel) multiplied by its own fixed 10^u, u ~ U(-r/2, r/2) drawn with
    # data_seed: raw features of very different scales (0: none). Applied before `normalize`,
    # so normalize=standardize_feature undoes it.
    feature_scales: float = 0.0
    # Every other input feature made non-Gaussian (FeatureShape), before feature_scales: with
    # both, raw features of different shapes and very different scales.
    feature_shape: FeatureShape = FeatureShape.as_drawn
    # normalize=pca_whiten / zca_whiten: added to the covariance's eigenvalues (in the inputs' squared
    # units; MNIST's largest is ~5 in [0, 1] grey levels): directions of smaller variance are not blown up to 1
    whiten_eps: float = 0.01


@dataclass
class NormConfig:
    """What every normalization layer's options have: its kind (the registry's key)."""
    kind: NormKind = NormKind.torch


@dataclass
class NoNormConfig(NormConfig):
    kind: NormKind = NormKind.none


@dataclass
class BatchNormConfig(NormConfig):
    kind: NormKind = NormKind.torch
    eps: float = 1e-5
    # PyTorch convention: running = (1 - m) * running + m * batch_statistic
    momentum: float = 0.1
    # Training statistics over each run of `group` consecutive examples of the mini-batch
    # (Ioffe 2017's micro-batches; the moving averages follow the groups' mean statistics);
    # null: over the whole mini-batch. Must divide train.batch_size.
    group: Optional[int] = None


@dataclass
class RenormConfig(NormConfig):
    """Batch Renormalization: plain BN for `warmup` steps, then r_max rises linearly to
    `rmax` at step `rmax_at`, d_max to `dmax` at `dmax_at`; moving averages of mu and
    sigma at rate `rate`."""
    kind: NormKind = NormKind.renorm
    eps: float = 1e-5
    rmax: float = 3.0
    dmax: float = 5.0
    warmup: int = 5000
    rmax_at: int = 40000
    dmax_at: int = 25000
    rate: float = 0.01
    group: Optional[int] = None  # as BatchNormConfig.group: mu_B, sigma_B, r, d per group


@dataclass
class NoisyConfig(BatchNormConfig):
    """Noisy BN (Santurkar et al. 2018, their noise algorithm): after BN (gamma and beta
    included), per step and channel mu_t ~ U(-n_mu, n_mu) and sigma_t ~ U(1, n_sigma); per
    example m ~ U(mu_t - r_mu, mu_t + r_mu) and s ~ N(sigma_t, r_sigma); y -> s * y + m."""
    kind: NormKind = NormKind.noisy
    n_mu: float = 0.5
    n_sigma: float = 1.25
    r_mu: float = 0.1
    r_sigma: float = 0.1


@dataclass
class NoiseOnlyConfig(NormConfig):
    """Santurkar et al.'s control: noisy BN's noise (same keys, same draws) where BN would be,
    with no normalization: y = s * x + m in training, y = x at evaluation; the layer keeps
    its bias and has no gamma or beta."""
    kind: NormKind = NormKind.noise_only
    n_mu: float = 0.5
    n_sigma: float = 1.25
    r_mu: float = 0.1
    r_sigma: float = 0.1


# The dataclass of each `norm` group option (conf/norm/NAME.yaml extends NAME_schema).
NORM_SCHEMAS = {NormKind.none: NoNormConfig, NormKind.torch: BatchNormConfig, NormKind.paper: BatchNormConfig,
                NormKind.renorm: RenormConfig, NormKind.noisy: NoisyConfig, NormKind.noise_only: NoiseOnlyConfig}


@dataclass
class ModelConfig:
    arch: Arch = Arch.mlp
    depth: int = 3  # hidden layers (mlp) or conv layers (convnet)
    width: int = 100  # units (mlp) or channels (convnet) per layer
    activation: Activation = Activation.sigmoid
    bn: BNPlacement = BNPlacement.none
    # null: drop the bias where BN directly follows the layer (BN's beta replaces it)
    bias: Optional[bool] = None
    dropout: float = 0.0  # after each hidden nonlinearity (and after BN when post); vgg: before the classifier
    dropout_at: DropoutAt = DropoutAt.every  # which hidden layers dropout follows
    output: Output = Output.linear  # applied to the output layer before the loss
    init: Init = Init.gaussian
    init_std: float = 0.01  # gaussian only
    init_gain: float = 1.0  # xavier / kaiming: multiplies the textbook std
    # Which normalization layer, where model.bn places one, and its options: the config
    # group `norm` (conf/norm/*.yaml: none, torch, paper, renorm), chosen with norm=NAME.
    norm: NormConfig = MISSING
    bn_affine: Affine = Affine.learn
    bn_gamma: float = 1.0  # the fixed gamma of bn_affine=fixed_gamma
    weight_scale: float = 1.0  # multiplies the hidden layers' initial weights (scale invariance)
    # A BN layer on the raw inputs, before the first layer (mlp only): PyTorch's BN (eps 1e-5,
    # momentum 0.1) over each input feature, learned gamma and beta, whatever model.bn and
    # model.norm say about the hidden layers (seed 004: BN standardizing raw input variables).
    input_bn: bool = False
    # input_bn's training statistics over each run of this many consecutive examples of the
    # mini-batch (as model.norm.group; null: the whole mini-batch): the normalization group
    # shrinks, the SGD batch does not (seed 004: the batch must represent each variable).
    input_bn_group: Optional[int] = None
    conv_kernel: int = 3
    pool_every: int = 2  # convnet, vgg: 2x2 max-pool after every n-th conv layer (vgg: then channels x2)


@dataclass
class OptimConfig:
    # SGD with momentum; the paper does not state its MNIST optimizer.
    lr: float = 0.1
    momentum: float = 0.0
    weight_decay: float = 0.0
    schedule: Schedule = Schedule.constant
    decay_every: int = 1000  # schedule=step
    decay_factor: float = 0.1  # schedule=step, exponential
    # The paper's section 4.2.1 changes that come with BN, each its own key so BN-x5 is the
    # recipe exactly and every change can be undone alone (model.dropout=0 removes dropout):
    lr_mult: float = 1.0  # the learning rate is lr * lr_mult ("BN-x5": 5)
    weight_decay_div: float = 1.0  # the L2 weight decay is weight_decay / weight_decay_div (paper: 5)
    decay_speedup: float = 1.0  # the schedule runs this many times faster (paper: 6)
    # The update rule (torch.optim's defaults). lr, weight_decay (added to the gradient, L2 as in
    # torch.optim, not AdamW's decoupled decay) and the schedule act the same for every kind.
    kind: OptimKind = OptimKind.sgd
    betas: List[float] = field(default_factory=lambda: [0.9, 0.999])  # adam: the two moments' decay rates
    alpha: float = 0.99  # rmsprop: the squared gradient's decay rate
    eps: float = 1e-8  # rmsprop, adam: added to the denominator after the square root


@dataclass
class TrainConfig:
    steps: int = 1000
    batch_size: int = 60
    eval_every: int = 500  # test loss/accuracy, eval mode, whole test set
    log_every: int = 100  # train metrics and probes
    eval_batch_size: int = 10000  # chunk size of the eval forward pass
    loss: Loss = Loss.cross_entropy
    # Non-i.i.d. mini-batches (run/sampler.py): each made of blocks of this many examples of one
    # class, the blocks in random order; 1: shuffled, i.i.d. (default); batch_size: one class each.
    class_block: int = 1
    graph: GraphMode = GraphMode.auto
    # null: a progress bar on a terminal, else a plain line every 10%; true: the bar; false: silent
    progress: Optional[bool] = None
    # Save the group's whole state once checkpoint_min_s seconds of training have passed since
    # the last one (nor above 2% of the time), at whatever step that falls; checkpoint_every=0:
    # only when stopped by a signal; checkpoint_min_s=0: every checkpoint_every steps, unpaced.
    # See run/checkpoint.py.
    checkpoint_every: int = 1000
    checkpoint_min_s: float = 30.0
    # Intra-op threads on the CPU while the group trains; null: 1 for the MLP (little to gain
    # from more for its small operations, and they collapse under other load), torch's setting
    # (every core) for conv nets. See run/cpu.py.
    threads: Optional[int] = None


@dataclass
class EvalConfig:
    stats: EvalStats = EvalStats.moving  # what test/loss and test/acc normalize BN with
    compare_stats: bool = False  # also log test accuracy under every choice of statistics
    population_batches: int = 100  # Algorithm 2: training mini-batches averaged (size train.batch_size)
    batch_size: Optional[int] = None  # test batch size for stats=batch (null: train.batch_size)
    # At the end: test accuracy with batch statistics for each of these test batch sizes.
    batch_sizes: List[int] = field(default_factory=list)
    # Per BN layer: mean over units of (running variance / the variance of BN's input over
    # the test set in eval mode): the train/test variance shift dropout causes (Li et al. 2019).
    variance_shift: bool = False
    # Accuracy on the first n training examples (n = the test set's size) in eval mode, and
    # that minus test accuracy: the generalization gap (train_eval/acc, train_eval/gap).
    train_gap: bool = False


@dataclass
class ProbeConfig:
    unit: int = 0  # the "typical unit" whose input percentiles are tracked (paper Fig. 1b,c)
    # Steps between histograms of the nonlinearity inputs: a multiple of train.log_every,
    # 0 never, null about 20 per run (enough to see a distribution move in a short run).
    hist_every: Optional[int] = None
    # At the end of each run: its gradient and activation profiles as images (Images tab);
    # about 0.3 s per run on a CPU.
    pictures: bool = True
    # Which probes run on a probe step (the registry in bnrepro/run/probes.py): grad_norm,
    # act (nonlinearity inputs z), out (outputs a = g(z)), act_grad (dL/da), update_ratio, bias,
    # shift (how far each unit's input distribution moved since the previous probe step).
    which: List[str] = field(default_factory=lambda: ["grad_norm", "act"])
    initial: bool = False  # also probe at step 0: after initialization, before any update
    # Internal covariate shift as Santurkar et al. define it (run/measures.py): steps between
    # measurements (0: never; a multiple of train.log_every) and the layers measured
    # (1 = first hidden, depth + 1 = output; layer 1 has no layers before it).
    ics_every: int = 0
    ics_layers: List[int] = field(default_factory=lambda: [2])
    # The loss landscape along the gradient (run/measures.py): steps between measurements
    # (0: never; a multiple of train.log_every), how many step sizes, and their range in
    # units of the learning rate (geometric between the two; Santurkar et al.: 1/2 to 4).
    landscape_every: int = 0
    landscape_sizes: int = 8
    landscape_range: List[float] = field(default_factory=lambda: [0.5, 4.0])
    # The largest step size c * lr probed (null: no cap; above it a run's steps are scaled down
    # together so the largest is this): Santurkar et al. keep the steps below the learning rate
    # at which the network without BN diverges.
    landscape_max_step: Optional[float] = None


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
    tests, TOST, Holm's correction) is in bnrepro/report/claims.py and the README.
    paired: the arms' runs share seeds and the claim holds seed by seed (the same
    init up to the scale, the same data): judged on the per-seed differences.
    tol_abs: for "=" / "!=", an absolute tolerance used instead of tol x |target| (a
    target of 0 has no relative band).
    check: a verification, not a reproduction (an identity at initialization, a claim
    that cannot fail): verified and shown, never counted among the reproductions.
    two_sided: one question asked in both directions ("BN before vs after ReLU"): a
    two-sided test; `op` names the direction the source expects, and the verdict says
    which direction the runs support, if either.
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
    paired: bool = False  # compare the arms seed by seed (an identity per seed), not Welch
    tol_abs: Optional[float] = None  # "=" / "!=": absolute tolerance, instead of tol x |target|
    check: bool = False  # a verification row (identity, cannot fail): shown, not counted
    two_sided: bool = False  # one question in both directions: two-sided test, op = the expected side
    better: Optional[str] = None  # "higher" / "lower" (null: from the metric's name); diverged ranks worst
    at_chance_counts: bool = False  # a mechanism metric's value still counts in a run at chance
    ranked: bool = False  # a rank or sign test even with finite values (per-run monotone claims)
    paper: Optional[str] = None
    paper_source: str = ""


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
    # Extra table columns: a logged tag for its final value, "tag:median" for its
    # median over the run, "tag:change" for |final - first|. Tables always have the
    # test accuracies and status.
    columns: List[str] = field(default_factory=list)
    claims: List[ClaimConfig] = field(default_factory=list)
    # Claims removed after runs judged them (claim, last verdict, commit, reason): listed, never silent.
    dropped: List[DroppedClaim] = field(default_factory=list)
    # A table of the range of this numeric config key (e.g. optim.lr) over which the mean
    # test_acc_final reaches range_threshold, one row per configuration of the other keys.
    range_key: Optional[str] = None
    range_threshold: float = 0.9
    # A table in the paper's Figure 3 format (report/paper_table.py); null: none.
    paper_table: Optional[PaperTableConfig] = None


@dataclass
class Config:
    name: str = "default"  # the experiment; names results/<name>.csv and runs/<name>/
    variant: Optional[str] = None  # an experiment's name for this arm (fig3: BN-x5, ...); tables show it
    # The experiment's scale: "full" (its file's own settings) or a committed profile,
    # conf/profile/<name>_<kind>.yaml (e.g. fig3_cpu: a narrower net and fewer steps for a
    # 2-core CPU; fig3_gpu: the paper-scale settings), chosen by the file or with profile=.
    # Tables and the results index name it: a reduction is never silent.
    profile: str = "full"
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
WHERE_KEYS = ("device", "out_dir", "data.root", "train.progress", "train.graph", "train.checkpoint_every",
              "train.checkpoint_min_s", "train.threads")

# Image side and training-set size of each dataset, for checks before any data is read.
IMAGE_SIDE = {DatasetName.mnist: 28, DatasetName.fashion_mnist: 28, DatasetName.cifar10: 32, DatasetName.synthetic: 28,
              DatasetName.gaussian: 1}
TRAIN_SIZE = {DatasetName.mnist: 60000, DatasetName.fashion_mnist: 60000, DatasetName.cifar10: 50000}


def register() -> None:
    store = ConfigStore.instance()
    store.store(name="base_config", node=Config)
    for kind, schema in NORM_SCHEMAS.items():
        store.store(group="norm", name=f"{kind.value}_schema", package="model.norm", node=schema(kind=kind))


