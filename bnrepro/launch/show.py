"""`bnrepro train --cfg job ...` for a sweep: the first job's config, with what the sweep varies.

Hydra's own --cfg composes one config, so a comma list on the command line (or a
sweep in an experiment's hydra.sweeper.params) cannot be shown by it. Here the jobs
are expanded as the sweeper would (command-line sweeps replace the file's sweep of
the same key), the job count and the swept keys are printed as comments, then the
first job's composed config. Nothing is created.
"""
from __future__ import annotations

from omegaconf import OmegaConf


def sweep_config(overrides: list[str]) -> str | None:
    """The text to print, or None when nothing is swept (Hydra's --cfg serves that)."""
    from hydra import compose, initialize_config_dir
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from .app import conf_dir

    parser = OverridesParser.create()
    given = parser.parse_overrides(overrides)
    fixed = [o.input_line for o in given if not o.is_sweep_override()]
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        base = compose("train", overrides=fixed, return_hydra_config=True)
        on_line = {o.key_or_group for o in given}
        from_file = [f"{key}={value}" for key, value in (base.hydra.sweeper.params or {}).items()
                     if key not in on_line]
        every = parser.parse_overrides(from_file) + given
        swept = {o.key_or_group: o.input_line.split("=", 1)[1] for o in every if o.is_sweep_override()}
        if not swept:
            return None
        jobs = [job for batch in BasicSweeper.split_arguments(every, None) for job in batch]
        first = compose("train", overrides=list(jobs[0]))
    lines = [f"# a sweep of {len(jobs)} jobs; it varies:"]
    lines += [f"#   {key}: {values}" for key, values in swept.items()]
    lines += [f"# the first job ({' '.join(jobs[0])}):", OmegaConf.to_yaml(first)]
    return "\n".join(lines)
