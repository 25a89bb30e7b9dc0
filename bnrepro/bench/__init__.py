"""`bnrepro bench`: how fast bnrepro trains, against the loop a user would write.

On one device (bench/plan.py has the rows; bench/anchor.py the anchor, matmul and schedule rows):
- mlp: the mnist_fig1 network (784-100-100-100-10 sigmoid, batch 60): the plain loop a
  careful user writes, the data resident in memory (no DataLoader), at 1 thread and at
  every thread: the anchor every row is compared with; the DataLoader loop (torchvision
  MNIST + DataLoader(ToTensor, shuffle) + nn.Sequential + torch.optim.SGD, eager, no
  logging; workers 0, and 4 on a GPU machine), each in a process of its own that imports
  only torch (bench/reference.py); against
  bnrepro's one run of the real `+experiment=mnist_fig1` config through train_runs with
  its probes (every 100 steps) and test evaluation (every 500), with BN and without; the
  same without probes and eval (their cost); eager instead of CUDA graphs; one run without
  checkpoints and with one every steps/10 (the cost of a checkpoint and of the default
  train.checkpoint_every); K BN runs trained together (a pack) for each K of
  --batched-runs (--pack-steps steps); on a CPU with several cores the run without probes or
  eval again, at the same time as the resident plain loop on another core (their ratio per
  round: the machine's drift between two measurements does not reach it); on a CPU one run and
  the first pack compiled
  (train.compile=on, run/compiled.py; the compile's time left out of their rates); with
  --full the whole mnist_fig1 comparison at 5 seeds per arm;
- convnet: fig3's BN-x5 net (VGG-style, 6 convs, batch 32, Fashion-MNIST) in the same
  plain loops against bnrepro's one run with probes and eval, without them, and
  --conv-runs runs trained together;
- measures: the landscape experiment's VGG (width 8, BN, batch 128), one run without
  Santurkar et al.'s measures, with the landscape probe, with ICS (their cost);
- whitening (not in the default --parts): the mnist_fig1 network, one run without probes or
  eval, with BN and with decorrelated BN (norm=decorrelated) in groups of 4, 20 and 100 units:
  a step's time over BN's, the cost the whitening_cost experiment claims;
- on a CPU with several threads, the reference and bnrepro's one run also at the other
  thread count (bnrepro trains the MLP on one thread there: run/cpu.py);
- schedule (not in the default): the first MLP pack on every core as one process on 1
  thread, one on every thread, and one 1-thread process per core training its share at
  once; the conv net's one run likewise (issue 30's evidence for how to use the cores);
- for each network, thread count and pack, the machine's matmul rate at the step's GEMM
  shapes (torch.mm / torch.bmm, own processes): every row's GFLOP/s and its % of that.
Every figure is steps (or run-steps) per second of training, excluding start-up: the
median of --repeats interleaved rounds, with their range; the probes' and evaluation's cost
is also timed within the runs (run/logging_cost.py). On an idle 2-core CPU the default
(mlp,convnet,measures, 3 rounds) takes about 15 minutes, schedule about 1 more (measured:
results/bench_cpu.md, every part, 16.3 and 16.9 minutes on 7 Dec, the packs at 2,000 steps). The data
sets are fetched before anything is measured; the report (--out) is rewritten after every measurement, and
says how busy the machine was (bench/load.py): figures measured beside other work are
marked not comparable, and a report meant for a results/ folder goes elsewhere then.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from ..run.files import atomic_write
from . import load
from .plan import Row, checkpoint_cost, run
from .report import report

__all__ = ["main", "run", "report", "checkpoint_cost", "Row"]

EXIT_BUSY = 3  # measured, but the machine was busy: the report went outside results/


class _ReportFile:
    """The report, rewritten after every measurement. One meant for a results/ folder moves
    to the current directory (NAME.under-load.md) as soon as the machine is found busy."""

    def __init__(self, out: Path | None, before: load.Sample, render, log):
        self.out, self.before, self.render, self.log = out, before, render, log
        self.into_results = out is not None and "results" in out.resolve().parent.parts
        self.moved = False
        self.verdict = load.judge(before, before)

    def write(self, rows: list[Row], facts: dict, status: str) -> str:
        self.verdict = load.judge(self.before, load.sample())
        text = self.render(rows, facts, status, self.verdict.text)
        if self.out is None:
            return text
        if self.into_results and not self.verdict.comparable and not self.moved:
            self.out.unlink(missing_ok=True)
            self.out, self.moved = Path.cwd() / f"{self.out.stem}.under-load{self.out.suffix}", True
            self.log(
                f"bench: the machine is busy ({self.verdict.text}); results/ takes only figures from an idle "
                f"machine: writing {self.out} instead"
            )
        self.out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(self.out, text)
        return text


def main(args: list[str]) -> int:
    import shlex

    from ..data import DataError

    parser = argparse.ArgumentParser(prog="bnrepro bench", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--device",
        choices=["auto", "cpu", "cuda"],
        default="auto",
        help="where to measure (default auto: the GPU if there is one)",
    )
    parser.add_argument(
        "--steps",
        type=int,
        default=None,
        help="training steps per bnrepro MLP measurement (default 20000 on a GPU, 2000 on a CPU)",
    )
    parser.add_argument(
        "--reference-steps",
        type=int,
        default=None,
        help="steps of the plain PyTorch DataLoader loop it is compared with (default 3000 on a GPU, 300 on a CPU)",
    )
    parser.add_argument(
        "--batched-runs",
        default=None,
        help="runs trained together (pack sizes), comma-separated (default: 16 on a CPU, 64,256,1024 on a GPU)",
    )
    parser.add_argument(
        "--pack-steps",
        type=int,
        default=None,
        help="training steps per MLP pack measurement (default --steps: at 500 on the 2-core CPU the packs' "
        "start-up, and two processes' start skew, cost their rows ~15%% against 3,000 steps, 7 Dec; the "
        "suite's packs train 1,000 to 50,000)",
    )
    parser.add_argument("--full", action="store_true", help="also time mnist_fig1 at 5 seeds per arm, full length")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds of measurements (median reported)")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="write the Markdown report here, rewritten after every measurement (into a results/ "
        "folder only from an idle machine)",
    )
    parser.add_argument(
        "--parts",
        default="mlp,convnet,measures",
        help="comma list: mlp (mnist_fig1's rows), convnet (fig3's net), measures "
        "(Santurkar et al.'s measures on the landscape experiment's VGG), whitening (mnist_fig1's MLP "
        "with BN and with decorrelated BN in groups of 4, 20, 100 units), schedule (a CPU with several "
        "threads: the MLP pack and the conv run on every core as one process or one 1-thread process per "
        "core; about 1 more minute); default mlp,convnet,measures (about 15 minutes on an idle 2-core CPU, "
        "measured)",
    )
    parser.add_argument(
        "--conv-steps",
        type=int,
        nargs=2,
        default=None,
        metavar=("OURS", "REFERENCE"),
        help="steps per convnet measurement (default 5000 2000 on a GPU, 250 50 on the CPU; "
        "the measures rows train OURS steps)",
    )
    parser.add_argument("--conv-runs", type=int, default=4, help="runs trained together in the convnet pack row")
    parser.add_argument(
        "--conv-profile",
        default=None,
        help="fig3's profile for the convnet rows (default fig3_gpu on a GPU: channels 32/64/128; "
        "fig3_cpu on the CPU: channels 8/16/32, the net the CPU results train)",
    )
    opts = parser.parse_args(args)
    cuda = opts.device == "cuda" or (opts.device == "auto" and torch.cuda.is_available())
    device = torch.device("cuda" if cuda else "cpu")
    steps = opts.steps or (20000 if cuda else 2000)
    reference_steps = opts.reference_steps or (3000 if cuda else 300)
    parts = tuple(p.strip() for p in opts.parts.split(",") if p.strip())
    if not parts or set(parts) - {"mlp", "convnet", "measures", "whitening", "schedule"}:
        parser.error(f"--parts {opts.parts!r}: choose from mlp, convnet, measures, whitening, schedule")
    conv_steps = tuple(opts.conv_steps or ((5000, 2000) if cuda else (250, 50)))
    conv_profile = opts.conv_profile or ("fig3_gpu" if cuda else "fig3_cpu")
    try:
        packs = [int(k) for k in (opts.batched_runs or ("64,256,1024" if cuda else "16")).split(",")]
    except ValueError:
        parser.error(f"--batched-runs: comma-separated integers, got {opts.batched_runs!r}")
    pack_steps = opts.pack_steps or steps
    if min(packs) < 1 or opts.conv_runs < 1 or opts.repeats < 1 or pack_steps < 1:
        parser.error("--batched-runs, --conv-runs, --pack-steps and --repeats must be >= 1")
    command = shlex.join(["bnrepro", "bench", *args])

    def log(message: str) -> None:
        print(message, file=sys.stderr)

    def render(rows, facts, status, load_text):
        return report(rows, facts, device, command, cuda, status, load_text, conv_profile)

    out = _ReportFile(opts.out, load.sample(), render, log)
    if out.into_results and not out.verdict.comparable:
        log(
            f"bench: not measuring for {opts.out}: {out.verdict.text}. results/ takes only figures from an "
            "idle machine: wait until it is, or write the report elsewhere with --out."
        )
        return 1
    total = None

    def measured(rows: list[Row], facts: dict) -> None:
        nonlocal total
        total = total or len(rows) * opts.repeats
        out.write(rows, facts, f"in progress: {sum(len(row.rates) for row in rows)} of {total} measurements")

    try:
        rows, facts = run(
            steps,
            reference_steps,
            packs,
            opts.full,
            device,
            opts.repeats,
            log=log,
            parts=parts,
            conv_steps=conv_steps,
            conv_runs=opts.conv_runs,
            on_measured=measured,
            conv_overrides=(f"profile={conv_profile}",),
            pack_steps=pack_steps,
        )
    except DataError as e:
        log(f"bench: {e}")
        return 1
    print(out.write(rows, facts, "complete"))
    if out.moved:
        log(f"bench: the machine was busy while measuring; the report is {out.out}, not in results/")
        return EXIT_BUSY
    return 0
