"""The `bnrepro` command: a dispatcher over subcommands.

`bnrepro train ...` hands the rest of the command line to the Hydra application
(bnrepro/launch/app.py); the other subcommands are plain argparse programs.
Nothing that only prints (--help, --version, --cfg, tab completion) imports torch:
it costs ~3 s on a small CPU. `scripts/cli_latency.py` measures these commands.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

USAGE = """usage: bnrepro <command> [args]

commands:
  train     train networks (Hydra): bnrepro train +experiment=sigmoid10 [key=value ...]
            bnrepro train --help shows every option; -m / comma lists sweep
  resume    continue a sweep's unfinished runs from their checkpoints: bnrepro resume runs/NAME/<time>
  table     comparison tables from runs: bnrepro table runs/sigmoid10/<time> [...]
  figures   figures from runs: bnrepro figures runs/mnist_fig1/<time> [...]
  report    every experiment's claims and verdicts (results/claims.md) and the results index
            (results/README.md), after `table`
  new-experiment  a new experiment file to fill in: bnrepro new-experiment NAME (conf/experiment/NAME.yaml)
  data      datasets: bnrepro data fetch mnist|fashion_mnist|cifar10 [--root DIR]
  bench     speed: a plain PyTorch loop vs bnrepro's single-run and batched paths

bnrepro --version prints the version. Quick start: bnrepro train +experiment=sigmoid10, then
  tensorboard --logdir runs/sigmoid10 and bnrepro table runs/sigmoid10/<time>
