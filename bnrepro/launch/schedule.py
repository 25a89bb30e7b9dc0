"""How a sweep's packs share the machine: in this process one after another, or several at
once in child processes (bnrepro's local runner, launch/local.py). choose() is the rule,
a pure function; the sweeper applies it (hydra_plugin/) and prints its choice once.

The rule, first match wins:
1. A launcher the user named (`hydra/launcher=...`, on the command line or in a config)
   runs the packs as it is configured; train.processes must then stay null.
2. train.processes=N: N packs at once in child processes (1: in this process, one after
   another, as before this rule), whatever the device and the work.
3. train.threads set by the user: this process (the user manages the threads).
4. A GPU: this process (CUDA graphs; processes would share one device).
5. Fewer than MIN_RUN_STEPS run-steps in the whole sweep (the tests', `reproduce.sh
   --quick`'s 20-step runs): this process. A child pays ~2-4 s to import torch and load
   its data; a run-step costs >= ~0.7 ms of one core (the MLP, the cheapest network
   bnrepro trains, at most ~1,440 run-steps/s per core measured), so MIN_RUN_STEPS is
   >= 14 s of one core's work: two processes save >= 7 s of it, more than a child's
   start-up costs (conv nets' run-steps cost 5-10x more: the threshold is safe for them).
6. Otherwise, on a CPU with C >= 2 cores: min(C, packs) child processes with one intra-op
   thread each (the local runner gives each child cores // processes threads). With fewer
   packs than cores the largest pack is split in halves until there are C packs or no
   pack has two runs. A run's numbers do not depend on its pack-mates beyond float
   rounding (tests/test_model.py: runs trained together match runs trained alone), so a
   split changes results only to rounding. A sweep of one run stays in this process with
   train.threads' default (1 thread for the MLP and LSTM, every core for conv nets).
Whenever bnrepro's rule puts packs on several processes (rules 2 and 6; not a launcher you
name, hydra/launcher=local included, which runs the packs in the sweep's order), balance()
orders them largest first (the local runner starts each on the first process free) and splits
in halves the pack that would end last while that ends the sweep sooner: packs of unequal work
otherwise leave a core idle at the end (fig3 on 7 Dec: packs of 5, 10, 10, 5 and 5 runs, one
core idle for ~9 of its 40 minutes; balanced: 10, 10, 5, 5, 3, 2). Measured side by side on the
idle 2-core CPU (7 Dec, fb301b7 against e8ae622, fig3's 35 runs at 1,000 steps): 280.7 s ->
248.3 s (0.88x); the split pack's runs ended with the same test accuracies to the last digit.

Why one thread per process rather than one process with every core's threads (measured side
by side on the idle 2-core CPU, 2026-12-06, one round: results/bench_schedule_cpu.md):
- MLP, the same 16 runs: two 1-thread processes x 8 runs 1,716 run-steps/s, one process on
  2 threads 1,676, on 1 thread (the default before) 880. Level with two threads when idle, and
  two threads wait for each other at every operation and collapse to a few percent of one
  thread's speed when anything else runs (run/cpu.py); processes share no barrier. Halving a
  pack to fill the cores loses little: one thread trains a pack at about one resident run's
  rate per core.
- Conv net (fig3's CPU profile), one run each: two 1-thread processes 119 run-steps/s, one
  process on 2 threads 98 (the default before): 1.21x.
- The MLP's packs already trained on one thread in one process (run/cpu.py): in two
  processes each pack computes exactly what it computed before; only conv nets (two
  threads before, one now) and split packs change, to rounding.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

MIN_RUN_STEPS = 20_000  # rule 5: below this much work a sweep stays in this process


class ScheduleError(ValueError):
    """The sweep's choices contradict each other (the message names the keys)."""


