"""The benchmark's rows, measured in interleaved rounds, and the figures derived from them.

A row is one measurement repeated once per round (a slow spell of a shared machine then
hits every row, not one); its figure is the median of the rounds so far, with their
range. After each measurement the caller hears of it (bench/__init__.py rewrites the
report then), so a failure late in the benchmark loses nothing measured before it.
"""

from __future__ import annotations

import statistics
import sys
from dataclasses import dataclass, field
from typing import Callable

import torch

from .loops import CONVNET, bnrepro_rate, experiment_config, reference_rate, reference_task


@dataclass
class Row:
    key: str
    path: str  # "reference" (the plain PyTorch loop) or "bnrepro"
    what: str
    runs: int  # runs trained together: the last column counts run-steps
    measure: Callable[[], float] = field(repr=False)  # one measurement, steps/s
    against: str | None = None  # the key of the row whose steps/s the ratio column divides by
    net: str | None = None  # "mlp", "convnet" or "vgg": the network (bench/anchor.py counts its FLOPs)
    threads: int | None = None  # intra-op threads per process (None: the default, set by anchor.complete)
    procs: int = 1  # processes training at once (runs: over all of them)
    flops: float | None = None  # forward + backward FLOPs per run-step (bench/flops.py)
    peak: str | None = None  # the key of the matmul row at the same shapes, threads and processes
    short: str = ""  # a few words naming the row where it is another's denominator
    rates: list = field(default_factory=list)  # one per round so far
    # per round, where the row keeps them: the share of its run that probes and evaluation took,
    # timed within the run (its summary's probes_eval_share, run/logging_cost.py)
    shares: list | None = None
    # per round, for a row measured side by side with a plain loop (anchor.beside_row): that loop's
    # rate, and the share of the row's timed span during which the plain loop was timing too
    partner_rates: list | None = None
    overlaps: list | None = None

    @property
    def median(self) -> float | None:
        return statistics.median(self.rates) if self.rates else None


def run(
    steps: int,
    reference_steps: int,
    batched_runs: list[int],
    full: bool,
    device: torch.device,
    repeats: int = 1,
    log=lambda m: print(m, file=sys.stderr),
    parts: tuple = ("mlp",),
    conv_steps: tuple = (250, 50),
    conv_overrides: tuple = (),
    conv_runs: int = 4,
    on_measured: Callable[[list[Row], dict], None] = lambda rows, facts: None,
    pack_steps: int | None = None,
    matmul_seconds: float = 0.5,
) -> tuple[list[Row], dict]:
    """Every row `repeats` times, interleaved. parts: "mlp" (the mnist_fig1 rows), "convnet"
    (fig3's net: conv_steps = (bnrepro's, the reference's), conv_runs trained together in its
    pack row; conv_overrides change fig3's config for both loops, e.g. a smaller width in
    tests), "measures", "whitening" (mnist_fig1's MLP with BN and with decorrelated BN; no
    FLOP count: its eigendecompositions are not GEMMs), "schedule" (bench/anchor.py: the packs
    on every core as one process or one per core). pack_steps: the MLP packs' steps (default
    `steps`); matmul_seconds: each matmul row's timing. Returns the rows and facts(rows)."""
    from ..run import provenance

    fetch_data(parts, log)
    rows = plan(
        steps,
        reference_steps,
        batched_runs,
        device,
        parts,
        conv_steps,
        conv_overrides,
        conv_runs,
        pack_steps or steps,
        matmul_seconds,
    )
    log(f"benchmark on {provenance.device_name(device)}, {repeats} round(s)")
    for round_ in range(repeats):
        for row in rows:
            row.rates.append(row.measure())
            log(f"  round {round_ + 1}: {row.path}: {row.what}: {row.rates[-1]:,.1f} steps/s")
            on_measured(rows, facts(rows, steps))
    found = facts(rows, steps)
    if full:
        seconds = 0.0
        for bn in ("none", "pre"):
            summary = bnrepro_rate([f"device={device.type}", f"model.bn={bn}"], runs=5)
            seconds += summary["wall_time_s"]
            log(f"  mnist_fig1, bn={bn}, 5 seeds x {summary['steps_done']} steps: {summary['wall_time_s']:.1f} s")
        found["fig1_seconds"] = seconds
        on_measured(rows, found)
    return rows, found


