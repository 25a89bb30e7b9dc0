"""Checkpoints of a group of runs.

A checkpoint is the whole state of a group at a step boundary, so that a resumed run
continues bit for bit (on the CPU) where the checkpoint was taken:
- the flat parameters and every module buffer (BN running statistics, Batch Renorm's
  running_std, Algorithm 2's population statistics), the momentum buffer, RMSprop's and Adam's moments;
- the device step counter and the on-device sums of the current log interval (so a
  checkpoint may fall mid-interval), the step of the previous probe and of the last
  evaluation (a checkpoint at the last step may come before the end-of-run records);
- the data-order position: permutations are a pure function of (seed, epoch) (see
  stacked/rng.py), so the step alone says where each run is; dropout masks likewise;
- per run: its RunState (status, divergence step, eval history, last train scalars)
  and its writer's history (for the summary's first / final / median values);
- the training seconds so far (wall_time_s of the summary adds up across resumes);
- who wrote it: the commit (and whether the tree had changes), the hash of the code
  (provenance.code_hash), torch version and device type, and every earlier attempt whose work it carries (the summaries'
  `attempts`).

It lives in the group's first run directory (checkpoint.pt, one per group, replaced
in place) and is written through files.replace_atomically: a crash while writing leaves
the previous one valid. A checkpoint from another configuration, another bnrepro
version or checkpoint format, or other code (another code hash: the package's Python
files changed, committed or not; unless allowed) is refused with a message, never
loaded (another commit whose code hashes the same is said, and resumed); so is a file that is not a checkpoint at all.
"""

from __future__ import annotations

import errno
import io
import pickle
import time
import warnings
from dataclasses import asdict
from importlib import metadata
from pathlib import Path

import torch

from ..config import WHERE_KEYS, flatten, to_plain
from .files import read_summary, replace_atomically
from .provenance import tree_note
from ..config.status import FINISHED, KILLED, RUNNING  # noqa: F401 (FINISHED: checkpoint.FINISHED for callers)

FILE = "checkpoint.pt"
FORMAT = 1  # bump when the payload's layout changes


class CheckpointError(RuntimeError):
    """A checkpoint that must not be loaded (not a checkpoint, or of another configuration,
    version, format or commit)."""


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


def clear_leftovers(path: Path) -> None:
    """Delete the temporary files of checkpoint writes that never finished (a process
    killed while writing): only the group's lock holder saves or loads its checkpoint, so
    every such file beside it is a dead writer's."""
    for leftover in path.parent.glob(f".{path.name}.*.tmp"):
        leftover.unlink(missing_ok=True)


def save(path: Path, payload: dict) -> None:
    """Serialized in memory first, then written: a full disk is then an OSError naming
    ENOSPC (torch's own writer reports it as an `enforce fail` with no errno)."""
    clear_leftovers(path)
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    try:
        replace_atomically(path, lambda f: f.write(buffer.getbuffer()))
    except OSError as e:
        if e.errno != errno.ENOSPC:
            raise
        raise OSError(
            errno.ENOSPC,
            f"no space left on the device (ENOSPC) for the checkpoint ({buffer.getbuffer().nbytes} "
            "bytes); the last one written, if any, stays valid",
            str(path),
        ) from None


def unreadable(path: Path, error: Exception) -> str:
    """Why torch could not load `path`, in words (never torch's advice to load it unsafely)."""
    try:
        if path.stat().st_size == 0:
            return "the file is empty (0 bytes)"
    except OSError as e:
        return f"it cannot be read ({e.strerror})"
    with open(path, "rb") as f:
        if f.read(4) != b"PK\x03\x04":
            return "it is not a zip archive, as torch.save writes (not a checkpoint)"
    text = str(error).strip()
    if isinstance(error, pickle.UnpicklingError) or "weights_only" in text:
        return "it holds Python objects that a bnrepro checkpoint never holds, which are not loaded"
    first = text.split(". ")[0].splitlines()[0] if text else type(error).__name__
    return f"a damaged or truncated archive ({first})"


# What a payload must hold to be loaded (anything else is not a bnrepro checkpoint).
REQUIRED = {
    "format": int,
    "version": str,
    "runs": list,
    "configs": list,
    "step": int,
    "last_log": int,
    "train_s": float,
    "model": dict,
    "sums": torch.Tensor,
    "run_states": list,
    "history": list,
    "started": str,
    "resumed_from": list,
}


