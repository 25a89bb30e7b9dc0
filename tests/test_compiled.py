"""train.compile: the rule that picks it, the eager fallback, and (slow) a compiled run equal
to the eager one to float rounding."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from bnrepro.run import compiled
from bnrepro.run.compiled import CompiledStep
from bnrepro.run.loop import train_runs

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
def test_a_compiled_run_equals_the_eager_run_to_rounding(tmp_path):
    """One BN run and a pack of two, with probes and evaluation between compiled steps; the
    compile (~10 s with a cold inductor cache) is this test's cost."""
    base = dict(model__bn="pre", train__steps=40, train__log_every=10, train__eval_every=20)
    for runs in (1, 2):
        cfgs = lambda mode: [tiny(seed=s, train__compile=mode, **base) for s in range(1, runs + 1)]  # noqa: E731
        fast = train_runs(cfgs("on"), [tmp_path / f"c{runs}_{i}" for i in range(runs)], log=lambda m: None)
        slow = train_runs(cfgs("off"), [tmp_path / f"e{runs}_{i}" for i in range(runs)], log=lambda m: None)
        assert all(s["compiled"] and s["compile_s"] > 0 and s["compile_error"] is None for s in fast)
        assert not any(s["compiled"] for s in slow)
        for i in range(runs):
            a, b = (pd.read_csv(tmp_path / f"{kind}{runs}_{i}" / "scalars.csv") for kind in "ce")
            pd.testing.assert_frame_equal(a, b, rtol=1e-4, atol=1e-5)


def test_the_benchmark_leaves_the_compile_out_of_a_compiled_rows_rate():
    from bnrepro.bench.plan import _rate_after_compiling

    compiled_run = {"steps_done": 101, "wall_time_s": 12.0, "compile_s": 10.0, "steps_per_s": 8.4}
    assert _rate_after_compiling(compiled_run) == pytest.approx(50.0)  # 100 steps in the other 2 s
    assert _rate_after_compiling({**compiled_run, "compile_s": None}) == 8.4
