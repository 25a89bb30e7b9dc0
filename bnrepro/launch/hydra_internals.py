"""Every use bnrepro makes of Hydra's internals, in one place (hydra-core 1.3).

tests/test_hydra_internals.py pins each behaviour relied on, so that a Hydra upgrade
that changes one fails there, with this module named, rather than deep in a sweep:

- BasicSweeper (hydra._internal): bnrepro's sweeper subclasses it for its grid:
  `split_arguments` (static) expands comma lists into the cross product of jobs, the
  first key varying slowest; `_parse_config` gives hydra.sweeper.params as overrides;
- the sweeper's `hydra_context.config_loader.load_sweep_config(config, overrides)`
  composes one job's config; the sweeper and its launcher share one `config` object, so
  the sweep directory the sweeper claims is the one the launcher sees;
- sweep.Composer composes once per set of config-group overrides and applies the plain
  values itself, as Hydra does after composing: `ConfigLoaderImpl._apply_overrides_to_config`
  (apply_value_overrides), the loader's `repository.group_exists` (is_group);
- JobReturn._return_value: a job's result or exception, read without raising (the
  public `return_value` raises a failed job's exception after printing a line);
- run_and_report (around every @hydra.main app): an Exception escaping the sweep is
  printed and the process exits 1; any other BaseException (KeyboardInterrupt,
  outcomes.SweepNotFinished) reaches bnrepro's cli, which sets the exit status.

Imported only after Hydra's plugin scan (launch/app.py): the scan re-executes
BasicSweeper's module, and our sweeper must subclass the final class.
"""

from __future__ import annotations

from typing import Any, Sequence

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper, BasicSweeperConf
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobReturn, JobStatus

__all__ = [
    "BasicSweeper",
    "BasicSweeperConf",
    "job_configs",
    "grid",
    "grid_jobs",
    "parse_overrides",
    "is_group",
    "apply_value_overrides",
    "swept_params",
    "value_of",
    "job_return",
]


def swept_params(sweeper: BasicSweeper) -> list[str]:
    """hydra.sweeper.params as override strings (`key=a,b`)."""
    return sweeper._parse_config()


def grid(params: list[str], loader=None) -> list[list[str]]:
    """Every job of the grid `params` (override strings, comma lists swept), as its overrides;
    `loader` (a sweeper's config loader) resolves glob choices of config groups."""
    overrides = OverridesParser.create(config_loader=loader).parse_overrides(params)
    return [list(job) for batch in BasicSweeper.split_arguments(overrides, None) for job in batch]


def grid_jobs(sweeper: BasicSweeper, params: list[str]) -> list[list[str]]:
    """Every job of the grid `params`, as its overrides."""
    return grid(params, sweeper.hydra_context.config_loader)


def job_configs(sweeper: BasicSweeper, params: list[str]) -> tuple[list[Any], list[list[str]]]:
    """Every job of the grid `params`: (its composed DictConfig, its overrides)."""
    loader, jobs = sweeper.hydra_context.config_loader, grid_jobs(sweeper, params)
    return [loader.load_sweep_config(sweeper.config, job) for job in jobs], jobs


def parse_overrides(job: Sequence[str]) -> list:
    """One job's override strings as Hydra's Override objects."""
    return OverridesParser.create().parse_overrides(list(job))


def is_group(loader, key: str) -> bool:
    """Whether `key` names a config group (conf/<key>/), not a value."""
    return loader.repository.group_exists(key)


def apply_value_overrides(values: list, cfg) -> None:
    """Hydra's own application of plain value overrides (key=value, +key, ~key) to a composed config."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl

    ConfigLoaderImpl._apply_overrides_to_config(values, cfg)


def value_of(result: JobReturn) -> Any:
    """What a job returned, or the exception it raised, without raising it."""
    return result._return_value


def job_return(overrides: Sequence[str], value: Any) -> JobReturn:
    """A job's result as Hydra's launchers give it: failed when `value` is an exception."""
    failed = isinstance(value, BaseException)
    return JobReturn(
        overrides=list(overrides), status=JobStatus.FAILED if failed else JobStatus.COMPLETED, _return_value=value
    )
