"""On a GPU: the CUDA-graph step computes what the eager step computes; GPU agrees with CPU.

Skipped without CUDA (conftest.py). scripts/gpu_results.sh runs them on the lent GPU.
"""

from __future__ import annotations

import pandas as pd
import pytest

from bnrepro.run.loop import train_runs

from conftest import tiny

pytestmark = pytest.mark.gpu
quiet = dict(log=lambda message: None)


def gpu_cfgs(**extra):
    base = dict(
        device="cuda",
        model__bn="pre",
        train__steps=120,
        train__log_every=20,
        train__eval_every=40,
        probes__hist_every=40,
        **extra,
    )
    return [
        tiny(seed=1, **base),
        tiny(seed=2, optim__lr=0.3, model__dropout=0.2, **base),
        tiny(seed=3, optim__momentum=0.9, **base),
    ]


@pytest.mark.parametrize(
    "arch, norm",
    [
        ("mlp", "torch"),
        ("convnet", "torch"),
        ("vgg", "torch"),
        ("mlp", "paper"),
        ("mlp", "renorm"),
        ("convnet", "renorm"),
    ],
)
def test_cuda_graph_replay_equals_eager(tmp_path, arch, norm):
    """Renorm's r_max/d_max schedule, and vgg's crops, flips and sped-up exponential decay,
    read the device step counter inside the graph."""
    schedule = (
        dict(model__norm__warmup=20, model__norm__rmax_at=80, model__norm__dmax_at=60) if norm == "renorm" else {}
    )
    if arch == "vgg":
        schedule = dict(
            data__augment=True, optim__schedule="exponential", optim__decay_every=120, optim__decay_speedup=3.0
        )
    extra = dict(
        model__arch=arch, model__width=8, model__depth=2, model__norm__kind=norm, eval__compare_stats=True, **schedule
    )
    graphed = train_runs(gpu_cfgs(train__graph="on", **extra), [tmp_path / f"g{i}" for i in range(3)], **quiet)
    eager = train_runs(gpu_cfgs(train__graph="off", **extra), [tmp_path / f"e{i}" for i in range(3)], **quiet)
    assert all(s["cuda_graphs"] for s in graphed) and not any(s["cuda_graphs"] for s in eager)
    for i in range(3):
        a, b = (pd.read_csv(tmp_path / f"{kind}{i}" / "scalars.csv") for kind in "ge")
        pd.testing.assert_frame_equal(a, b, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("kind", ["adam", "rmsprop"])
def test_adaptive_optimizers_and_the_amplify_probe_replay_as_eager(tmp_path, kind):
    """Adam's bias correction reads the device step counter inside the graph; the amplify
    probe's passes at a perturbed copy of the parameters run inside the probe step's graph."""

    def cfgs(graph):
        base = dict(
            device="cuda",
            model__bn="pre",
            train__steps=120,
            train__log_every=20,
            train__eval_every=40,
            optim__kind=kind,
            optim__lr=0.003,
            probes__which=["grad_norm", "act", "amplify"],
            train__graph=graph,
        )
        return [tiny(seed=1, **base), tiny(seed=2, optim__weight_decay=1e-3, **{**base, "optim__lr": 0.001})]

    graphed = train_runs(cfgs("on"), [tmp_path / f"g{i}" for i in range(2)], **quiet)
    eager = train_runs(cfgs("off"), [tmp_path / f"e{i}" for i in range(2)], **quiet)
    assert all(s["cuda_graphs"] for s in graphed) and not any(s["cuda_graphs"] for s in eager)
    for i in range(2):
        a, b = (pd.read_csv(tmp_path / f"{mode}{i}" / "scalars.csv") for mode in "ge")
        assert a.columns.str.startswith("amplify/").any()
        pd.testing.assert_frame_equal(a, b, rtol=1e-5, atol=1e-7)


def test_gpu_and_cpu_agree_for_the_same_seed(tmp_path):
    """Same init (CPU generator), same data order (counter-based), same model: the GPU
    run follows the CPU run up to floating-point differences."""
    cfg = dict(model__bn="pre", train__steps=40, train__log_every=10, train__eval_every=20)
    (gpu,) = train_runs([tiny(device="cuda", **cfg)], [tmp_path / "gpu"], **quiet)
    (cpu,) = train_runs([tiny(device="cpu", **cfg)], [tmp_path / "cpu"], **quiet)
    a, b = (pd.read_csv(tmp_path / name / "scalars.csv") for name in ("gpu", "cpu"))
    assert a["train/loss"].iloc[0] == pytest.approx(b["train/loss"].iloc[0], rel=1e-4)
    assert gpu["test_acc_final"] == pytest.approx(cpu["test_acc_final"], abs=0.02)
