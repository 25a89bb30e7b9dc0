"""Configs: every experiment composes; bad values fail early, clearly, leaving nothing behind."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from bnrepro.launch.app import conf_dir
from bnrepro.config import ConfigError, validate
from bnrepro.config.header import missing_fields
from bnrepro.config.suite import membership
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
    assert not missing_fields(text), f"{name}.yaml's header comment does not say its {missing_fields(text)}"
    membership(name, text)  # a `# Suite:` line, when there is one, in its grammar (SuiteError names it)


@pytest.mark.parametrize(
    "overrides, key, allowed",
    [
        ({"optim__lr": -1.0}, "optim.lr", "> 0"),
        ({"model__dropout": 1.0}, "model.dropout", "[0, 1)"),
        ({"model__bn": "pre", "train__batch_size": 1}, "train.batch_size", ">= 2"),
        ({"probes__unit": 16}, "probes.unit", "model.width=16"),
        ({"model__arch": "convnet", "model__depth": 12}, "model.depth", "pool"),
        ({"train__threads": 0}, "train.threads", ">= 1"),
        ({"optim__kind": "adam", "optim__betas": [0.9, 1.0]}, "optim.betas", "two numbers in [0, 1)"),
        ({"optim__betas": [0.9]}, "optim.betas", "two numbers in [0, 1)"),
        ({"optim__kind": "rmsprop", "optim__alpha": 1.0}, "optim.alpha", "[0, 1)"),
        ({"optim__kind": "rmsprop", "optim__eps": 0.0}, "optim.eps", "> 0"),
        ({"optim__kind": "adam", "optim__momentum": 0.9}, "optim.momentum", "optim.betas[0]"),
        # negative counts: refused by each key's own range (a negative multiple of log_every passed before)
        ({"train__steps": 0}, "train.steps", "probes.initial=true with steps=1"),
        ({"train__steps": -1}, "train.steps", ">= 1"),
        ({"data__data_seed": -1}, "data.data_seed", "[0, 2^32)"),  # torch would take it as 2^64 - 1
        ({"probes__hist_every": -10}, "probes.hist_every", "null or >= 0"),
        ({"probes__ics_every": -10}, "probes.ics_every", ">= 0 (0: never)"),
        ({"probes__landscape_every": -10}, "probes.landscape_every", ">= 0 (0: never)"),
    ],
)
def test_range_checks_name_the_key(overrides, key, allowed):
    with pytest.raises(ConfigError) as err:
        validate(tiny(**overrides))
    assert key in str(err.value) and allowed in str(err.value)


def test_train_runs_refuses_a_key_out_of_range_before_any_file(tmp_path: Path):
    """From Python as from the command line: train.steps=-1 trained 0 steps and ended `interrupted`."""
    from bnrepro.run.loop import train_runs

    with pytest.raises(ConfigError, match=r"train\.steps=-1 is out of range: must be >= 1"):
        train_runs([tiny(train__steps=-1)], [tmp_path / "run"])
    assert list(tmp_path.iterdir()) == []


BAD_COMMANDS = [
    (["model.activation=softmax"], ["model.activation", "sigmoid", "tanh", "relu"]),
    (["model.bn=sideways"], ["model.bn", "none", "pre", "post"]),
    (["optim.lr=-1"], ["optim.lr", "> 0"]),
    (["optim.lr=inf"], ["optim.lr=inf", "must be finite"]),  # as nan is: inf only diverges
    (["model.dropout=1.5"], ["model.dropout", "[0, 1)"]),
    (["model.bn=pre", "train.batch_size=1"], ["train.batch_size", ">= 2"]),
    (["optim.lerning_rate=0.1"], ["lerning_rate"]),
    (["optim.kind=adagrad"], ["optim.kind", "sgd", "rmsprop", "adam"]),
    (["train.steps=many"], ["train.steps", "many"]),
    (["optim.lr=0.1,-1"], ["optim.lr", "> 0", "job"]),  # only the sweep's 2nd job is bad
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


PROFILED = sorted({p.stem.rsplit("_", 1)[0] for p in (conf_dir() / "profile").glob("*.yaml")})


@pytest.mark.parametrize("name", PROFILED)
def test_a_profiled_experiment_trains_its_cpu_profile_by_default_and_its_gpu_profile_when_asked(name):
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        cpu = compose("train", overrides=[f"+experiment={name}"], return_hydra_config=True)
        gpu = compose("train", overrides=[f"+experiment={name}", f"profile={name}_gpu"], return_hydra_config=True)
        chosen = compose("train", overrides=[f"+experiment={name}", "train.steps=7"])
    assert (cpu.profile, gpu.profile) == (f"{name}_cpu", f"{name}_gpu")
    assert cpu.train.steps < gpu.train.steps  # the CPU profile is the reduced one, and says so
    assert chosen.train.steps == 7  # the command line still wins over the profile
    for cfg in (cpu, gpu):
        validate(typed(cfg))
    if "+net" in cpu.hydra.sweeper.params:  # Santurkar's: the GPU profile sweeps their VGG width
        assert "vgg_wide" in gpu.hydra.sweeper.params["+net"] and "vgg_wide" not in cpu.hydra.sweeper.params["+net"]


def test_a_profile_belongs_to_its_experiment():
    validate(tiny(name="fig3", profile="fig3_cpu"))
    validate(tiny(name="mine", profile="full"))
    with pytest.raises(ConfigError, match="profile=fig3_gpu.*experiment ics's profiles"):
        validate(tiny(name="ics", profile="fig3_gpu"))


@pytest.mark.slow
def test_reproduce_refuses_command_line_reductions_into_results(tmp_path):
    import subprocess

    from conftest import REPO

    done = subprocess.run(
        ["bash", str(REPO / "scripts" / "reproduce.sh"), "--set", "mnist_fig1:train.steps=10", "mnist_fig1"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 2 and "results/ holds no command-line reductions" in done.stderr
    assert "conf/profile/" in done.stderr


@pytest.mark.slow
def test_a_typed_configs_plain_values_are_what_omegaconf_gives(tmp_path):
    """to_plain's fast path (no OmegaConf tree) against OmegaConf's own conversion, on every
    experiment file's configuration (summary.json and run names come from it)."""
    from omegaconf import OmegaConf

    from bnrepro.config import to_plain

    for name in EXPERIMENTS:
        with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
            config = typed(compose("train", overrides=[f"+experiment={name}"]))
        slow = OmegaConf.to_container(OmegaConf.structured(config), resolve=True, enum_to_str=True)
        assert to_plain(config) == slow and repr(to_plain(config)) == repr(slow), name


