"""Sweeps through Hydra's launchers: the sweeper packs compatible runs, the launcher runs
packs. The basic launcher (in-process), joblib (parallel processes) and submitit_slurm
(a real single-node SLURM cluster from scripts/slurm_cluster.sh) give the same per-run
results. SLURM tests are skipped, with the reason, where the cluster cannot start."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from conftest import REPO, bnrepro

TINY = [
    "data=synthetic",
    "data.synthetic_train=256",
    "data.synthetic_test=128",
    "device=cpu",
    "model.depth=2",
    "model.width=16",
    "train.batch_size=16",
    "train.log_every=10",
    "train.eval_every=10",
    "train.progress=false",
    "probes.hist_every=0",
]
SWEEP = ["model.bn=none,pre", "seed=1,2"]  # 4 runs in 2 packs (bn differs: not batchable)


def sweep_runs(out: Path) -> dict[str, Path]:
    (sweep,) = [p for p in out.iterdir() if p.is_dir()]
    (sweep,) = [p for p in sweep.iterdir() if p.is_dir()]
    return {p.name: p for p in sweep.iterdir() if p.is_dir() and not p.name.startswith(".")}


def assert_same_runs(a: dict[str, Path], b: dict[str, Path]) -> None:
    """Every run completed in both, with the same logged values. Thread counts differ between
    launchers (joblib gives each worker a share of the cores), so values are compared to
    float32 summation-order noise: relative 1e-4, and locations of BN'd layer inputs in
    units of the layer's std."""
    assert sorted(a) == sorted(b) and len(a) == 4
    for name in a:
        summaries = [json.loads((d[name] / "summary.json").read_text()) for d in (a, b)]
        assert [s["status"] for s in summaries] == ["completed", "completed"], name
        assert summaries[0]["steps_done"] == summaries[1]["steps_done"]
        x, y = (pd.read_csv(d[name] / "scalars.csv") for d in (a, b))
        assert list(x.columns) == list(y.columns) and list(x["step"]) == list(y["step"])
        for column in x.columns:
            layer, _, stat = column.rpartition("/")
            scale = y.get(f"{layer}/std") if column.startswith("act/") and stat != "std" else None
            tolerance = 1e-4 * (scale.abs() if scale is not None else y[column].abs()) + 1e-7
            assert (x[column].isna() == y[column].isna()).all(), (name, column)  # same steps logged
            close = ((x[column] - y[column]).abs() <= tolerance) | x[column].isna()
            assert close.all(), (name, column)


