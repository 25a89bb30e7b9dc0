"""bnrepro's Hydra sweeper and local launcher (installed as hydra_plugins.bnrepro).

Hydra only instantiates plugins from the hydra_plugins namespace, hence this shim;
the behaviour is in bnrepro/launch/sweep.py, packs.py, stopping.py and local.py, and
every use of Hydra's internals in bnrepro/launch/hydra_internals.py. The sweeper is
selected in conf/train.yaml with `override hydra/sweeper: bnrepro`. The launcher is
Hydra's basic one (the default: packs one after another, in this process; on a CPU the
sweeper may instead hand the packs to the local runner, launch/schedule.py), bnrepro's
`hydra/launcher=local` (packs in independent child processes, n_jobs at once:
launch/local.py), joblib or submitit_slurm.

No `from __future__ import annotations` here: Hydra's plugin scan executes this
module before it is in sys.modules, where dataclasses cannot resolve string annotations.
"""

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Optional

from hydra.core.config_store import ConfigStore
from hydra.plugins.launcher import Launcher
from omegaconf import ListConfig, OmegaConf

from bnrepro.launch.hydra_internals import BasicSweeper, BasicSweeperConf, grid_jobs, is_group, swept_params, value_of


@dataclass
class BnreproSweeperConf(BasicSweeperConf):
    _target_: str = "hydra_plugins.bnrepro.BnreproSweeper"
    batch: bool = True  # train compatible runs together, as packs (false: one run per pack)
    max_runs: int = 64  # at most this many runs per pack
    # the experiment's arms, each a {key: value} override set crossed with params (launch/declared_arms.py)
    arms: Optional[List[Any]] = None


@dataclass
class LocalLauncherConf:
    _target_: str = "hydra_plugins.bnrepro.LocalLauncher"
    n_jobs: int = -1  # packs trained at once; -1: one per core, -2: all cores but one, ...


ConfigStore.instance().store(group="hydra/sweeper", name="bnrepro", node=BnreproSweeperConf, provider="bnrepro")
ConfigStore.instance().store(group="hydra/launcher", name="local", node=LocalLauncherConf, provider="bnrepro")


class LocalLauncher(Launcher):
    """Packs in independent child processes, n_jobs at once (bnrepro/launch/local.py)."""

    def __init__(self, n_jobs: int = -1) -> None:
        self.n_jobs, self.config = n_jobs, None

    def setup(self, *, hydra_context, task_function, config) -> None:
        self.config = config  # the sweeper's own: it holds the sweep directory the sweeper claimed

    def launch(self, job_overrides, initial_job_idx):
        from bnrepro.launch.local import launch_packs
        from bnrepro.launch.stopping import effective_jobs

        return launch_packs(
            Path(str(self.config.hydra.sweep.dir)), job_overrides, initial_job_idx, effective_jobs(self.n_jobs)
        )