def fetch_data(parts: tuple, log) -> None:
    """The data sets the parts train on, fetched and verified before anything is measured
    (bnrepro's sources, as `bnrepro data fetch`; torchvision's loaders read the same files)."""
    from ..data import fetch

    root = experiment_config([]).data.root
    for name in (["mnist"] if {"mlp", "schedule", "whitening"} & set(parts) else []) + (
        ["fashion_mnist"] if {"convnet", "measures", "schedule"} & set(parts) else []
    ):
        fetch(name, root, log)


def plan(
    steps: int,
    reference_steps: int,
    batched_runs: list[int],
    device: torch.device,
    parts: tuple,
    conv_steps: tuple,
    conv_overrides: tuple,
    conv_runs: int,
    pack_steps: int,
    matmul_seconds: float,
) -> list[Row]:
    """The rows of `parts`, each network's resident plain loop first and its matmul rows last
    (bench/anchor.py). The schedule part alone keeps only the rows it compares."""
    from . import anchor

    dev = f"device={device.type}"
    # On a CPU with several threads: the same loops on one intra-op thread too, since the
    # thread count decides these small networks' speed there (run/cpu.py).
    threads = torch.get_num_threads() if device.type == "cpu" and torch.get_num_threads() > 1 else None
    schedule = "schedule" in parts and threads is not None
    k = batched_runs[0]
    cfgs, rows = {}, []
    if "mlp" in parts or schedule:
        cfgs["mlp"] = experiment_config([dev, "model.bn=pre"])
        training_only = [dev, f"train.steps={steps}", "model.bn=pre", *quiet_logging(steps)]
        mlp = _mlp_plan(dev, steps, reference_steps, batched_runs, device, threads, pack_steps)
        keep = {row.key for row in mlp} if "mlp" in parts else {f"batched_{k}", f"batched_{k}_threads"}
        rows += anchor.resident_rows("mlp", cfgs["mlp"], device, steps, threads)
        if "mlp" in parts and threads is not None:  # a core for each of the two loops
            rows.append(anchor.beside_row(cfgs["mlp"], training_only, device, steps))
        rows += [row for row in mlp if row.key in keep]
        if schedule:
            rows.append(anchor.schedule_row("mlp", [dev, f"train.steps={pack_steps}", *FULL_LOGGING], k, threads))
            quiet = ["model.bn=pre", *quiet_logging(pack_steps)]
            rows.append(
                anchor.schedule_row("mlp", [dev, f"train.steps={pack_steps}", *quiet], k, threads, training_only=True)
            )
    if "convnet" in parts or schedule:
        convnet = [dev, *CONVNET, *conv_overrides]
        cfgs["convnet"] = experiment_config(convnet, "fig3")
        conv = _conv_plan(dev, conv_steps, conv_overrides, conv_runs, device, threads)
        keep = {row.key for row in conv} if "convnet" in parts else {"single_conv", "single_conv_1thread"}
        rows += anchor.resident_rows("convnet", cfgs["convnet"], device, conv_steps[0], threads)
        rows += [row for row in conv if row.key in keep]
        if schedule:
            rows.append(anchor.schedule_row("convnet", [*convnet, f"train.steps={conv_steps[0]}"], 1, threads))
    if "measures" in parts:
        cfgs["vgg"] = experiment_config(_measures_base(dev, conv_steps[0]), "landscape")
        rows += _measures_plan(dev, conv_steps[0])
    if "whitening" in parts:
        rows += _whitening_plan(dev, steps)
    return anchor.complete(rows, cfgs, device, threads or 1, matmul_seconds)


