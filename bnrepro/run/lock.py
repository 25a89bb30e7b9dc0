"""One writer per group of runs: an exclusive lock held for as long as the group trains.

`bnrepro train` (every pack) and `bnrepro resume` (every group) hold the lock of the group
they train: the file `train.lock` in the group's first run directory, locked with
flock(LOCK_EX) and holding who has it (pid, host, when it started) and a heartbeat
rewritten every BEAT_S seconds by a thread (so a slow step never looks like a dead run).
A second process that wants the group gets GroupBusy naming the holder; a reader
(`bnrepro table`, `bnrepro resume`) asks `holder` whether a `running` run still has its
process. The kernel drops the lock when its process dies, even by kill -9: a lock file
that nobody holds is a killed run's, and the next trainer takes it over.

What flock guarantees where: on a local filesystem, exclusion between the processes
of one machine. On NFS (v3 with lockd, v4) Linux turns flock into a whole-file POSIX lock
that the server arbitrates, so it excludes processes on different clients too, unless
the filesystem is mounted with `local_lock=flock` or `nolock` (then per client only).
On Lustre, only with the `flock` mount option; `localflock` excludes per client only,
and without either flock fails (ENOSYS): there, and wherever flock is refused, the
lock is replaced by the heartbeat: a holder whose beat is younger than STALE_S counts as
alive (a warning says so). A lost lock (a client cut off from the NFS server) is not
detected by the holder.

The lock file is unlinked by its holder on release, while still locked; a process that
opened the old file before that sees, after locking it, that the path no longer names
it, and starts over (so two processes never both hold the lock of one group).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import platform
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

FILE = "train.lock"
BEAT_S = 30.0  # the holder rewrites its heartbeat this often
STALE_S = 4 * BEAT_S  # without flock, a beat older than this is a dead holder's
TAKE_S = 1.0  # how long acquire retries: a reader's probe holds a shared lock for an instant
UNSUPPORTED = (errno.ENOLCK, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL)
_OPEN = os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC


class GroupBusy(RuntimeError):
    """The group is being trained by another process."""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def path_for(first_run_dir: Path) -> Path:
    return first_run_dir / FILE


def describe(holder: dict) -> str:
    return (
        f"pid {holder.get('pid', '?')} on host {holder.get('host', '?')} "
        f"(since {holder.get('started', '?')}, last heartbeat {holder.get('beat', '?')})"
    )


def _read(fd: int) -> dict:
    """The holder's record; {} while it is being rewritten (or was never written)."""
    for _ in range(3):
        try:
            found = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
            return found if isinstance(found, dict) else {}
        except ValueError:
            time.sleep(0.01)
    return {}


def _beat_fresh(holder: dict) -> bool:
    try:
        beat = datetime.fromisoformat(holder["beat"])
    except (KeyError, TypeError, ValueError):
        return False
    return (datetime.now(timezone.utc) - beat).total_seconds() <= STALE_S


def holder(first_run_dir: Path) -> dict | None:
    """Who trains the group whose first run directory this is: their record if the lock is
    held (or, where flock is refused, if its heartbeat is fresh); None if nobody does."""
    path = path_for(first_run_dir)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None  # no lock file: nobody trains it (or it is not a file: not ours)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # shared: works on a read-only NFS file too
        except BlockingIOError:
            return _read(fd) or {"pid": "?", "host": "?"}
        except OSError as e:
            if e.errno not in UNSUPPORTED:
                raise
            found = _read(fd)
            return found if _beat_fresh(found) else None
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


class GroupLock:
    """`with GroupLock(first_run_dir, what, log):` hold the group's lock (GroupBusy if taken)."""

    def __init__(self, first_run_dir: Path, what: str = "", log=lambda message: None):
        self.path, self.what, self.log = path_for(first_run_dir), what or str(first_run_dir), log
        self.fd: int | None = None
        self.record: dict = {}
        self._stop = threading.Event()
        self._beats: threading.Thread | None = None

    def __enter__(self) -> "GroupLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def acquire(self) -> None:
        deadline = time.monotonic() + TAKE_S
        self.path.parent.mkdir(parents=True, exist_ok=True)  # train_runs may be handed directories to make
        while True:
            fd = os.open(self.path, os.O_RDWR | _OPEN, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                found = _read(fd)
                os.close(fd)
                if time.monotonic() < deadline:
                    time.sleep(0.05)
                    continue
                raise GroupBusy(f"{self.what}: being trained by {describe(found)}; its lock is {self.path}") from None
            except OSError as e:
                if e.errno not in UNSUPPORTED:
                    os.close(fd)
                    raise
                found = _read(fd)
                if _beat_fresh(found) and found.get("pid") != os.getpid():
                    os.close(fd)
                    raise GroupBusy(
                        f"{self.what}: its heartbeat says {describe(found)} trains it "
                        f"({self.path}; this filesystem refuses flock)"
                    ) from None
                self.log(
                    f"warning: {self.path}: the filesystem refuses flock ({e.strerror}); "
                    f"only the heartbeat keeps two processes from training this group at once"
                )
            if self._still_named(fd):
                break
            os.close(fd)  # its holder released it (and unlinked it) meanwhile: take the new one
        self.fd = fd
        self.record = {"pid": os.getpid(), "host": platform.node(), "started": _now()}
        self._write()
        self._stop.clear()
        self._beats = threading.Thread(target=self._beat, name="bnrepro-heartbeat", daemon=True)
        self._beats.start()

    def _still_named(self, fd: int) -> bool:
        try:
            return os.stat(self.path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            return False

    def _write(self) -> None:
        data = json.dumps({**self.record, "beat": _now()}).encode()
        os.pwrite(self.fd, data.ljust(256), 0)  # in place: the file's identity is the lock
        os.ftruncate(self.fd, max(len(data), 256))

    def _beat(self) -> None:
        while not self._stop.wait(BEAT_S):
            try:
                self._write()
            except OSError:
                pass  # a full disk: the flock, not the beat, is what counts

    def release(self) -> None:
        if self.fd is None:
            return
        self._stop.set()
        if self._beats is not None:
            self._beats.join()
        try:
            if self._still_named(self.fd):
                self.path.unlink()  # while still locked: see the module's last paragraph
        except OSError:
            pass
        os.close(self.fd)  # releases the flock
        self.fd = None
