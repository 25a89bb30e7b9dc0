"""The one training loop: K runs of one architecture, trained together (K = 1 alone).

train_runs(configs, run_dirs) is plain Python, called by the Hydra launcher, by
tests and by benchmarks alike. Per step it launches work and returns: no value comes
back to the host except through the Fetcher, once per log interval and late. A run
that diverges (see `diverged`) is recorded as `diverged` and nothing it logged from
its divergence step on counts (the others go on).

Durability (checkpoint.py, signals.py, lock.py): the group's lock is held while it
trains, so no second process writes its directories; summaries say `running` from the
start; the group is checkpointed every train.checkpoint_min_s seconds; Ctrl-C, SIGTERM,
SIGHUP, SIGUSR1 or SIGUSR2 stop it after the current step with a checkpoint and
summaries saying `interrupted` (a handler that was there before, submitit's, then gets
the signal: it requeues the job). Any exception ends with summaries saying `failed` and
naming it (`interrupted` for KeyboardInterrupt and SystemExit), and a checkpoint when it
came between two steps. A run is `completed` only once its end-of-run records (the last
evaluation, the batch-size sweep) are written. train_runs(resume=True) continues from
the checkpoint in the run directories.
"""
from __future__ import annotations

import math
import os
import platform
import signal
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from . import checkpoint, measures, provenance, tags
from ..config import Config, DeviceChoice, GraphMode, to_plain
from ..data import load
from .cpu import cpu_settings
from .fetcher import Fetcher
from .files import read_summary
from .lock import GroupLock
from .signals import Interrupted, StopSignals  # noqa: F401 (Interrupted: the cli and callers catch loop.Interrupted)
from ..stacked.model import StackedNet
from ..stacked.optim import StackedSGD
from .sampler import Sampler
from .evaluation import batch_size_sweep, test_metrics
from .graphs import GraphedStep
from .progress import Progress, result_line
from .step import StepState, initial_probe, train_step


# A run has diverged once its mean training loss over a log interval exceeds this many
# times the loss of a uniform guess, ln(classes): 230 for 10 classes. A network that
# learns never comes near it; one whose weights exploded (sigmoid at lr 1e6: ~1e7) does.
DIVERGED_LOSS_FACTOR = 100.0


def diverged(interval_loss: float, nonfinite_steps: int, classes: int) -> bool:
    """The divergence rule, checked at every probe step on values already fetched: some
    step's loss was NaN/inf, or the interval's mean loss exploded while staying finite."""
    return nonfinite_steps > 0 or not interval_loss <= DIVERGED_LOSS_FACTOR * math.log(classes)


# Seconds between rewrites of summary.json's `updated` time when no checkpoint falls due
# (at probe steps): a run whose `updated` is much older than this was killed.
HEARTBEAT_S = 60


def resolve_device(choice: DeviceChoice) -> torch.device:
    """auto: the GPU if there is one."""
    if choice == DeviceChoice.cuda and not torch.cuda.is_available():
        raise RuntimeError("device=cuda but no CUDA device is available (use device=auto or device=cpu)")
    if choice == DeviceChoice.cpu or not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda")


@dataclass
class RunState:
    status: str = "running"
    diverged_at: int | None = None
    evals: list = field(default_factory=list)  # (step, loss, acc)
    last_train: dict = field(default_factory=dict)
    histograms: dict = field(default_factory=dict)  # tag -> {"first": counts, "final": counts}
    last_probe: int = 0  # step of the previous train record: its interval starts after it
    diverged_loss: float | None = None  # the interval's mean training loss that showed it


def train_runs(cfgs: list[Config], run_dirs: list[Path], command: str = "",
               log=lambda message: print(message, file=sys.stderr), swept: tuple[str, ...] = (),
               resume: bool = False, allow_other_commit: bool = False) -> list[dict]:
    """Train runs that share an architecture together; return their summaries.
    swept: the config keys the sweep varies (their values become TensorBoard hparams).
    resume=True: continue from the group's checkpoint in run_dirs if there is one (a
    fresh start otherwise), so a job restarted with the same arguments goes on;
    allow_other_commit: even from a checkpoint that another commit wrote.
    Holds the group's lock throughout: lock.GroupBusy if another process has it.
    On the CPU with cpu.py's settings (freed memory kept, train.threads), restored after."""
    with GroupLock(run_dirs[0], f"runs {', '.join(d.name for d in run_dirs)}", log), \
            cpu_settings(resolve_device(cfgs[0].device), cfgs[0]):
        return _train_group(cfgs, run_dirs, command, log, swept, resume, allow_other_commit)


