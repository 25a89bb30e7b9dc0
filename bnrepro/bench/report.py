"""The benchmark's Markdown report, complete or with the rows measured so far."""

from __future__ import annotations

import functools
from datetime import datetime, timezone

import torch

from ..run import provenance
from .anchor import gflops, ratio
from .plan import Row

LEGEND = (
    "How to read the table:",
    "",
    "- steps/s: the row's steps per second of training (its runs step together; rows of several processes: "
    "their run-steps over the span from the first one's start to the last one's end, per run); run-steps/s: "
    "× the runs.",
    "- GFLOP/s: run-steps/s × the network's forward + backward matrix-product FLOPs per run-step, counted "
    "analytically (bench/flops.py: linear layers and convolutions as GEMMs; BN, activations, pooling, the "
    "update, probes and evaluation not counted).",
    "- % of matmul rate: that over the GFLOP/s of the `matmul` row the cell names: torch.mm (`mm`; "
    "`bmm[K]`: torch.bmm over a pack's K runs) at the same GEMM shapes, threads (`1t`: one thread) and "
    "processes (`2×`: two at once), timed in processes that import only torch.",
    "- ×: run-steps/s over the steps/s of the row the cell names: for the MLP and the conv net the plain "
    "loop with the data resident in memory (`resident`), same network, at the row's threads per process.",
    "- Reference rows (resident, DataLoader) and matmul rows run in processes of their own that import only "
    "torch (and torchvision): nothing bnrepro sets (threads, malloc) reaches them.",
)


def report(
    rows: list[Row],
    facts: dict,
    device: torch.device,
    command: str,
    cuda: bool,
    status: str = "complete",
    load: str = "",
    conv_profile: str = "",
) -> str:
    """status: "complete" or how far it got; load: bench/load.py's verdict line; conv_profile:
    the fig3 profile the convnet rows trained (its width decides their speed)."""
    commit, dirty = provenance.git_state()
    keys = {row.key for row in rows}
    repeats = facts["repeats"]
    lines = [
        "# bnrepro benchmark",
        "",
        f"- device: {provenance.device_name(device)}; torch {torch.__version__}",
        f"- commit: {commit[:10]}{provenance.tree_note(dirty)}; {datetime.now(timezone.utc).strftime('%Y-%m-%d')}",
        f"- command: `{command}`",
        f"- status: {status}",
        *([f"- machine load: {load}"] if load else []),
        "- network: "
        + ("mnist_fig1's 784-100-100-100-10 sigmoid MLP, batch 60; " if "single_bn" in keys else "")
        + (f"fig3's BN-x5 VGG-style conv net{_profile_text(conv_profile)}, batch 32; " if "single_conv" in keys else "")
        + ("the landscape experiment's VGG (width 8, BN), batch 128, Fashion-MNIST; " if "measures_off" in keys else "")
        + ("mnist_fig1's MLP with BN and with decorrelated BN, batch 60; " if "whiten_bn" in keys else "")
        + (
            "one measurement each (a shared machine: expect a few % of noise)"
            if repeats <= 1
            else f"the median of {repeats} interleaved measurements each, with their range"
        ),
        "",
        *LEGEND,
        "",
        "| path | what | steps/s | range | run-steps/s | GFLOP/s | % of matmul rate | × |",
        "|---|---|---|---|---|---|---|---|",
    ]
    by_key = {row.key: row for row in rows}
    for row in rows:
        if not row.rates:
            lines.append(f"| {row.path} | {row.what} | not measured yet | | | | | |")
            continue
        achieved, peak, against = gflops(row), by_key.get(row.peak), by_key.get(row.against)
        share = f"{100 * achieved / gflops(peak):.0f}% of {_name(peak)}" if achieved and peak and peak.rates else ""
        times = f"{ratio(row, against):,.2f} × {_name(against)}" if ratio(row, against) is not None else ""
        lines.append(
            f"| {row.path} | {row.what} | {row.median:,.1f} | {min(row.rates):,.1f}–{max(row.rates):,.1f} "
            f"| {row.runs * row.median:,.1f} | {'' if achieved is None else f'{achieved:,.2f}'} | {share} | {times} |"
        )
    lines += [
        "",
        "Targets (issues 3, 12, 13 and 20; the measures rows' last column is × the run without them, "
        "the whitening rows' × the BN run):",
        "",
    ]
    lines += _target_lines(facts, cuda)
    lines += _anchor_lines(facts)
    if "probe_eval_cost" in facts and "all_probes_cost" in facts:
        lines += [
            "",
            f"Probes and eval cost: {100 * facts['probe_eval_cost']:.1f}% "
            "(1 − rate with them / rate without); with every probe of the registry: "
            f"{100 * facts['all_probes_cost']:.1f}%.",
        ]
    if "checkpoint_s" in facts:
        lines += [
            "",
            f"Checkpoints: {1000 * facts['checkpoint_s']:.1f} ms each (from the rates with one every "
            f"{facts['checkpoint_every']} steps and without); at the defaults train.checkpoint_every="
            f"{facts['default_every']}, train.checkpoint_min_s={facts['default_min_s']:g} and this device's "
            f"step rate they cost **{100 * facts['checkpoint_default_cost']:.2f}%** of a run (target ≤ 2%: "
            f"{_met(facts['checkpoint_default_cost'] <= 0.02)}).",
        ]
    return "\n".join(lines) + "\n"


