"""The CPU's fast paths compute what the plain paths compute: conv activations stored
channels-last, evaluation in bounded chunks, the allocator kept from returning memory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bnrepro.data import load
from bnrepro.stacked.model import StackedNet
from bnrepro.stacked.optim import StackedSGD
from bnrepro.run import evaluation
from bnrepro.run.sampler import Sampler
from bnrepro.run.step import StepState, train_step

from conftest import tiny

# fig3's kind of net, small: BN before ReLU, a hidden-layer dropout (convnet) or dropout
# before the classifier (vgg), random crops and flips, momentum and weight decay.
CONV = dict(
    model__bn="pre",
    model__activation="relu",
    model__init="kaiming",
    model__width=4,
    model__depth=4,
    model__pool_every=2,
    data__augment=True,
    data__augment_pad=2,
    optim__momentum=0.9,
    optim__weight_decay=1e-3,
    train__batch_size=8,
)


def _trained(cfgs, channels_last: bool, steps: int = 6):
    """A group's state after `steps` training steps with the given conv layout."""
    data = load(cfgs[0].data, torch.device("cpu"))
    model = StackedNet([c.model for c in cfgs], [c.seed for c in cfgs], data.input_shape, data.classes)
    model.channels_last = channels_last
    sampler = Sampler(model.seeds, len(data.train_y), cfgs[0].train.batch_size)
    sampler.start_epoch(0)
    state = StepState(
        model,
        StackedSGD(model.layout, [c.optim for c in cfgs], steps, torch.device("cpu")),
        sampler,
        data,
        0,
        augment=(2, True),
    )
    outs = [train_step(state, probe=t % 3 == 0) for t in range(steps)]
    return model, data, state, [o for o in outs if o is not None]


@pytest.fixture
def two_threads():
    """The conv nets' default on a 2-core machine (train.threads null: torch's setting). On
    one thread PyTorch's channels-last BN kernel sums in a single pass: measured, its output
    is ~1e-5 off a float64 reference for inputs with a mean 10 stds from 0 (NCHW: ~1e-6),
    and six chaotic training steps of this tiny net grow that to ~5e-3 in the weights. The
    layouts then differ by float error, not by what they compute; the test pins the thread
    count so that OMP_NUM_THREADS=1 in the environment does not change what it checks."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("arch, runs", [("vgg", 1), ("vgg", 2), ("convnet", 2)])
def test_channels_last_trains_and_evaluates_as_the_plain_layout_does(arch, runs, two_threads):
    cfgs = [
        tiny(model__arch=arch, seed=s, model__dropout=0.3 if arch == "convnet" else 0.2, **CONV)
        for s in range(1, runs + 1)
    ]
    fast, data, fast_state, fast_probes = _trained(cfgs, channels_last=True)
    plain, _, plain_state, plain_probes = _trained(cfgs, channels_last=False)
    # the fast path really is channels-last (the first layer's single input channel included)
    assert all(
        z.transpose(0, 1).flatten(1, 2).is_contiguous(memory_format=torch.channels_last) for z in fast_probes[-1].z
    )
    assert not plain_probes[-1].z[0].transpose(0, 1).flatten(1, 2).is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(fast_state.sums, plain_state.sums, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(fast.params, plain.params, rtol=1e-4, atol=1e-5)
    for a, b in zip(fast_probes, plain_probes):
        torch.testing.assert_close(a.values, b.values, rtol=1e-3, atol=1e-4)
    for name, buffer in plain.named_buffers():
        torch.testing.assert_close(dict(fast.named_buffers())[name], buffer, rtol=1e-4, atol=1e-5)
    with torch.no_grad():
        torch.testing.assert_close(fast(data.test_x, "moving"), plain(data.test_x, "moving"), rtol=1e-4, atol=1e-4)


CHILD = """
import resource, sys, tempfile
from pathlib import Path
sys.path.insert(0, {tests!r})
from conftest import tiny
from bnrepro.run import cpu
from bnrepro.run.loop import train_runs
if sys.argv[1] == "default":  # glibc's own thresholds
    cpu.keep_freed_memory = lambda: False
cfgs = [tiny(model__arch="vgg", model__bn="pre", model__width=8, model__depth=2, train__batch_size=32,
             train__steps=100, seed=seed) for seed in (1, 2)]
