"""The typed configuration: the bottom of the package, which every part may import.

- keys.py: how a key is declared: `key(default, help, range)`;
- schema.py: the dataclasses and enums every Hydra config is merged into (unknown key,
  wrong type or bad enum value fail while composing), registered in Hydra's ConfigStore;
- norms.py: the registry of normalization layers (name, options dataclass, class, which
  evaluation statistics it supports); the `norm` group's schemas come from it;
- checks.py: the range checks a type cannot express (`validate`);
- plain.py: configs as plain JSON-able values (summary.json) and back;
- arms.py: which runs a claim's conditions select, and whether that pools configurations;
- nearest.py: the names nearest a mistyped one, for every message that refuses a name.

Imports nothing else of bnrepro.
"""

from . import arms
from .checks import ConfigError, has_norm_layer, uses_bn, validate
from .keys import is_plain_name
from .norms import (
    EVAL_STATS,
    NORMS,
    BatchNormConfig,
    NoiseOnlyConfig,
    NoisyConfig,
    NoNormConfig,
    NormConfig,
    NormSpec,
    RenormConfig,
    norm_spec,
    register_norm,
)
from . import norm_alternatives  # noqa: F401  (registers lp, groupnorm, layernorm, instancenorm, decorrelated)
from .plain import flatten, from_plain, to_plain
from .schema import *  # noqa: F401,F403  (the schema's names are the package's)
from .schema import __all__ as _schema_names

__all__ = [
    "arms",
    "ConfigError",
    "has_norm_layer",
    "is_plain_name",
    "uses_bn",
    "validate",
    "flatten",
    "from_plain",
    "to_plain",
    "EVAL_STATS",
    "NORMS",
    "BatchNormConfig",
    "NoiseOnlyConfig",
    "NoisyConfig",
    "NoNormConfig",
    "NormConfig",
    "NormSpec",
    "RenormConfig",
    "norm_spec",
    "register_norm",
    *_schema_names,
]
