"""The options of the normalizations beside BN, and their registration (torch-free: composing a
config must not import torch; the classes are named by path, imported when a model is built).

- lp (stacked/lp_norms.py): Santurkar et al. 2018's lp normalization, BN with the batch's
  average lp norm of the centered activations in place of the standard deviation;
- groupnorm, layernorm, instancenorm (stacked/example_norms.py): statistics per example over
  groups of its channels (Wu and He 2018; Ba et al. 2016; Ulyanov et al. 2016);
- decorrelated (stacked/decorrelated.py): Huang et al. 2018's decorrelated BN, groups of units
  ZCA-whitened jointly over the batch (the full whitening the BN paper set aside, sections 2-3).
WeightNorm is not here: it reparametrizes the weights (model.weight_norm), it normalizes no
activations.
"""

from __future__ import annotations

from dataclasses import dataclass

from .keys import Range, above, at_least, key, within
from .norms import BatchNormConfig, NormConfig, register_norm
from .schema import Arch

LP_ORDERS = ("1", "2", "inf")


@dataclass
class LpNormConfig(BatchNormConfig):
    """lp batch normalization: y = gamma (x - mu_B) / sqrt(s_p^2 + eps) + beta, s_p the batch's
    average lp norm of x - mu_B per feature (p=2: BN's standard deviation, so BN itself)."""

    kind: str = "lp"
    eps: float = key(1e-5, "added to s_p^2 before its square root", above(0))
    p: str = key(
        "1",
        "the norm: 1 (mean |x - mu|), 2 (BN's standard deviation), inf (max |x - mu|)",
        Range(lambda v: str(v) in LP_ORDERS, f"must be one of {', '.join(LP_ORDERS)}"),
    )


@dataclass
class ExampleNormConfig(NormConfig):
    """Per-example normalization's options (LayerNorm's: all of a layer's channels are one group)."""

    kind: str = "layernorm"
    eps: float = key(1e-5, "added to the variance before its square root", above(0))


@dataclass
class InstanceNormConfig(ExampleNormConfig):
    """InstanceNorm: each example's channel over its positions alone."""

    kind: str = "instancenorm"

    def model_problems(self, model):
        if model.arch == Arch.mlp:
            yield "kind", self.kind, "normalizes each channel over its positions: conv nets only (model=convnet or vgg)"


@dataclass
class GroupNormConfig(ExampleNormConfig):
    """GroupNorm (Wu and He 2018): per example, over groups of channel_groups of its channels."""

    kind: str = "groupnorm"
    channel_groups: int = key(
        4,
        "groups of a layer's channels (units), each normalized on its own per example "
        "(Wu and He's G; not model.norm.group, BN's groups of examples). Must divide "
        "model.width",
        at_least(1),
    )

    def model_problems(self, model):
        if model.width % self.channel_groups:
            yield (
                "channel_groups",
                self.channel_groups,
                f"must divide model.width={model.width} (each layer's channels)",
            )


register_norm(
    "lp",
    LpNormConfig,
    "bnrepro.stacked.lp_norms:LpBatchNorm",
    eval_stats=("batch",),
    help="BN with the batch's average lp norm (p = 1, 2, inf) in place of the standard deviation "
    "(Santurkar et al. 2018, section 3.3)",
)
register_norm(
    "groupnorm",
    GroupNormConfig,
    "bnrepro.stacked.example_norms:GroupNorm",
    help="GroupNorm (Wu and He 2018): each example over groups of channel_groups channels",
)
register_norm(
    "layernorm",
    ExampleNormConfig,
    "bnrepro.stacked.example_norms:LayerNorm",
    help="LayerNorm (Ba et al. 2016): each example over all of a layer's channels (and positions)",
)
register_norm(
    "instancenorm",
    InstanceNormConfig,
    "bnrepro.stacked.example_norms:InstanceNorm",
    help="InstanceNorm (Ulyanov et al. 2016): each example's channel over its positions (conv nets only)",
)


@dataclass
class DecorrelatedConfig(NormConfig):
    """Decorrelated BN (Huang et al. 2018): groups of group_size units ZCA-whitened jointly over
    the batch, then BN's gamma and beta; group_size 1 is BN."""

    kind: str = "decorrelated"
    group_size: int = key(
        4,
        "units whitened together (Huang et al.'s G): each layer's units in consecutive groups of "
        "this many, each group ZCA-whitened over the batch (1: BN; model.width: the whole layer). "
        "Must divide model.width",
        at_least(1),
    )
    eps: float = key(
        1e-5,
        "added to the covariance's diagonal (S + eps I) before its inverse square root: what keeps a "
        "group of more units than the batch has examples (a singular covariance) finite",
        above(0),
    )
    momentum: float = key(
        0.1,
        "running = (1 - m) * running + m * batch, for the mean and the whitening matrix",
        within(0, 1, "(]"),
    )

    def model_problems(self, model):
        if model.width % self.group_size:
            yield "group_size", self.group_size, f"must divide model.width={model.width} (each layer's units)"


register_norm(
    "decorrelated",
    DecorrelatedConfig,
    "bnrepro.stacked.decorrelated:DecorrelatedBatchNorm",
    eval_stats=("batch",),
    help="decorrelated BN (Huang et al. 2018): groups of group_size units ZCA-whitened over the batch",
)
