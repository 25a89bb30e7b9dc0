"""`bnrepro train`: the Hydra application. Thin: composition is Hydra's, the work is train_runs.

conf/train.yaml sets hydra.mode=MULTIRUN, so every `bnrepro train` (one run or a
grid) goes through bnrepro's sweeper (sweep.py, packs.py beside this file): configs are
checked before any directory exists, and compatible runs are packed to train together;
the task function below trains one pack per Hydra job, under any launcher.
"""

from __future__ import annotations

from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.plugins import Plugins
from hydra.types import RunMode
from omegaconf import DictConfig

from ..config import register


def conf_dir() -> Path:
    """conf/ ships inside the wheel as bnrepro/conf; in a source checkout it is ../conf."""
    package = Path(__file__).resolve().parent.parent
    return package / "conf" if (package / "conf" / "train.yaml").is_file() else package.parent / "conf"


def register_plugins() -> None:
    """Hydra finds plugins by scanning hydra_plugins, which misses editable installs, so
    ours are registered explicitly. The scan re-executes plugin modules (BasicSweeper
    among them): it must run first, so that our sweeper subclasses the final class."""
    plugins = Plugins.instance()
    from hydra_plugins.bnrepro import BnreproSweeper, LocalLauncher

    plugins.register(BnreproSweeper)
    plugins.register(LocalLauncher)


register()
register_plugins()


@hydra.main(version_base="1.3", config_path=str(conf_dir()), config_name="train")
def main(cfg: DictConfig) -> list[dict]:
    """A Hydra job: in a sweep (always, from conf/train.yaml) one pack of runs, trained
    by whichever launcher runs this job; with hydra.mode=RUN the one configured run."""
    from ..run.loop import train_runs
    from .sweep import check, command_line, train_pack, typed

    hydra_config = HydraConfig.get()
    if hydra_config.mode == RunMode.MULTIRUN:
        from .stopping import uses_pool

        return train_pack(
            Path(hydra_config.runtime.output_dir),
            Path(str(hydra_config.sweep.dir)),
            hydra_config.job.num,
            uses_pool(str(hydra_config.launcher.get("_target_", ""))),
        )
    run_dir = Path(hydra_config.runtime.output_dir)
    config = typed(cfg)
    try:
        check([config], [list(HydraConfig.get().overrides.task)])
    except Exception:
        if run_dir.is_dir() and not any(run_dir.iterdir()):
            run_dir.rmdir()  # Hydra made it before calling us; leave nothing behind
        raise
    return train_runs([config], [run_dir], command_line())