def load(
    path: Path,
    cfgs: list,
    run_names: list[str],
    identity: dict | None = None,
    allow_other_commit: bool = False,
    log=lambda message: None,
) -> dict | None:
    """The checkpoint at `path` if there is one and it belongs to these runs; None if none.
    identity: this process's (commit, dirty, code, torch, device), to compare with the writer's;
    allow_other_commit: resume even if the writer's code differs (`--allow-other-code`)."""
    clear_leftovers(path)
    if not path.is_file():
        return None
    try:
        with warnings.catch_warnings():  # torch's notes on pickle protocols: the reason below says it all
            warnings.simplefilter("ignore")
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise CheckpointError(f"{path}: not a readable bnrepro checkpoint: {unreadable(path, e)}") from None
    if not isinstance(payload, dict):
        raise CheckpointError(
            f"{path}: not a bnrepro checkpoint (it holds a {type(payload).__name__}, not the dict bnrepro writes)"
        )
    if "format" not in payload or "version" not in payload:
        raise CheckpointError(f"{path}: not a bnrepro checkpoint (a dict without bnrepro's format and version)")
    if payload.get("format") != FORMAT or payload.get("version") != bnrepro_version():
        raise CheckpointError(
            f"{path} was written by bnrepro {payload.get('version')} (checkpoint format {payload.get('format')}); "
            f"this is bnrepro {bnrepro_version()} (format {FORMAT}): it cannot be resumed by this version. "
            f"Resume with the version that wrote it, or start the runs again."
        )
    wrong = sorted(k for k, kind in REQUIRED.items() if not isinstance(payload.get(k), kind))
    if wrong:
        raise CheckpointError(f"{path}: not a bnrepro checkpoint: {', '.join(wrong)} missing or of the wrong type")
    _check_identity(path, payload.get("identity") or {}, identity or {}, allow_other_commit, log)
    if payload["runs"] != run_names:
        raise CheckpointError(f"{path} is the checkpoint of runs {payload['runs']}, not of {run_names}")
    if len(payload["configs"]) != len(cfgs) or not all(isinstance(c, dict) for c in payload["configs"]):
        raise CheckpointError(f"{path}: not a bnrepro checkpoint: its configs do not match its runs")
    for name, saved, cfg in zip(run_names, payload["configs"], cfgs):
        now = what_it_computes(cfg)
        differ = sorted(k for k in set(saved) | set(now) if saved.get(k) != now.get(k))
        if differ:
            shown = ", ".join(f"{k}: {saved.get(k)!r} in the checkpoint, {now.get(k)!r} now" for k in differ[:5])
            raise CheckpointError(
                f"{path}: run {name} was trained with another configuration ({shown}); refusing to resume it"
            )
    return payload


def _written_by(identity: dict) -> str:
    code = identity.get("code")
    return (
        f"commit {identity.get('commit', 'unknown')}{tree_note(identity.get('dirty'))}, "
        f"code {code[:12] if isinstance(code, str) else 'unrecorded'}"
    )


def _check_identity(path: Path, saved: dict, now: dict, allow_other_code: bool, log) -> None:
    """Other code (provenance.code_hash: the package's Python files, committed or not) is
    refused unless allowed, since a result would mix two versions of the code; another
    commit whose code hashes the same (a commit of docs, tests, scripts or results only) is
    said and resumed: the code that trains is the same, and the configuration is compared on
    its own (load). Another torch version or device is said, not refused. A checkpoint
    written before the code hash was recorded is compared by commit alone."""
    same_code = isinstance(saved.get("code"), str) and saved["code"] == now.get("code")
    other_commit = saved.get("commit") != now.get("commit")
    if same_code and other_commit:
        log(f"{path}: written by {_written_by(saved)}, resumed by {_written_by(now)}: another commit, the same code")
    elif other_commit or ("code" in saved and not same_code):
        if not allow_other_code:
            raise CheckpointError(
                f"{path} was written by other code ({_written_by(saved)}); this is {_written_by(now)}. "
                f"Resuming would mix two versions of the code in one result: resume with the code that "
                f"wrote it, or anyway with `bnrepro resume --allow-other-code` (each attempt's commit and code "
                f"are recorded in the summaries' `attempts`)."
            )
        log(f"{path}: written by {_written_by(saved)}, resumed by {_written_by(now)} (--allow-other-code)")
    for key, what in (("torch", "torch"), ("device", "device")):
        if saved.get(key) != now.get(key):
            log(
                f"{path}: written with {what} {saved.get(key)}, resumed with {now.get(key)}: "
                f"the continuation may differ in floating-point detail"
            )


