"""The registry of normalization layers: each one's name, options, layer class and what it
supports, declared once; everything else about norms is derived from it.

A norm layer is registered with `register_norm` (its class named by its "module:Class"
path, as Hydra's `_target_` does), or from its own module with the class decorator
`stacked.norms.norm_layer`. From the
registry come: the `norm` config group's schemas in Hydra's ConfigStore (conf/norm/NAME.yaml
extends NAME_schema), the options dataclass that `model.norm` of a stored config is read
back into (plain.py), the range checks of its options (checks.py, from their `key()`
declarations), which evaluation statistics a run with it may ask for, and the docs' key
table. Adding a norm layer is one module (options dataclass + class decorated with
@norm_layer) plus conf/norm/NAME.yaml.

The built-in layers' options are declared here, not beside their classes in
stacked/norms.py, because composing a config (`bnrepro train --help`, `--cfg`, a joblib
sweeper) must not import torch; their classes are named by path and imported when a
model is built.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Iterator, Optional

from hydra.core.config_store import ConfigStore

from .keys import above, at_least, key, within

# Evaluation statistics a layer may offer besides its moving averages (eval.stats,
# eval.compare_stats, eval.batch_sizes): Algorithm 2's population statistics, each
# test batch's own statistics.
EVAL_STATS = ("population", "batch")


@dataclass
class NormConfig:
    """What every normalization layer's options have: its kind (the registry's name)."""

    kind: str = key("torch", "which normalization layer (the registry's name; chosen with norm=NAME)")

    def problems(self) -> Iterator[tuple[str, object, str]]:
        """(option, value, allowed) for each relation between options that is broken
        (a single option's range is its key()'s)."""
        return iter(())

    def model_problems(self, model) -> Iterator[tuple[str, object, str]]:
        """(option, value, allowed) for each option that does not fit the model (a channel count
        it must divide, an architecture it needs)."""
        return iter(())


@dataclass(frozen=True)
class NormSpec:
    """A registered normalization layer. layer: its class, or "module:Class" (imported when
    a model is built); None: nothing is placed (norm=none). eval_stats: which of EVAL_STATS
    it supports. normalizes: False for a layer that sits where BN would and normalizes
    nothing (noise_only): the model keeps its bias and gives it no gamma or beta."""

    name: str
    options: type
    layer: object
    eval_stats: tuple = EVAL_STATS
    normalizes: bool = True
    help: str = ""

    def layer_class(self) -> type:
        if not isinstance(self.layer, str):
            return self.layer
        module, _, name = self.layer.partition(":")
        return getattr(importlib.import_module(module), name)


NORMS: dict[str, NormSpec] = {}


def register_norm(
    name: str, options: type, layer: object, *, eval_stats: tuple = EVAL_STATS, normalizes: bool = True, help: str = ""
) -> NormSpec:
    """Register a normalization layer under `name`: its options' dataclass (a NormConfig) and
    its class, its "module:Class" path, or None (nothing placed). A layer's own module uses
    the class decorator stacked.norms.norm_layer, which calls this."""
    if set(eval_stats) - set(EVAL_STATS) or not issubclass(options, NormConfig):
        raise ValueError(
            f"norm layer {name!r}: options must subclass NormConfig and eval_stats be among "
            f"{EVAL_STATS} (got {options.__name__}, {eval_stats})"
        )
    doc = "" if isinstance(layer, str) else (getattr(layer, "__doc__", None) or "").split("\n")[0]
    spec = NormSpec(name, options, layer, tuple(eval_stats), normalizes, help or doc)
    NORMS[name] = spec
    ConfigStore.instance().store(group="norm", name=f"{name}_schema", package="model.norm", node=options(kind=name))
    return spec


def norm_spec(name: str) -> NormSpec:
    if name not in NORMS:
        raise ValueError(f"no normalization layer {name!r}; registered: {', '.join(NORMS)}")
    return NORMS[name]


# The built-in layers (their classes are in stacked/norms.py).


@dataclass
class NoNormConfig(NormConfig):
    kind: str = "none"


@dataclass
class BatchNormConfig(NormConfig):
    eps: float = key(1e-5, "added to the variance before its square root", above(0))
    momentum: float = key(
        0.1, "running = (1 - m) * running + m * batch statistic (PyTorch's convention)", within(0, 1, "(]")
    )
    group: Optional[int] = key(
        None,
        "training statistics over each run of this many consecutive examples "
        "(Ioffe 2017's micro-batches; the moving averages follow the groups' mean); "
        "null: the whole mini-batch. Must divide train.batch_size",
    )


@dataclass
class RenormConfig(NormConfig):
    """Batch Renormalization: plain BN for `warmup` steps, then r_max rises linearly to
    `rmax` at step `rmax_at`, d_max to `dmax` at `dmax_at`; moving averages of mu and
    sigma at rate `rate`."""

    kind: str = "renorm"
    eps: float = key(1e-5, "added to the variance before its square root", above(0))
    rmax: float = key(3.0, "the final bound on r = sigma_B / sigma", at_least(1))
    dmax: float = key(5.0, "the final bound on |d| = |mu_B - mu| / sigma", at_least(0))
    warmup: int = key(5000, "steps of plain BN (r_max = 1, d_max = 0)", at_least(0))
    rmax_at: int = key(40000, "the step r_max reaches rmax (>= warmup)")
    dmax_at: int = key(25000, "the step d_max reaches dmax (>= warmup)")
    rate: float = key(0.01, "the moving averages' rate", within(0, 1, "(]"))
    group: Optional[int] = key(None, "as the BN layers' group: mu_B, sigma_B, r, d per group")

    def problems(self):
        for option in ("rmax_at", "dmax_at"):
            if getattr(self, option) < self.warmup:
                yield option, getattr(self, option), f"must be >= model.norm.warmup={self.warmup}"


@dataclass
class NoiseConfig(NormConfig):
    """Santurkar et al. 2018's noise: per step and channel mu_t ~ U(-n_mu, n_mu) and
    sigma_t ~ U(1, n_sigma); per example m ~ U(mu_t - r_mu, mu_t + r_mu) and
    s ~ N(sigma_t, r_sigma); y -> s * y + m."""

    n_mu: float = key(0.5, "per-step shift mu_t ~ U(-n_mu, n_mu)", at_least(0))
    n_sigma: float = key(1.25, "per-step scale sigma_t ~ U(1, n_sigma)", at_least(1))
    r_mu: float = key(0.1, "per-example shift m ~ U(mu_t - r_mu, mu_t + r_mu)", at_least(0))
    r_sigma: float = key(0.1, "per-example scale s ~ N(sigma_t, r_sigma)", at_least(0))


@dataclass
class NoisyConfig(NoiseConfig, BatchNormConfig):
    """Noisy BN (Santurkar et al. 2018): BN (gamma and beta included), then the noise."""

    kind: str = "noisy"


@dataclass
class NoiseOnlyConfig(NoiseConfig):
    """Santurkar et al.'s control: noisy BN's noise (same keys, same draws) where BN would be,
    with no normalization: y = s * x + m in training, y = x at evaluation; the layer keeps
    its bias and has no gamma or beta."""

    kind: str = "noise_only"


register_norm("none", NoNormConfig, None, help="no normalization, wherever model.bn would place one")
register_norm(
    "torch", BatchNormConfig, "bnrepro.stacked.norms:TorchBatchNorm", help="PyTorch's BatchNorm kernels (F.batch_norm)"
)
register_norm(
    "paper",
    BatchNormConfig,
    "bnrepro.stacked.norms:PaperBatchNorm",
    help="Algorithm 1 with the paper's backward pass; Algorithm 2's population statistics",
)
register_norm("renorm", RenormConfig, "bnrepro.stacked.norms:BatchRenorm", help="Batch Renormalization (Ioffe 2017)")
register_norm(
    "noisy",
    NoisyConfig,
    "bnrepro.stacked.norms:NoisyBatchNorm",
    help="BN, then a random shift and scale redrawn every step (Santurkar et al. 2018)",
)
register_norm(
    "noise_only",
    NoiseOnlyConfig,
    "bnrepro.stacked.norms:NoiseOnly",
    normalizes=False,
    help="noisy BN's noise where BN would be, without BN (their control)",
)