def _name(row: Row | None) -> str:
    return "" if row is None else row.short or row.key


def _anchor_lines(facts: dict) -> list[str]:
    """The scheduling evidence (issue 30, item 1) and issue 30's targets, where measured."""
    lines = []
    for title, options in facts.get("schedule", []):
        best, rate = options[0]
        after = f" ({rate / options[1][1]:.2f}× the next)" if len(options) > 1 else ""
        lines.append(
            f"- {title}, run-steps/s: "
            + "; ".join(f"{what} {value:,.0f}" for what, value in options)
            + f". Fastest: **{best}**{after}."
        )
    if lines:
        lines = [
            "",
            "Scheduling (issue 30, item 1: the same runs on the same cores, one measurement each way):",
            "",
            *lines,
        ]
    targets = [
        f"- {net}, training only ({how}) ≥ 0.9× the resident plain loop at the same threads: **{value:.2f}×** "
        f"({_met(value >= 0.9)})"
        for net, how, value in facts.get("training_vs_resident", [])
    ]
    if "pack_matmul_share" in facts:
        how, share, peak = facts["pack_matmul_share"]
        line = (
            f"- MLP pack on every core ≥ 60% of the matmul rate at its shapes: **{100 * share:.0f}%** of {peak} "
            f"with probes + eval ({how}; {_met(share >= 0.6)})"
        )
        if "pack_matmul_share_training" in facts:
            how, share, peak = facts["pack_matmul_share_training"]
            line += f"; training only {100 * share:.0f}% of {peak} ({_met(share >= 0.6)} for the step alone)"
        targets.append(line)
    if "conv_pack_gain" in facts:
        runs, gain = facts["conv_pack_gain"]
        targets.append(
            f"- conv net, {runs} runs together ≥ 1.5× one run's run-steps/s: **{gain:.2f}×** ({_met(gain >= 1.5)})"
        )
    if "probe_eval_cost_in_run" in facts:
        cost = facts["probe_eval_cost_in_run"]
        rounds = ", ".join(f"{100 * c:.1f}%" for c in facts["probe_eval_costs_in_run"])
        targets.append(
            f"- MLP, probes and eval ≤ 15% of a run: **{100 * cost:.1f}%** timed within the runs (median; round by "
            f"round {rounds}: the share of the one-run row's run they took, less the training-only row's own, "
            f"which probes and evaluates at its last step) ({_met(cost <= 0.15)}); from the two rows' rates "
            f"{100 * facts['probe_eval_cost']:.1f}% (the machine's drift between two runs included)"
        )
    elif "probe_eval_cost" in facts:
        cost = facts["probe_eval_cost"]
        targets.append(f"- MLP, probes and eval ≤ 15% of a run: **{100 * cost:.1f}%** ({_met(cost <= 0.15)})")
    if targets:
        lines += ["", "Issue 30's targets:", "", *targets]
    return lines


def _met(ok: bool) -> str:
    return "met" if ok else "not met"


def _rounds(values: list[float]) -> str:
    return ", ".join(f"{x:.2f}×" for x in values)