"""
COMMANDS = ("train", "resume", "table", "figures", "report", "new-experiment", "data", "bench")


def _complete() -> int:
    """Shell completion: Hydra's script calls `bnrepro -sc query=bash` with COMP_LINE set.
    Values of enum keys (model.bn=) are ours: Hydra would offer only the default."""
    from .launch.completion import value_choices

    line = os.environ.get("COMP_LINE", "")
    words = line.split()
    if len(words) > 2 and words[1] == "train" and not line.endswith(" "):
        choices = value_choices(words[-1])
        if choices is not None:
            print(" ".join(choices))
            return 0
    if len(words) >= 2 and words[1] == "train" and (len(words) > 2 or line.endswith(" ")):
        os.environ["COMP_LINE"] = " ".join([words[0], *words[2:]]) + (" " if line.endswith(" ") else "")
        return _train(sys.argv[1:])
    if len(words) <= 2:
        print(" ".join(COMMANDS))
    return 0


# Hydra launchers that come as extras: a missing plugin otherwise surfaces as Hydra's
# misleading "Ambiguous value ... add --multirun".
LAUNCHER_EXTRAS = {
    "joblib": ("hydra_plugins.hydra_joblib_launcher", "joblib"),
    "submitit_slurm": ("hydra_plugins.hydra_submitit_launcher", "slurm"),
    "submitit_local": ("hydra_plugins.hydra_submitit_launcher", "slurm"),
}


def _missing_launcher(args: list[str]) -> str | None:
    from importlib.util import find_spec

    for arg in args:
        key, _, value = arg.lstrip("+").partition("=")
        if key == "hydra/launcher" and value in LAUNCHER_EXTRAS:
            module, extra = LAUNCHER_EXTRAS[value]
            try:
                found = find_spec(module) is not None
            except ModuleNotFoundError:
                found = False
            if not found:
                return (
                    f"hydra/launcher={value} needs Hydra's {value} launcher plugin: "
                    f"pip install -e '.[{extra}]' (or pip install 'bnrepro[{extra}]')"
                )
    return None


# Hydra's own flags that take a value (`-sc query=bash`, `--cfg job`): the value is not an override.
HYDRA_VALUE_FLAGS = (
    "-sc",
    "--shell-completion",
    "-c",
    "--cfg",
    "-p",
    "--package",
    "-cn",
    "--config-name",
    "-cp",
    "--config-path",
    "-cd",
    "--config-dir",
    "--info",
    "--experimental-rerun",
)


def _misspelt_key(args: list[str]) -> str | None:
    from .launch.app import conf_dir
    from .launch.typos import unknown_key

    overrides = [
        a for i, a in enumerate(args) if not a.startswith("-") and (i == 0 or args[i - 1] not in HYDRA_VALUE_FLAGS)
    ]
    return unknown_key(overrides, {p.name for p in conf_dir().iterdir() if p.is_dir()})


def _train(args: list[str]) -> int:
    if (missing := _missing_launcher(args) or _misspelt_key(args)) is not None:
        print(f"error: {missing}", file=sys.stderr)
        return 1
    if "--cfg" in args or "-c" in args:
        from .launch.completion import first_job
        from .launch.declared_arms import ArmsError

        try:
            args, header = first_job(args)
        except ArmsError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        print(header)
    os.environ.setdefault("BNREPRO_COMMAND", shlex.join(["bnrepro", "train", *args]))
    # @hydra.main parses sys.argv itself; its completion script names sys.argv[0]'s
    # program, which under `python -m bnrepro` is __main__.py: it is still bnrepro.
    program = "bnrepro" if sys.argv[0].endswith("__main__.py") else sys.argv[0]
    sys.argv = [program, *args]
    from .launch.outcomes import SweepNotFinished
    from .run.signals import startup_sigint  # no torch

    try:
        # Ctrl-C is held while Hydra and OmegaConf build configs (run/signals.py): raised inside
        # OmegaConf it can become another error, reported as an invalid configuration
        with startup_sigint():
            from .launch.app import main as app

            app()
    except SweepNotFinished as e:
        print(e, file=sys.stderr)
        return e.code
    except KeyboardInterrupt as e:
        from .run.signals import Interrupted  # no torch: the sweeper of a joblib sweep never imports it

        if not isinstance(e, Interrupted):
            raise
        return _interrupted(e)
    return 0


def _interrupted(e, sweep_dir: Path | None = None) -> int:
    code = 128 + e.signum  # the shell's convention for a process ended by a signal
    resume = shlex.join(["bnrepro", "resume", str(sweep_dir or getattr(e, "sweep_dir", None) or "SWEEP_DIR")])
    if getattr(e, "runs_finished", False):  # run.signals.RunsFinished: it came after the group's last step
        print(
            f"{e} came after the last step: the runs being trained finished (their summaries say `completed` "
            f"or `diverged`, numbers final); the sweep stopped there (runs not started stay `pending`: "
            f"`{resume}`); exit status {code}, as for any stop by a signal",
            file=sys.stderr,
        )
    else:
        print(f"{e}: stopped; the runs' summaries say `interrupted` (continue with `{resume}`)", file=sys.stderr)
    return code


def _resume(args: list[str]) -> int:
    from .launch.outcomes import SweepNotFinished
    from .launch.resume import ResumeIncomplete, resume_sweep
    from .run.checkpoint import CheckpointError
    from .run.signals import Interrupted

    parser = argparse.ArgumentParser(
        prog="bnrepro resume",
        description=(
            "Continue every run of a sweep that did not finish, from its last checkpoint, in the same "
            "run directories (completed and diverged runs are left alone). A group that cannot be resumed "
            "is reported with the reason, the others go on, and the exit status is 1; a group that another "
            "process trains now is skipped as busy (exit status 75 when nothing failed: try later)."
        ),
    )
    parser.add_argument("sweep_dir", type=Path, help="a sweep directory, e.g. runs/NAME/<time>")
    parser.add_argument(
        "--allow-other-code",
        "--allow-other-commit",
        dest="allow_other_code",
        action="store_true",
        help="resume checkpoints written by other code: another hash of the package's Python files "
        "(another commit that changed them, or other uncommitted changes; another commit with the "
        "same code needs no flag). Each attempt's commit and code hash are recorded in the "
        "summaries' `attempts`; --allow-other-commit is its old name",
    )
    parser.add_argument(
        "--restart-group",
        action="append",
        default=[],
        metavar="RUN",
        help="start the group of run RUN over from step 0, whatever its checkpoint (e.g. a broken one); repeatable",
    )
    opts = parser.parse_args(args)
    try:
        resume_sweep(opts.sweep_dir, allow_other_code=opts.allow_other_code, restart=tuple(opts.restart_group))
    except Interrupted as e:
        return _interrupted(e, opts.sweep_dir)
    except SweepNotFinished as e:
        print(e, file=sys.stderr)
        return e.code
    except (CheckpointError, ResumeIncomplete, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


def _new_experiment(args: list[str]) -> int:
    from .launch.scaffold import ScaffoldError, new_experiment

    parser = argparse.ArgumentParser(
        prog="bnrepro new-experiment",
        description=(
            "Write conf/experiment/NAME.yaml: the header fields every experiment file states, a sweep "
            "and one claim that trains as is, and every claim field with its meaning. Guide: docs/guide.md."
        ),
    )
    parser.add_argument("name", help="the experiment's name: lower-case letters, digits and _")
    parser.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="write NAME.yaml here instead of conf/experiment/ (then train with hydra.searchpath=[file://DIR/..])",
    )
    opts = parser.parse_args(args)
    if opts.dir is None:
        from .launch.app import conf_dir

        opts.dir = conf_dir() / "experiment"
    try:
        path = new_experiment(opts.name, opts.dir)
    except (ScaffoldError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"{path}\nfill in its header and claims, then: bnrepro train +experiment={opts.name}")
    return 0


def _data(args: list[str]) -> int:
    from .data import DataError, fetch
    from .data.sources import SPECS

    parser = argparse.ArgumentParser(prog="bnrepro data", description="Fetch and verify datasets.")
    sub = parser.add_subparsers(dest="action", required=True)
    get = sub.add_parser("fetch", help="download (or find offline) and verify a dataset")
    get.add_argument("name", choices=sorted(SPECS))
    get.add_argument(
        "--root",
        default=os.environ.get("BNREPRO_DATA", "~/.cache/bnrepro/data"),
        help="data root (default: $BNREPRO_DATA or ~/.cache/bnrepro/data)",
    )
    opts = parser.parse_args(args)
    try:
        print(fetch(opts.name, opts.root))
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


def _over_runs(prog: str, what: str, args: list[str], make, columns: bool = False) -> int:
    """`bnrepro table|figures DIR... [--out DIR] [--force]`: make(dirs, out) -> written paths
    (with columns=True, also --columns a,b: make(dirs, out, columns)).

    The outputs go next to the runs unless --out says otherwise; the curated results/
    folder is never replaced by tables of different steps or device without --force."""
    parser = argparse.ArgumentParser(prog=prog, description=what)
    parser.add_argument("dirs", nargs="+", type=Path, help="run or sweep directories (searched recursively)")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output folder (default: tables/ beside the runs: the sweep's folder, or the "
        "folder the given directories share)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="replace tables in results/ even when they were built from other steps or device",
    )
    if columns:
        parser.add_argument(
            "--columns",
            default="",
            help="extra columns, comma-separated: a logged tag for its "
            "final value, tag:first, tag:median, tag:change (|final - first|) or tag:steps_to=X, or a summary "
            "value (e.g. test_loss_final); added to the experiment's report.columns",
        )
    opts = parser.parse_args(args)
    extra = {"columns": [c.strip() for c in opts.columns.split(",") if c.strip()]} if columns else {}
    from .report.outputs import check_replace, default_out
    from .report.summaries import TableError

    try:
        out = opts.out if opts.out is not None else default_out(opts.dirs)
        if not opts.force:
            check_replace(opts.dirs, out)
        for path in make(opts.dirs, out, **extra):
            print(path)
    except TableError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


def _table(args: list[str]) -> int:
    def make(dirs, out, columns=None):  # pandas and the report modules load after --help has had its say
        from .report.tables import write_tables

        return write_tables(dirs, out, columns)

    return _over_runs(
        "bnrepro table", "Comparison tables (CSV, Markdown) and claim verdicts from runs.", args, make, columns=True
    )


def _report(args: list[str]) -> int:
    from .report.claims_report import report_main

    return report_main(args)


def _figures(args: list[str]) -> int:
    def make(dirs, out):
        from .report.figures import figures

        return figures(dirs, out)

    return _over_runs("bnrepro figures", "Figures (PNG) from runs.", args, make)


def _bench(args: list[str]) -> int:
    from .bench import main as bench_main

    return bench_main(args)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if args and args[0] in ("-sc", "--shell-completion"):
        return _complete()
    if args and args[0] in ("-V", "--version"):
        from importlib.metadata import version

        print(f"bnrepro {version('bnrepro')}")
        return 0
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE, end="")
        return 0 if args else 2
    command, rest = args[0], args[1:]
    handlers = {
        "train": _train,
        "resume": _resume,
        "table": _table,
        "figures": _figures,
        "report": _report,
        "new-experiment": _new_experiment,
        "data": _data,
        "bench": _bench,
    }
    if command not in handlers:
        print(f"bnrepro: unknown command {command!r}\n\n{USAGE}", file=sys.stderr, end="")
        return 2
    try:
        return handlers[command](rest)
    except KeyboardInterrupt as e:
        return _stopped_early(command, e)


def _stopped_early(command: str, e: KeyboardInterrupt) -> int:
    """Ctrl-C outside training's own handler (importing, composing, checking, between packs): one
    line and the shell's 130, not a traceback."""
    where = getattr(e, "sweep_dir", None)
    if where is None:
        print(f"bnrepro {command}: interrupted (Ctrl-C) while starting; nothing was trained", file=sys.stderr)
    else:
        print(
            f"bnrepro {command}: interrupted (Ctrl-C) while no pack was training; runs not trained stay "
            f"`pending`: {shlex.join(['bnrepro', 'resume', str(where)])}",
            file=sys.stderr,
        )
    return 130


if __name__ == "__main__":
    sys.exit(main())
