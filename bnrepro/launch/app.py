"""`bnrepro train`: the Hydra application. Thin: composition is Hydra's, the work is train_runs.

conf/train.yaml sets hydra.mode=MULTIRUN, so every `bnrepro train` (one run or a
grid) goes through bnrepro's sweeper and launcher (sweep.py beside this file): configs are
checked before any directory exists, and compatible runs train together. The task
function below serves hydra.mode=RUN only.
"""
from __future__ import annotations

from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.plugins import Plugins
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
    from hydra_plugins.bnrepro import BnreproLauncher, BnreproSweeper

    for plugin in (BnreproSweeper, BnreproLauncher):
        plugins.register(plugin)


register()
register_plugins()


@hydra.main(version_base="1.3", config_path=str(conf_dir()), config_name="train")
def main(cfg: DictConfig) -> None:
    from .sweep import check, command_line, typed
    from ..run.loop import train_runs

    run_dir = Path(HydraConfig.get().runtime.output_dir)
    config = typed(cfg)
    try:
        check([config], [list(HydraConfig.get().overrides.task)])
    except Exception:
        if run_dir.is_dir() and not any(run_dir.iterdir()):
            run_dir.rmdir()  # Hydra made it before calling us; leave nothing behind
        raise
    train_runs([config], [run_dir], command_line())
