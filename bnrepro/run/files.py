"""Writing files so that a reader never sees half of one, and JSON that stays valid."""

from __future__ import annotations

import json
import math
import os
import secrets
from pathlib import Path
from typing import Callable, IO

import numpy as np

PLANNED_RUNS = "planned_runs.json"  # in a sweep directory: its run directories' names, written before training


def replace_atomically(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write `path` through `write(file)` so that it is either the old file or the whole new
    one, even after a crash: a temporary file beside it, fsync'ed, renamed over it, then an
    fsync of the directory (so the rename itself survives a power loss).

    The temporary name is unique (pid and random) and opened with O_EXCL | O_NOFOLLOW: two
    processes writing the same file never share one (the later rename wins, whole), and a
    planted file or symbolic link at the temporary name is never written through."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    while True:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp, flags, 0o666)  # the umask applies, as for any file the run writes
            break
        except FileExistsError:
            continue  # someone has that name: draw another
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, text: str) -> None:
    data = text.encode()
    replace_atomically(path, lambda f: f.write(data))


def read_summary(run_dir: Path) -> dict | None:
    """A run directory's summary.json, or None where there is none yet (or it cannot be read)."""
    try:
        found = json.loads((run_dir / "summary.json").read_text())
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def json_safe(value):
    """NaN and infinities become null: summary.json stays valid JSON."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value