FULL_LOGGING = ["model.bn=pre", "train.log_every=100", "train.eval_every=500"]  # the MLP rows' probes + eval


def quiet_logging(steps: int) -> list[str]:
    """Probes and the evaluation at the last of `steps` steps only: a row of training alone."""
    return [f"train.log_every={steps}", f"train.eval_every={steps}"]


def _mlp_plan(
    dev: str,
    steps: int,
    reference_steps: int,
    batched_runs: list[int],
    device: torch.device,
    threads: int | None,
    pack_steps: int,
) -> list[Row]:
    from ..run.probes import PROBES

    def ours(overrides: list[str], runs: int = 1, shares: list | None = None):
        length = steps if runs == 1 else pack_steps

        def measure() -> float:
            summary = bnrepro_rate([dev, f"train.steps={length}", *overrides], runs)
            rate = _rate_after_compiling(summary)
            if shares is not None:
                shares.append(summary.get("probes_eval_share"))
            return rate

        return measure

    def reference(bn: bool, workers: int, threads: int | None = None):
        task = reference_task(
            experiment_config([dev, f"model.bn={'pre' if bn else 'none'}"]),
            "dataloader",
            device,
            reference_steps,
            threads,
            workers,
        )
        return lambda: reference_rate(task, threads)

    full_logging = FULL_LOGGING
    every_probe = f"probes.which=[{','.join(sorted(PROBES))}]"
    every = checkpoint_every(steps)
    ref = "reference_bn"
    quiet = ["model.bn=pre", *quiet_logging(steps)]
    full_shares: list = []
    quiet_shares: list = []
    rows = [
        Row(
            ref,
            "reference",
            "torchvision MNIST + DataLoader (workers 0), eager, BN, own process",
            1,
            reference(True, 0),
            ref,
            short="DataLoader",
        ),
        Row("reference_nobn", "reference", "same, no BN", 1, reference(False, 0), ref),
        Row(
            "single_bn",
            "bnrepro",
            "one run, BN, probes every 100 + eval every 500",
            1,
            ours(full_logging, shares=full_shares),
            ref,
            shares=full_shares,
        ),
        Row(
            "single_bn_all_probes",
            "bnrepro",
            "one run, BN, every probe (probes.which: all) + eval",
            1,
            ours([*full_logging, every_probe]),
            ref,
        ),
        Row(
            "single_bn_quiet",
            "bnrepro",
            "one run, BN, no probes or eval",
            1,
            ours(quiet, shares=quiet_shares),
            ref,
            shares=quiet_shares,
        ),
        Row(
            "single_bn_nockpt",
            "bnrepro",
            "one run, BN, probes + eval, no checkpoints (train.checkpoint_every=0)",
            1,
            ours([*full_logging, "train.checkpoint_every=0"]),
            ref,
        ),
        Row(
            "single_bn_ckpt",
            "bnrepro",
            f"same, a checkpoint every {every} steps",
            1,
            ours([*full_logging, f"train.checkpoint_every={every}", "train.checkpoint_min_s=0"]),
            ref,
        ),
        Row(
            "single_nobn",
            "bnrepro",
            "one run, no BN, probes + eval",
            1,
            ours(["model.bn=none", "train.log_every=100", "train.eval_every=500"]),
            ref,
        ),
        *[
            Row(
                f"batched_{k}",
                "bnrepro",
                f"{k} BN runs trained together (a pack), probes + eval",
                k,
                ours(full_logging, runs=k),
                ref,
            )
            for k in batched_runs
        ],
    ]
    if device.type == "cpu":
        # train.compile (run/compiled.py; its rule compiles on the CPU only): the rate after
        # compiling; the compile's seconds are in the summaries (compile_s), not in these rows
        compiled = "train.compile=on"
        k = batched_runs[0]
        rows += [
            Row(
                "single_bn_compiled",
                "bnrepro",
                f"one run, BN, no probes or eval, compiled ({compiled}; compile time excluded)",
                1,
                ours([*quiet, compiled]),
                ref,
            ),
            Row(
                f"batched_{k}_compiled",
                "bnrepro",
                f"{k} BN runs together, probes + eval, compiled ({compiled}; compile time excluded)",
                k,
                ours([*full_logging, compiled], runs=k),
                ref,
            ),
        ]
    if threads:
        on_all = f"train.threads={threads}"
        rows.insert(
            1,
            Row(
                "reference_bn_1thread",
                "reference",
                "same with BN, 1 intra-op thread",
                1,
                reference(True, 0, threads=1),
                ref,
                threads=1,
            ),
        )
        rows.insert(
            4,
            Row(
                "single_bn_threads",
                "bnrepro",
                f"one run, BN, probes + eval, {threads} threads ({on_all}; the MLP's default is 1)",
                1,
                ours([*full_logging, on_all]),
                ref,
                threads=threads,
            ),
        )
        k = batched_runs[0]
        rows.append(
            Row(
                f"batched_{k}_threads",
                "bnrepro",
                f"{k} BN runs together, probes + eval, {threads} threads ({on_all})",
                k,
                ours([*full_logging, on_all], runs=k),
                ref,
                threads=threads,
            )
        )
    if device.type == "cuda":
        rows.insert(
            2, Row("reference_workers", "reference", "same with BN, DataLoader workers 4", 1, reference(True, 4), ref)
        )
        rows.insert(
            7,
            Row(
                "single_bn_eager",
                "bnrepro",
                "one run, BN, probes + eval, eager (train.graph=off)",
                1,
                ours([*full_logging, "train.graph=off"]),
                ref,
            ),
        )
    for row in rows:
        row.net = "mlp"
    return rows