with tempfile.TemporaryDirectory() as tmp:
    train_runs(cfgs, [Path(tmp) / f"warm{{i}}" for i in range(2)], log=lambda m: None)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    train_runs(cfgs, [Path(tmp) / f"measured{{i}}" for i in range(2)], log=lambda m: None)
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc (Linux)")
def test_training_on_the_cpu_stops_paying_page_faults_for_buffers_it_reuses():
    """A conv pack allocates and frees the same buffers every step: glibc's defaults hand them
    back to the kernel and fault them in again (minor page faults); train_runs tells glibc to
    keep them (run/cpu.py), in a process of its own so the setting cannot leak. 100 steps, 4x:
    kept, a run usually faults ~80 times, sometimes 1,000-3,000 (one-time); glibc's defaults
    add ~250-900 a step (measured: 27,000-94,000 in 100 steps). At 10 steps and 5x one CI run
    failed on 3,214 vs 12,184."""
    script = CHILD.format(tests=str(Path(__file__).parent))
    children = {
        mode: subprocess.Popen([sys.executable, "-c", script, mode], stdout=subprocess.PIPE, text=True)
        for mode in ("default", "kept")
    }
    faults = {mode: int(child.communicate(timeout=600)[0].split()[-1]) for mode, child in children.items()}
    assert faults["kept"] * 4 < faults["default"], faults


@pytest.mark.slow  # over 1 s: the fast set keeps its one-minute budget
def test_evaluation_on_the_cpu_feeds_bounded_chunks_and_scores_as_one_pass():
    """train.eval_batch_size (10,000) test images at once held gigabytes per conv layer on the
    CPU; chunks are bounded there (evaluation.CPU_CHUNK_VALUES) and give the same scores."""
    cfg = tiny(
        model__arch="vgg",
        model__bn="pre",
        model__width=16,
        model__depth=2,
        data__synthetic_test=2000,
        eval__compare_stats=True,
        eval__population_batches=2,
        eval__batch_sizes=[50],
    )
    data = load(cfg.data, torch.device("cpu"))
    model = StackedNet([cfg.model, cfg.model], [1, 2], data.input_shape, data.classes)
    sizes = []
    original = model.forward
    model.forward = lambda x, *a, **k: sizes.append(x.shape[-4]) or original(x, *a, **k)
    sampler = Sampler(model.seeds, len(data.train_y), cfg.train.batch_size)
    chunked = {**evaluation.test_metrics(model, data, sampler, cfg), **evaluation.batch_size_sweep(model, data, cfg)}
    bound = evaluation.CPU_CHUNK_VALUES // (2 * 16 * 28 * 28)  # 2 runs, 16 channels at full resolution
    assert 1 < bound < len(data.test_y) and max(sizes) <= bound
    assert chunked["test/acc"].shape == (2,)
    for stats in ("moving", "population", "batch"):
        one_pass = evaluation.evaluate(model, data, len(data.test_y), stats, cfg.train.batch_size)
        torch.testing.assert_close(chunked[f"test_stats/{stats}_acc"], one_pass[1])
    torch.testing.assert_close(
        chunked["test_batch_stats/bs_0050_acc"], evaluation.evaluate(model, data, len(data.test_y), "batch", 50)[1]
    )


@pytest.mark.parametrize("arch, threads, expected", [("mlp", None, 1), ("vgg", None, "all"), ("mlp", 2, 2)])
def test_a_cpu_group_trains_on_train_threads_and_gives_the_setting_back(tmp_path, arch, threads, expected):
    """The MLP's operations are too small to split (run/cpu.py): one thread unless train.threads
    says otherwise; conv nets keep torch's setting. The process's setting is restored after."""
    from bnrepro.run.loop import train_runs

    before = torch.get_num_threads()
    torch.set_num_threads(3)  # a setting of the caller's own, not the machine's core count
    try:
        extra = dict(model__arch="vgg", model__depth=2, model__width=4) if arch == "vgg" else {}
        (summary,) = train_runs(
            [tiny(train__steps=2, train__threads=threads, **extra)], [tmp_path / "run"], log=lambda m: None
        )
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)
    wanted = 3 if expected == "all" else expected
    assert f", {wanted} thread{'' if wanted == 1 else 's'})" in summary["device_name"]
