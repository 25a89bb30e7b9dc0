"""The suite against the machine's limit: each experiment's matrix products at the machine's
measured matrix rate, beside the wall time it trained in.

    python scripts/suite_floor.py --mlp-gflops 103.0 --conv-gflops 57.2 \
        [--experiments conf/experiment] [--out FILE] results/runs/*

For every run of every experiment folder given: its steps (summary.json's steps_done) times
its network's forward + backward FLOPs per step (bnrepro/bench/flops.py), plus every
evaluation's forward pass over the test set (each train.eval_every steps and at the last
step; the test set's 10,000 images, the generated sets' data.synthetic_test, at most data.test_limit),
divided by a rate: MLP runs at --mlp-gflops,
conv nets at --conv-gflops. Give the rates `bnrepro bench --parts schedule` measured on the
same machine: its `2×bmm[8] 1t` row for the MLP (torch.bmm at the MLP's shapes, two 1-thread
processes at once: the fastest way the suite's packs can use both cores) and its `2×mm 1t`
row for the conv net. The result is how long the matrix products alone take at those rates:
not counted are BN, activations, the update, probes, data, start-up, an evaluation's further
passes (eval.compare_stats' other statistics and population batches, eval.train_gap,
eval.variance_shift, the end-of-run eval.batch_sizes sweep: one test pass is counted per
evaluation), and networks without a FLOP count (the LSTM: its runs are listed as not counted).
It is not a strict bound: oneDNN's direct convolutions can beat the im2col GEMMs the conv
rate times, and narrower networks than the bench's reach lower rates; it says how far from
the machine's matrix rate a suite's time can be brought, not that a given time is reachable.

The wall time is the experiment's reproduce.json (scripts/reproduce.sh). With --experiments,
the experiments the CPU suite leaves out (their `# Suite:` line) are marked and left out of
the suite's total.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from dataclasses import dataclass, replace
from pathlib import Path

# each data set's input [C, H, W] (gaussian: [data.dim, 1, 1], data/gaussian.py)
IMAGES = {"mnist": (1, 28, 28), "fashion_mnist": (1, 28, 28), "synthetic": (1, 28, 28), "cifar10": (3, 32, 32)}
TEST_EXAMPLES = 10_000  # MNIST's, Fashion-MNIST's and CIFAR-10's test sets


@dataclass
class Experiment:
    name: str
    runs: int = 0
    uncounted: int = 0  # runs whose network has no FLOP count
    train_s: float = 0.0  # the training steps' matrix products at the rate
    eval_s: float = 0.0  # the evaluations' forward passes at the rate
    wall_s: float | None = None
    in_suite: bool = True

    @property
    def floor_s(self) -> float:
        return self.train_s + self.eval_s


def run_seconds(summary: dict, rates: dict) -> tuple[float, float] | None:
    """(training, evaluation) seconds of one run's matrix products at the rates; None: no FLOP count."""
    from bnrepro.bench.flops import gemms, net_of, step_flops
    from bnrepro.config import from_plain

    cfg = from_plain(summary["config"])
    try:
        net = replace(net_of(cfg), image=IMAGES.get(cfg.data.name.value) or (cfg.data.dim, 1, 1))
    except ValueError:
        return None
    steps = summary.get("steps_done") or 0
    forward = gemms(net)[: len(net.widths) + 1]  # every layer's forward product, the classifier's last
    per_example = sum(2 * m * k * n for m, k, n in forward) / net.batch
    every = cfg.train.eval_every  # and at the last step, when the run got there (loop.py)
    evaluations = steps // every + (steps == cfg.train.steps and steps % every != 0)
    generated = cfg.data.name.value in ("synthetic", "gaussian")
    examples = min(cfg.data.synthetic_test if generated else TEST_EXAMPLES, cfg.data.test_limit or TEST_EXAMPLES)
    rate = rates["conv" if net.conv else "mlp"]
    return steps * step_flops(net) / rate, evaluations * examples * per_example / rate


def measure(folder: Path, rates: dict) -> Experiment:
    found = Experiment(folder.name)
    for path in sorted(folder.glob("*/summary.json")):
        summary = json.loads(path.read_text())
        found.runs += 1
        seconds = run_seconds(summary, rates)
        if seconds is None:
            found.uncounted += 1
            continue
        found.train_s += seconds[0]
        found.eval_s += seconds[1]
    record = folder / "reproduce.json"
    if record.exists():
        found.wall_s = json.loads(record.read_text()).get("wall_s")
    return found


def table(found: list[Experiment], rates: dict, command: str) -> str:
    lines = [
        "# The suite against the machine's matrix rate",
        "",
        f"Written by `{command}`.",
        "",
        f"Matrix products at {rates['mlp'] / 1e9:g} GFLOP/s (MLP) and {rates['conv'] / 1e9:g} GFLOP/s (conv nets), "
        "in minutes, beside the wall time each experiment trained in (scripts/suite_floor.py says what is counted):",
        "",
        "| experiment | runs | training | evaluation | matrix products | wall time | share of the wall time |",
        "|---|---|---|---|---|---|---|",
    ]
    for e in found:
        note = "" if e.in_suite else " (out of the CPU suite)"
        uncounted = f" ({e.uncounted} not counted)" if e.uncounted else ""
        wall = "not recorded" if e.wall_s is None else f"{e.wall_s / 60:.1f}"
        share = "" if not e.wall_s else f"{e.floor_s / e.wall_s:.0%}"
        lines.append(
            f"| {e.name}{note} | {e.runs}{uncounted} | {e.train_s / 60:.1f} | {e.eval_s / 60:.1f} | "
            f"{e.floor_s / 60:.1f} | {wall} | {share} |"
        )
    suite = [e for e in found if e.in_suite]
    floor = sum(e.floor_s for e in suite) / 60
    walls = [e.wall_s for e in suite if e.wall_s is not None]
    wall = f"; their wall times {sum(walls) / 60:.1f} minutes" if len(walls) == len(suite) else ""
    lines += ["", f"The suite ({len(suite)} experiments): matrix products {floor:.1f} minutes at these rates{wall}."]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", type=Path, help="experiment folders of runs (results/runs/NAME)")
    parser.add_argument("--mlp-gflops", type=float, required=True, help="the MLP's matrix rate (bench: 2×bmm[8] 1t)")
    parser.add_argument("--conv-gflops", type=float, required=True, help="the conv net's (bench: 2×mm 1t)")
    parser.add_argument("--experiments", type=Path, help="conf/experiment: mark what the CPU suite leaves out")
    parser.add_argument("--out", type=Path, help="write the table here (default: standard output)")
    opts = parser.parse_args(argv)
    if opts.mlp_gflops <= 0 or opts.conv_gflops <= 0:
        parser.error("the rates must be positive")
    missing = [str(f) for f in opts.folders if not f.is_dir()]
    if missing:
        parser.error(f"not a folder of runs: {', '.join(missing)}")
    rates = {"mlp": opts.mlp_gflops * 1e9, "conv": opts.conv_gflops * 1e9}
    found = [measure(folder, rates) for folder in opts.folders]
    if opts.experiments is not None:
        from bnrepro.config.suite import SuiteError, memberships

        try:
            left_out = {m.name for m in memberships(opts.experiments) if not m.in_cpu_suite}
        except SuiteError as e:
            parser.error(f"--experiments: {opts.experiments / str(e)}")
        for e in found:
            e.in_suite = e.name not in left_out
    text = table(found, rates, shlex.join(["python", "scripts/suite_floor.py", *argv]))
    if opts.out is None:
        sys.stdout.write(text)
    else:
        opts.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