def _target_lines(facts: dict, cuda: bool) -> list[str]:
    lines = []
    if "whitening_cost" in facts:
        costs = facts["whitening_cost"]
        lines.append(
            "- decorrelated BN, a step's time over BN's: "
            + ", ".join(f"groups of {g}: **{cost:.2f}×**" for g, cost in costs.items())
            + (
                f" (the whitening_cost experiment claims > 2× for the whole layer: {_met(costs[100] > 2)})"
                if 100 in costs
                else ""
            )
        )
    if "landscape_cost" in facts:
        lines.append(
            f"- the landscape probe every 100 steps (8 step sizes) costs ≤ 1.3× the run without it: "
            f"**{facts['landscape_cost']:.2f}×** ({_met(facts['landscape_cost'] <= 1.3)}); "
            f"ICS every 100 steps (2 layers): {facts['ics_cost']:.2f}×"
        )
    if "conv_speedup" in facts:
        goal = 10.0 if cuda else 1.0
        lines.append(
            f"- convnet, one run with probes and eval ≥ {goal:g}× the reference DataLoader loop "
            f"({'GPU' if cuda else 'CPU'}): **{facts['conv_speedup']:.2f}×** (median; round by round "
            f"{_rounds(facts['conv_speedups'])}) ({_met(facts['conv_speedup'] >= goal)})"
        )
    if "conv_pack_speedup" in facts and not cuda:
        lines.append(
            f"- convnet, {facts['conv_pack_runs']} runs together ≥ 1.3× the reference in run-steps/s (CPU): "
            f"**{facts['conv_pack_speedup']:.2f}×** (round by round {_rounds(facts['conv_pack_speedups'])}) "
            f"({_met(facts['conv_pack_speedup'] >= 1.3)})"
        )
    if "speedup" not in facts:
        return lines
    if not cuda:
        lines.append(
            f"- MLP, one run with probes and eval ≥ 5× the reference DataLoader loop (CPU): "
            f"**{facts['speedup']:.2f}×** (median; round by round {_rounds(facts['speedups'])}) "
            f"({_met(facts['speedup'] >= 5)})"
        )
        if 16 in facts.get("pack_speedups", {}):
            ratio = facts["pack_speedups"][16]
            lines.append(
                f"- MLP, 16 runs together ≥ 10× the reference in run-steps/s (CPU): **{ratio:.2f}×** "
                f"({_met(ratio >= 10)})"
            )
        return lines
    lines += [
        f"- one BN run with probes and eval ≥ 3,000 steps/s: **{facts['single_bn']:,.0f}** "
        f"({_met(facts['single_bn'] >= 3000)})",
        f"- ≥ 20× the reference DataLoader loop: **{facts['speedup']:.1f}×** ({_met(facts['speedup'] >= 20)})",
    ]
    if "probe_eval_cost" in facts:
        lines.append(
            f"- probes and eval ≤ 15% of the run: **{100 * facts['probe_eval_cost']:.1f}%** "
            f"({_met(facts['probe_eval_cost'] <= 0.15)})"
        )
    for runs, goal in ((64, 50000), (256, 200000)):
        if runs in facts.get("pack_run_steps", {}):
            rate = facts["pack_run_steps"][runs]
            lines.append(
                f"- {runs} BN runs together (a pack) ≥ {goal:,} run-steps/s: **{rate:,.0f}** ({_met(rate >= goal)})"
            )
    if "fig1_seconds" in facts:
        lines.append(
            f"- mnist_fig1 at 5 seeds per arm (10 runs × 50,000 steps) < 30 s of training: "
            f"**{facts['fig1_seconds']:.1f} s** ({_met(facts['fig1_seconds'] < 30)})"
        )
    return lines


@functools.lru_cache(maxsize=None)
def _profile_text(name: str) -> str:
    """' (profile fig3_cpu, channels 8/16/32)': the convnet rows' profile and widths, from
    the composed config (cached: the report is rewritten after every measurement)."""
    if not name:
        return ""
    from .loops import CONVNET, experiment_config

    width = experiment_config([*CONVNET, f"profile={name}"], "fig3").model.width
    return f" (profile {name}, channels {width}/{2 * width}/{4 * width})"
