"""Faults at the edges, done to real `bnrepro` processes (issue 28): other code than the
checkpoint's, a resume beside a running train, hostile summaries and pack files, a full
disk, a read-only sweep, unreadable checkpoints and a killed checkpoint write's leftovers.
The disk-full and read-only tests need a tmpfs mount (root); they are skipped with the
reason where the machine refuses it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bnrepro.launch.outcomes import BUSY_EXIT
from conftest import REPO, bnrepro
from test_launchers import TINY, slow_steps

pytestmark = pytest.mark.slow
SWEEP = ["model.bn=none,pre", "seed=1,2"]  # two packs of two runs


def summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


def edit_summary(run_dir: Path, **changes) -> None:
    (run_dir / "summary.json").write_text(json.dumps({**summary(run_dir), **changes}))


def popen(args: list[str], cwd: Path, env: dict | None = None, *, command: str = "train") -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "bnrepro", command, *args],
        cwd=cwd,
        env={**os.environ, "PYTHONWARNINGS": "ignore", **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until(condition, proc: subprocess.Popen, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[1][-3000:]
        time.sleep(0.05)


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A finished sweep of 4 runs in 2 packs; tests copy it and mark runs unfinished."""
    sweep = tmp_path_factory.mktemp("finished") / "sweep"
    bnrepro("train", *TINY, "train.steps=20", *SWEEP, f"hydra.sweep.dir={sweep}", cwd=sweep.parent, check=True)
    return sweep


def unfinished_copy(finished: Path, tmp_path: Path, where: Path | None = None) -> Path:
    sweep = shutil.copytree(finished, (where or tmp_path) / "sweep")
    for run in sweep.iterdir():
        if run.is_dir() and not run.name.startswith("."):
            edit_summary(run, status="interrupted")
    return sweep


def test_other_code_than_the_checkpoints_is_refused_unless_allowed_and_both_are_in_attempts(tmp_path):
    """The same commit (here: no git at all) with an uncommitted change to the optimizer."""
    code = tmp_path / "code"
    shutil.copytree(REPO / "bnrepro", code / "bnrepro", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "conf", code / "conf")
    env = slow_steps(tmp_path, 0.004)
    env["PYTHONPATH"] = os.pathsep.join([str(code), env["PYTHONPATH"]])
    sweep = tmp_path / "sweep"
    proc = popen(
        [
            *TINY,
            "train.steps=2000",
            "train.checkpoint_every=50",
            "train.checkpoint_min_s=0",
            "seed=1",
            f"hydra.sweep.dir={sweep}",
        ],
        tmp_path,
        env,
    )
    wait_until(lambda: (sweep / "seed=1" / "checkpoint.pt").exists(), proc)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=300)
    optim = code / "bnrepro" / "stacked" / "optim.py"
    optim.write_text(optim.read_text() + "\n# an uncommitted change\n")
    refused = bnrepro("resume", str(sweep), cwd=tmp_path, env=env)
    assert refused.returncode == 1 and "written by other code" in refused.stderr, refused.stderr[-3000:]
    assert "--allow-other-code" in refused.stderr and summary(sweep / "seed=1")["status"] == "interrupted"
    bnrepro("resume", str(sweep), "--allow-other-commit", cwd=tmp_path, env=env, check=True)  # the old name
    done = summary(sweep / "seed=1")
    first, second = done["attempts"]
    assert done["status"] == "completed" and first["commit"] == second["commit"]
    assert first["code"] != second["code"] and len(first["code"]) == 64


def test_a_resume_beside_a_running_train_and_the_train_each_skip_the_group_the_other_trains(tmp_path):
    sweep = tmp_path / "sweep"
    env = slow_steps(tmp_path, 0.004)
    train = popen(
        [*TINY, "train.steps=1500", "train.eval_every=500", "model.bn=none,pre", "seed=1", f"hydra.sweep.dir={sweep}"],
        tmp_path,
        env,
    )
    first = sweep / "bn=none_seed=1"
    wait_until(lambda: (first / "summary.json").exists() and summary(first)["status"] == "running", train)
    resume = popen([str(sweep)], tmp_path, env, command="resume")  # takes the pending pack bn=pre
    (_, train_err), (_, resume_err) = train.communicate(timeout=300), resume.communicate(timeout=300)
    assert train.returncode == BUSY_EXIT, train_err[-3000:]  # it reached bn=pre while the resume trained it
    assert "skipped, busy (try later): runs bn=pre_seed=1: being trained by pid" in train_err
    assert resume.returncode == BUSY_EXIT, resume_err[-3000:]
    assert f"skipped, busy (try later): runs bn=none_seed=1: being trained by pid {train.pid}" in resume_err
    for err in (train_err, resume_err):
        assert "Traceback" not in err and "GroupBusy" not in err and "restart-group" not in err
    assert summary(first)["status"] == summary(sweep / "bn=pre_seed=1")["status"] == "completed"


