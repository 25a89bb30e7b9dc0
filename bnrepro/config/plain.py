"""Configs as plain, JSON-able Python (what summary.json stores) and back."""

from __future__ import annotations

import dataclasses
from enum import Enum

from omegaconf import DictConfig, OmegaConf

from .checks import registered_norm
from .schema import Config
from .underpowered_here import apply_underpowered_here


def to_plain(cfg: Config | DictConfig) -> dict:
    """The config as plain JSON-able Python (enums as their names), without hydra."""
    if dataclasses.is_dataclass(cfg):  # a typed Config: its values already have their types
        return _plain(cfg)
    plain = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    plain.pop("hydra", None)
    return plain


def _plain(value):
    """A typed config's values as OmegaConf.to_container(structured(value), enum_to_str=True)
    gives them, without building the OmegaConf tree (~50 ms a config: a sweep's start-up
    converts each config several times). tests/test_config.py holds them equal."""
    if dataclasses.is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.name
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def from_plain(plain: dict) -> Config:
    """A typed Config from plain values (as stored in a run's summary.json). model.norm
    takes the dataclass of its `kind` (torch when absent), as `norm=KIND` does in Hydra.
    report.underpowered_here is applied to report.claims here, the one step every composed
    config passes through."""
    report = plain.get("report") or {}
    if report.get("underpowered_here"):  # after composition: the file's marks on the claims it inherits
        where = f"experiment {plain.get('name', 'default')}"
        plain = {**plain, "report": {**report, "claims": apply_underpowered_here(report, where)}}
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
