"""Checkpoints of a group of runs, and the signals that ask for one.

A checkpoint is the whole state of a group at a step boundary, so that a resumed run
continues bit for bit (on the CPU) where the checkpoint was taken:
- the flat parameters and every module buffer (BN running statistics, Batch Renorm's
  running_std, Algorithm 2's population statistics), the SGD momentum buffer;
- the device step counter and the on-device sums of the current log interval (so a
  checkpoint may fall mid-interval), the step of the previous probe;
- the data-order position: permutations are a pure function of (seed, epoch) (see
  stacked/rng.py), so the step alone says where each run is; dropout masks likewise;
- per run: its RunState (status, divergence step, eval history, last train scalars)
  and its writer's history (for the summary's first / final / median values);
- the training seconds so far (wall_time_s of the summary adds up across resumes).

It lives in the group's first run directory (checkpoint.pt, one per group, replaced
in place) and is written to a temporary file, fsync'ed and renamed: a crash while
writing leaves the previous one valid. A checkpoint from another configuration or
another bnrepro version (or checkpoint format) is refused with a message, never loaded.
"""
from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import asdict
from importlib import metadata
from pathlib import Path

import torch

from ..config import WHERE_KEYS, flatten, to_plain
from .files import read_summary

FILE = "checkpoint.pt"
FORMAT = 1  # bump when the payload's layout changes
FINISHED = ("completed", "diverged")  # the statuses of a run with nothing left to train


class CheckpointError(RuntimeError):
    """A checkpoint that must not be loaded (other configuration, version or format)."""


def bnrepro_version() -> str:
    try:
        return metadata.version("bnrepro")
    except metadata.PackageNotFoundError:
        return "unknown"


def path_for(run_dirs: list[Path]) -> Path:
    return run_dirs[0] / FILE


def what_it_computes(cfg) -> dict:
    """A run's configuration without the keys that say where or how it executes: a
    checkpoint may be resumed on another device, with another checkpoint interval or
    other report settings."""
    return {k: v for k, v in flatten(to_plain(cfg)).items() if not k.startswith((*WHERE_KEYS, "report."))}


def finished_summaries(run_dirs: list[Path]) -> list[dict] | None:
    """The runs' summaries if every one of them finished (completed or diverged), else None."""
    found = [read_summary(run_dir) or {} for run_dir in run_dirs]
    return found if all(summary.get("status") in FINISHED for summary in found) else None


