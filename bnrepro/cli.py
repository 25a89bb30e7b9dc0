"""The `bnrepro` command: a dispatcher over subcommands.

`bnrepro train ...` hands the rest of the command line to the Hydra application
(bnrepro/launch/app.py); the other subcommands are plain argparse programs.
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
  table     comparison tables from runs: bnrepro table runs/sigmoid10/<time> [...]
  figures   figures from runs: bnrepro figures runs/mnist_fig1/<time> [...]
  report    every experiment's claims and verdicts (results/claims.md) and the results index
            (results/README.md), after `table`
  data      datasets: bnrepro data fetch mnist|fashion_mnist|cifar10 [--root DIR]
  bench     speed: a plain PyTorch loop vs bnrepro's single-run and batched paths

Quick start: bnrepro train +experiment=sigmoid10, then
  tensorboard --logdir runs/sigmoid10 and bnrepro table runs/sigmoid10/<time>
"""
COMMANDS = ("train", "table", "figures", "report", "data", "bench")


def _complete() -> int:
    """Shell completion: Hydra's script calls `bnrepro -sc query=bash` with COMP_LINE set."""
    line = os.environ.get("COMP_LINE", "")
    words = line.split()
    if len(words) >= 2 and words[1] == "train" and (len(words) > 2 or line.endswith(" ")):
        os.environ["COMP_LINE"] = " ".join([words[0], *words[2:]]) + (" " if line.endswith(" ") else "")
        return _train(sys.argv[1:])
    if len(words) <= 2:
        print(" ".join(COMMANDS))
    return 0


def _train(args: list[str]) -> int:
    from .run.loop import Interrupted

    os.environ.setdefault("BNREPRO_COMMAND", shlex.join(["bnrepro", "train", *args]))
    # @hydra.main parses sys.argv itself; its completion script names sys.argv[0]'s
    # program, which under `python -m bnrepro` is __main__.py: it is still bnrepro.
    program = "bnrepro" if sys.argv[0].endswith("__main__.py") else sys.argv[0]
    sys.argv = [program, *args]
    from .launch.app import main as app

    try:
        app()
    except Interrupted:
        print("interrupted: the runs' summaries say `interrupted`", file=sys.stderr)
        return 130
    return 0


def _data(args: list[str]) -> int:
    from .data import DataError, fetch
    from .data.sources import SPECS

    parser = argparse.ArgumentParser(prog="bnrepro data", description="Fetch and verify datasets.")
    sub = parser.add_subparsers(dest="action", required=True)
    get = sub.add_parser("fetch", help="download (or find offline) and verify a dataset")
    get.add_argument("name", choices=sorted(SPECS))
    get.add_argument("--root", default=os.environ.get("BNREPRO_DATA", "~/.cache/bnrepro/data"),
                     help="data root (default: $BNREPRO_DATA or ~/.cache/bnrepro/data)")
    opts = parser.parse_args(args)
    try:
        print(fetch(opts.name, opts.root))
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


def _over_runs(prog: str, what: str, args: list[str], make) -> int:
    """`bnrepro table|figures DIR... [--out results]`: make(dirs, out) -> written paths."""
    from .report.summaries import TableError

    parser = argparse.ArgumentParser(prog=prog, description=what)
    parser.add_argument("dirs", nargs="+", type=Path, help="run or sweep directories (searched recursively)")
    parser.add_argument("--out", type=Path, default=Path("results"), help="output folder (default: results)")
    opts = parser.parse_args(args)
    try:
        for path in make(opts.dirs, opts.out):
            print(path)
    except TableError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


def _table(args: list[str]) -> int:
    from .report.tables import write_tables

    return _over_runs("bnrepro table", "Comparison tables (CSV, Markdown) and claim verdicts from runs.",
                      args, write_tables)


def _report(args: list[str]) -> int:
    from .report.claims_report import report_main

    return report_main(args)


def _figures(args: list[str]) -> int:
    from .report.figures import figures

    return _over_runs("bnrepro figures", "Figures (PNG) from runs.", args, figures)


def _bench(args: list[str]) -> int:
    from .bench import main as bench_main

    return bench_main(args)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if args and args[0] in ("-sc", "--shell-completion"):
        return _complete()
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE, end="")
        return 0 if args else 2
    command, rest = args[0], args[1:]
    handlers = {"train": _train, "table": _table, "figures": _figures, "report": _report, "data": _data,
                "bench": _bench}
    if command not in handlers:
        print(f"bnrepro: unknown command {command!r}\n\n{USAGE}", file=sys.stderr, end="")
        return 2
    return handlers[command](rest)


if __name__ == "__main__":
    sys.exit(main())
