"""The benchmark's anchor and the machine's limit, beside the rows of bench/plan.py.

- The anchor: the plain loop a careful user writes, the data resident in memory (no
  DataLoader), for the MLP and the conv net, at 1 thread and at every thread (its own process:
  bench/reference.py). Every row of that network is compared with it at the row's threads
  per process (the report's "×" column).
- The limit: for each (network, threads, processes, runs per process) that a row trains at, a
  `matmul` row times the step's matrix products alone (torch.mm, torch.bmm for packs: the
  shapes of bench/flops.py) in processes of their own; a row's achieved GFLOP/s over that
  row's is its "% of matmul rate".
- The scheduling evidence (`--parts schedule`): the same runs on every core as one process
  on every thread or as one 1-thread process per core, at once.
"""

from __future__ import annotations

import statistics

import torch

from ..run.cpu import intra_op_threads
from .flops import gemms, net_of, step_flops
from .loops import reference_rate, reference_task
from .plan import Row
from . import procs as processes

EXPERIMENTS = {"mlp": "mnist_fig1", "convnet": "fig3"}
TITLES = {"mlp": "MLP", "convnet": "conv net", "vgg": "VGG"}


def resident_rows(net: str, cfg, device: torch.device, steps: int, threads: int | None) -> list[Row]:
    """The plain loop with the data resident, at 1 thread and at `threads` (None: the GPU)."""
    rows = []
    for t in _thread_counts(device, threads):
        what = f"the {TITLES[net]}: plain loop, data resident in memory (randperm batches){_threads_text(t)}"
        task = reference_task(cfg, "resident", device, steps, t)
        rows.append(
            Row(
                _resident_key(net, t),
                "reference",
                what,
                1,
                lambda task=task, t=t: reference_rate(task, t),
                net=net,
                threads=t,
                short=f"resident{_short_threads(t)}",
            )
        )
    return rows


def beside_row(cfg, overrides: list[str], device: torch.device, steps: int) -> Row:
    """bnrepro's one MLP run, training only, and the resident plain loop at the same time, one
    1-thread process each on its own core (procs.rates_side_by_side): per round bnrepro's rate,
    and the plain loop's in `partner_rates`. Their ratio is the training-only target's reading
    that the machine's drift between two measurements does not reach."""
    ours = {"overrides": [*overrides, "train.threads=1"], "runs": 1, "experiment": EXPERIMENTS["mlp"]}
    plain = reference_task(cfg, "resident", device, 2 * steps, 1)  # the longer: bnrepro sets up after "go"
    partner_rates: list = []
    overlaps: list = []

    def measure() -> float:
        (rate, plain_rate), overlap = processes.rates_side_by_side(
            [processes.worker_command(ours), processes.reference_command(plain)], 1
        )
        partner_rates.append(plain_rate)
        overlaps.append(overlap)
        return rate

    return Row(
        "single_bn_beside",
        "bnrepro",
        "one run, BN, training only, at the same time as the resident plain loop on the other core",
        1,
        measure,
        net="mlp",
        threads=1,
        partner_rates=partner_rates,
        overlaps=overlaps,
    )