def capture(cfgs, run_dirs, step_state, run_states, writers, last_log: int, train_s: float, **facts) -> dict:
    """The group's state after `step_state.step` completed steps (the fetcher drained), and
    `facts` the summaries carry over (when the run started, the steps it was resumed at,
    the step of the last evaluation, the writer's identity and the attempts so far)."""
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
        "moments": {name: t.cpu().clone() for name, t in optimizer.moments().items()},  # RMSprop's, Adam's
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
    for name, t in step_state.optimizer.moments().items():
        t.copy_(payload["moments"][name])
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
    return {
        "kinds": [list(tags) for tags in kinds],
        "order": torch.tensor(order, dtype=torch.int64),
        "rows": [torch.tensor(rows, dtype=torch.float64) for rows in kinds.values()],
    }


def unpack_history(packed: dict) -> list[tuple[int, dict]]:
    rows = [iter(table.tolist()) for table in packed["rows"]]
    history = []
    for kind in packed["order"].tolist():
        step, *values = next(rows[kind])
        history.append((int(step), dict(zip(packed["kinds"][kind], values))))
    return history


def earlier_attempts(saved: dict, summary: dict | None) -> list[dict]:
    """The attempts whose work a checkpoint carries, each with how it ended. The checkpoint
    has the attempt that wrote it as still `running`, at the checkpoint's step; the first
    run's summary.json says how that attempt ended if it could still write it (interrupted,
    failed); if it could not, it was killed (kill -9, power loss) after its last summary. One
    whose summary says `finished` was killed too: a finished attempt deletes its checkpoint
    last, so its checkpoint is resumed only when it died writing its end-of-run files."""
    attempts = [dict(a) for a in saved.get("attempts", [])]
    if attempts and attempts[-1].get("ended_as") == RUNNING:
        last = attempts[-1]
        said = next(
            (
                a
                for a in (summary or {}).get("attempts") or []
                if isinstance(a, dict) and (a.get("pid"), a.get("started")) == (last.get("pid"), last.get("started"))
            ),
            {},
        )
        if said.get("ended_as", RUNNING) not in (RUNNING, "finished"):
            last.update({k: said.get(k) for k in ("ended", "ended_as", "signal", "error")})
        else:
            last.update(ended=(summary or {}).get("updated"), ended_as=KILLED)
        last["steps_to"] = saved["step"]  # what carried over; anything after was lost
    return attempts


# Periodic checkpoints are paced by time: one falls due after the first step at which
# train.checkpoint_min_s seconds of training have passed since the previous one (or the
# start), and 1/SHARE times the previous one's duration, so they take at most SHARE of
# the time. So a kill -9 loses at most max(checkpoint_min_s, 50 x a checkpoint's
# duration) of training, plus the step under way. A checkpoint's cost grows with the runs
# trained together (64 runs of mnist_fig1: ~37 MB) while a GPU step barely does, so no
# fixed step interval is cheap for every group; since resume is exact from any step,
# when a checkpoint falls changes no result. train.checkpoint_every=0 turns periodic
# checkpoints off (a signal still checkpoints); checkpoint_min_s=0 puts them at every
# checkpoint_every-th step instead, unpaced (tests use that to place one exactly).
SHARE = 0.02


class Pacer:
    def __init__(self, min_s: float, every: int):
        self.min_s, self.every, self.cost, self.since = min_s, every, 0.0, time.monotonic()

    def due(self, step: int) -> bool:
        if not self.every:
            return False
        if self.min_s == 0:
            return step % self.every == 0
        return time.monotonic() - self.since >= max(self.min_s, self.cost / SHARE)

    def timed(self, save) -> None:
        start = time.monotonic()
        save()
        self.since = time.monotonic()
        self.cost = self.since - start
