"""bnrepro's Hydra sweeper and launcher (installed as hydra_plugins.bnrepro).

Hydra only instantiates plugins from the hydra_plugins namespace, hence this shim;
the behaviour is in bnrepro/launch/sweep.py. Selected in conf/train.yaml with
`override hydra/sweeper: bnrepro` and `override hydra/launcher: bnrepro`.

No `from __future__ import annotations` here: Hydra's plugin scan executes this
module before it is in sys.modules, where dataclasses cannot resolve string annotations.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Optional, Sequence

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper, BasicSweeperConf
from hydra.core.config_store import ConfigStore
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


@dataclass
class BnreproSweeperConf(BasicSweeperConf):
    _target_: str = "hydra_plugins.bnrepro.BnreproSweeper"


@dataclass
class BnreproLauncherConf:
    _target_: str = "hydra_plugins.bnrepro.BnreproLauncher"
    batch: bool = True  # train runs that share an architecture together, in one process
    max_runs: int = 64  # at most this many runs per group


ConfigStore.instance().store(group="hydra/sweeper", name="bnrepro", node=BnreproSweeperConf, provider="bnrepro")
ConfigStore.instance().store(group="hydra/launcher", name="bnrepro", node=BnreproLauncherConf, provider="bnrepro")


class BnreproSweeper(BasicSweeper):
    """Hydra's basic sweeper (grid over comma lists and hydra.sweeper.params), except
    that every job is composed and checked before the sweep directory is created, and
    the experiment file's own sweep must pin each of its claims to one configuration, and that
    the sweep directory is created exclusively (a suffix when another process has it)."""

    def _configs(self, params: List[str]):
        from bnrepro.launch.sweep import typed

        overrides = OverridesParser.create(config_loader=self.hydra_context.config_loader).parse_overrides(params)
        jobs = [job for batch in self.split_arguments(overrides, None) for job in batch]
        loader = self.hydra_context.config_loader
        return [typed(loader.load_sweep_config(self.config, list(job))) for job in jobs], jobs

    def sweep(self, arguments: List[str]) -> Any:
        from omegaconf import open_dict, read_write

        from bnrepro.launch.sweep import check, check_experiment_claims, claim_sweep_dir, refuse_run_dir

        refuse_run_dir(list(self.config.hydra.overrides.hydra))
        check(*self._configs(self._parse_config() + list(arguments)))
        chosen = [a for a in arguments if a.lstrip("+").startswith("experiment=")]
        check_experiment_claims(self._configs(chosen + self._parse_config())[0])
        sweep_dir = claim_sweep_dir(Path(self.config.hydra.sweep.dir))  # never shared with another process
        with read_write(self.config.hydra), open_dict(self.config.hydra):
            self.config.hydra.sweep.dir = str(sweep_dir)
        return super().sweep(arguments)


class BnreproLauncher(Launcher):
    def __init__(self, batch: bool = True, max_runs: int = 64) -> None:
        self.batch, self.max_runs = batch, max_runs
        self.config: Optional[DictConfig] = None
        self.hydra_context: Optional[HydraContext] = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config, self.hydra_context = config, hydra_context

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from bnrepro.launch.sweep import launch

        loader = self.hydra_context.config_loader
        configs = [loader.load_sweep_config(self.config, list(job)) for job in job_overrides]
        axes = tuple(str(key) for key in (self.config.hydra.sweeper.get("params") or {}))
        return launch(configs, job_overrides, Path(self.config.hydra.sweep.dir), self.batch, self.max_runs, axes)
