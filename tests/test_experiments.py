"""Every experiment file: composed from its YAML in its sweep's order, keeping each arm's keys,
its own sweep pinning each claim, and a fast dev run (a few steps on synthetic data) of one
configuration of its sweep."""

from __future__ import annotations


import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

import bnrepro.launch.app as app
from bnrepro.config import ConfigError, arms, flatten, to_plain, validate
from bnrepro.launch.declared_arms import arm_jobs, declared
from bnrepro.launch.hydra_internals import grid
from bnrepro.launch.sweep import typed
from bnrepro.run.loop import train_runs

from conftest import REPO, train_changed_experiment

EXPERIMENTS = sorted(p.stem for p in (REPO / "conf" / "experiment").glob("*.yaml"))
FAST = [
    "data=synthetic",
    "device=cpu",
    "train.steps=4",
    "train.log_every=2",
    "train.eval_every=2",
    "probes.hist_every=0",
    "train.progress=false",
]


def _compose(overrides: list[str], hydra: bool = False):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(app.conf_dir()), version_base="1.3"):
        return compose("train", overrides=overrides, return_hydra_config=hydra)


def _file_sweep(name: str) -> list[list[str]]:
    """The experiment file's own sweep, expanded: one override list per job (one seed:
    seeds never make configurations differ, and composing is what takes the time)."""
    sweeper = _compose([f"+experiment={name}"], hydra=True).hydra.sweeper
    params = [f"{key}={values}" for key, values in (sweeper.params or {}).items() if key != "seed"]
    if not sweeper.get("arms"):
        return grid(params)
    return arm_jobs(declared(OmegaConf.to_container(sweeper.arms), list(sweeper.params)), params, [], grid)


FAST_KEYS = {override.lstrip("+~").partition("=")[0] for override in FAST}


def _arm_keys_lost(job: list[str], cfg) -> list[str]:
    """The keys a job's `+group=arm` file sets (its own, `@package _global_`) that the composed
    config does not have: an experiment file merges after its sweep's arms (Hydra puts
    hydra.sweeper.params before the command line's +experiment=), so a key both set is the
    experiment's in every arm (fig3's BN-x5 trained with dropout 0.4 this way; issue 32)."""
    composed, lost = flatten(to_plain(cfg)), []
    for override in job:
        group, _, arm = override.removeprefix("+").partition("=")
        path = REPO / "conf" / group / f"{arm}.yaml"
        if not override.startswith("+") or not path.is_file() or "_global_" not in path.read_text().split("\n")[0]:
            continue
        own = OmegaConf.to_container(OmegaConf.load(path))
        own.pop("defaults", None)
        lost += [
            f"{override}: {k}={v!r}, composed {composed.get(k)!r}"
            for k, v in flatten(own).items()
            if composed.get(k) != v and k not in FAST_KEYS  # this test's own overrides win, by design
        ]
    return lost


# Two files stay in the fast set (make test-fast < 60 s); every file runs with the slow set.
IN_FAST_SET = ("sigmoid10", "mnist_fig1")


@pytest.mark.parametrize(
    "name", [name if name in IN_FAST_SET else pytest.param(name, marks=pytest.mark.slow) for name in EXPERIMENTS]
)
def test_an_experiment_file_composes_pins_its_claims_and_trains_a_few_steps(name, tmp_path):
    jobs = _file_sweep(name)
    assert jobs, f"{name}: no sweep"
    configs = [typed(_compose([*job, f"+experiment={name}", *FAST])) for job in jobs]  # the sweep's order
    for job, cfg in zip(jobs, configs):
        validate(cfg)
        lost = _arm_keys_lost(job, cfg)
        assert not lost, f"{name}: the experiment file overrides its arms' keys: {lost}"
    assert configs[0].report.claims, f"{name}: an experiment states its claims"
    arms.check_claims([flatten(to_plain(c)) for c in configs], configs[0].report.claims)  # raises if pooled
    (summary,) = train_runs(configs[:1], [tmp_path / "run"], log=lambda message: None)
    assert summary["status"] == "completed" and summary["steps_done"] == 4
    assert (tmp_path / "run" / "summary.json").is_file()


def test_a_claim_that_pools_configurations_is_an_error_naming_it():
    flats = [
        {"model.bn": bn, "model.init_gain": gain, "seed": seed}
        for bn in ("none", "pre")
        for gain in (1, 4)
        for seed in (1, 2)
    ]
    claim = {"text": "BN helps", "where": "model.bn=pre", "than": "model.bn=none"}
    assert arms.spread_keys(flats, claim) == ["model.init_gain"]
    with pytest.raises(ConfigError, match="'BN helps'.*model.init_gain"):
        arms.check_claims(flats, [claim])
    arms.check_claims(
        flats, [{**claim, "where": "model.bn=pre,model.init_gain=1", "than": "model.bn=none,model.init_gain=1"}]
    )


@pytest.mark.slow
def test_bnrepro_train_refuses_an_experiment_file_whose_sweep_leaves_a_claim_unpinned(tmp_path):
    done = train_changed_experiment(
        tmp_path,
        "sigmoid10",
        "      model.bn: none,pre\n",
        "      model.bn: none,pre\n      model.init_gain: 1,4\n",
        *FAST,
    )
    assert done.returncode != 0
    assert "pools configurations" in done.stderr and "model.init_gain" in done.stderr
    assert not (tmp_path / "runs").exists()  # refused before anything was created


@pytest.mark.slow
def test_an_experiment_files_dropped_claims_are_checked_and_a_malformed_one_is_refused():
    """noisy_bn records the claims it removed after runs judged them (report.dropped)."""
    cfg = typed(_compose(["+experiment=noisy_bn", *FAST]))
    validate(cfg)
    first = cfg.report.dropped[0]
    assert first.claim == "lr 0.1: noisy BN reaches a higher test accuracy than no BN"
    assert (first.verdict, first.commit) == ("not reproduced", "5c80b52") and "training performance" in first.reason
    with pytest.raises(ConfigError, match=r"report\.dropped\[0\]\.commit='later' is out of range"):
        validate(typed(_compose(["+experiment=noisy_bn", *FAST, "report.dropped.0.commit=later"])))
