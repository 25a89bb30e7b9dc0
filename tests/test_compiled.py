"""train.compile: the rule that picks it, the eager fallback, and (slow) a compiled run equal
to the eager one to float rounding."""

from __future__ import annotations

import json
import os
import signal

import pandas as pd
import pytest
import torch

from bnrepro.launch.resume import resume_group
from bnrepro.run import compiled, loop
from bnrepro.run.compiled import CompiledStep
from bnrepro.run.loop import Interrupted, train_runs

from conftest import tiny

CPU, GPU = torch.device("cpu"), torch.device("cuda")


def test_auto_compiles_only_long_small_mlp_groups_on_the_cpu():
    long = dict(train__steps=compiled.MIN_STEPS)
    assert compiled.wanted(tiny(**long), 1, CPU)
    assert compiled.wanted(tiny(**long), compiled.MAX_RUNS, CPU)
    assert not compiled.wanted(tiny(**long), compiled.MAX_RUNS + 1, CPU)
    assert not compiled.wanted(tiny(train__steps=compiled.MIN_STEPS - 1), 1, CPU)
    assert not compiled.wanted(tiny(**long), 1, GPU)
    assert not compiled.wanted(tiny(model__arch="convnet", **long), 1, CPU)
    assert compiled.wanted(tiny(train__compile="on"), 8, GPU)
    assert not compiled.wanted(tiny(train__compile="off", **long), 1, CPU)


def _failing_compile(*args, **kwargs):
    raise RuntimeError("no compiler here\nsecond line")


@pytest.mark.slow  # ~1.3 s: torch.compile imports dynamo
def test_a_failed_compile_trains_eagerly_and_says_why():
    calls, warnings = [], []
    step = CompiledStep(lambda probe: calls.append(probe) or "eager", warn=warnings.append)
    step.compiled = _failing_compile
    assert step(False) == "eager" and step(False) == "eager" and step(True) == "eager"
    assert calls == [False, False, True] and not step.ready
    assert step.error == "RuntimeError: no compiler here" and "training eagerly" in warnings[0]
    required = CompiledStep(lambda probe: "eager", required=True)
    required.compiled = _failing_compile
    with pytest.raises(RuntimeError, match="train.compile=on"):
        required(False)


@pytest.mark.slow
def test_a_compiled_pack_equals_the_eager_pack_to_rounding(tmp_path):
    """Two BN runs with their own learning rate and momentum, probes and evaluation between
    compiled steps. One compile (~15 s with a cold inductor cache) is this test's cost: a
    single run's 2-D path (StackedNet._one_run) was checked the same way by hand (issue 30)."""
    base = dict(model__bn="pre", train__steps=40, train__log_every=10, train__eval_every=20)

    def pack(mode):
        return [
            tiny(seed=1, train__compile=mode, **base),
            tiny(seed=2, train__compile=mode, optim__lr=0.3, optim__momentum=0.9, **base),
        ]

    fast = train_runs(pack("on"), [tmp_path / f"c{i}" for i in range(2)], log=lambda m: None)
    slow = train_runs(pack("off"), [tmp_path / f"e{i}" for i in range(2)], log=lambda m: None)
    assert all(s["compiled"] and s["compile_s"] > 0 and s["compile_error"] is None for s in fast)
    assert not any(s["compiled"] for s in slow)
    for i in range(2):
        a, b = (pd.read_csv(tmp_path / f"{kind}{i}" / "scalars.csv") for kind in "ce")
        pd.testing.assert_frame_equal(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_a_compiled_group_stopped_mid_run_resumes_to_the_uninterrupted_compiled_results(tmp_path, monkeypatch):
    """SIGTERM at the third probe step (steps 1, 10, 20) of a compiled pack of two: a checkpoint, `interrupted`;
    `bnrepro resume`'s path compiles again and finishes to what the uninterrupted compiled pack
    gives, to float rounding (a compiled step is not bit for bit the eager one; its replays are)."""
    base = dict(model__bn="pre", optim__momentum=0.9, train__steps=50, train__log_every=10, train__eval_every=20)
    base.update(train__checkpoint_every=0, train__compile="on")

    def pack():
        return [tiny(seed=1, **base), tiny(seed=2, optim__lr=0.3, **base)]

    whole = [tmp_path / f"whole{i}" for i in range(2)]
    train_runs(pack(), whole, log=lambda m: None)
    real, probes = loop.train_step, []

    def step(state, probe):  # probe steps run eagerly (CompiledStep): their calls can be counted
        probes.extend([1] if probe else [])
        if probe and len(probes) == 3:
            os.kill(os.getpid(), signal.SIGTERM)
        return real(state, probe)

    monkeypatch.setattr(loop, "train_step", step)
    dirs = [tmp_path / f"cut{i}" for i in range(2)]
    with pytest.raises(Interrupted):
        train_runs(pack(), dirs, log=lambda m: None)
    summaries = [json.loads((d / "summary.json").read_text()) for d in dirs]
    assert [(s["status"], s["steps_done"], s["compiled"]) for s in summaries] == [("interrupted", 20, True)] * 2
    monkeypatch.undo()
    resume_group(dirs, log=lambda m: None)
    for a, b in zip(whole, dirs):
        done = json.loads((b / "summary.json").read_text())
        assert done["status"] == "completed" and done["steps_done"] == 50 and done["compiled"]
        pd.testing.assert_frame_equal(pd.read_csv(a / "scalars.csv"), pd.read_csv(b / "scalars.csv"), rtol=1e-5)


def test_the_benchmark_leaves_the_compile_out_of_a_compiled_rows_rate():
    from bnrepro.bench.plan import _rate_after_compiling

    compiled_run = {"steps_done": 101, "wall_time_s": 12.0, "compile_s": 10.0, "steps_per_s": 8.4}
    assert _rate_after_compiling(compiled_run) == pytest.approx(50.0)  # 100 steps in the other 2 s
    assert _rate_after_compiling({**compiled_run, "compile_s": None}) == 8.4
