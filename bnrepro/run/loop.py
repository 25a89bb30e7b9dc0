"""The one training loop: K runs of one architecture, trained together (K = 1 alone).

train_runs(configs, run_dirs) is plain Python, called by the Hydra launcher, by
tests and by benchmarks alike: it takes the group's lock, loads the checkpoint when
resuming, and hands the group to a GroupSession, which holds the attempt's whole state
(its docstring lists it, and the order of a step). Per step the session launches work
and returns: no value comes back to the host except through the Fetcher, once per log
interval and late. A run that diverges (see `diverged`) is recorded as `diverged` and
nothing it logged from its divergence step on counts (the others go on).

Durability (checkpoint.py, signals.py, lock.py): the group's lock is held while it
trains, so no second process writes its directories; summaries say `running` from the
start; the group is checkpointed every train.checkpoint_min_s seconds; Ctrl-C, SIGTERM,
SIGHUP, SIGUSR1 or SIGUSR2 stop it after the current step with a checkpoint and
summaries saying `interrupted` (a handler that was there before, submitit's, then gets
the signal: it requeues the job). Any exception ends with summaries saying `failed` and
naming it (`interrupted` for KeyboardInterrupt and SystemExit), and a checkpoint when it
came between two steps. A run is `completed` only once its end-of-run records (the last
evaluation, the batch-size sweep) are written; a stop signal that comes after the last
step still stops the sweep, but says the runs finished (signals.RunsFinished). Every
run's final status, the attempt's `ended_as` and the exit are decided in one place,
ending.decide. train_runs(resume=True) continues from the checkpoint in the run
directories.
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
from ..config.checks import check_ranges
from ..data import load
from .cpu import cpu_settings, machine_share
from .ending import Ending, Exit, decide
from .fetcher import Fetcher
from .files import read_summary
from .lock import GroupLock
from .logging_cost import LoggingCost
from .signals import Interrupted, RunsFinished, StopSignals  # noqa: F401 (Interrupted: the cli and callers catch loop.Interrupted)
from ..stacked.model import StackedNet
from ..stacked.optim import StackedSGD
from .sampler import Sampler
from .evaluation import batch_size_sweep, test_metrics
from .graphs import GraphedStep
from .compiled import CompiledStep, wanted as compile_wanted
from .progress import Progress, result_line
from .step import StepState, initial_probe, train_step
from ..config.status import DIVERGED, FAILED, RUNNING


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
    status: str = RUNNING
    diverged_at: int | None = None
    evals: list = field(default_factory=list)  # (step, loss, acc)
    last_train: dict = field(default_factory=dict)
    histograms: dict = field(default_factory=dict)  # tag -> {"first": counts, "final": counts}
    last_probe: int = 0  # step of the previous train record: its interval starts after it
    diverged_loss: float | None = None  # the interval's mean training loss that showed it


def train_runs(
    cfgs: list[Config],
    run_dirs: list[Path],
    command: str = "",
    log=lambda message: print(message, file=sys.stderr),
    swept: tuple[str, ...] = (),
    resume: bool = False,
    allow_other_commit: bool = False,
) -> list[dict]:
    """Train runs that share an architecture together; return their summaries.
    swept: the config keys the sweep varies (their values become TensorBoard hparams).
    resume=True: continue from the group's checkpoint in run_dirs if there is one (a
    fresh start otherwise), so a job restarted with the same arguments goes on;
    allow_other_commit: even from a checkpoint that other code wrote (another code hash).
    Holds the group's lock throughout: lock.GroupBusy if another process has it.
    On the CPU with cpu.py's settings (freed memory kept, train.threads), restored after.
    A key outside its declared range raises config.ConfigError naming it, before any file
    is touched (the command line checks that and more, config.validate, before any
    directory exists; this is for callers from Python, who may pair keys freely)."""
    for cfg in cfgs:
        check_ranges(cfg, "")
    with (
        GroupLock(run_dirs[0], f"runs {', '.join(d.name for d in run_dirs)}", log),
        cpu_settings(device := resolve_device(cfgs[0].device), cfgs[0]),
    ):
        t_setup = time.perf_counter()
        names = [d.name for d in run_dirs]
        identity, path = provenance.identity(device), checkpoint.path_for(run_dirs)
        saved = checkpoint.load(path, cfgs, names, identity, allow_other_commit, log) if resume else None
        if resume and saved is None and (finished := checkpoint.finished_summaries(run_dirs)):
            log(f"{cfgs[0].name}: {', '.join(names)}: already finished, nothing to resume")
            return finished
        if saved is None:  # a fresh start: an earlier attempt's checkpoint would not match the files it rewrites
            path.unlink(missing_ok=True)
        session = GroupSession(cfgs, run_dirs, device, identity, saved, command, swept, log, t_setup)
        return session.run()


class GroupSession:
    """One attempt at training a group of runs, its whole state in this one object.

    Where the state lives (attributes, all set up by __init__, from the checkpoint when resuming):
    - on the device: `state` (step.StepState: the stacked model's parameters and buffers,
      the momentum, the step counter, the current log interval's sums), built from
      `data`, `model`, `optimizer` and `sampler`; `stepper` replays its step as CUDA graphs
      (a GPU) or runs its plain steps compiled (run/compiled.py);
    - per run k: `states[k]` (RunState: status, divergence, evaluations, last train
      scalars, histograms) and `writers[k]` (its files, and the history of its scalars);
    - the counters: `done` (steps completed), `last_log` (the last probe's step: the log
      interval starts after it), `last_eval`, `settled` (the state is a step boundary's:
      a checkpoint of it resumes exactly), `heartbeat`, `pacer` (when a checkpoint is due);
    - the attempt: `facts` (what every summary says of where and how the runs train),
      `attempt` (this process's record) and `earlier` (those the checkpoint carries);
      `signals`, `error` and `records_written`: what ending.decide is told at the end.

    `run()`: the summaries say `running`; the step loop (`_train`); the end-of-run records
    once every step is done, or a checkpoint when a signal stopped it (after an exception:
    one if it came between steps); `_finish`: the records still in flight, each run's final
    status and the attempt's `ended_as` from ending.decide, the final summaries; then the
    exit ending.decide chooses (return, re-raise, Interrupted).

    A step, in order (`_train`): start the epoch when one begins; the step (graphed on
    CUDA); at a probe step the measures and the interval's train metrics pushed to the
    fetcher; at an evaluation step the test metrics pushed; at a probe step the fetched
    records handed to the writers and flushed. Then the state is settled: stop if every
    run diverged or a stop signal came, else a checkpoint when one is due, else the
    summaries' heartbeat when due.
    """

    def __init__(
        self,
        cfgs: list[Config],
        run_dirs: list[Path],
        device: torch.device,
        identity: dict,
        saved: dict | None,
        command: str,
        swept: tuple[str, ...],
        log,
        t_setup: float,
    ):
        from .writers import RunWriter  # tensorboard is slow to import; only needed here

        self.cfgs, self.run_dirs, self.device, self.identity, self.log = cfgs, run_dirs, device, identity, log
        self.cfg = cfg = cfgs[0]  # what the runs of a group have in common (all but the batchable keys)
        self.path, self.steps = checkpoint.path_for(run_dirs), cfg.train.steps
        self._build_training()
        self.fetcher = Fetcher(device)
        self.writers = [
            RunWriter(d, to_plain(c), cfg.model.depth, swept, resume_step=saved and saved["step"])
            for c, d in zip(cfgs, run_dirs)
        ]
        self.states = [RunState() for _ in cfgs]
        restored = checkpoint.restore(saved, self.state, self.states, self.writers) if saved else (0, 0, 0.0)
        self.done, self.last_log, self.train_before = restored  # steps done, the last probe's, seconds trained
        self.last_eval = saved.get("last_eval", 0) if saved else 0  # the step of the last evaluation pushed
        self.logging_cost = LoggingCost()  # this process's probes and evaluations, timed as they happen
        self._record_attempt(saved, command)
        self.error: BaseException | None = None  # what stopped the loop, if anything raised
        self.records_written = False  # every step done and the end-of-run records written
        self.settled = True  # the state is that of a step boundary: a checkpoint of it resumes exactly
        self._say_what_trains(saved)
        self.setup_s = time.perf_counter() - t_setup
        self.t_train = time.perf_counter()
        self.progress = Progress(cfg.name, self.steps, len(cfgs), cfg.train.progress, log, cfg.train.eval_every)
        self.pacer = checkpoint.Pacer(cfg.train.checkpoint_min_s, cfg.train.checkpoint_every)
        self.heartbeat = time.monotonic()

    def _build_training(self) -> None:
        """The data on the device, the stacked model, its optimizer and sampler, and the step."""
        cfg, cfgs, device = self.cfg, self.cfgs, self.device
        self.data = data = load(cfg.data, device)
        self.model = StackedNet([c.model for c in cfgs], [c.seed for c in cfgs], data.input_shape, data.classes).to(
            device
        )
        self.optimizer = StackedSGD(self.model.layout, [c.optim for c in cfgs], cfg.train.steps, device)
        self.sampler = Sampler(
            self.model.seeds, len(data.train_y), cfg.train.batch_size, data.train_labels, cfg.train.class_block
        )
        augment = (cfg.data.augment_pad, cfg.data.augment_flip) if cfg.data.augment else None
        self.state = StepState(
            self.model,
            self.optimizer,
            self.sampler,
            data,
            cfg.probes.unit,
            tuple(cfg.probes.which),
            cfg.train.loss,
            cfg.model.output,
            augment,
            keep_record=bool(cfg.probes.ics_every or cfg.probes.landscape_every),
        )
        use_graph = device.type == "cuda" and cfg.train.graph != GraphMode.off
        self.stepper: GraphedStep | CompiledStep | None = None
        if use_graph:
            self.stepper = GraphedStep(self._step, required=cfg.train.graph == GraphMode.on, warn=self.log)
        elif compile_wanted(cfg, len(cfgs), device):
            self.stepper = CompiledStep(self._step, required=cfg.train.compile == GraphMode.on, warn=self.log)

    def _step(self, probe: bool):
        return train_step(self.state, probe)

    def _record_attempt(self, saved: dict | None, command: str) -> None:
        """What the summaries say of where and how the runs trained; this process's part of
        them (the attempt) and the earlier ones whose work the checkpoint carries."""
        self.where = provenance.device_name(self.device)
        now = _now()
        self.facts = _run_facts(self.cfgs, self.run_dirs, self.device, self.where, command, self.identity)
        self.facts["started"] = saved["started"] if saved else now
        self.facts["resumed_from"] = [*saved["resumed_from"], self.done] if saved else []
        self.attempt = {
            **self.identity,
            "host": self.facts["host"],
            "pid": self.facts["pid"],
            "device_name": self.where,
            "started": now,
            "ended": None,
            "steps_from": self.done,
            "steps_to": self.done,
            "ended_as": RUNNING,
        }
        self.earlier = checkpoint.earlier_attempts(saved, read_summary(self.run_dirs[0])) if saved else []

    def _say_what_trains(self, saved: dict | None) -> None:
        K, train = len(self.cfgs), self.cfg.train
        self.log(
            f"{self.cfg.name}: training {K} run{'s' if K > 1 else ''} together on {self.device.type} "
            f"({self.where}){_stepper_words(self.stepper)}: {self.steps} steps, "
            f"batch {train.batch_size}" + (f"; resumed at step {self.done}" if saved else "")
        )

    # ---- the attempt, start to end

    def run(self) -> list[dict]:
        """Train, finish and exit as ending.decide says (see the class)."""
        with StopSignals(self.log) as self.signals:
            try:
                self.write_summaries()  # status `running` from the start: a killed run shows
                started = self.logging_cost.start()
                self._initial_probe()
                self.logging_cost.add(started, steps=0)
                self._train()
                if self.done == self.steps:
                    self.signals.trained = True
                    started = self.logging_cost.start()
                    self._end_of_run_records()
                    self.logging_cost.add(started, steps=0)
                elif self.signals.received is not None:
                    self.save_checkpoint()
            except (Exception, KeyboardInterrupt, SystemExit) as e:  # a bug, a full disk, Ctrl-C without our handler
                self.error = e
                self._checkpoint_after_error()
            final = self._finish()
        train_s, done = final[0]["wall_time_s"], self.done
        self.log(
            f"{self.cfg.name}: {done} steps in {train_s:.1f} s ({done / max(train_s, 1e-9):.0f} steps/s, "
            f"{len(self.cfgs) * done / max(train_s, 1e-9):.0f} run-steps/s)"
        )
        # The exit is decided again on what the files say now: a run whose files could not be
        # written says `failed`, and a stop signal may have come while they were written.
        return self._exit(self._decide(tuple(summary["status"] for summary in final)), final)

    def _train(self) -> None:
        """The step loop (see the class for the order of a step)."""
        steps, log_every, eval_every = self.steps, self.cfg.train.log_every, self.cfg.train.eval_every
        sampler, signals, states = self.sampler, self.signals, self.states
        advance = self.stepper if self.stepper is not None else self._step
        for t in range(self.done, steps):
            self.settled = False
            if t % sampler.steps_per_epoch == 0:
                sampler.start_epoch(t // sampler.steps_per_epoch)
            step_no = t + 1
            probe = step_no == 1 or step_no % log_every == 0 or step_no == steps
            evaluate = step_no % eval_every == 0 or step_no == steps
            started = self.logging_cost.start() if probe or evaluate else None
            out = advance(probe)
            self.done = step_no
            if probe:
                self._probe(step_no, out)
            if evaluate:
                self._evaluate(step_no)
            if probe:
                self._write_records()
            if started is not None:
                self.logging_cost.add(started)
            self.settled = True
            if probe and all(s.status != RUNNING for s in states):
                break  # every run diverged
            if signals.received is not None:
                break
            if step_no < steps and self.pacer.due(step_no):
                self.pacer.timed(self.save_checkpoint)
                self.heartbeat = time.monotonic()
            elif probe and time.monotonic() - self.heartbeat > HEARTBEAT_S:
                self.write_summaries()
                self.heartbeat = time.monotonic()

    def _end_of_run_records(self) -> None:
        """The last evaluation if a resume skipped it, and the batch-size sweep: the runs are
        completed once these are written."""
        if self.last_eval < self.steps:  # resumed from a checkpoint taken at the last step, before its evaluation
            self._evaluate(self.done)
        sweep = batch_size_sweep(self.model, self.data, self.cfg) if self.cfg.eval.batch_sizes else {}
        if sweep:  # a network without BN has nothing to sweep
            self.fetcher.push("eval", self.done, sweep)
        for record in self.fetcher.ready(wait=True):
            self.handle(record)
        self.records_written = True

    def _checkpoint_after_error(self) -> None:
        error, done = self.error, self.done
        self.log(f"{self.cfg.name}: stopped at step {done}: {type(error).__name__}: {error}")
        if self.settled and done > 0 and any(s.status == RUNNING for s in self.states):
            try:  # between two steps: the state is sound, and a checkpoint keeps the work
                self.save_checkpoint()
            except Exception as again:
                self.log(
                    f"{self.cfg.name}: no checkpoint at step {done} ({type(again).__name__}: {again}); "
                    f"the previous one stays"
                )

    def _finish(self) -> list[dict]:
        """However the loop ended: the records still in flight, each run's final status and
        the attempt's ending (ending.decide), the final summaries; the checkpoint goes once
        every run finished."""
        self._drain()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self.progress.close()
        ending = self._decide(tuple(s.status for s in self.states))
        for run, writer, status in zip(self.states, self.writers, ending.statuses):
            run.status = status
            _drop_after_divergence(run, writer)
        self.attempt.update(
            ended=_now(),
            ended_as=ending.ended_as,
            **({"signal": ending.signal} if ending.signal else {}),
            **({"error": ending.error} if ending.error else {}),
        )
        final = self.summaries(final=True)
        for summary, writer in zip(final, self.writers):
            if ending.error and summary["status"] == FAILED:
                summary["error"] = ending.error
            writer.finish(summary)
            self.log(result_line(writer.run_dir, summary))
        if all(summary["status"] in checkpoint.FINISHED for summary in final):
            self.path.unlink(missing_ok=True)  # nothing left to resume
        return final

    def _decide(self, statuses: tuple[str, ...]) -> Ending:
        return decide(statuses, self.records_written, self.error, self.signals.received, self.signals.owned())

    def _exit(self, ending: Ending, final: list[dict]) -> list[dict]:
        """After the signal handlers are restored: what ending.decide says."""
        if ending.exit is Exit.CTRL_C:
            raise Interrupted(signal.SIGINT) from self.error
        if ending.exit is Exit.RERAISE:
            raise self.error
        if ending.hand_on:
            self.signals.hand_on()  # submitit's handler requeues the job and exits (SystemExit)
        if ending.exit is Exit.STOPPED:
            raise Interrupted(self.signals.received)
        if ending.exit is Exit.FINISHED_THEN_STOPPED:
            raise RunsFinished(self.signals.received)
        return final

    # ---- records: pushed to the fetcher on the device's time, handed to the writers when fetched

    def _initial_probe(self) -> None:
        if self.cfg.probes.initial and self.done == 0:  # step 0: after initialization, before any update
            self.sampler.start_epoch(0)
            self._push_probes(0, *initial_probe(self.state))

    def _probe(self, step_no: int, out) -> None:
        # Santurkar et al.'s measures, when due: more passes at other points, eagerly
        out = out.with_values(measures.measure(self.state, out.record, step_no, self.cfg.probes))
        metrics = self.state.take_train_metrics(step_no - self.last_log)
        self.last_log = step_no
        self._push_probes(step_no, metrics, out)

    def _push_probes(self, step_no: int, metrics, out) -> None:
        probes = self.cfg.probes
        self.fetcher.push(
            "train",
            step_no,
            {"metrics": metrics, "lr": self.optimizer.lr_at(self.state.step - int(step_no > 0)), "probed": out.values},
            meta=out.names,
        )
        hist = tags.histogram_every(self.steps, self.cfg.train.log_every, probes.hist_every)
        if hist and (step_no % hist == 0 or step_no <= 1):
            layers = {tags.hist_tag("z", i): z.flatten(1) for i, z in enumerate(out.z)}
            if "out" in probes.which:
                layers.update({tags.hist_tag("a", i): a.flatten(1) for i, a in enumerate(out.a)})
            self.fetcher.push("hist", step_no, layers)

    def _evaluate(self, step_no: int) -> None:
        self.fetcher.push("eval", step_no, test_metrics(self.model, self.data, self.sampler, self.cfg))
        self.last_eval = step_no

    def _write_records(self, wait: bool = False) -> None:
        """The records fetched so far (wait: all of them) into the writers, and their files flushed."""
        for record in self.fetcher.ready(wait):
            self.handle(record)
        for writer in self.writers:
            writer.flush()

    def handle(self, record) -> None:
        _record(record, self.states, self.writers, self.data.classes)
        if record.kind == "eval" and "test/acc" in record.values:
            self.progress.accuracy([s.evals[-1][2] for s in self.states if s.evals])
        self.progress.update(record.step)

    def _drain(self) -> None:
        """Every record still in flight into the writers; at the end, after any exception:
        a record that cannot be handled (the exception's own cause) drops the rest."""
        try:
            for record in self.fetcher.ready(wait=True):
                self.handle(record)
        except Exception as e:
            self.fetcher.pending.clear()
            self.log(f"{self.cfg.name}: the last records could not be written: {type(e).__name__}: {e}")

    # ---- what survives the process: summaries and checkpoints

    def _train_s(self) -> float:
        return self.train_before + time.perf_counter() - self.t_train

    def _probes_eval_share(self) -> float | None:
        """This process's share of training time spent on probes and evaluation (run/logging_cost.py;
        None on a GPU)."""
        if self.device.type != "cpu":
            return None
        span = time.perf_counter() - self.t_train
        if isinstance(self.stepper, CompiledStep):  # its first plain step compiles: not a plain step's time
            span -= self.stepper.compile_s or 0.0
        share = self.logging_cost.share(span, self.done - self.attempt["steps_from"])
        return None if share is None else round(share, 4)

    def _attempts(self) -> list[dict]:
        return [*self.earlier, {**self.attempt, "steps_to": self.done}]

    def summaries(self, final: bool = False) -> list[dict]:
        graphed = self.stepper is not None and self.stepper.graphed
        common = {
            **self.facts,
            **_timing(self.setup_s, self._train_s(), self.done, graphed),
            "probes_eval_share": self._probes_eval_share(),
            **_compile_facts(self.stepper),
            "updated": _now(),
            "finished": _now() if final else None,
            "attempts": self._attempts(),
        }
        return [
            _summary(cfg, run, writer, common, tags_too=final)
            for cfg, run, writer in zip(self.cfgs, self.states, self.writers)
        ]

    def write_summaries(self) -> None:
        from .writers import write_summary

        for writer, summary in zip(self.writers, self.summaries()):
            write_summary(writer.run_dir, summary)

    def save_checkpoint(self) -> None:
        self._write_records(wait=True)
        checkpoint.save(
            self.path,
            checkpoint.capture(
                self.cfgs,
                self.run_dirs,
                self.state,
                self.states,
                self.writers,
                self.last_log,
                self._train_s(),
                started=self.facts["started"],
                resumed_from=self.facts["resumed_from"],
                last_eval=self.last_eval,
                identity=self.identity,
                attempts=self._attempts(),
            ),
        )
        self.write_summaries()


def _record(record, states: list[RunState], writers: list, classes: int) -> None:
    """One fetched record into every still-running run's writer and state."""
    for k, (state, writer) in enumerate(zip(states, writers)):
        if state.status != RUNNING:
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
                state.status, state.diverged_loss = DIVERGED, float(v["metrics"][0, k])
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
        **machine_share(),  # threads, and packs at once in processes
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


def _stepper_words(stepper) -> str:
    if isinstance(stepper, CompiledStep):
        return ", torch.compile"
    return ", CUDA graphs" if stepper is not None else ""


def _compile_facts(stepper) -> dict:
    """Whether the plain steps ran compiled (run/compiled.py), the first compiled call's wall
    time (compiling included, in wall_time_s too), and why compiling failed if it did."""
    if not isinstance(stepper, CompiledStep):
        return {"compiled": False, "compile_s": None, "compile_error": None}
    return {"compiled": stepper.ready, "compile_s": round(stepper.compile_s, 3), "compile_error": stepper.error}


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
