"""scripts/slurm_cluster.sh runs as root: it must refuse a state directory someone else
could have planted, and never signal a pid that a planted pid file names."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from conftest import REPO

SCRIPT = REPO / "scripts" / "slurm_cluster.sh"
NOBODY = 65534

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the script's checks are about what root trusts")


def script(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if k not in ("BNREPRO_SLURM_DIR", "SLURM_CONF")}
    return subprocess.run(
        ["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=60, env={**full, **(env or {})}
    )


def safe_dir(tmp_path, name="state"):
    path = tmp_path / name
    path.mkdir(mode=0o700)
    return path


@pytest.mark.parametrize(
    "plant, message",
    [
        (lambda d: os.chown(d, NOBODY, -1), "owned by uid 65534, not root"),
        (lambda d: os.chmod(d, 0o777), "writable by group or others"),
        (lambda d: os.chmod(d, 0o770), "writable by group or others"),
    ],
)
def test_start_refuses_a_state_directory_root_does_not_own_alone(tmp_path, plant, message):
    state = safe_dir(tmp_path)
    plant(state)
    done = script("start", str(state))
    assert done.returncode == 1 and message in done.stderr and done.stdout == ""
    assert list(state.iterdir()) == []  # no slurm.conf written, nothing started


def test_start_refuses_a_link_and_a_directory_under_someone_elses(tmp_path):
    real = safe_dir(tmp_path, "real")
    (tmp_path / "link").symlink_to(real)
    done = script("start", str(tmp_path / "link"))
    assert done.returncode == 1 and "symbolic link" in done.stderr
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o755)
    os.chown(theirs, NOBODY, -1)  # they could swap anything below it
    done = script("start", str(theirs / "state"))
    assert done.returncode == 1 and "owned by uid 65534, not root" in done.stderr
    assert list(theirs.iterdir()) == [] and list(real.iterdir()) == []


def test_stop_never_signals_the_pid_a_planted_pid_file_names(tmp_path):
    state = safe_dir(tmp_path)
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        for daemon in ("slurmctld", "slurmd", "munged"):
            (state / f"{daemon}.pid").write_text(f"{bystander.pid}\n")
        done = script("stop", str(state))
        assert done.returncode == 0, done.stderr
        time.sleep(0.2)
        assert bystander.poll() is None  # still alive: the files named a `sleep`, not our daemons
        assert "not a live slurmctld of this cluster; not signalled" in done.stderr
    finally:
        bystander.kill()
        bystander.wait()


def test_without_a_state_directory_stop_and_status_ask_which_cluster():
    """There is no fixed default any more (it was /tmp/bnrepro-slurm); `start` makes one with mktemp -d."""
    for command in ("stop", "status"):
        done = script(command)
        assert done.returncode == 1 and "which cluster?" in done.stderr
