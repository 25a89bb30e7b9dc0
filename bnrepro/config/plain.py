"""Configs as plain, JSON-able Python (what summary.json stores) and back."""
from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from .checks import registered_norm
from .schema import Config


def to_plain(cfg: Config | DictConfig) -> dict:
    """The config as plain JSON-able Python (enums as their names), without hydra."""
    node = cfg if isinstance(cfg, DictConfig) else OmegaConf.structured(cfg)
    plain = OmegaConf.to_container(node, resolve=True, enum_to_str=True)
    plain.pop("hydra", None)
    return plain


def from_plain(plain: dict) -> Config:
    """A typed Config from plain values (as stored in a run's summary.json). model.norm
    takes the dataclass of its `kind` (torch when absent), as `norm=KIND` does in Hydra."""
    base = OmegaConf.structured(Config)
    kind = (plain.get("model") or {}).get("norm", {}).get("kind", "torch")
    base.model.norm = OmegaConf.structured(registered_norm(kind).options(kind=kind))
    return OmegaConf.to_object(OmegaConf.merge(base, plain))


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