def schedule_row(net: str, overrides: list[str], pack: int, threads: int, training_only: bool = False) -> Row:
    """Every core busy as one 1-thread process per core at once, each training its share of
    `pack` runs (the MLP's first pack; the conv net's one run each): run-steps/s over the span
    (bench/procs.py), beside the same runs as one process on 1 thread and on every thread.
    training_only: `overrides` put the probes and the evaluation at the last step only; the row
    (key `..._quiet`) is the pack's step against the matmul rate, outside the scheduling choice."""
    per = max(pack // threads, 1)
    task = {"overrides": [*overrides, "train.threads=1"], "runs": per, "experiment": EXPERIMENTS[net]}
    if net == "mlp":
        key, what = f"batched_{pack}_procs", f"{threads} processes at once, each a pack of {per} BN runs on 1 thread"
    else:
        key, what = "conv_procs", f"convnet, {threads} processes at once, each {per} run(s) on 1 thread"

    def measure():
        together = processes.run_together([processes.worker_command(task)] * threads, None, [per] * threads)
        return together / (threads * per)

    if training_only:
        key, what = f"{key}_quiet", f"{what}, training only (probes and eval at the last step)"
    else:
        what += ", probes + eval"
    what += " (run-steps/s over the span)"
    return Row(key, "bnrepro", what, threads * per, measure, net=net, threads=1, procs=threads)


def complete(rows: list[Row], cfgs: dict, device: torch.device, threads: int | None, seconds: float) -> list[Row]:
    """Each row's threads (where it left the default), FLOPs per run-step, its matmul row (added
    after its network's rows) and its resident loop (the "×" column's denominator)."""
    for row in rows:
        if row.net is None:
            continue
        if device.type != "cpu":
            row.threads = None
        elif row.threads is None:  # bnrepro's default for the network (run/cpu.py), torch's for a plain loop
            row.threads = intra_op_threads(cfgs[row.net]) if row.path == "bnrepro" else threads
        row.flops = step_flops(net_of(cfgs[row.net]))
        resident = _resident_key(row.net, row.threads)
        if any(r.key == resident for r in rows):
            row.against = resident
    done = list(rows)
    for net in dict.fromkeys(row.net for row in rows if row.net):
        shapes = {(row.threads, row.procs, row.runs // row.procs) for row in rows if row.net == net}
        last = max(i for i, row in enumerate(done) if row.net == net)
        peaks = [_matmul_row(net, cfgs[net], device, *shape, seconds) for shape in sorted(shapes, key=str)]
        done[last + 1 : last + 1] = peaks
        for row in rows:
            if row.net == net:
                row.peak = _matmul_key(net, row.threads, row.procs, row.runs // row.procs)
        for peak in peaks:
            peak.flops = step_flops(net_of(cfgs[net]))
            peak.against = _resident_key(net, peak.threads)  # no % of itself: its GFLOP/s is the 100%
    return done


def _matmul_row(net: str, cfg, device: torch.device, threads: int | None, procs: int, per: int, seconds: float) -> Row:
    shapes = gemms(net_of(cfg))
    task = {
        "kind": "matmul",
        "gemms": shapes,
        "runs": per,
        "seconds": seconds,
        "threads": threads,
        "device": device.type,
    }
    product = "torch.mm" if per == 1 else f"torch.bmm over {per} runs"
    at_once = f"{procs} processes at once, each " if procs > 1 else ""
    what = (
        f"{at_once}{product} at the {TITLES[net]}'s {len(shapes)} GEMM shapes of a step (forward + backward), "
        f"back to back{_threads_text(threads)}, own process"
    )
    short = f"{procs}×" if procs > 1 else ""
    short += ("mm" if per == 1 else f"bmm[{per}]") + _short_threads(threads)

    def measure():
        return processes.run_together([processes.reference_command(task)] * procs, threads, [per] * procs) / (
            procs * per
        )

    return Row(
        _matmul_key(net, threads, procs, per),
        "matmul",
        what,
        procs * per,
        measure,
        net=net,
        threads=threads,
        procs=procs,
        short=short,
    )


def _thread_counts(device: torch.device, threads: int | None) -> list:
    return [None] if device.type != "cpu" else sorted({1, threads or 1})


def _resident_key(net: str, threads: int | None) -> str:
    return f"resident_{net}" + ("" if threads is None else f"_{threads}t")


def _matmul_key(net: str, threads: int | None, procs: int, per: int) -> str:
    return f"matmul_{net}_{procs}x{per}" + ("" if threads is None else f"_{threads}t")


def _threads_text(threads: int | None) -> str:
    return "" if threads is None else f", {threads} thread{'s' if threads > 1 else ''}"


def _short_threads(threads: int | None) -> str:
    return "" if threads is None else f" {threads}t"


# ---- the derived columns and figures (bench/report.py prints them)


def gflops(row: Row) -> float | None:
    """The matrix arithmetic the row achieved: FLOPs per run-step x run-steps/s, in GFLOP/s."""
    return None if row.flops is None or not row.rates else row.flops * row.runs * row.median / 1e9


def ratio(row: Row, other: Row | None) -> float | None:
    """The row's run-steps/s over another row's (None if either is not measured yet)."""
    if other is None or not row.rates or not other.rates:
        return None
    return row.runs * row.median / (other.runs * other.median)


def layout(row: Row) -> str:
    """How the row's runs share the machine, in words."""
    threads = "" if row.threads is None else f", {row.threads} thread{'s' if row.threads > 1 else ''}"
    if row.procs > 1:
        return f"{row.procs} processes × {_runs(row.runs // row.procs)}{threads} each"
    return f"one process, {_runs(row.runs)}{threads}"


def _runs(count: int) -> str:
    return f"{count} run{'s' if count > 1 else ''}"


def facts(rows: list[Row]) -> dict:
    """The scheduling evidence and issue 30's figures, from the rows measured so far."""
    by = {row.key: row for row in rows if row.rates}
    found: dict = {}
    schedule = []
    for together in [key for key in by if key.endswith("_procs")]:
        base = "single_conv" if together == "conv_procs" else together.removesuffix("_procs")
        options = [by[k] for k in (base, f"{base}_threads", f"{base}_1thread", together) if k in by]
        row = by[together]
        name = TITLES[row.net]
        rates = sorted(((layout(r), r.runs * r.median) for r in options), key=lambda option: -option[1])
        schedule.append((f"{name}, on {row.procs} cores", rates))
    if schedule:
        found["schedule"] = schedule
    # the compiled row (train.compile=on, its compile time left out) beside the eager one: auto
    # compiles only long runs of one or two (run/compiled.py), so both are what a user can get
    for key in ("single_bn_quiet", "single_bn_compiled", "single_conv_quiet"):
        if key in by and (against := by.get(by[key].against)) is not None and against.key.startswith("resident"):
            how = layout(by[key]) + (", compiled" if key.endswith("_compiled") else "")
            found.setdefault("training_vs_resident", []).append((TITLES[by[key].net], how, ratio(by[key], against)))
    if "single_bn_beside" in by:  # measured at the same time as its plain loop: the ratio per round
        row = by["single_bn_beside"]
        ratios = [a / b for a, b in zip(row.rates, row.partner_rates or [])]
        if ratios:
            rounds = ", ".join(f"{r:.2f}×" for r in ratios)
            covered = (
                f"; the plain loop timed through {min(row.overlaps):.0%} of its span or more" if row.overlaps else ""
            )
            how = (
                f"{layout(row)}, at the same time as the plain loop on the other core; round by round {rounds}{covered}"
            )
            found.setdefault("training_vs_resident", []).append((TITLES[row.net], how, statistics.median(ratios)))
    packs = [
        row
        for row in by.values()
        if row.net == "mlp"
        and row.runs > 1
        and row.path == "bnrepro"
        and (row.procs > 1 or (row.threads or 0) > 1)
        and row.peak in by
    ]
    # the target's rows (probes and eval at their defaults) and, apart, the pack's step alone (`_quiet`)
    for name, rows_of in (
        ("pack_matmul_share", [r for r in packs if not r.key.endswith("_quiet")]),
        ("pack_matmul_share_training", [r for r in packs if r.key.endswith("_quiet")]),
    ):
        if rows_of:
            best = max(rows_of, key=lambda r: gflops(r) / gflops(by[r.peak]))
            found[name] = (layout(best), gflops(best) / gflops(by[best.peak]), by[best.peak].short)
    if "pack_conv" in by and "single_conv" in by:
        found["conv_pack_gain"] = (by["pack_conv"].runs, ratio(by["pack_conv"], by["single_conv"]))
    return found
