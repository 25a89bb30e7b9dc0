"""bnrepro's Hydra sweeper (installed as hydra_plugins.bnrepro).

Hydra only instantiates plugins from the hydra_plugins namespace, hence this shim;
the behaviour is in bnrepro/launch/sweep.py, packs.py and stopping.py. Selected in conf/train.yaml with
`override hydra/sweeper: bnrepro`. The launcher is any of Hydra's: the basic one (the
default: packs one after another, in this process), joblib or submitit_slurm.

No `from __future__ import annotations` here: Hydra's plugin scan executes this
module before it is in sys.modules, where dataclasses cannot resolve string annotations.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any, List

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper, BasicSweeperConf
from hydra.core.config_store import ConfigStore
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf


@dataclass
class BnreproSweeperConf(BasicSweeperConf):
    _target_: str = "hydra_plugins.bnrepro.BnreproSweeper"
    batch: bool = True  # train compatible runs together, as packs (false: one run per pack)
    max_runs: int = 64  # at most this many runs per pack


ConfigStore.instance().store(group="hydra/sweeper", name="bnrepro", node=BnreproSweeperConf, provider="bnrepro")


class BnreproSweeper(BasicSweeper):
    """Hydra's basic sweeper (grid over comma lists and hydra.sweeper.params), except
    that every job is composed and checked before the sweep directory is created, and
    the experiment file's own sweep must pin each of its claims to one configuration, and that
    the sweep directory is created exclusively (a suffix when another process has it), and
    that the launcher gets one job per pack of compatible runs, not one per run."""

    def __init__(self, max_batch_size=None, params=None, batch: bool = True, max_runs: int = 64) -> None:
        super().__init__(max_batch_size=max_batch_size, params=params)
        self.batch, self.max_runs = batch, max_runs

    def _configs(self, params: List[str]):
        from bnrepro.launch.sweep import Composer

        if getattr(self, "_composer", None) is None:  # one per sweep: each job composed once (sweep.Composer)
            self._composer = Composer(self.hydra_context.config_loader, self.config)
        overrides = OverridesParser.create(config_loader=self.hydra_context.config_loader).parse_overrides(params)
        jobs = [job for batch in self.split_arguments(overrides, None) for job in batch]
        return [self._composer(job) for job in jobs], jobs

    def sweep(self, arguments: List[str]) -> Any:
        from bnrepro.launch.sweep import check, check_experiment_claims, claim_sweep_dir, refuse_run_dir

        refuse_run_dir(list(self.config.hydra.overrides.hydra))
        configs, jobs = self._configs(self._parse_config() + list(arguments))
        check(configs, jobs)
        chosen = [a for a in arguments if a.lstrip("+").startswith("experiment=")]
        check_experiment_claims(self._configs(chosen + self._parse_config())[0])
        sweep_dir = claim_sweep_dir(Path(self.config.hydra.sweep.dir))  # never shared with another process
        try:
            return [self._launch(sweep_dir, configs, jobs)]
        except KeyboardInterrupt as e:  # Ctrl-C, or run.signals.Interrupted: `bnrepro train` prints how to resume
            e.sweep_dir = sweep_dir
            raise

    def _launch(self, sweep_dir: Path, configs, jobs) -> Any:
        """Name the runs, write their pending summaries and packs, and train the packs."""
        from omegaconf import open_dict, read_write

        from bnrepro.launch.stopping import launch
        from bnrepro.launch.sweep import form_packs, sweep_dir_override

        with read_write(self.config.hydra), open_dict(self.config.hydra):
            self.config.hydra.sweep.dir = str(sweep_dir)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        axes = tuple(str(key) for key in (self.config.hydra.sweeper.get("params") or {}))
        packs = form_packs(configs, jobs, sweep_dir, self.batch, self.max_runs, axes)
        # A pack's job is composed from its first run's overrides: the sweep directory and
        # hydra settings are the sweep's; the runs themselves come from the pack file.
        # The job's overrides name the claimed sweep directory: recomposed from the command line
        # alone, hydra.sweep.dir would be the configured one, which another process may hold.
        jobs = [[*pack.overrides[0], sweep_dir_override(sweep_dir)] for pack in packs]
        results = launch(self.launcher, str(self.config.hydra.launcher.get("_target_", "")), jobs, sweep_dir,
                         [sweep_dir / pack.names[0] for pack in packs])
        for result in results:
            _ = result.return_value  # raises the job's error, as Hydra's basic sweeper does
        return results