def _rate_after_compiling(summary: dict) -> float:
    """Steps per second of training, the first compiled call's time (compiling) left out."""
    if not summary.get("compile_s"):
        return summary["steps_per_s"]
    return (summary["steps_done"] - 1) / (summary["wall_time_s"] - summary["compile_s"])


def _conv_plan(
    dev: str, conv_steps: tuple, conv_overrides: tuple, conv_runs: int, device: torch.device, threads: int | None
) -> list[Row]:
    convnet = [dev, *CONVNET, *conv_overrides]
    cfg = experiment_config(convnet, "fig3")
    ours_steps, reference_steps = conv_steps

    def ours(*more: str, runs: int = 1):
        return lambda: bnrepro_rate([*convnet, f"train.steps={ours_steps}", *more], runs, "fig3")["steps_per_s"]

    def reference(threads: int | None = None):
        task = reference_task(cfg, "dataloader", device, reference_steps, threads)
        return lambda: reference_rate(task, threads)

    # the training step's own speed: probes at the first and last step, and the one evaluation
    # (at the last step) on 100 test images instead of 10,000
    quiet = (*quiet_logging(ours_steps), "data.test_limit=100")
    ref = "reference_conv"
    rows = [
        Row(
            ref,
            "reference",
            "convnet (fig3's BN-x5 net, batch 32): torchvision FashionMNIST + DataLoader (workers 0), eager, "
            "own process",
            1,
            reference(),
            ref,
        ),
        Row("single_conv", "bnrepro", "convnet, one run, probes every 100 + eval every 250", 1, ours(), ref),
        Row(
            "single_conv_quiet",
            "bnrepro",
            "convnet, one run, training only (probes at the last step, and one evaluation there on 100 test images)",
            1,
            ours(*quiet),
            ref,
        ),
        Row(
            "pack_conv",
            "bnrepro",
            f"convnet, {conv_runs} runs trained together, probes + eval",
            conv_runs,
            ours(runs=conv_runs),
            ref,
        ),
    ]
    if threads:
        rows.insert(
            1, Row("reference_conv_1thread", "reference", "same, 1 intra-op thread", 1, reference(1), ref, threads=1)
        )
        rows.insert(
            3,
            Row(
                "single_conv_1thread",
                "bnrepro",
                "convnet, one run, probes + eval, 1 thread (train.threads=1)",
                1,
                ours("train.threads=1"),
                ref,
                threads=1,
            ),
        )
    for row in rows:
        row.net = "convnet"
    return rows


