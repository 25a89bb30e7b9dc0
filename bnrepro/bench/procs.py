"""Measurements in processes of their own, several at once where a row asks for it.

Each process sets itself up (imports, data, model), says it is ready and waits; once all are
ready they are told to go together, and each reports the steps it timed between two
time.monotonic() readings (one clock for the whole machine). A group's rate is its total
run-steps over the span from the first start to the last end: the wall time the work took
with every process running, not the sum of rates measured at different moments.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REFERENCE_SOURCE = Path(__file__).with_name("reference.py")


def reference_command(task: dict) -> list[str]:
    """A process that imports only torch (and torchvision): bench/reference.py's source run as
    `python -c`, so not even the bnrepro package's __init__ runs in it."""
    return [sys.executable, "-c", REFERENCE_SOURCE.read_text(), json.dumps(task)]


def worker_command(task: dict) -> list[str]:
    """A process that trains a bnrepro pack (bench/worker.py)."""
    return [sys.executable, "-m", "bnrepro.bench.worker", json.dumps(task)]


def run_together(commands: list[list[str]], threads: int | None, runs: list[int]) -> float:
    """Start the commands, let them time together; return the group's run-steps/s over the
    span (runs[i]: the runs process i trains at once). threads: OMP_NUM_THREADS in their
    environment (None: the caller's environment unchanged)."""
    results = _time_together(commands, threads)
    span = max(r["end"] for r in results) - min(r["start"] for r in results)
    return sum(k * r["steps"] for k, r in zip(runs, results)) / span


def rates_side_by_side(commands: list[list[str]], threads: int | None) -> tuple[list[float], float]:
    """Start the commands (one per core), let them time together; return each one's steps/s over
    its own span, and the share of the first one's span during which every other one was timing
    too. Two loops timed over the same seconds meet the same spell of the machine, so their ratio
    holds where rates measured one after another drift apart (up to ~25% between back-to-back
    runs on the shared 2-core CPU, 7 Dec). A bnrepro worker starts its clock after setting up
    (~1 s after "go"), a plain loop at "go": give the plain loop the longer run."""
    results = _time_together(commands, threads)
    first = results[0]
    shared = min(r["end"] for r in results) - max(r["start"] for r in results)
    return [r["steps"] / (r["end"] - r["start"]) for r in results], max(shared, 0.0) / (first["end"] - first["start"])


def _time_together(commands: list[list[str]], threads: int | None) -> list[dict]:
    """Each process's report ({"steps", "start", "end"}), the processes told to go together."""
    env = dict(os.environ)
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    with tempfile.TemporaryDirectory() as tmp:
        errors = [Path(tmp) / f"stderr{i}" for i in range(len(commands))]
        procs = [
            subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err.open("w"), text=True, env=env
            )
            for command, err in zip(commands, errors)
        ]
        try:
            for proc, err in zip(procs, errors):
                _expect(proc, err, "ready")
            for proc in procs:
                proc.stdin.write("go\n")
                proc.stdin.flush()
            results = [_expect(proc, err, "steps") for proc, err in zip(procs, errors)]
            if threads is not None and any(r.get("threads", threads) != threads for r in results):
                raise RuntimeError(f"bench: asked for {threads} threads, the processes ran on {results}")
            for proc, err in zip(procs, errors):
                if proc.wait() != 0:
                    raise RuntimeError(_failure(proc, err))
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
    return results


def _expect(proc: subprocess.Popen, err: Path, key: str) -> dict:
    line = proc.stdout.readline()
    try:
        message = json.loads(line)
    except json.JSONDecodeError:
        message = {}
    if key not in message:
        proc.kill()
        proc.wait()
        raise RuntimeError(_failure(proc, err, f"expected {{{key!r}: ...}} on stdout, got {line.strip()[:200]!r}"))
    return message


def _failure(proc: subprocess.Popen, err: Path, what: str = "") -> str:
    tail = err.read_text()[-2000:].strip()
    return f"bench: a measuring process failed (exit status {proc.returncode}) {what}\n{tail}"
