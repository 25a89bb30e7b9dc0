"""The network: BN where the config says, the same numbers as plain PyTorch, batched = alone."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from bnrepro.data import load
from bnrepro.stacked.model import StackedNet
from bnrepro.stacked.optim import StackedSGD
from bnrepro.run.sampler import Sampler
from bnrepro.run.step import StepState, train_step

from conftest import tiny


def build(cfgs):
    data = load(cfgs[0].data, torch.device("cpu"))
    model = StackedNet([c.model for c in cfgs], [c.seed for c in cfgs], data.input_shape, data.classes)
    return data, model


def spy_on_norms(model):
    """Record (input, output) of every BN call."""
    seen = []
    for norm in model.norms:
        original = norm.forward

        def spy(x, gamma, beta, mode="train", step=None, original=original):
            y = original(x, gamma, beta, mode, step)
            seen.append((x.detach(), y.detach()))
            return y

        norm.forward = spy
    return seen


@pytest.mark.parametrize("placement", ["pre", "post"])
def test_bn_sits_where_the_config_says(placement):
    cfg = tiny(model__bn=placement)
    data, model = build([cfg])
    seen = spy_on_norms(model)
    taps = []
    model(data.train_x[:32].unsqueeze(0), "train", taps=taps)
    assert len(seen) == len(taps) == cfg.model.depth
    for (bn_in, bn_out), z in zip(seen, taps):
        z = z[0]  # run 0: [B, units], the nonlinearity's input
        if placement == "pre":  # BN output is the nonlinearity's input
            torch.testing.assert_close(bn_out, z)
            torch.testing.assert_close(z.mean(0), torch.zeros(z.shape[1]), atol=1e-5, rtol=0)
        else:  # BN input is the nonlinearity's output
            torch.testing.assert_close(bn_in, torch.sigmoid(z))


def test_no_bn_means_no_norm_layers_and_bias_only_where_bn_does_not_replace_it():
    assert len(build([tiny()])[1].norms) == 0
    for placement, hidden_bias in (("none", True), ("pre", False), ("post", True)):
        slots = build([tiny(model__bn=placement)])[1].layout.slots
        assert ("layer_01.bias" in slots) == hidden_bias
        assert "layer_04.bias" in slots  # the output layer keeps its bias
    assert "layer_01.bias" in build([tiny(model__bn="pre", model__bias=True)])[1].layout.slots


def test_conv_bn_normalises_each_channel_over_batch_height_width():
    conv = dict(model__arch="convnet", model__bn="pre", model__width=8, model__depth=2, model__norm__eps=1e-9)
    data, model = build([tiny(**conv), tiny(seed=3, **conv)])
    taps = []
    x = data.train_x[:40].view(2, 20, *data.input_shape)
    model(x, "train", taps=taps)
    z = taps[0]  # [K=2, B, C, H, W]
    mean, var = z.mean(dim=(1, 3, 4)), z.var(dim=(1, 3, 4), unbiased=False)
    torch.testing.assert_close(mean, torch.zeros_like(mean), atol=1e-5, rtol=0)
    torch.testing.assert_close(var, torch.ones_like(var), atol=1e-3, rtol=0)


def plain_pytorch_copy(model: StackedNet, cfg) -> nn.Sequential:
    """A textbook nn.Sequential holding run 0's initial parameters."""
    views = model.layout.per_run(model.params.detach())
    layers: list[nn.Module] = [nn.Flatten()]
    for slots in model.hidden:
        w = views[slots["weight"].name][0]
        linear = nn.Linear(*w.shape, bias=slots["bias"] is not None)
        linear.weight.data.copy_(w.T)
        if slots["bias"] is not None:
            linear.bias.data.copy_(views[slots["bias"].name][0])
        bn = nn.BatchNorm1d(cfg.model.width, eps=cfg.model.norm.eps, momentum=cfg.model.norm.momentum)
        if slots["gamma"] is not None:
            bn.weight.data.copy_(views[slots["gamma"].name][0])
            bn.bias.data.copy_(views[slots["beta"].name][0])
        layers += {
            "none": [linear, nn.Sigmoid()],
            "pre": [linear, bn, nn.Sigmoid()],
            "post": [linear, nn.Sigmoid(), bn],
        }[cfg.model.bn.value]
    out = nn.Linear(cfg.model.width, 10)
    out.weight.data.copy_(views[model.out_weight.name][0].T)
    out.bias.data.copy_(views[model.out_bias.name][0])
    return nn.Sequential(*layers, out)


