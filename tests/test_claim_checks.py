"""Claims are checked before training: their fields' ranges (config/checks.py), and that their
metric and arms can exist for the runs (launch/sweep.py, run/logged_tags.py)."""

from __future__ import annotations


import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

import bnrepro.launch.app as app
from bnrepro.config import ClaimConfig, ConfigError, validate
from bnrepro.launch.sweep import check_claim_metrics, typed
from bnrepro.run.logged_tags import tag_patterns, why_missing
from bnrepro.run.loop import train_runs

from conftest import tiny, train_changed_experiment


def claim(**fields) -> ClaimConfig:
    return ClaimConfig(
        **{
            "text": "a claim",
            "metric": "test_acc_final",
            "where": "model.bn=pre",
            "op": ">",
            "than": "model.bn=none",
            **fields,
        }
    )


@pytest.mark.parametrize(
    "fields, key",
    [
        ({"two_sided": True, "op": "="}, "two_sided"),
        ({"better": "up"}, "better"),
        ({"metric": "diverged", "op": "="}, "op"),
        ({"metric": "diverged", "than": None, "value": 2.0}, "value"),
        ({"tol_abs": -1.0, "op": "="}, "tol_abs"),
        ({"factor": 0.0}, "factor"),
        ({"metric": "grad_norm/layer_01:mean"}, "metric"),
        ({"two_sided": True, "check": True}, "two_sided"),
        ({"op": None}, "op"),  # no side expected: only a two-sided question may say so
        ({"underpowered": " "}, "underpowered"),  # marked, but no reason given
        ({"underpowered": "needs 30 seeds", "check": True}, "underpowered"),  # a check has no power
    ],
)
def test_a_claim_field_out_of_range_is_refused_naming_it(fields, key):
    with pytest.raises(ConfigError, match=rf"report\.claims\[0\]\.{key}"):
        validate(tiny(report__claims=[claim(**fields)]))


def test_claims_in_range_pass():
    validate(
        tiny(
            report__claims=[
                claim(),
                claim(metric="diverged", op="<"),
                claim(op="=", tol_abs=0.0),
                claim(two_sided=True),
                claim(two_sided=True, op=None),
                claim(underpowered="needs 74 seeds per arm (docs/budget.md)"),
                claim(metric="diverged", two_sided=True, op=None),
                claim(metric="at_chance", op="=", check=True),
                claim(metric="test/acc:steps_to=0.9", op="<", better="lower"),
            ]
        )
    )


def test_every_tag_a_run_logs_is_one_its_configuration_allows(tmp_path):
    """The check must never refuse a tag a run will log: every probe, measure and evaluation on."""
    from bnrepro.run.probes import PROBES

    cfg = tiny(
        model__bn="pre",
        model__bias=True,
        train__steps=4,
        train__log_every=2,
        train__eval_every=2,
        probes__which=sorted(PROBES),
        probes__initial=True,
        eval__compare_stats=True,
        eval__batch_sizes=[1, 16],
        eval__variance_shift=True,
        eval__train_gap=True,
        probes__ics_every=2,
        probes__ics_layers=[2, 4],
        probes__landscape_every=2,
        probes__landscape_sizes=2,
    )
    (summary,) = train_runs([cfg], [tmp_path / "run"], log=lambda m: None)
    tags = set(summary["final"]) | set(summary["first"])
    assert len(tags) > 80 and any(t.startswith("landscape/") for t in tags) and "ics/layer_04/rel" in tags
    patterns = tag_patterns(cfg)
    assert [t for t in tags if not any(p.fullmatch(t) for p in patterns)] == []
    for key, value in summary.items():
        if isinstance(value, (int, float)) and key in ("test_acc_final", "test_acc_best", "best_step"):
            assert why_missing(cfg, key) is None


def test_a_tag_the_configuration_never_logs_is_named_with_the_reason():
    cfg = tiny(model__bn="none", probes__ics_every=10, probes__ics_layers=[2])
    assert why_missing(cfg, "grad_norm/layer_04") is None  # the output layer of a depth-3 net
    assert why_missing(cfg, "grad_norm/layer_05") is not None
    assert why_missing(cfg, "ics/layer_02/rel:median") is None and why_missing(cfg, "ics/layer_03/rel") is not None
    assert why_missing(cfg, "bias/layer_01/norm") is not None  # the bias probe is off
    assert why_missing(cfg, "test_stats/population_acc") is not None  # no BN, no compare_stats
    assert "no summary value" in why_missing(cfg, "test_acc_fnial")
    assert why_missing(cfg, "steps_to_baseline_best") == "it needs report.paper_table"
    assert why_missing(cfg, "diverged") is None and why_missing(cfg, "test/acc:steps_to=0.9") is None


def _sweep(name: str, *jobs: list[str]):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(app.conf_dir()), version_base="1.3"):
        return [typed(compose("train", overrides=[f"+experiment={name}", *job])) for job in jobs]


@pytest.mark.slow  # over 1 s: the fast set keeps its one-minute budget
def test_a_claim_whose_metric_or_arm_can_never_exist_is_refused_before_training():
    configs = _sweep("mnist_fig1", ["model.bn=none"], ["model.bn=pre"])
    check_claim_metrics(configs, own_sweep=True)  # the file as it is
    for change, message in [
        ({"metric": "act/layer_07/unit_p50:change"}, "cannot exist"),
        ({"where": "model.bn=pree"}, "selects no run"),
        ({"than": "model.batchnorm=none"}, "no config key"),
    ]:
        for cfg in configs:
            cfg.report.claims[2] = ClaimConfig(**{**vars(cfg.report.claims[2]), **change})
        with pytest.raises(ConfigError, match=message):
            check_claim_metrics(configs, own_sweep=True)
        configs = _sweep("mnist_fig1", ["model.bn=none"], ["model.bn=pre"])
    only_pre = configs[1:]
    check_claim_metrics(only_pre, own_sweep=False)  # a subset of the sweep: an arm may select nothing


@pytest.mark.slow
def test_bnrepro_train_refuses_a_claim_on_a_tag_no_run_logs(tmp_path):
    done = train_changed_experiment(
        tmp_path,
        "mnist_fig1",
        "metric: act/layer_03/unit_p85:change",
        "metric: act/layer_03/unit_p58:change",
        "data=synthetic",
        "train.steps=2",
    )
    assert done.returncode != 0 and "act/layer_03/unit_p58" in done.stderr and "cannot exist" in done.stderr
    assert not (tmp_path / "runs").exists()


def test_a_claim_naming_a_tag_no_run_logs_is_told_the_nearest_logged_tags():
    from bnrepro.config import Config
    from bnrepro.run.logged_tags import why_missing

    cfg = Config()
    assert why_missing(cfg, "act/layer_02/saturated:median") is None
    message = why_missing(cfg, "act/layer_02/satrated:median")
    assert "'act/layer_02/satrated'" in message and "nearest: act/layer_NN/saturated" in message
    assert "grad_norm/layer_NN" in why_missing(cfg, "grad_norm/layer_99")  # a layer the net does not have