@pytest.fixture(scope="module")
def local_runs(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("local") / "runs"
    bnrepro("train", *TINY, "train.steps=20", *SWEEP, f"out_dir={out}", "name=launch", cwd=out.parent, check=True)
    return sweep_runs(out)


@pytest.mark.slow
def test_the_sweeper_hands_the_launcher_one_job_per_pack(local_runs):
    packs = sorted((next(iter(local_runs.values())).parent / ".packs").glob("*/pack.json"))
    runs = [[r["name"] for r in json.loads(p.read_text())["runs"]] for p in packs]
    assert runs == [["bn=none_seed=1", "bn=none_seed=2"], ["bn=pre_seed=1", "bn=pre_seed=2"]]


@pytest.mark.slow
def test_joblib_trains_packs_in_parallel_processes_with_the_same_results(local_runs, tmp_path):
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher", reason="pip install -e '.[joblib]'")
    out = tmp_path / "runs"
    done = bnrepro(
        "train",
        *TINY,
        "train.steps=20",
        *SWEEP,
        f"out_dir={out}",
        "name=launch",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        cwd=tmp_path,
        check=True,
    )
    assert done.stderr.count("training 2 runs together") == 2
    assert_same_runs(sweep_runs(out), local_runs)


@pytest.mark.slow
@pytest.mark.parametrize("target", ["parent", "worker"])
def test_ctrl_c_under_joblib_checkpoints_the_packs_and_breaks_no_pool(tmp_path, target):
    """SIGINT to the sweep's process (its workers are told) or to one worker (the other pack
    goes on): no BrokenProcessPool, no pack killed; every pack stopped has its checkpoint."""
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher", reason="pip install -e '.[joblib]'")
    import signal
    import sys
    import time

    sweep = tmp_path / "sweep"
    command = [
        sys.executable,
        "-m",
        "bnrepro",
        "train",
        *TINY,
        "train.steps=2000",
        "train.eval_every=1000",
        *SWEEP,
        f"hydra.sweep.dir={sweep}",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=4",
    ]
    env = {**os.environ, "PYTHONWARNINGS": "ignore", **slow_steps(tmp_path, 0.005)}  # ~10 s a pack, mostly asleep
    proc = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    firsts = {"none": sweep / "bn=none_seed=1", "pre": sweep / "bn=pre_seed=1"}
    try:
        deadline = time.time() + 240
        while not all((first / "train.lock").exists() and _status(first) == "running" for first in firsts.values()):
            assert proc.poll() is None and time.time() < deadline, proc.communicate()[1][-3000:]
            time.sleep(0.05)
        worker = json.loads((firsts["pre"] / "train.lock").read_text())["pid"]
        os.kill(proc.pid if target == "parent" else worker, signal.SIGINT)
        _, err = proc.communicate(timeout=300)
    finally:
        proc.kill()
    assert proc.returncode == 130, err[-3000:]
    assert "BrokenProcessPool" not in err and "SIGINT: stopped" in err
    stopped = firsts.values() if target == "parent" else [firsts["pre"]]
    for first in stopped:
        assert _status(first) == "interrupted" and (first / "checkpoint.pt").is_file()
    if target == "worker":
        assert _status(firsts["none"]) == "completed"  # its pack was not killed with the pool
    done = bnrepro("resume", str(sweep), cwd=tmp_path, check=True)
    assert "resumed at step" in done.stderr
    assert {_status(run) for run in sweep_runs_of(sweep).values()} == {"completed"}


def _status(run_dir: Path) -> str:
    try:
        return json.loads((run_dir / "summary.json").read_text())["status"]
    except (OSError, ValueError, KeyError):
        return "none"


def sweep_runs_of(sweep: Path) -> dict[str, Path]:
    return {p.name: p for p in sweep.iterdir() if p.is_dir() and not p.name.startswith(".")}


# ---- a real SLURM cluster ----


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """scripts/slurm_cluster.sh start: munged, slurmctld and slurmd on localhost."""
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="pip install -e '.[slurm]'")
    if os.geteuid() != 0:
        pytest.skip("the local SLURM cluster needs root (munged, slurmd)")
    state = tmp_path_factory.mktemp("slurm")
    script = REPO / "scripts" / "slurm_cluster.sh"
    try:
        started = subprocess.run(
            ["bash", str(script), "start", str(state)], capture_output=True, text=True, timeout=120
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        pytest.skip(f"SLURM cluster not started: {e}")
    if started.returncode != 0:
        pytest.skip("SLURM cluster did not come up (scripts/slurm_cluster.sh install?):\n" + started.stderr[-2000:])
    env = {"SLURM_CONF": str(state / "slurm.conf")}
    yield env
    subprocess.run(["bash", str(script), "stop", str(state)], capture_output=True, timeout=120)


SLURM = ["hydra/launcher=submitit_slurm", "hydra.launcher.timeout_min=10", "hydra.launcher.cpus_per_task=1"]


@pytest.mark.slurm
@pytest.mark.slow
def test_a_sweep_on_slurm_gives_the_local_results(slurm, local_runs, tmp_path):
    out = tmp_path / "runs"
    bnrepro(
        "train",
        *TINY,
        "train.steps=20",
        *SWEEP,
        f"out_dir={out}",
        "name=launch",
        *SLURM,
        cwd=tmp_path,
        env=slurm,
        check=True,
    )
    runs = sweep_runs(out)
    submitit = next(iter(runs.values())).parent / ".submitit"
    tasks = [p for p in submitit.iterdir() if p.is_dir() and re.fullmatch(r"\d+_\d+", p.name)]
    assert len(tasks) == 2  # one SLURM array task per pack
    assert_same_runs(runs, local_runs)


def test_a_launcher_without_its_plugin_gets_a_clear_message(monkeypatch, capsys):
    import importlib.util

    from bnrepro import cli

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert cli.main(["train", "seed=1,2", "hydra/launcher=submitit_slurm"]) == 1
    assert "pip install -e '.[slurm]'" in capsys.readouterr().err


def _squeue(env: dict) -> list[str]:
    done = subprocess.run(["squeue", "-h", "-o", "%i %T"], capture_output=True, text=True, env={**os.environ, **env})
    return done.stdout.split("\n")


@pytest.mark.slurm
@pytest.mark.slow
def test_a_pack_requeued_mid_run_resumes_and_ends_as_if_uninterrupted(slurm, tmp_path):
    """scontrol requeue sends the running pack SIGTERM: it checkpoints and exits; SLURM runs
    the same job again, which finds the checkpoint and continues, exactly."""
    import sys
    import time

    long = [
        "train.steps=3000",
        "train.log_every=100",
        "train.eval_every=1000",
        "train.checkpoint_every=100",
        "train.checkpoint_min_s=0",
        "seed=1,2",
    ]
    local = tmp_path / "local"
    bnrepro("train", *TINY, *long, f"out_dir={local}", "name=requeue", cwd=tmp_path, check=True)
    out = tmp_path / "slurm"
    command = [sys.executable, "-m", "bnrepro", "train", *TINY, *long, f"out_dir={out}", "name=requeue", *SLURM]
    sweep = subprocess.Popen(
        command,
        cwd=tmp_path,
        env={**os.environ, "PYTHONWARNINGS": "ignore", **slurm},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline, requeued = time.time() + 240, None
        while requeued is None and time.time() < deadline and sweep.poll() is None:
            scalars = list(out.rglob("scalars.csv"))
            rows = max((len(p.read_text().splitlines()) for p in scalars), default=0)
            running = [line.split()[0] for line in _squeue(slurm) if line.endswith("RUNNING")]
            if rows >= 6 and running:  # some probe steps written, well before the end
                subprocess.run(["scontrol", "requeue", running[0]], check=True, env={**os.environ, **slurm})
                requeued = running[0]
            time.sleep(0.2)
        log, _ = sweep.communicate(timeout=300)
    finally:
        sweep.kill()
    assert requeued is not None, "the pack finished before it could be requeued"
    assert sweep.returncode == 0, log[-3000:]
    runs = sweep_runs(out)
    summaries = [json.loads((d / "summary.json").read_text()) for d in runs.values()]
    assert all(s["status"] == "completed" for s in summaries)
    assert any(s["resumed_from"] for s in summaries), "no run was resumed"
    for name, run in runs.items():  # the same numbers as the uninterrupted local sweep
        a = pd.read_csv(run / "scalars.csv")
        b = pd.read_csv(sweep_runs(local)[name] / "scalars.csv")
        pd.testing.assert_frame_equal(a, b)


SLOW_STEPS = """
# Test-only: BNREPRO_TEST_STEP_DELAY seconds of sleep before each training step, so that a
# job outlives a real SLURM time limit without burning the CPU. Loaded as sitecustomize.
import os, sys, time

DELAY = float(os.environ.get("BNREPRO_TEST_STEP_DELAY") or 0)


class SlowSteps:
    def find_spec(self, name, path=None, target=None):
        if name != "bnrepro.run.step":
            return None
        sys.meta_path.remove(self)
        import importlib.util

        spec = importlib.util.find_spec(name)
        load = spec.loader.exec_module

        def exec_module(module):
            load(module)
            real = module.train_step

            def train_step(*args, **kwargs):
                time.sleep(DELAY)
                return real(*args, **kwargs)

            module.train_step = train_step

        spec.loader.exec_module = exec_module
        return spec


if DELAY:
    sys.meta_path.insert(0, SlowSteps())
"""


def slow_steps(tmp_path: Path, delay: float) -> dict:
    """The environment for a job whose every step sleeps `delay` s first (numbers unchanged)."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SLOW_STEPS)
    return {
        "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
        "BNREPRO_TEST_STEP_DELAY": str(delay),
    }


def requeued_sweep(slurm, tmp_path, steps: int, delay: float, launcher: list[str], act=None):
    """A one-pack SLURM sweep with slowed steps (and `act(job_id)` once it trains); returns its
    runs, after checking they match the same sweep trained here."""
    import sys
    import time

    args = [*TINY, f"train.steps={steps}", "train.eval_every=100", "train.checkpoint_every=0", "seed=1,2"]
    bnrepro("train", *args, f"hydra.sweep.dir={tmp_path / 'local'}", cwd=tmp_path, check=True)
    sweep = tmp_path / "slurm"
    env = {**os.environ, "PYTHONWARNINGS": "ignore", **slurm, **slow_steps(tmp_path, delay)}
    command = [sys.executable, "-m", "bnrepro", "train", *args, f"hydra.sweep.dir={sweep}", *launcher]
    proc = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        if act is not None:
            deadline = time.time() + 240
            csv = sweep / "seed=1" / "scalars.csv"
            while _status(sweep / "seed=1") != "running" or not csv.exists() or len(csv.read_text().split()) < 4:
                assert proc.poll() is None and time.time() < deadline, proc.communicate()[0][-3000:]
                time.sleep(0.2)
            act([line.split()[0] for line in _squeue(slurm) if line.endswith("RUNNING")][0])
        log, _ = proc.communicate(timeout=900)
    finally:
        proc.kill()
    assert proc.returncode == 0, log[-3000:]
    runs = sweep_runs_of(sweep)
    for name, run in runs.items():
        pd.testing.assert_frame_equal(
            pd.read_csv(run / "scalars.csv"), pd.read_csv(tmp_path / "local" / name / "scalars.csv")
        )
    return runs


@pytest.mark.slurm
@pytest.mark.slow
def test_a_pack_past_its_time_limit_checkpoints_on_sigusr2_and_finishes_after_requeues(slurm, tmp_path):
    """A real time limit: 2 minutes, USR2 30 s before it (SLURM checks every 30 s and may send
    it up to that much earlier: 60-90 s into each attempt; with a 1-minute limit it can come
    before Python has a handler, and kill the job); the pack needs about 105 s (more than the
    latest USR2 leaves it) and has no periodic checkpoints. Each attempt saves a checkpoint on
    USR2, submitit requeues the job, the next attempt continues; the result is that of the
    uninterrupted sweep."""
    limit = [
        "hydra/launcher=submitit_slurm",
        "hydra.launcher.timeout_min=2",
        "hydra.launcher.signal_delay_s=30",
        "hydra.launcher.max_num_timeout=8",
        "hydra.launcher.cpus_per_task=1",
    ]
    runs = requeued_sweep(slurm, tmp_path, steps=420, delay=0.25, launcher=limit)
    summary = json.loads((runs["seed=1"] / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["resumed_from"], summary["attempts"]
    first, *later = summary["attempts"]
    assert (first["ended_as"], first["signal"]) == ("interrupted", "SIGUSR2") and first["steps_to"] > 0
    assert later[0]["steps_from"] == first["steps_to"] and later[-1]["ended_as"] == "finished"
    assert not (runs["seed=1"] / "checkpoint.pt").exists()


@pytest.mark.slurm
@pytest.mark.slow
def test_a_preempted_pack_checkpoints_on_sigusr2_is_requeued_and_finishes(slurm, tmp_path):
    """Preemption: SIGUSR2 long before the time limit (scancel --signal=USR2, as SLURM does
    when it preempts); submitit requeues a preempted job whatever max_num_timeout says."""

    def preempt(job_id):
        subprocess.run(["scancel", "--signal=USR2", job_id], check=True, env={**os.environ, **slurm})

    # submitit counts any USR2 in the last 10 minutes of a job's time as a timeout: 60, not 10
    launcher = ["hydra/launcher=submitit_slurm", "hydra.launcher.timeout_min=60", "hydra.launcher.cpus_per_task=1"]
    runs = requeued_sweep(slurm, tmp_path, steps=300, delay=0.05, launcher=launcher, act=preempt)
    summary = json.loads((runs["seed=1"] / "summary.json").read_text())
    first, second = summary["attempts"]
    assert (first["ended_as"], first["signal"]) == ("interrupted", "SIGUSR2")
    assert second["steps_from"] == first["steps_to"] == summary["resumed_from"][0] > 0
    assert summary["status"] == "completed"