def _measures_base(dev: str, steps: int) -> list[str]:
    """The measures rows' run: the landscape experiment's VGG with BN, no measures."""
    return [
        dev,
        "+net=vgg",
        "model.bn=pre",
        "optim.lr=0.1",
        f"train.steps={steps}",
        "train.log_every=100",
        f"train.eval_every={steps}",
        "probes.landscape_every=0",
        "probes.ics_every=0",
    ]


def _measures_plan(dev: str, steps: int) -> list[Row]:
    """The landscape experiment's VGG with BN, one run, with and without the measures."""
    base = _measures_base(dev, steps)

    def rate(*more: str):
        return lambda: bnrepro_rate([*base, *more], 1, "landscape")["steps_per_s"]

    ref = "measures_off"
    rows = [
        Row(
            ref,
            "bnrepro",
            "landscape's VGG (BN, batch 128), probes every 100, no measures",
            1,
            rate(),
            ref,
            short="no measures",
        ),
        Row(
            "measures_landscape",
            "bnrepro",
            "same, landscape probe every 100 steps (8 step sizes)",
            1,
            rate("probes.landscape_every=100"),
            ref,
        ),
        Row(
            "measures_ics",
            "bnrepro",
            "same, ICS every 100 steps (layers 5 and 7)",
            1,
            rate("probes.ics_every=100"),
            ref,
        ),
    ]
    for row in rows:
        row.net = "vgg"
    return rows


WHITENING_GROUPS = (4, 20, 100)  # decorrelated BN's group sizes in the whitening rows (100: a whole layer)


def _whitening_plan(dev: str, steps: int) -> list[Row]:
    """mnist_fig1's MLP, one run, training only: BN against decorrelated BN (ZCA whitening of
    groups of G units over the batch; the whitening_cost experiment's arms) at each G."""
    quiet = [dev, "model.bn=pre", f"train.steps={steps}", *quiet_logging(steps)]

    def rate(*more: str):
        return lambda: bnrepro_rate([*quiet, *more])["steps_per_s"]

    ref = "whiten_bn"
    return [
        Row(ref, "bnrepro", "mnist_fig1's MLP, one run, BN (norm=torch), no probes or eval", 1, rate(), ref),
        *[
            Row(
                f"whiten_g{g}",
                "bnrepro",
                f"same, decorrelated BN in groups of {g} units (norm=decorrelated model.norm.group_size={g})",
                1,
                rate("norm=decorrelated", f"model.norm.group_size={g}"),
                ref,
            )
            for g in WHITENING_GROUPS
        ],
    ]