def _train_group(cfgs: list[Config], run_dirs: list[Path], command: str, log, swept: tuple[str, ...],
                 resume: bool, allow_other_commit: bool) -> list[dict]:
    from .writers import RunWriter, write_summary  # tensorboard is slow to import; only needed here

    shared = cfgs[0]  # what the runs of a group have in common (all but the batchable keys)
    t_setup = time.perf_counter()
    device = resolve_device(shared.device)
    use_graph = device.type == "cuda" and shared.train.graph != GraphMode.off
    names = [d.name for d in run_dirs]
    identity, path = provenance.identity(device), checkpoint.path_for(run_dirs)
    saved = checkpoint.load(path, cfgs, names, identity, allow_other_commit, log) if resume else None
    if resume and saved is None and (finished := checkpoint.finished_summaries(run_dirs)):
        log(f"{shared.name}: {', '.join(names)}: already finished, nothing to resume")
        return finished
    if saved is None:  # a fresh start: an earlier attempt's checkpoint would not match the files it rewrites
        path.unlink(missing_ok=True)
    data = load(shared.data, device)
    seeds = [c.seed for c in cfgs]
    model = StackedNet([c.model for c in cfgs], seeds, data.input_shape, data.classes).to(device)
    optimizer = StackedSGD(model.layout, [c.optim for c in cfgs], shared.train.steps, device)
    sampler = Sampler(model.seeds, len(data.train_y), shared.train.batch_size, data.train_labels,
                      shared.train.class_block)
    augment = (shared.data.augment_pad, shared.data.augment_flip) if shared.data.augment else None
    state = StepState(model, optimizer, sampler, data, shared.probes.unit, tuple(shared.probes.which),
                      shared.train.loss, shared.model.output, augment,
                      keep_record=bool(shared.probes.ics_every or shared.probes.landscape_every))

    def step(probe: bool):
        return train_step(state, probe)

    stepper = GraphedStep(step, required=shared.train.graph == GraphMode.on, warn=log) if use_graph else None
    fetcher = Fetcher(device)
    writers = [RunWriter(d, to_plain(c), shared.model.depth, swept, resume_step=saved and saved["step"])
               for c, d in zip(cfgs, run_dirs)]
    states = [RunState() for _ in cfgs]
    done, last_log, train_before = checkpoint.restore(saved, state, states, writers) if saved else (0, 0, 0.0)
    last_eval = saved.get("last_eval", 0) if saved else 0  # the step of the last evaluation pushed
    K, steps, schedule = len(cfgs), shared.train.steps, shared.train
    where = provenance.device_name(device)
    now = _now()
    facts = _run_facts(cfgs, run_dirs, device, where, command, identity)
    facts["started"] = saved["started"] if saved else now
    facts["resumed_from"] = [*saved["resumed_from"], done] if saved else []
    # This process's part of the runs, and the earlier ones whose work the checkpoint carries.
    attempt = {**identity, "host": facts["host"], "pid": facts["pid"], "device_name": where, "started": now,
               "ended": None, "steps_from": done, "steps_to": done, "ended_as": "running"}
    earlier = checkpoint.earlier_attempts(saved, read_summary(run_dirs[0])) if saved else []
    log(f"{shared.name}: training {K} run{'s' if K > 1 else ''} together on {device.type} ({where})"
        f"{', CUDA graphs' if use_graph else ''}: {steps} steps, batch {schedule.batch_size}"
        + (f"; resumed at step {done}" if saved else ""))
    setup_s = time.perf_counter() - t_setup
    t_train = time.perf_counter()

    def summaries(final: bool = False) -> list[dict]:
        train_s = train_before + time.perf_counter() - t_train
        common = {**facts, **_timing(setup_s, train_s, done, stepper is not None and stepper.graphed),
                  "updated": _now(), "finished": _now() if final else None,
                  "attempts": [*earlier, {**attempt, "steps_to": done}]}
        return [_summary(cfg, run, writer, common, tags_too=final) for cfg, run, writer in zip(cfgs, states, writers)]

    def save_checkpoint() -> None:
        for record in fetcher.ready(wait=True):
            handle(record)
        for writer in writers:
            writer.flush()
        train_s = train_before + time.perf_counter() - t_train
        checkpoint.save(path, checkpoint.capture(
            cfgs, run_dirs, state, states, writers, last_log, train_s, started=facts["started"],
            resumed_from=facts["resumed_from"], last_eval=last_eval, identity=identity,
            attempts=[*earlier, {**attempt, "steps_to": done}]))
        for writer, summary in zip(writers, summaries()):
            write_summary(writer.run_dir, summary)

    def handle(record) -> None:
        _record(record, states, writers, data.classes)
        if record.kind == "eval" and "test/acc" in record.values:
            progress.accuracy([s.evals[-1][2] for s in states if s.evals])
        progress.update(record.step)

    progress = Progress(shared.name, steps, K, schedule.progress, log, schedule.eval_every)

    def push_probes(step_no: int, metrics, out) -> None:
        fetcher.push("train", step_no, {"metrics": metrics, "lr": optimizer.lr_at(state.step - int(step_no > 0)),
                                        "probed": out.values}, meta=out.names)
        hist = tags.histogram_every(steps, schedule.log_every, shared.probes.hist_every)
        if hist and (step_no % hist == 0 or step_no <= 1):
            layers = {tags.hist_tag("z", i): z.flatten(1) for i, z in enumerate(out.z)}
            if "out" in shared.probes.which:
                layers.update({tags.hist_tag("a", i): a.flatten(1) for i, a in enumerate(out.a)})
            fetcher.push("hist", step_no, layers)

    def drain() -> None:
        """Every record still in flight into the writers; at the end, after any exception:
        a record that cannot be handled (the exception's own cause) drops the rest."""
        try:
            for record in fetcher.ready(wait=True):
                handle(record)
        except Exception as e:
            fetcher.pending.clear()
            log(f"{shared.name}: the last records could not be written: {type(e).__name__}: {e}")

    pacer = checkpoint.Pacer(schedule.checkpoint_min_s, schedule.checkpoint_every)
    heartbeat, error, ended = time.monotonic(), None, False
    settled = True  # the state is that of a step boundary: a checkpoint of it resumes exactly
    with StopSignals(log) as signals:
        try:
            for writer, summary in zip(writers, summaries()):
                write_summary(writer.run_dir, summary)  # status `running` from the start: a killed run shows
            if shared.probes.initial and done == 0:  # step 0: after initialization, before any update
                sampler.start_epoch(0)
                push_probes(0, *initial_probe(state))
            for t in range(done, steps):
                settled = False
                if t % sampler.steps_per_epoch == 0:
                    sampler.start_epoch(t // sampler.steps_per_epoch)
                step_no = t + 1
                probe = step_no == 1 or step_no % schedule.log_every == 0 or step_no == steps
                out = stepper(probe) if stepper is not None else step(probe)
                done = step_no
                if probe:
                    # Santurkar et al.'s measures, when due: more passes at other points, eagerly
                    out = out.with_values(measures.measure(state, out.record, step_no, shared.probes))
                    metrics = state.take_train_metrics(step_no - last_log)
                    last_log = step_no
                    push_probes(step_no, metrics, out)
                if step_no % schedule.eval_every == 0 or step_no == steps:
                    fetcher.push("eval", step_no, test_metrics(model, data, sampler, shared))
                    last_eval = step_no
                if probe:
                    for record in fetcher.ready():
                        handle(record)
                    for writer in writers:
                        writer.flush()
                settled = True
                if probe and all(s.status != "running" for s in states):
                    break  # every run diverged
                if signals.received is not None:
                    break
                if step_no < steps and pacer.due(step_no):
                    pacer.timed(save_checkpoint)
                    heartbeat = time.monotonic()
                elif probe and time.monotonic() - heartbeat > HEARTBEAT_S:
                    for writer, summary in zip(writers, summaries()):
                        write_summary(writer.run_dir, summary)
                    heartbeat = time.monotonic()
            if done == steps:  # the end-of-run records: the runs are completed once they are written
                if last_eval < steps:  # resumed from a checkpoint taken at the last step, before its evaluation
                    fetcher.push("eval", done, test_metrics(model, data, sampler, shared))
                    last_eval = done
                sweep = batch_size_sweep(model, data, shared) if shared.eval.batch_sizes else {}
                if sweep:  # a network without BN has nothing to sweep
                    fetcher.push("eval", done, sweep)
                for record in fetcher.ready(wait=True):
                    handle(record)
                ended = True
            elif signals.received is not None:
                save_checkpoint()
        except (Exception, KeyboardInterrupt, SystemExit) as e:  # a bug, a full disk, Ctrl-C without our handler
            error = e
            log(f"{shared.name}: stopped at step {done}: {type(e).__name__}: {e}")
            if settled and done > 0 and any(s.status == "running" for s in states):
                try:  # between two steps: the state is sound, and a checkpoint keeps the work
                    save_checkpoint()
                except Exception as again:
                    log(f"{shared.name}: no checkpoint at step {done} ({type(again).__name__}: {again}); "
                        f"the previous one stays")
        drain()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        progress.close()
        failed = isinstance(error, Exception)  # KeyboardInterrupt and SystemExit interrupt, they do not fail
        for run, writer in zip(states, writers):
            if run.status == "running":
                run.status = "completed" if ended else "failed" if failed else "interrupted"
            _drop_after_divergence(run, writer)
        stopped_by = signals.received or getattr(error, "signum", None)
        attempt.update(ended=_now(), ended_as=_ended_as([s.status for s in states], error),
                       **({"signal": signal.Signals(stopped_by).name} if stopped_by else {}),
                       **({"error": f"{type(error).__name__}: {error}"} if failed else {}))
        final = summaries(final=True)
        for summary, writer in zip(final, writers):
            if failed and summary["status"] == "failed":
                summary["error"] = f"{type(error).__name__}: {error}"
            writer.finish(summary)
            log(result_line(writer.run_dir, summary))
        finished = all(summary["status"] in checkpoint.FINISHED for summary in final)
        if finished:
            path.unlink(missing_ok=True)  # nothing left to resume
    train_s = final[0]["wall_time_s"]
    log(f"{shared.name}: {done} steps in {train_s:.1f} s ({done / max(train_s, 1e-9):.0f} steps/s, "
        f"{K * done / max(train_s, 1e-9):.0f} run-steps/s)")
    if type(error) is KeyboardInterrupt:  # Ctrl-C without our handler: the summaries say interrupted
        raise Interrupted(signal.SIGINT) from error
    if error is not None:
        raise error
    if signals.received is not None:
        if not finished:
            signals.hand_on()  # submitit's handler requeues the job and exits (SystemExit)
        if not (finished and signals.owned()):  # a finished group under submitit ends its job normally
            raise Interrupted(signals.received)
    return final


def _ended_as(statuses: list[str], error: BaseException | None) -> str:
    """How an attempt ended, for the summaries' `attempts`."""
    if all(s in checkpoint.FINISHED for s in statuses):
        return "finished"
    return "failed" if isinstance(error, Exception) else "interrupted"


def _record(record, states: list[RunState], writers: list, classes: int) -> None:
    """One fetched record into every still-running run's writer and state."""
    for k, (state, writer) in enumerate(zip(states, writers)):
        if state.status != "running":
            continue  # a diverged run logs nothing after its divergence
        if record.kind == "train":
            v = record.values
            scalars = tags.train_scalars(v["metrics"], v["lr"], record.meta, v["probed"], k)
            writer.scalars(record.step, scalars)
            state.last_train = scalars
            bad = int(v["metrics"][2, k])  # steps with a non-finite loss in this interval
            if diverged(float(v["metrics"][0, k]), bad, classes):
                # NaN weights stay NaN: the bad steps are the interval's last ones. A finite
                # explosion could have begun anywhere in the interval: its first step counts.
                state.status, state.diverged_loss = "diverged", float(v["metrics"][0, k])
                state.diverged_at = record.step - bad + 1 if bad else state.last_probe + 1
            state.last_probe = record.step
        elif record.kind == "eval":
            scalars = {tag: float(values[k]) for tag, values in record.values.items()}
            writer.scalars(record.step, scalars)
            if "test/acc" in scalars:
                state.evals.append((record.step, scalars["test/loss"], scalars["test/acc"]))
        else:
            for tag, values in record.values.items():
                writer.histogram(record.step, tag, values[k])
                counts = _histogram(values[k])
                if counts:
                    state.histograms.setdefault(tag, {}).setdefault("first", counts)
                    state.histograms[tag]["final"] = counts


def _histogram(values: np.ndarray, bins: int = 60) -> dict | None:
    """The summary's copy of a histogram (figures read it): step-free counts over its range."""
    finite = values[np.isfinite(values)]
    if not finite.size:
        return None
    counts, edges = np.histogram(finite, bins=bins)
    return {"edges": edges.tolist(), "counts": counts.tolist()}
def _drop_after_divergence(state: RunState, writer) -> None:
    """Nothing measured from the divergence step on counts: evaluations logged between
    two probe steps are read before the probe that reveals the divergence, so they are
    removed here, from the summary and scalars.csv alike (TensorBoard keeps them)."""
    if state.diverged_at is None:
        return
    state.evals = [e for e in state.evals if e[0] < state.diverged_at]
    writer.history = [(step, values) for step, values in writer.history if step < state.diverged_at]
    state.last_train = next((values for _, values in reversed(writer.history) if "train/loss" in values), {})


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _run_facts(cfgs, run_dirs, device, where, command, identity: dict) -> dict:
    """What every summary of the group says about where and how it ran (computed once)."""
    from .writers import group_names

    commit, dirty = identity["commit"], identity["dirty"]
    return {
        "group": group_names(run_dirs),  # trained together, resumed together
        "runs_trained_together": len(cfgs),
        "device": device.type,
        "device_name": where,
        "commit": commit,
        "dirty": dirty,
        "versions": provenance.versions(),
        "host": platform.node(),
        "pid": os.getpid(),
        "command": command,
    }


def _timing(setup_s: float, train_s: float, done: int, graphed: bool) -> dict:
    return {
        "steps_done": done,
        "wall_time_s": round(train_s, 3),
        "setup_time_s": round(setup_s, 3),
        "steps_per_s": round(done / train_s, 2) if train_s > 0 else None,
        "cuda_graphs": graphed,
    }


def _summary(cfg: Config, state: RunState, writer, common: dict, tags_too: bool = True) -> dict:
    """The run's summary.json: final when the loop is over; before, partial (status `running`),
    without the tags' first / final / median values (cheap to rewrite at every checkpoint)."""
    series: dict[str, list] = {}
    for _, values in writer.history if tags_too else ():
        for tag, value in values.items():
            series.setdefault(tag, []).append(value)
    finite_evals = [e for e in state.evals if math.isfinite(e[2])]
    best = max(finite_evals, key=lambda e: e[2]) if finite_evals else None
    last = state.evals[-1] if state.evals else None
    return {
        "name": cfg.name,
        "run": writer.run_dir.name,
        "status": state.status,
        "diverged_at": state.diverged_at,
        "diverged_loss": state.diverged_loss,
        "test_acc_final": last[2] if last else None,
        "test_loss_final": last[1] if last else None,
        "test_acc_best": best[2] if best else None,
        "best_step": best[0] if best else None,
        "train_loss_final": state.last_train.get("train/loss"),
        "error": None,
        **common,
        # Every logged tag's first and last value, and its median over the run's finite values.
        "first": {tag: values[0] for tag, values in series.items()},
        "final": {tag: values[-1] for tag, values in series.items()},
        "median": {tag: _finite_median(values) for tag, values in series.items()},
        "config": to_plain(cfg),
        "histograms": state.histograms,  # first and last histogram of each tag (figures)
    }


def _finite_median(values: list) -> float | None:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.median(finite)) if finite else None
