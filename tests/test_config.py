"""Configs: every experiment composes; bad values fail early, clearly, leaving nothing behind."""
from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from bnrepro.launch.app import conf_dir
from bnrepro.config import ConfigError, validate
from bnrepro.launch.sweep import typed

from conftest import bnrepro, tiny

EXPERIMENTS = sorted(p.stem for p in (conf_dir() / "experiment").glob("*.yaml"))


def test_there_are_experiments():
    assert {"mnist_fig1", "sigmoid10"} <= set(EXPERIMENTS)


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_every_experiment_composes_and_validates(name):
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        cfg = compose("train", overrides=[f"+experiment={name}"], return_hydra_config=True)
    config = typed(cfg)
    validate(config)
    assert config.name == name
    assert cfg.hydra.sweeper.params, f"{name} should declare its comparison as a sweep"


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_every_experiment_file_opens_with_its_documentation(name):
    text = (conf_dir() / "experiment" / f"{name}.yaml").read_text()
    header = "\n".join(line for line in text.splitlines() if line.startswith("#")).lower()
    for needed in ("claim", "command", "sweep", "runtime", "expected"):
        assert needed in header, f"{name}.yaml's header comment does not say its {needed}"


@pytest.mark.parametrize("overrides, key, allowed", [
    ({"optim__lr": -1.0}, "optim.lr", "> 0"),
    ({"model__dropout": 1.0}, "model.dropout", "[0, 1)"),
    ({"model__bn": "pre", "train__batch_size": 1}, "train.batch_size", ">= 2"),
    ({"probes__unit": 16}, "probes.unit", "model.width=16"),
    ({"model__arch": "convnet", "model__depth": 12}, "model.depth", "pool"),
    ({"train__threads": 0}, "train.threads", ">= 1"),
])
def test_range_checks_name_the_key(overrides, key, allowed):
    with pytest.raises(ConfigError) as err:
        validate(tiny(**overrides))
    assert key in str(err.value) and allowed in str(err.value)


BAD_COMMANDS = [
    (["model.activation=softmax"], ["model.activation", "sigmoid", "tanh", "relu"]),
    (["model.bn=sideways"], ["model.bn", "none", "pre", "post"]),
    (["optim.lr=-1"], ["optim.lr", "must be > 0"]),
    (["model.dropout=1.5"], ["model.dropout", "[0, 1)"]),
    (["model.bn=pre", "train.batch_size=1"], ["train.batch_size", ">= 2"]),
    (["optim.lerning_rate=0.1"], ["lerning_rate"]),
    (["train.steps=many"], ["train.steps", "many"]),
    (["optim.lr=0.1,-1"], ["optim.lr", "must be > 0", "job"]),  # only the sweep's 2nd job is bad
]


@pytest.mark.slow
@pytest.mark.parametrize("args, words", BAD_COMMANDS)
def test_bad_values_fail_before_training_and_leave_nothing(tmp_path: Path, args, words):
    done = bnrepro("train", "data=synthetic", "device=cpu", f"out_dir={tmp_path / 'runs'}", *args, cwd=tmp_path)
    assert done.returncode != 0
    for word in words:
        assert word in done.stderr, f"{word!r} not in:\n{done.stderr}"
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "runs").exists()
    assert list(tmp_path.iterdir()) == []
