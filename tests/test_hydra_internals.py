"""The behaviour of Hydra's internals that bnrepro relies on (bnrepro/launch/hydra_internals.py
lists them): a Hydra upgrade that changes one fails here, naming it."""

from __future__ import annotations

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.types import HydraContext
from omegaconf import OmegaConf

from bnrepro.launch import app  # noqa: F401 (registers bnrepro's plugins, after Hydra's scan)
from bnrepro.launch.hydra_internals import BasicSweeper, job_return, swept_params, value_of
from bnrepro.launch.outcomes import BUSY_EXIT, SweepNotFinished


def test_the_basic_sweepers_grid_is_the_cross_product_with_the_first_key_slowest():
    overrides = OverridesParser.create().parse_overrides(["a=1,2", "b=x,y", "c=3"])
    assert BasicSweeper.split_arguments(overrides, None) == [
        [["a=1", "b=x", "c=3"], ["a=1", "b=y", "c=3"], ["a=2", "b=x", "c=3"], ["a=2", "b=y", "c=3"]]
    ]


def test_sweeper_params_come_back_as_overrides():
    sweeper = BasicSweeper(max_batch_size=None, params={"model.bn": "none,pre", "seed": "1,2"})
    assert swept_params(sweeper) == ["model.bn=none,pre", "seed=1,2"]


def test_the_launcher_sees_the_sweep_directory_the_sweeper_claims():
    """BasicSweeper.setup hands its own config object to the launcher it instantiates."""
    config = OmegaConf.create(
        {
            "hydra": {
                "launcher": {"_target_": "hydra_plugins.bnrepro.LocalLauncher", "n_jobs": 2},
                "sweep": {"dir": "configured"},
            }
        }
    )
    sweeper = BasicSweeper(max_batch_size=None, params=None)
    sweeper.setup(
        hydra_context=HydraContext(config_loader=None, callbacks=None), task_function=lambda cfg: None, config=config
    )
    config.hydra.sweep.dir = "configured-2"  # as BnreproSweeper.sweep does once it has claimed it
    assert sweeper.launcher.config.hydra.sweep.dir == "configured-2" and sweeper.launcher.n_jobs == 2


def test_a_failed_jobs_value_is_read_without_raising_and_return_value_raises_it():
    error = ValueError("a pack's error")
    failed, done = job_return(["seed=1"], error), job_return(["seed=2"], [{"status": "completed"}])
    assert value_of(failed) is error and value_of(done) == [{"status": "completed"}]
    assert done.return_value == [{"status": "completed"}]
    with pytest.raises(ValueError, match="a pack's error"):
        _ = failed.return_value


def test_hydra_reports_an_exception_with_exit_1_and_lets_other_base_exceptions_through(capsys):
    from hydra._internal.utils import run_and_report

    def fails():
        raise ValueError("a bug")

    def busy():
        raise SweepNotFinished("skipped, busy (try later)", BUSY_EXIT)

    with pytest.raises(SystemExit) as exited:
        run_and_report(fails)
    assert exited.value.code == 1 and "a bug" in capsys.readouterr().err
    with pytest.raises(SweepNotFinished):
        run_and_report(busy)
