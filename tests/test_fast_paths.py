"""The CPU's fast paths compute what the plain paths compute: conv activations stored
channels-last, evaluation in bounded chunks, the allocator kept from returning memory."""
from __future__ import annotations

import pytest
import torch

from bnrepro.data import load
from bnrepro.stacked.model import StackedNet
from bnrepro.stacked.optim import StackedSGD
from bnrepro.run.sampler import Sampler
from bnrepro.run.step import StepState, train_step

from conftest import tiny

# fig3's kind of net, small: BN before ReLU, a hidden-layer dropout (convnet) or dropout
# before the classifier (vgg), random crops and flips, momentum and weight decay.
CONV = dict(model__bn="pre", model__activation="relu", model__init="kaiming", model__width=4, model__depth=4,
            model__pool_every=2, data__augment=True, data__augment_pad=2, optim__momentum=0.9,
            optim__weight_decay=1e-3, train__batch_size=8)


def _trained(cfgs, channels_last: bool, steps: int = 6):
    """A group's state after `steps` training steps with the given conv layout."""
    data = load(cfgs[0].data, torch.device("cpu"))
    model = StackedNet([c.model for c in cfgs], [c.seed for c in cfgs], data.input_shape, data.classes)
    model.channels_last = channels_last
    sampler = Sampler(model.seeds, len(data.train_y), cfgs[0].train.batch_size)
    sampler.start_epoch(0)
    state = StepState(model, StackedSGD(model.layout, [c.optim for c in cfgs], steps, torch.device("cpu")),
                      sampler, data, 0, augment=(2, True))
    outs = [train_step(state, probe=t % 3 == 0) for t in range(steps)]
    return model, data, state, [o for o in outs if o is not None]


@pytest.mark.parametrize("arch, runs", [("vgg", 1), ("vgg", 2), ("convnet", 2)])
def test_channels_last_trains_and_evaluates_as_the_plain_layout_does(arch, runs):
    cfgs = [tiny(model__arch=arch, seed=s, model__dropout=0.3 if arch == "convnet" else 0.2, **CONV)
            for s in range(1, runs + 1)]
    fast, data, fast_state, fast_probes = _trained(cfgs, channels_last=True)
    plain, _, plain_state, plain_probes = _trained(cfgs, channels_last=False)
    # the fast path really is channels-last (the first layer's single input channel included)
    assert all(z.transpose(0, 1).flatten(1, 2).is_contiguous(memory_format=torch.channels_last)
               for z in fast_probes[-1].z)
    assert not plain_probes[-1].z[0].transpose(0, 1).flatten(1, 2).is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(fast_state.sums, plain_state.sums, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(fast.params, plain.params, rtol=1e-4, atol=1e-5)
    for a, b in zip(fast_probes, plain_probes):
        torch.testing.assert_close(a.values, b.values, rtol=1e-3, atol=1e-4)
    for name, buffer in plain.named_buffers():
        torch.testing.assert_close(dict(fast.named_buffers())[name], buffer, rtol=1e-4, atol=1e-5)
    with torch.no_grad():
        torch.testing.assert_close(fast(data.test_x, "moving"), plain(data.test_x, "moving"), rtol=1e-4, atol=1e-4)
