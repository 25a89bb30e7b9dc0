"""The benchmark's FLOP count of a training step (bench/flops.py): by hand for two tiny nets,
and against torch's own count of the plain loop's network (bench/reference.py)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

from bnrepro.bench import reference
from bnrepro.bench.flops import Net, gemms, step_flops

TINY_MLP = Net(conv=False, widths=(3,), batch=5, activation="sigmoid", bn=True, classes=2, image=(1, 2, 2))
TINY_CONV = Net(conv=True, widths=(2, 4), batch=1, activation="relu", bn=True, classes=3, image=(1, 4, 4), pool_every=1)


def test_a_tiny_mlps_step_counted_by_hand():
    # forward 4 -> 3 -> 2 at batch 5: 2*5*4*3 = 120 and 2*5*3*2 = 60; backward: both weight
    # gradients (60, 120) and the input gradient of the second layer only (60): the first
    # layer's input is the data
    assert gemms(TINY_MLP) == [(5, 4, 3), (5, 3, 2), (3, 5, 2), (5, 2, 3), (4, 5, 3)]
    assert step_flops(TINY_MLP) == 120 + 60 + 60 + 60 + 120


def test_a_tiny_conv_nets_step_counted_by_hand():
    # conv 1 -> 2 channels, 3x3, on 4x4: a GEMM of 16 pixels x 9 x 2: 576 FLOPs; pool to 2x2;
    # conv 2 -> 4 on 2x2: 4 x 18 x 4: 576; pool to 1x1; classifier 4 -> 3: 24. Forward 1,176;
    # backward every weight gradient (1,176) and the input gradients but the first's (576 + 24)
    assert step_flops(TINY_CONV) == 1176 + 1176 + 600


@pytest.mark.slow  # importing torch's flop counter takes seconds
@pytest.mark.parametrize("net", [TINY_MLP, TINY_CONV, Net(False, (8, 8), 4, "relu", False, image=(1, 6, 6))])
def test_the_count_is_torchs_count_of_the_plain_loops_network(net):
    from torch.utils.flop_counter import FlopCounterMode

    model = reference.build(net.as_task())
    x, y = torch.randn(net.batch, *net.image), torch.randint(net.classes, (net.batch,))
    with FlopCounterMode(display=False) as counter:
        torch.nn.functional.cross_entropy(model(x), y).backward()
    assert counter.get_total_flops() == step_flops(net)


def test_the_reference_processes_import_only_torch():
    """bench/reference.py runs as `python -c` in processes of their own so that nothing the
    bnrepro package sets reaches the plain loops: it must import no part of bnrepro."""
    tree = ast.parse(Path(reference.__file__).read_text())
    imported = {
        alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    }
    imported |= {
        node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level == 0
    }
    relative = [node for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level > 0]
    assert not relative and imported <= {"json", "sys", "time", "torch", "torchvision"}