# Each optimizer with torch.optim's equivalent; the lr schedule too (a step decay inside the 30 steps:
# torch's StepLR), so lr, weight decay and schedule act alike for every kind.
OPTIMIZERS = {
    "sgd": (
        dict(optim__lr=0.1, optim__momentum=0.9, optim__weight_decay=1e-3),
        lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=1e-3),
    ),
    "rmsprop": (
        dict(
            optim__kind="rmsprop",
            optim__lr=0.003,
            optim__alpha=0.95,
            optim__eps=1e-6,
            optim__momentum=0.5,
            optim__weight_decay=1e-3,
            optim__schedule="step",
            optim__decay_every=12,
            optim__decay_factor=0.5,
        ),
        lambda p: torch.optim.RMSprop(p, lr=0.003, alpha=0.95, eps=1e-6, momentum=0.5, weight_decay=1e-3),
    ),
    "adam": (
        dict(
            optim__kind="adam",
            optim__lr=0.003,
            optim__betas=[0.8, 0.99],
            optim__eps=1e-6,
            optim__weight_decay=1e-3,
            optim__schedule="step",
            optim__decay_every=12,
            optim__decay_factor=0.5,
        ),
        lambda p: torch.optim.Adam(p, lr=0.003, betas=(0.8, 0.99), eps=1e-6, weight_decay=1e-3),
    ),
}


@pytest.mark.parametrize(
    "placement, kind",
    [
        ("none", "sgd"),
        ("pre", "sgd"),
        ("post", "sgd"),
        ("pre", "rmsprop"),
        ("pre", "adam"),
        ("none", "rmsprop"),
        ("none", "adam"),
    ],
)
def test_one_run_computes_what_plain_pytorch_computes(placement, kind):
    """Same init, same batches: bnrepro's step (stacked params, own optimizer) matches
    nn.Sequential + torch.optim's SGD / RMSprop / Adam step for step, and so do the test predictions."""
    settings, torch_optimizer = OPTIMIZERS[kind]
    cfg = tiny(model__bn=placement, **settings)
    data, model = build([cfg])
    reference = plain_pytorch_copy(model, cfg)
    sgd = torch_optimizer(reference.parameters())
    every = cfg.optim.decay_every if cfg.optim.schedule.value == "step" else 10**9
    schedule = torch.optim.lr_scheduler.StepLR(sgd, every, cfg.optim.decay_factor)
    sampler = Sampler(model.seeds, len(data.train_y), cfg.train.batch_size)
    state = StepState(model, StackedSGD(model.layout, [cfg.optim], 30, torch.device("cpu")), sampler, data, 0)
    for t in range(30):
        if t % sampler.steps_per_epoch == 0:
            sampler.start_epoch(t // sampler.steps_per_epoch)
        index = sampler.indices(torch.tensor(t))[0]
        train_step(state, probe=t % 7 == 0)
        ours = state.take_train_metrics(1)[0, 0]
        sgd.zero_grad()
        loss = nn.functional.cross_entropy(reference(data.train_x[index]), data.train_y[index])
        loss.backward()
        sgd.step()
        schedule.step()
        torch.testing.assert_close(ours, loss.detach(), rtol=1e-4, atol=1e-6)
    reference.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(data.test_x, "moving")[0], reference(data.test_x), rtol=1e-3, atol=1e-4)


# vgg: its dropout before the classifier, random crops and flips, section 4.2.1's schedule speed-up
VGG_EXTRA = dict(
    model__depth=4,
    model__width=4,
    data__augment=True,
    data__augment_pad=2,
    train__steps=20,
    optim__schedule="exponential",
    optim__decay_every=20,
    optim__decay_speedup=3.0,
)