@dataclass(frozen=True)
class Schedule:
    processes: int | None  # packs trained at once in child processes; 1: in this process; None: the user's launcher
    # the packs (indices of the sweep's jobs) in the order they start: split where that fills the
    # cores or ends the sweep sooner, largest first (balance())
    groups: list[list[int]]
    why: str  # which rule chose, for the line printed at the start

    def line(self, cores: int) -> str:
        """What the sweep will do, e.g. '4 packs on 2 processes x 1 thread (auto: ...)'."""
        packs = f"{len(self.groups)} pack{'s' * (len(self.groups) != 1)}"
        if self.processes is None:
            return f"{packs} on the launcher you named ({self.why})"
        if self.processes == 1:
            return f"{packs} in this process, one after another ({self.why})"
        threads = max(1, cores // self.processes)
        return f"{packs} on {self.processes} processes x {threads} thread{'s' * (threads != 1)} ({self.why})"


def split(groups: list[list[int]], target: int) -> list[list[int]]:
    """Split the largest pack in halves (its first runs first) until there are `target` packs
    or no pack has two runs; the halves stay where the pack was."""
    groups = [list(g) for g in groups]
    while len(groups) < target:
        largest = max(range(len(groups)), key=lambda i: len(groups[i]))
        pack = groups[largest]
        if len(pack) < 2:
            break
        half = (len(pack) + 1) // 2
        groups[largest : largest + 1] = [pack[:half], pack[half:]]
    return groups


def balance(groups: list[list[int]], work: list[int], processes: int) -> list[list[int]]:
    """The packs in the order they should start on `processes` processes, each taking the next
    when it is free: largest work first (a pack's work: its runs' `work` summed), and the pack
    that would end last split in halves (its first runs first) for as long as that ends the
    whole sooner. Deterministic: the same sweep gets the same packs (scripts/budget_probe.py's forced
    schedule relies on it; `bnrepro resume` reads the packs written, never this)."""

    def size(pack: list[int]) -> int:
        return sum(work[i] for i in pack)

    def ordered(packs: list[list[int]]) -> list[list[int]]:
        return sorted(packs, key=size, reverse=True)  # stable: equal packs keep their order

    def last(packs: list[list[int]]) -> tuple[int, int]:
        """When the last pack ends, and which one it is, as the runner would start them."""
        free = [0] * processes
        end, which = 0, 0
        for i, pack in enumerate(packs):
            p = min(range(processes), key=free.__getitem__)
            free[p] += size(pack)
            if free[p] > end:
                end, which = free[p], i
        return end, which

    packs = ordered(groups)
    end, which = last(packs)
    while len(packs[which]) > 1:
        half = (len(packs[which]) + 1) // 2
        tried = ordered(packs[:which] + [packs[which][:half], packs[which][half:]] + packs[which + 1 :])
        sooner, then = last(tried)
        if sooner >= end:
            break
        packs, end, which = tried, sooner, then
    return packs


def choose(
    groups: list[list[int]],
    run_steps: int,
    cores: int,
    gpu: bool,
    processes: int | None = None,
    threads_set: bool = False,
    launcher_named: str | None = None,
    work: list[int] | None = None,
) -> Schedule:
    """The schedule of a sweep whose compatible runs form `groups` (rule: see the module).
    run_steps: every run's train.steps summed; processes: train.processes (null: auto);
    threads_set: some run sets train.threads; launcher_named: the launcher the user chose;
    work: each run's train.steps (None: the runs' work taken as equal), which balance() weighs."""
    weights = work if work is not None else [1] * (1 + max((i for g in groups for i in g), default=0))
    if launcher_named is not None:
        if processes is not None:
            raise ScheduleError(
                f"train.processes={processes} and hydra/launcher={launcher_named}: the launcher you name runs "
                "the packs (its own n_jobs); set one of them"
            )
        return Schedule(None, groups, f"hydra/launcher={launcher_named}")
    if processes is not None:
        planned = balance(split(groups, processes), weights, processes) if processes > 1 else groups
        return Schedule(min(processes, len(planned)), planned, f"train.processes={processes}")
    if threads_set:
        return Schedule(1, groups, "auto: train.threads is set")
    if gpu:
        return Schedule(1, groups, "auto: on a GPU")
    if run_steps < MIN_RUN_STEPS:
        why = f"auto: {run_steps:,} run-steps, below {MIN_RUN_STEPS:,}: a child's start-up would not pay"
        return Schedule(1, groups, why)
    if cores < 2:
        return Schedule(1, groups, "auto: one core")
    planned = split(groups, cores)
    if len(planned) < 2:
        return Schedule(1, groups, "auto: one run")
    planned = balance(planned, weights, min(cores, len(planned)))
    return Schedule(min(cores, len(planned)), planned, f"auto: a CPU of {cores} cores, {run_steps:,} run-steps")


def named_launcher(hydra_overrides: list[str], target: str) -> str | None:
    """The launcher the user chose: `hydra/launcher=X` on the command line, or a config's
    launcher other than Hydra's basic one (its class name); None for the default."""
    for override in hydra_overrides:
        key, _, value = override.lstrip("+~").partition("=")
        if key == "hydra/launcher":
            return value
    return None if not target or target.endswith(".BasicLauncher") else target.rpartition(".")[2]


def for_sweep(configs: list, batch: bool, max_runs: int, hydra_overrides: list[str], target: str) -> Schedule:
    """choose() for a checked sweep's configs (one train.processes for the whole sweep) on this
    machine, its packs formed by sweep.groups (on the CPU no larger than packs.cpu_pack_limit)."""
    import torch

    from .packs import cpu_pack_limit
    from .sweep import groups

    values = sorted({str(c.train.processes) for c in configs})
    if len(values) > 1:
        raise ScheduleError(
            f"train.processes differs between the sweep's runs ({', '.join(values)}): it says how the whole "
            "sweep trains; give it one value"
        )
    gpu = any(c.device.value == "cuda" or (c.device.value == "auto" and torch.cuda.is_available()) for c in configs)
    return choose(
        groups(configs, batch, max_runs, limit=(lambda cfg: None) if gpu else (lambda cfg: cpu_pack_limit(cfg.model))),
        sum(c.train.steps for c in configs),
        os.cpu_count() or 1,
        gpu,
        configs[0].train.processes,
        any(c.train.threads is not None for c in configs),
        named_launcher(hydra_overrides, target),
        [c.train.steps for c in configs],
    )


def launch(schedule: Schedule, launcher, target: str, jobs: list, sweep_dir: Path, first_run_dirs: list[Path]):
    """Train the sweep's packs (one job each) as scheduled: several at once by bnrepro's local
    runner (launch/local.py, as `hydra/launcher=local`), else by the configured launcher."""
    if schedule.processes is not None and schedule.processes > 1:
        from .local import launch_packs

        return launch_packs(sweep_dir, jobs, 0, schedule.processes)
    from .stopping import launch as by_launcher

    return by_launcher(launcher, target, jobs, sweep_dir, first_run_dirs)