def facts(rows: list[Row], steps: int) -> dict:
    """The derived figures whose rows have been measured (medians; per round where asked)."""
    med = {row.key: row.median for row in rows if row.rates}
    rates = {row.key: row.rates for row in rows}
    runs = {row.key: row.runs for row in rows}
    found: dict = {"repeats": max((len(row.rates) for row in rows), default=0)}

    def have(*keys: str) -> bool:
        return all(key in med for key in keys)

    def speedup(key: str, reference: str) -> tuple[float, list[float]]:
        """run-steps/s over the reference's steps/s: the median's, and round by round."""
        return (
            runs[key] * med[key] / med[reference],
            [runs[key] * a / b for a, b in zip(rates[key], rates[reference])],
        )

    if have("single_conv", "reference_conv"):
        found["conv_speedup"], found["conv_speedups"] = speedup("single_conv", "reference_conv")
    if have("pack_conv", "reference_conv"):
        found["conv_pack_runs"] = runs["pack_conv"]
        found["conv_pack_speedup"], found["conv_pack_speedups"] = speedup("pack_conv", "reference_conv")
    if have("measures_off", "measures_landscape", "measures_ics"):
        found.update(
            landscape_cost=med["measures_off"] / med["measures_landscape"],
            ics_cost=med["measures_off"] / med["measures_ics"],
        )
    whitened = {g: f"whiten_g{g}" for g in WHITENING_GROUPS if have("whiten_bn", f"whiten_g{g}")}
    if whitened:  # a step's time over BN's
        found["whitening_cost"] = {g: med["whiten_bn"] / med[key] for g, key in whitened.items()}
    if have("single_bn", "reference_bn"):
        found.update(single_bn=med["single_bn"], reference_bn=med["reference_bn"])
        found["speedup"], found["speedups"] = speedup("single_bn", "reference_bn")
    if have("single_bn", "single_bn_quiet"):
        found["probe_eval_cost"] = 1 - med["single_bn"] / med["single_bn_quiet"]
        by_key = {row.key: row for row in rows}
        within = _cost_within_runs(by_key["single_bn"], by_key["single_bn_quiet"])
        if within:
            found["probe_eval_costs_in_run"] = within
            found["probe_eval_cost_in_run"] = statistics.median(within)
    if have("single_bn_all_probes", "single_bn_quiet"):
        found["all_probes_cost"] = 1 - med["single_bn_all_probes"] / med["single_bn_quiet"]
    packs = {row.runs: row.key for row in rows if row.key == f"batched_{row.runs}" and row.key in med}
    if packs:
        found["pack_run_steps"] = {k: med[key] * k for k, key in packs.items()}
        if "reference_bn" in med:
            found["pack_speedups"] = {k: med[key] * k / med["reference_bn"] for k, key in packs.items()}
    if have("single_bn_nockpt", "single_bn_ckpt"):
        found.update(checkpoint_cost(med["single_bn_nockpt"], med["single_bn_ckpt"], steps, checkpoint_every(steps)))
    from .anchor import facts as anchor_facts  # here: bench/anchor.py builds on this module's Row

    found.update(anchor_facts(rows))
    return found


def _cost_within_runs(full: Row, quiet: Row) -> list[float]:
    """Per round: the share of the run with probes and evaluation that they took, timed within
    it, less the training-only run's own seconds of probing and evaluating (it does both at its
    last step too) as a share of the same run's time: the cost beside training only, free of the
    drift between two runs (run/logging_cost.py). Both rows train the same steps, so the
    training-only run's time over the full run's is the inverse ratio of their rates."""
    rounds = zip(full.shares or [], quiet.shares or [], full.rates, quiet.rates)
    return [a - b * r_full / r_quiet for a, b, r_full, r_quiet in rounds if a is not None and b is not None]


def checkpoint_every(steps: int) -> int:
    """The checkpoint interval of the benchmark's checkpoint row: 9 checkpoints a run."""
    return max(steps // 10, 1)


def checkpoint_cost(rate_without: float, rate_with: float, steps: int, every: int) -> dict:
    """Seconds per checkpoint (from two measured rates), and what share of the run the
    default schedule costs: a checkpoint once train.checkpoint_min_s seconds, and 1/SHARE
    times a checkpoint's duration, have passed since the previous one (run/checkpoint.py)."""
    from ..config import TrainConfig
    from ..run.checkpoint import SHARE

    checkpoints = (steps - 1) // every  # none at the last step: the run ends there
    per_checkpoint = max(steps / rate_with - steps / rate_without, 0.0) / checkpoints
    default = TrainConfig()
    between = max(default.checkpoint_min_s, per_checkpoint / SHARE)
    return {
        "checkpoint_s": per_checkpoint,
        "checkpoint_every": every,
        "default_every": default.checkpoint_every,
        "default_min_s": default.checkpoint_min_s,
        "checkpoint_default_cost": per_checkpoint / (per_checkpoint + between),
    }