# The conv cases take most of the fast set's minute: they run with the slow tests (make test).
@pytest.mark.parametrize(
    "arch, norm",
    [
        ("mlp", "torch"),
        pytest.param("convnet", "torch", marks=pytest.mark.slow),
        pytest.param("vgg", "torch", marks=pytest.mark.slow),
        ("mlp", "paper"),
        ("mlp", "renorm"),
    ],
)
def test_runs_trained_together_match_runs_trained_alone(tmp_path, arch, norm):
    """Seeds, learning rates (and lr multipliers), momentum, weight decay (and its divisor),
    init and dropout differ; each run's numbers must not depend on which runs it shared a step with."""
    variants = [
        dict(seed=1),
        dict(seed=2, optim__lr=0.15, optim__lr_mult=2.0, model__dropout=0.2),
        dict(
            seed=3,
            optim__momentum=0.9,
            optim__weight_decay=1e-3,
            optim__weight_decay_div=5.0,
            model__init="gaussian",
            model__init_std=0.1,
        ),
    ]
    schedule = dict(model__norm__warmup=5, model__norm__rmax_at=20, model__norm__dmax_at=15) if norm == "renorm" else {}
    common = dict(
        model__arch=arch,
        model__bn="pre",
        model__norm__kind=norm,
        model__width=8,
        model__depth=2,
        eval__compare_stats=True,
        eval__population_batches=5,
        **schedule,
    )
    common.update(VGG_EXTRA if arch == "vgg" else {})
    cfgs = [tiny(**common, **v) for v in variants]
    from bnrepro.run.loop import train_runs

    together = train_runs(cfgs, [tmp_path / f"together{i}" for i in range(3)], log=lambda m: None)
    for i, cfg in enumerate(cfgs):
        (alone,) = train_runs([cfg], [tmp_path / f"alone{i}"], log=lambda m: None)
        for key in ("test_acc_final", "test_loss_final", "train_loss_final"):
            assert together[i][key] == pytest.approx(alone[key], rel=1e-4, abs=1e-6), key
        for tag, value in alone["final"].items():
            # Locations of a layer's inputs (percentiles, mean) are compared in units of that
            # layer's spread: near 0 (a BN'd median) summation order alone moves them ~1e-4 std.
            layer, _, stat = tag.rpartition("/")
            spread = alone["final"].get(f"{layer}/std") if tag.startswith("act/") and stat != "std" else None
            tolerance = 1e-3 * spread if spread else 1e-5
            if tag.startswith("grad_norm_log10/"):  # a relative 1e-3 of the norm, in log10
                tolerance = 5e-4
            assert together[i]["final"][tag] == pytest.approx(value, rel=1e-3, abs=tolerance), tag


@pytest.mark.slow
def test_runs_of_different_update_rules_never_train_together():
    """The sweeper packs runs that differ in lr or momentum, never in optim.kind, betas, alpha or
    eps (one rule per pack), and the optimizer refuses a mixed group."""
    from bnrepro.launch.sweep import groups

    cfgs = [
        tiny(),
        tiny(optim__kind="adam"),
        tiny(seed=2, optim__lr=0.3),
        tiny(optim__kind="adam", optim__eps=1e-6),
        tiny(seed=3, optim__kind="adam"),
    ]
    assert groups(cfgs, batch=True, max_runs=64) == [[0, 2], [1, 4], [3]]
    layout = build([cfgs[0]])[1].layout
    with pytest.raises(ValueError, match="one update rule"):
        StackedSGD(layout, [cfgs[0].optim, cfgs[1].optim], 30, torch.device("cpu"))


@pytest.mark.parametrize(
    "model",
    [dict(bn="pre"), dict(bn="post", bias=True), dict(bn="none", activation="relu"), dict(bn="pre", width=100)],
)
def test_one_runs_2d_forward_is_the_stacked_forward_bit_for_bit(model):
    """A single MLP run trains through StackedNet._one_run (mm / addmm, BN on [B, U]); collecting
    the taps takes the stacked path (bmm / baddbmm over [1, B, U]). Same logits, gradient and
    BN statistics, bit for bit: runs alone train as they did before the 2-D path."""
    cfgs = [tiny(**{f"model__{key}": value for key, value in model.items()})]
    data, one = build(cfgs)
    _, stacked = build(cfgs)
    x = data.train_x[:60].unsqueeze(0)
    results = []
    for net, taps in ((one, None), (stacked, [])):
        logits = net(x, "train", step=torch.zeros((), dtype=torch.int64), taps=taps)
        (grad,) = torch.autograd.grad(logits.square().sum(), [net.params])
        results.append((logits, grad, [b.clone() for b in net.buffers()]))
    (logits, grad, buffers), (logits2, grad2, buffers2) = results
    assert logits.shape == logits2.shape == (1, 60, data.classes)
    assert torch.equal(logits, logits2) and torch.equal(grad, grad2)
    assert all(torch.equal(a, b) for a, b in zip(buffers, buffers2))