def test_underpowered_here_marks_the_claim_with_that_text_in_the_composed_config():
    from bnrepro.config import from_plain

    claims = [{"text": "tanh: after beats before"}, {"text": "ReLU: before beats after", "underpowered": "needs 74"}]
    overlay = {"ReLU: before beats after": "needs over 400 here", "tanh: after beats before": "needs 24 here"}

    def composed(overlay):
        return from_plain({"name": "deep", "report": {"claims": claims, "underpowered_here": overlay}})

    cfg = composed(overlay)
    assert [c.underpowered for c in cfg.report.claims] == ["needs 24 here", "needs over 400 here"]  # a mark replaced
    with pytest.raises(ConfigError, match=r"'tanh: after beats befor'\] \(experiment deep\).*nearest: 'tanh: after"):
        composed({"tanh: after beats befor": "x"})
    with pytest.raises(ConfigError, match=r"'tanh: after beats before'.*=' ' is out of range: must say why"):
        composed({"tanh: after beats before": " "})


def test_nearest_note_lists_the_close_names_as_shown_and_is_empty_when_none_is_close():
    from bnrepro.config.nearest import nearest_note

    tags = ["train/loss", "train/acc", "test/loss"]
    assert nearest_note("train/los", tags) == "; nearest: train/loss, train/acc, test/loss"  # closest first
    assert nearest_note("train/los", tags, n=1, show=repr) == "; nearest: 'train/loss'"  # a claim's text, quoted
    assert nearest_note("grad_norm/layer_01", tags) == ""  # no "; nearest:" with nothing after it