class BnreproSweeper(BasicSweeper):
    """Hydra's basic sweeper (grid over comma lists and hydra.sweeper.params), except
    that every job is composed and checked before the sweep directory is created, and
    the experiment file's own sweep must pin each of its claims to one configuration, and that
    the sweep directory is created exclusively (a suffix when another process has it), and
    that the launcher gets one job per pack of compatible runs, not one per run; and that
    an experiment may declare its arms (hydra.sweeper.arms), each crossed with params only."""

    def __init__(self, max_batch_size=None, params=None, batch: bool = True, max_runs: int = 64, arms=None) -> None:
        super().__init__(max_batch_size=max_batch_size, params=params)
        self.batch, self.max_runs = batch, max_runs
        self.arms_declared = OmegaConf.to_container(arms) if isinstance(arms, ListConfig) else arms

    def _arms(self) -> list:
        """The declared arms, checked (none: the grid of params is the sweep)."""
        from bnrepro.launch.declared_arms import check_keys, declared, keys

        if self.arms_declared is None:
            return []
        arms = declared(self.arms_declared, list(self.params or {}))
        loader = self.hydra_context.config_loader
        check_keys(arms, {key for key in keys(arms) if "." not in key and is_group(loader, key)})
        return arms

    def _jobs(self, arms: list, arguments: List[str]) -> List[List[str]]:
        """Every job's overrides: the grid of params and the command line, or each declared arm crossed with it."""
        from bnrepro.launch.declared_arms import arm_jobs

        if not arms:
            return grid_jobs(self, swept_params(self) + list(arguments))
        return arm_jobs(arms, swept_params(self), arguments, lambda params: grid_jobs(self, params))

    def _configs(self, jobs: List[List[str]]):
        from bnrepro.launch.sweep import Composer

        if getattr(self, "_composer", None) is None:  # one per sweep: each job composed once (sweep.Composer)
            self._composer = Composer(self.hydra_context.config_loader, self.config)
        return [self._composer(job) for job in jobs]

    def sweep(self, arguments: List[str]) -> Any:
        from bnrepro.launch.declared_arms import ArmsError, describe, keys
        from bnrepro.launch.sweep import InvalidJob, check, check_experiment_claims, claim_sweep_dir, refuse_run_dir
        from bnrepro.run.signals import held_sigint, release_startup

        release_startup()  # Hydra's own composition is done: a Ctrl-C held since the start is raised here
        refuse_run_dir(list(self.config.hydra.overrides.hydra))
        chosen = [a for a in arguments if a.lstrip("+").startswith("experiment=")]
        try:
            with held_sigint():  # Hydra's override parser and config loader (each job's composition: sweep.Composer)
                arms = self._arms()
                jobs, own_jobs = self._jobs(arms, list(arguments)), self._jobs(arms, chosen)
        except ArmsError as e:
            raise InvalidJob(str(e)) from None
        configs = self._configs(jobs)
        check(configs, jobs)
        check_experiment_claims(self._configs(own_jobs), describe(arms))
        self.axes = (*[key.lstrip("+~") for key in keys(arms)], *(str(key) for key in (self.params or {})))
        schedule = self._schedule(configs)
        sweep_dir = claim_sweep_dir(Path(self.config.hydra.sweep.dir))  # never shared with another process
        try:
            return [self._launch(sweep_dir, configs, jobs, schedule)]
        except KeyboardInterrupt as e:  # Ctrl-C, or run.signals.Interrupted: `bnrepro train` prints how to resume
            e.sweep_dir = sweep_dir
            raise

    def _schedule(self, configs):
        """The packs and how many train at once (launch/schedule.py), checked before anything
        exists (printed by _launch as the packs start)."""
        from bnrepro.launch.schedule import ScheduleError, for_sweep
        from bnrepro.launch.sweep import InvalidJob

        target = str(self.config.hydra.launcher.get("_target_", ""))
        try:
            schedule = for_sweep(configs, self.batch, self.max_runs, list(self.config.hydra.overrides.hydra), target)
        except ScheduleError as e:
            raise InvalidJob(f"Invalid configuration: {e}") from None
        return schedule

    def _launch(self, sweep_dir: Path, configs, jobs, schedule) -> Any:
        """Name the runs, write their pending summaries and packs, and train the packs."""
        from omegaconf import open_dict, read_write

        from bnrepro.launch.outcomes import settle
        from bnrepro.launch.schedule import launch
        from bnrepro.launch.sweep import form_packs, sweep_dir_override
        from bnrepro.run.signals import held_sigint

        with held_sigint(), read_write(self.config.hydra), open_dict(self.config.hydra):
            self.config.hydra.sweep.dir = str(sweep_dir)
            OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        packs = form_packs(configs, jobs, sweep_dir, schedule.groups, self.axes)
        # A pack's job is composed from its first run's overrides: the sweep directory and
        # hydra settings are the sweep's; the runs themselves come from the pack file.
        # The job's overrides name the claimed sweep directory: recomposed from the command line
        # alone, hydra.sweep.dir would be the configured one, which another process may hold.
        jobs = [[*pack.overrides[0], sweep_dir_override(sweep_dir)] for pack in packs]
        # Printed as training starts, not before: a Ctrl-C while starting still answers in one line.
        print(f"{configs[0].name}: {schedule.line(os.cpu_count() or 1)}", file=sys.stderr)
        results = launch(
            schedule,
            self.launcher,
            str(self.config.hydra.launcher.get("_target_", "")),
            jobs,
            sweep_dir,
            [sweep_dir / pack.names[0] for pack in packs],
        )
        # A failed pack's error is raised, as Hydra's basic sweeper does; packs killed or busy
        # end the sweep with their own exit status (outcomes.py).
        settle([value_of(r) for r in results], [pack.names for pack in packs], sweep_dir, print_error)
        return results


def print_error(message: str) -> None:
    print(message, file=sys.stderr)
