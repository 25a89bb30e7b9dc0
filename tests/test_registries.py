"""Parts that declare themselves: a norm layer and a probe, each one module of a package
outside bnrepro, registered by importing it and trained with; their options and tags then
reach the checks and the generated docs without another edit."""

from __future__ import annotations

import importlib
import sys
import textwrap

import pytest

from bnrepro.config import NORMS, ConfigError, validate
from bnrepro.config.docs import key_table
from bnrepro.run.logged_tags import glossary, tag_patterns, why_missing
from bnrepro.run.loop import train_runs
from bnrepro.run.probes import PROBES
from bnrepro.stacked.norms import make_norm

from conftest import tiny

NORM_MODULE = '''
"""Mean-only batch normalization (Salimans & Kingma 2016): x - mean over the batch, no division."""
from dataclasses import dataclass

import torch

from bnrepro.config import NormConfig
from bnrepro.config.keys import at_least, key, within
from bnrepro.stacked.norms import BatchNormBase, norm_layer


@dataclass
class MeanOnlyConfig(NormConfig):
    kind: str = "mean_only"
    momentum: float = key(0.1, "the running mean's rate", within(0, 1, "(]"))
    shift: float = key(0.0, "added after centring", at_least(0))


@norm_layer("mean_only", MeanOnlyConfig, eval_stats=())
class MeanOnly(BatchNormBase):
    """Mean-only batch normalization: x minus its mean over the batch."""

    def __init__(self, channels, cfg):
        super().__init__(channels, 1e-5, cfg.momentum)
        self.shift = cfg.shift

    @classmethod
    def from_config(cls, cfg, channels):
        return cls(channels, cfg)

    def train_forward(self, x, gamma, beta, step):
        dims = (0, *range(2, x.dim()))
        mean = x.mean(dims)
        with torch.no_grad():
            self.running_mean.lerp_(mean, self.momentum)
        return self._out(x - mean.view(1, -1, *[1] * (x.dim() - 2)), gamma, beta)

    def moving_forward(self, x, gamma, beta):
        return self._out(x - self.running_mean.view(1, -1, *[1] * (x.dim() - 2)), gamma, beta)

    def _out(self, centred, gamma, beta):
        shape = (1, -1, *[1] * (centred.dim() - 2))
        y = centred if gamma is None else centred * gamma.view(shape)
        return (y if beta is None else y + beta.view(shape)) + self.shift
'''

PROBE_MODULE = '''
"""The Frobenius norm of each layer's weights."""
from bnrepro.run.probes import probe
from bnrepro.run.tags import Tags


@probe("weight_norm", Tags(("weight_norm/{layer}",), "Frobenius norm of layer NN's weights"))
def weight_norm(inp):
    views = inp.layout.per_run(inp.params)
    return {f"weight_norm/layer_{i + 1:02d}": views[s.name].flatten(1).norm(dim=1) for i, s in enumerate(inp.weights)}
'''


@pytest.fixture
def plugins(tmp_path, monkeypatch):
    """The package `myparts` with the two modules, imported; the registries restored after."""
    package = tmp_path / "myparts"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "mean_only.py").write_text(textwrap.dedent(NORM_MODULE))
    (package / "weight_norm.py").write_text(textwrap.dedent(PROBE_MODULE))
    monkeypatch.syspath_prepend(str(tmp_path))
    norms, probes = dict(NORMS), dict(PROBES)
    yield importlib.import_module("myparts.mean_only"), importlib.import_module("myparts.weight_norm")
    NORMS.clear(), NORMS.update(norms)
    PROBES.clear(), PROBES.update(probes)
    for name in ("myparts", "myparts.mean_only", "myparts.weight_norm"):
        sys.modules.pop(name, None)


@pytest.mark.slow
def test_a_norm_layer_and_a_probe_from_modules_outside_bnrepro_train_and_are_checked_and_documented(plugins, tmp_path):
    norm_module, _ = plugins
    cfg = tiny(
        model__bn="pre",
        model__norm__kind="mean_only",
        model__norm__shift=0.5,
        train__steps=4,
        train__log_every=2,
        train__eval_every=2,
        probes__which=["grad_norm", "weight_norm"],
    )
    validate(cfg)
    assert isinstance(make_norm(cfg.model.norm, 4), norm_module.MeanOnly)
    (summary,) = train_runs([cfg], [tmp_path / "run"], log=lambda m: None)
    assert summary["status"] == "completed"
    logged = set(summary["final"])
    assert {f"weight_norm/layer_0{i}" for i in (1, 2, 3, 4)} <= logged
    patterns = tag_patterns(cfg)
    assert [t for t in logged if not any(p.fullmatch(t) for p in patterns)] == []
    assert why_missing(cfg, "weight_norm/layer_04:change") is None
    assert why_missing(cfg, "weight_norm/layer_05") is not None  # a depth-3 net has 4 weight layers

    # its options are range-checked from their declarations, and the statistics it lacks refused
    with pytest.raises(ConfigError, match=r"model.norm.shift=-1.0 is out of range: must be >= 0"):
        validate(tiny(model__bn="pre", model__norm__kind="mean_only", model__norm__shift=-1.0))
    with pytest.raises(ConfigError, match=r"eval.stats=population .*norm=mean_only supports moving$"):
        validate(tiny(model__bn="pre", model__norm__kind="mean_only", eval__stats="population"))
    assert "### `mean_only`: Mean-only batch normalization" in key_table()
    assert "| `model.norm.shift` | float | `0.0` | >= 0 | added after centring |" in key_table()
    assert "| `weight_norm/layer_NN` | probe `weight_norm`: Frobenius norm of layer NN's weights |" in glossary()


def test_a_probe_must_declare_its_tags():
    from bnrepro.run.probes import probe

    with pytest.raises(ValueError, match="must declare the tags"):
        probe("silent")(lambda inp: {})
    assert "silent" not in PROBES
