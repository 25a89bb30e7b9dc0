"""Two writers on one run: the group lock, its heartbeat, what a reader makes of it, and
file writes that two processes (or a planted link) cannot corrupt."""

from __future__ import annotations

import json
import os
import platform
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from bnrepro.report.summaries import shown_status
from bnrepro.run import files, lock
from bnrepro.run.loop import train_runs

from conftest import tiny

quiet = dict(log=lambda message: None)


@pytest.mark.slow  # over 1 s: the fast set keeps its one-minute budget
def test_a_group_trains_under_its_lock_and_a_second_trainer_is_refused_naming_the_holder(tmp_path, monkeypatch):
    run = tmp_path / "run"
    with lock.GroupLock(run, "runs run") as held:
        record = json.loads((run / lock.FILE).read_text())
        assert (record["pid"], record["host"]) == (os.getpid(), platform.node()) and record["beat"]
        assert lock.holder(run)["pid"] == os.getpid()
        with pytest.raises(
            lock.GroupBusy, match=f"runs run: being trained by pid {os.getpid()} on host {platform.node()}"
        ):
            train_runs([tiny()], [run], **quiet)
        assert not (run / "summary.json").exists()  # refused before touching anything
        assert held.fd is not None
    assert not (run / lock.FILE).exists() and lock.holder(run) is None  # released, and the file gone

    seen = []
    real = lock.GroupLock.acquire

    def acquire(self):
        real(self)
        seen.append(lock.holder(self.path.parent))

    monkeypatch.setattr(lock.GroupLock, "acquire", acquire)
    train_runs([tiny()], [run], **quiet)  # `bnrepro train` holds it too, for the whole run
    assert seen and seen[0]["pid"] == os.getpid() and not (run / lock.FILE).exists()


def test_a_lock_left_by_a_killed_process_is_not_held_and_is_taken_over(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / lock.FILE).write_text(json.dumps({"pid": 2**22 + 1, "host": platform.node()}))  # kill -9 left it
    assert lock.holder(run) is None
    (summary,) = train_runs([tiny()], [run], **quiet)
    assert summary["status"] == "completed"


def test_a_slow_healthy_run_is_running_and_a_dead_one_killed_whatever_the_age(tmp_path):
    """The lock decides, not the age of the summary (a step may take longer than STALE_S)."""
    run = tmp_path / "run"
    old = (datetime.now(timezone.utc) - timedelta(hours=5)).isoformat()
    summary = {"status": "running", "updated": old, "host": "elsewhere", "pid": 1, "group": ["run"]}
    with lock.GroupLock(run):
        assert shown_status(summary, run_dir=run) == "running"
    (run / lock.FILE).write_text("{}")  # the file a killed holder leaves: nobody holds it
    fresh = {**summary, "updated": datetime.now(timezone.utc).isoformat()}
    assert shown_status(fresh, run_dir=run) == "killed"
    other = tmp_path / "other"
    other.mkdir()
    with lock.GroupLock(run):  # a second run of the group: its lock is in the group's first directory
        assert shown_status({**summary, "group": ["run", "other"]}, run_dir=other) == "running"


@pytest.mark.slow  # over 1 s: the fast set keeps its one-minute budget
def test_the_heartbeat_is_on_a_clock_not_at_probe_steps(tmp_path, monkeypatch):
    monkeypatch.setattr(lock, "BEAT_S", 0.05)
    beats = set()
    with lock.GroupLock(tmp_path / "run"):
        deadline = time.monotonic() + 5
        while len(beats) < 2 and time.monotonic() < deadline:
            beats.add(json.loads((tmp_path / "run" / lock.FILE).read_text())["beat"])
            time.sleep(0.3)
    assert len(beats) >= 2


def test_without_flock_a_fresh_heartbeat_keeps_a_second_trainer_out(tmp_path, monkeypatch):
    """Lustre without -o flock refuses flock (ENOSYS): the heartbeat stands in for it."""
    import errno
    import fcntl

    def no_flock(fd, operation):
        raise OSError(errno.ENOSYS, "Function not implemented")

    run = tmp_path / "run"
    run.mkdir()
    beat = datetime.now(timezone.utc).isoformat(timespec="seconds")
    (run / lock.FILE).write_text(json.dumps({"pid": 4321, "host": "node7", "beat": beat}))
    monkeypatch.setattr(fcntl, "flock", no_flock)
    assert lock.holder(run)["host"] == "node7"
    with pytest.raises(lock.GroupBusy, match="pid 4321 on host node7.*refuses flock"):
        lock.GroupLock(run).acquire()
    stale = (datetime.now(timezone.utc) - timedelta(seconds=lock.STALE_S + 60)).isoformat(timespec="seconds")
    (run / lock.FILE).write_text(json.dumps({"pid": 4321, "host": "node7", "beat": stale}))
    warnings = []
    with lock.GroupLock(run, log=warnings.append):
        assert "refuses flock" in warnings[0]


def test_two_writers_of_one_file_never_collide_on_a_temporary_name(tmp_path):
    target = tmp_path / "summary.json"
    errors = []

    def write(n):
        try:
            for i in range(150):
                files.atomic_write(target, json.dumps({"writer": n, "i": i}))
        except Exception as e:  # the shared .summary.json.tmp of old: FileNotFoundError on the rename
            errors.append(e)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and json.loads(target.read_text())["i"] == 149
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]  # no temporary left behind


def test_a_planted_link_at_a_temporary_name_is_never_written_through(tmp_path, monkeypatch):
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (tmp_path / ".summary.json.tmp").symlink_to(victim)  # the fixed name of old
    monkeypatch.setattr(files.secrets, "token_hex", lambda n: "0" * (2 * n))
    planted = tmp_path / f".summary.json.{os.getpid()}.00000000.tmp"
    planted.symlink_to(victim)  # even one that guesses the new name: O_EXCL | O_NOFOLLOW refuse it
    draws = iter(["00000000", "11111111"])
    monkeypatch.setattr(files.secrets, "token_hex", lambda n: next(draws))
    files.atomic_write(tmp_path / "summary.json", "{}")
    assert victim.read_text() == "precious" and (tmp_path / "summary.json").read_text() == "{}"


def test_atomic_writes_are_fsynced_file_and_directory(tmp_path, monkeypatch):
    synced = []
    real = os.fsync

    def fsync(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    files.atomic_write(tmp_path / "summary.json", "{}")
    assert len(synced) == 2 and synced[1] == str(tmp_path) and ".summary.json." in synced[0]