def save(path: Path, payload: dict) -> None:
    """Atomically: temporary file, fsync, rename, fsync of the directory."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def load(path: Path, cfgs: list, run_names: list[str]) -> dict | None:
    """The checkpoint at `path` if there is one and it belongs to these runs; None if none."""
    if not path.is_file():
        return None
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise CheckpointError(f"{path}: not a readable bnrepro checkpoint ({e})") from None
    if payload.get("format") != FORMAT or payload.get("version") != bnrepro_version():
        raise CheckpointError(
            f"{path} was written by bnrepro {payload.get('version')} (checkpoint format {payload.get('format')}); "
            f"this is bnrepro {bnrepro_version()} (format {FORMAT}): it cannot be resumed by this version. "
            f"Resume with the version that wrote it, or start the runs again.")
    if payload["runs"] != run_names:
        raise CheckpointError(f"{path} is the checkpoint of runs {payload['runs']}, not of {run_names}")
    for name, saved, cfg in zip(run_names, payload["configs"], cfgs):
        now = what_it_computes(cfg)
        differ = sorted(k for k in set(saved) | set(now) if saved.get(k) != now.get(k))
        if differ:
            shown = ", ".join(f"{k}: {saved.get(k)!r} in the checkpoint, {now.get(k)!r} now" for k in differ[:5])
            raise CheckpointError(f"{path}: run {name} was trained with another configuration ({shown}); "
                                  f"refusing to resume it")
    return payload


def capture(cfgs, run_dirs, step_state, run_states, writers, last_log: int, train_s: float, **facts) -> dict:
    """The group's state after `step_state.step` completed steps (the fetcher drained), and
    `facts` the summaries carry over (when the run started, the steps it was resumed at)."""
    optimizer = step_state.optimizer
    return {
        "format": FORMAT,
        "version": bnrepro_version(),
        "runs": [d.name for d in run_dirs],
        "configs": [what_it_computes(c) for c in cfgs],
        "step": int(step_state.step),
        "last_log": last_log,
        "train_s": train_s,
        "model": {k: v.detach().cpu().clone() for k, v in step_state.model.state_dict().items()},
        "momentum": None if optimizer.buf is None else optimizer.buf.cpu().clone(),
        "sums": step_state.sums.cpu().clone(),
        "probe_memory": {k: [t.cpu().clone() for t in v] for k, v in step_state.memory.items()},
        "run_states": [asdict(s) for s in run_states],
        "history": [pack_history(w.history) for w in writers],
        **facts,
    }


def restore(payload: dict, step_state, run_states, writers) -> tuple[int, int, float]:
    """Load a captured state in place (CUDA graphs keep pointing at the same tensors);
    return (completed steps, step of the last probe, training seconds so far)."""
    step_state.model.load_state_dict(payload["model"])
    if step_state.optimizer.buf is not None:
        step_state.optimizer.buf.copy_(payload["momentum"])
    step_state.step.fill_(payload["step"])
    step_state.sums.copy_(payload["sums"])
    device = step_state.sums.device
    step_state.memory.update({k: tuple(t.to(device) for t in v) for k, v in payload.get("probe_memory", {}).items()})
    for state, saved in zip(run_states, payload["run_states"]):
        saved["evals"] = [tuple(e) for e in saved["evals"]]
        state.__dict__.update(saved)
    for writer, packed in zip(writers, payload["history"]):
        writer.restore(unpack_history(packed))
    done = payload["step"]
    sampler = step_state.sampler
    sampler.start_epoch(done // sampler.steps_per_epoch)  # the loop starts an epoch only at its first step
    return done, payload["last_log"], payload["train_s"]


def pack_history(history: list[tuple[int, dict]]) -> dict:
    """A writer's history [(step, {tag: value})] as a few float64 tensors, one per set of
    tags (train, eval, ...): exact, and far smaller and faster to save than Python floats."""
    kinds: dict[tuple, list] = {}
    order = []
    for step, values in history:
        tags = tuple(values)
        rows = kinds.setdefault(tags, [])
        order.append(list(kinds).index(tags))
        rows.append([step, *values.values()])
    return {"kinds": [list(tags) for tags in kinds], "order": torch.tensor(order, dtype=torch.int64),
            "rows": [torch.tensor(rows, dtype=torch.float64) for rows in kinds.values()]}


def unpack_history(packed: dict) -> list[tuple[int, dict]]:
    rows = [iter(table.tolist()) for table in packed["rows"]]
    history = []
    for kind in packed["order"].tolist():
        step, *values = next(rows[kind])
        history.append((int(step), dict(zip(packed["kinds"][kind], values))))
    return history


# Periodic checkpoints (every train.checkpoint_every steps) are paced: one that falls
# due is skipped until train.checkpoint_min_s seconds of training have passed since the
# previous one (or the start), and 1/SHARE times the previous one's duration, so they
# take at most SHARE of the time. A checkpoint's cost grows with the runs trained
# together (64 runs of mnist_fig1: ~37 MB) while a GPU step barely does, so no fixed
# step interval is cheap for every group; a kill loses about checkpoint_min_s of
# training at most (a signal always checkpoints), and since resume is exact from any
# step, when a checkpoint falls changes no result. checkpoint_min_s=0: no pacing.
SHARE = 0.02


class Pacer:
    def __init__(self, min_s: float):
        self.min_s, self.cost, self.since = min_s, 0.0, time.monotonic()

    def due(self) -> bool:
        return self.min_s == 0 or time.monotonic() - self.since >= max(self.min_s, self.cost / SHARE)

    def timed(self, save) -> None:
        start = time.monotonic()
        save()
        self.since = time.monotonic()
        self.cost = self.since - start


STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGUSR1")
                     if hasattr(signal, name))


class StopSignals:
    """While a group trains, SIGINT (Ctrl-C), SIGTERM, SIGHUP and SIGUSR1 (SLURM's warning
    before a time limit) only set `received`: the loop checks it after each step, then
    checkpoints, writes the summaries (`interrupted`) and raises Interrupted. A second
    signal while that happens is noted and ignored, so a second Ctrl-C cannot lose the
    summaries (kill -9 still can stop it: the previous checkpoint stays valid)."""

    def __init__(self, log):
        self.log, self.received, self._previous = log, None, {}

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is threading.main_thread():  # Python's rule for handlers
            for sig in STOP_SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        name = signal.Signals(signum).name
        if self.received is None:
            self.received = signum
            self.log(f"{name}: stopping after this step; saving a checkpoint and the summaries "
                     f"(resume with `bnrepro resume`)")
        else:
            self.log(f"{name}: still saving the checkpoint and summaries; they will be written")

    def __exit__(self, *exc) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