def test_hostile_summary_groups_stop_only_their_own_runs(finished, tmp_path):
    sweep = unfinished_copy(finished, tmp_path)
    shutil.rmtree(sweep / ".packs")  # membership from the summaries alone
    edit_summary(sweep / "bn=none_seed=1", group=5)
    done = bnrepro("resume", str(sweep), cwd=tmp_path, check=True)  # its sibling's group names it: trained there
    assert "not resumed" not in done.stderr
    assert {summary(run)["status"] for run in sweep.iterdir() if run.is_dir()} == {"completed"}

    sweep = unfinished_copy(finished, tmp_path / "again")
    shutil.rmtree(sweep / ".packs")
    edit_summary(sweep / "bn=none_seed=1", group=5)
    edit_summary(sweep / "bn=none_seed=2", group={"a": 1})
    refused = bnrepro("resume", str(sweep), cwd=tmp_path)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr, refused.stderr[-3000:]
    assert "2 problem(s), 1 other group(s) resumed" in refused.stderr
    assert "bn=none_seed=1: its summary's group 5: 5: not a list of run directory names" in refused.stderr
    assert summary(sweep / "bn=pre_seed=2")["status"] == "completed"
    assert summary(sweep / "bn=none_seed=1")["status"] == "interrupted"


def test_a_pack_file_naming_a_run_twice_is_not_used(finished, tmp_path):
    sweep = unfinished_copy(finished, tmp_path)
    pack_file = sweep / ".packs" / "0" / "pack.json"
    plain = json.loads(pack_file.read_text())
    plain["runs"][1] = plain["runs"][0]  # bn=none_seed=1 twice, bn=none_seed=2 left out
    pack_file.write_text(json.dumps(plain))
    done = bnrepro("resume", str(sweep), cwd=tmp_path)
    assert done.returncode == 1 and "names bn=none_seed=1 twice" in done.stderr, done.stderr[-3000:]
    assert "grouped by their summaries instead" in done.stderr
    for run in ("bn=none_seed=1", "bn=none_seed=2"):  # each trained once, by its summaries' group
        assert summary(sweep / run)["status"] == "completed"
        assert summary(sweep / run)["attempts"][-1]["steps_from"] == 0
    from bnrepro.launch.sweep import train_pack

    with pytest.raises(ValueError, match="twice"):
        train_pack(pack_file.parent, sweep)  # a launcher's job reading it: refused before any training


def test_unreadable_checkpoints_say_why_and_a_killed_writes_leftovers_go(finished, tmp_path):
    sweep = unfinished_copy(finished, tmp_path)
    (sweep / "bn=none_seed=1" / "checkpoint.pt").write_bytes(b"")
    (sweep / "bn=pre_seed=1" / "checkpoint.pt").write_bytes(b"\x80\x04not a zip")
    leftover = sweep / "bn=pre_seed=1" / ".checkpoint.pt.12345.0badf00d.tmp"  # a write killed midway
    leftover.write_bytes(b"PK\x03\x04 half")
    done = bnrepro("resume", str(sweep), cwd=tmp_path)
    assert done.returncode == 1
    assert "checkpoint.pt: not a readable bnrepro checkpoint: the file is empty (0 bytes)" in done.stderr
    assert "it is not a zip archive, as torch.save writes" in done.stderr
    assert "2 problem(s), no group resumed" in done.stderr and "(the others were)" not in done.stderr
    assert "weights_only" not in done.stderr and "()" not in done.stderr
    assert not leftover.exists()


@pytest.fixture
def tmpfs(tmp_path):
    mount = tmp_path / "mnt"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2500k", "tmpfs", str(mount)], capture_output=True, text=True
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.strip() or made.returncode}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def test_a_full_disk_is_named_enospc_in_the_failed_summary(tmp_path, tmpfs):
    sweep = tmpfs / "sweep"  # 3 layers of 500 units: a checkpoint of ~3.5 MB on a 2.5 MB disk
    done = bnrepro(
        "train",
        *TINY,
        "model.width=500",
        "model.depth=3",
        "train.steps=30",
        "train.checkpoint_every=10",
        "train.checkpoint_min_s=0",
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
    )
    assert done.returncode == 1, done.stderr[-3000:]
    failed = summary(sweep / "seed=0")
    assert failed["status"] == "failed" and "ENOSPC" in failed["error"], failed["error"]
    assert "enforce fail" not in failed["error"] and not list((sweep / "seed=0").glob(".checkpoint.pt.*"))


def test_a_read_only_sweep_says_no_group_resumed(finished, tmp_path, tmpfs):
    sweep = unfinished_copy(finished, tmp_path, where=tmpfs)
    remount = subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], capture_output=True, text=True)
    if remount.returncode != 0:
        pytest.skip(f"cannot remount read-only: {remount.stderr.strip()}")
    done = bnrepro("resume", str(sweep), cwd=tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "2 problem(s), no group resumed" in done.stderr and "Read-only file system" in done.stderr
    assert "(the others were)" not in done.stderr
