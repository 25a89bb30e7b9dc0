"""The normalizations beside BN: lp batch normalization (Santurkar et al. 2018, section 3.3),
GroupNorm, LayerNorm, InstanceNorm (each against torch's own function, run by run), and
WeightNorm (against torch.nn.utils.parametrizations.weight_norm)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from bnrepro.stacked.example_norms import GroupNorm, InstanceNorm, LayerNorm
from torch.nn.utils.parametrizations import weight_norm

from bnrepro.stacked.lp_norms import LpBatchNorm
from bnrepro.stacked.model import StackedNet, weight_normed
from bnrepro.stacked.norms import TorchBatchNorm
from bnrepro.stacked.params import Slot

from conftest import tiny

K = 3  # runs stacked: each run's channels are one block of the [N, K * C, *] layout


def _stacked(shape, seed=0):
    """x [N, K * C, *], gamma, beta [K * C], and an upstream gradient; x scaled and shifted per channel."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=gen) * (1 + 3 * torch.rand(shape[1], generator=gen)).view(
        1, -1, *[1] * (len(shape) - 2)
    )
    gamma, beta = torch.randn(shape[1], generator=gen), torch.randn(shape[1], generator=gen)
    return x + 2.0, gamma, beta, torch.randn(shape, generator=gen)


def _output_and_grads(fn, x, gamma, beta, upstream):
    leaves = [t.detach().clone().requires_grad_() for t in (x, gamma, beta)]
    y = fn(*leaves)
    (y * upstream).sum().backward()
    return [y.detach(), *(t.grad for t in leaves)]


def _assert_same(ours, reference):
    for a, b in zip(ours, reference):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def _attached(layer):
    layer.attach(torch.arange(K), 0)
    return layer


def _per_run(reference, x, gamma, beta):
    """A torch function applied to each run's block of channels on its own, then concatenated."""
    return torch.cat([reference(*parts) for parts in zip(x.chunk(K, 1), gamma.chunk(K), beta.chunk(K))], 1)


@pytest.mark.parametrize("shape", [(16, K * 8), (6, K * 8, 5, 4)])
def test_group_norm_is_torchs_group_norm_run_by_run(shape):
    x, gamma, beta, upstream = _stacked(shape)
    layer = _attached(GroupNorm(K * 8, 1e-5, channel_groups=4))
    ours = _output_and_grads(lambda *a: layer(*a, "train"), x, gamma, beta, upstream)
    reference = _output_and_grads(
        lambda *a: _per_run(lambda x, g, b: F.group_norm(x, 4, g, b, 1e-5), *a), x, gamma, beta, upstream
    )
    _assert_same(ours, reference)


@pytest.mark.parametrize("shape", [(16, K * 8), (6, K * 8, 5, 4)])
def test_layer_norm_is_torchs_layer_norm_over_each_runs_channels_and_positions(shape):
    x, gamma, beta, upstream = _stacked(shape)
    layer = _attached(LayerNorm(K * 8, 1e-5))

    def reference(x, g, b):  # torch's layer norm over C (x H x W), then BN-style per-channel gamma, beta
        per_channel = (1, -1, *[1] * (x.dim() - 2))
        return F.layer_norm(x, x.shape[1:], eps=1e-5) * g.view(per_channel) + b.view(per_channel)

    ours = _output_and_grads(lambda *a: layer(*a, "train"), x, gamma, beta, upstream)
    _assert_same(ours, _output_and_grads(lambda *a: _per_run(reference, *a), x, gamma, beta, upstream))


def test_instance_norm_is_torchs_instance_norm_and_refuses_an_mlp():
    shape = (6, K * 8, 5, 4)
    x, gamma, beta, upstream = _stacked(shape)
    layer = _attached(InstanceNorm(K * 8, 1e-5))
    ours = _output_and_grads(lambda *a: layer(*a, "train"), x, gamma, beta, upstream)
    reference = _output_and_grads(
        lambda x, g, b: F.instance_norm(x, weight=g, bias=b, eps=1e-5), x, gamma, beta, upstream
    )
    _assert_same(ours, reference)
    with pytest.raises(ValueError, match="conv nets only"):
        layer(torch.randn(16, K * 8), gamma, beta, "train")


@pytest.mark.parametrize(
    "layer", [GroupNorm(K * 8, 1e-5, channel_groups=2), LayerNorm(K * 8, 1e-5), InstanceNorm(K * 8, 1e-5)]
)
def test_per_example_norms_evaluate_as_they_train_and_an_example_does_not_depend_on_the_batch(layer):
    x, gamma, beta, _ = _stacked((6, K * 8, 5, 4))
    _attached(layer)
    train = layer(x, gamma, beta, "train")
    for mode in ("moving", "population", ("batch", 2)):
        torch.testing.assert_close(layer(x, gamma, beta, mode), train)
    torch.testing.assert_close(layer(x[:1], gamma, beta, "moving"), train[:1])


def test_group_norm_refuses_channel_groups_that_do_not_divide_a_runs_channels():
    layer = _attached(GroupNorm(K * 8, 1e-5, channel_groups=3))
    with pytest.raises(ValueError, match="model.norm.channel_groups=3"):
        layer(torch.randn(4, K * 8, 3, 3), None, None, "train")


def _lp_reference(x, p):
    """Santurkar et al.'s lp normalization written out per channel, in float64, eps = 0."""
    x = x.double()
    flat = x.transpose(0, 1).reshape(x.shape[1], -1)  # [C, N * positions]
    c = flat - flat.mean(1, keepdim=True)
    scale = {"1": c.abs().mean(1), "2": c.pow(2).mean(1).sqrt(), "inf": c.abs().amax(1)}[p]
    return (c / scale[:, None]).reshape(x.shape[1], x.shape[0], *x.shape[2:]).transpose(0, 1)


@pytest.mark.parametrize("p", ["1", "2", "inf"])
@pytest.mark.parametrize("shape", [(32, 6), (8, 5, 4, 3)])
def test_lp_norm_divides_the_centered_activations_by_their_average_lp_norm(p, shape):
    x = torch.randn(shape) * 3 + 1
    y = LpBatchNorm(shape[1], p, 0.0, 0.1)(x, None, None, "train")
    torch.testing.assert_close(y.double(), _lp_reference(x, p), rtol=1e-5, atol=1e-5)
    scale = {"1": y.abs().mean(0), "2": y.pow(2).mean(0).sqrt(), "inf": y.abs().amax(0)}[p]
    if len(shape) == 2:  # after it every channel's lp scale is 1
        torch.testing.assert_close(scale, torch.ones(shape[1]), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape", [(32, 6), (8, 5, 4, 3)])
def test_l2_normalization_is_batch_norm_forward_backward_and_moving_mean(shape):
    x, gamma, beta, upstream = _stacked(shape)
    lp, bn = LpBatchNorm(shape[1], "2", 1e-5, 0.1), TorchBatchNorm(shape[1], 1e-5, 0.1)
    _assert_same(
        _output_and_grads(lambda *a: lp(*a, "train"), x, gamma, beta, upstream),
        _output_and_grads(lambda *a: bn(*a, "train"), x, gamma, beta, upstream),
    )
    torch.testing.assert_close(lp.running_mean, bn.running_mean)
    m = x.numel() // x.shape[1]  # BN's running variance is unbiased, lp's the plain s_2^2
    torch.testing.assert_close(lp.running_var - 0.9, (bn.running_var - 0.9) * (m - 1) / m)


@pytest.mark.parametrize("p", ["1", "inf"])
def test_lp_norm_backward_passes_gradcheck_and_evaluates_with_its_moving_or_batch_statistics(p):
    x = torch.randn(12, 4, dtype=torch.float64, requires_grad=True)
    gamma, beta = (torch.randn(4, dtype=torch.float64, requires_grad=True) for _ in range(2))
    layer = LpBatchNorm(4, p, 1e-5, 1.0).double()  # momentum 1: the running statistics are the last batch's
    assert torch.autograd.gradcheck(lambda *a: layer(*a, "train"), (x, gamma, beta))
    trained = layer(x, gamma, beta, "train")
    torch.testing.assert_close(layer(x, gamma, beta, "moving"), trained)
    torch.testing.assert_close(layer(x, gamma, beta, ("batch", None)), trained)
    halves = torch.cat([layer(half, gamma, beta, "train") for half in x.chunk(2)])
    torch.testing.assert_close(layer(x, gamma, beta, ("batch", 6)), halves)
    with pytest.raises(ValueError, match="no population statistics"):
        layer(x, gamma, beta, "population")


def test_lp_norm_over_groups_normalizes_each_group_of_examples_alone():
    x = torch.randn(8, 3, 2, 2)
    grouped = LpBatchNorm(3, "1", 1e-5, 0.1, group=4)(x, None, None, "train")
    alone = torch.cat([LpBatchNorm(3, "1", 1e-5, 0.1)(part, None, None, "train") for part in x.chunk(2)])
    torch.testing.assert_close(grouped, alone)


@pytest.mark.parametrize("conv", [False, True])
def test_weight_norm_is_torchs_weight_norm_forward_and_backward(conv):
    """w = g v / ||v|| per output unit, as torch.nn.utils.parametrizations.weight_norm (dim 0)
    computes it, and the gradients it passes to g and v. Our layouts: an MLP weight is [K, in, out]
    (a unit is a column), a conv weight [K * C_out, C_in, k, k]."""
    reference = torch.nn.Conv2d(4, 6, 3) if conv else torch.nn.Linear(4, 6)
    weight_norm(reference, dim=0)
    torch.manual_seed(0)
    v, g = torch.randn(reference.weight.shape), torch.rand(6) + 0.5
    parametrized = reference.parametrizations.weight
    with torch.no_grad():
        parametrized.original1.copy_(v)
        parametrized.original0.copy_(g.view_as(parametrized.original0))
    upstream = torch.randn(v.shape)
    (reference.weight * upstream).sum().backward()

    slot = Slot("layer_01.weight", "weight", (), 0, 1, ())
    ours_v = (v if conv else v.T.unsqueeze(0)).clone().requires_grad_()
    ours_g = (g.view(6, 1, 1, 1) if conv else g.view(1, 1, 6)).clone().requires_grad_()
    w = weight_normed({"layer_01.weight": ours_v, "layer_01.gain": ours_g}, [slot])["layer_01.weight"]
    w = w if conv else w.squeeze(0).T
    torch.testing.assert_close(w, reference.weight)
    (w * upstream).sum().backward()
    torch.testing.assert_close(ours_v.grad if conv else ours_v.grad.squeeze(0).T, parametrized.original1.grad)
    torch.testing.assert_close(ours_g.grad.flatten(), parametrized.original0.grad.flatten())


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["mlp", "convnet"])
def test_a_weight_normed_network_starts_as_the_same_function(arch):
    """g starts at ||v||: at initialization the network is the plain one (weights drawn alike)."""
    plain, normed = tiny(model__arch=arch), tiny(model__arch=arch, model__weight_norm=True)
    nets = [StackedNet([cfg.model] * 2, [3, 4], (1, 28, 28), 10) for cfg in (plain, normed)]
    x = torch.randn(2, 5, 1, 28, 28)
    torch.testing.assert_close(nets[1](x), nets[0](x))
    assert any(name.endswith(".gain") for name in nets[1].layout.slots)
    assert not any(name.endswith(".gain") for name in nets[0].layout.slots)


def test_gaussianity_is_near_zero_for_gaussian_values_and_not_for_uniform_ones():
    from bnrepro.run.probes import gaussianity

    gen = torch.Generator().manual_seed(0)
    gaussian = gaussianity(torch.randn(1, 256, 8, 8, generator=gen) * 3 + 1)
    uniform = gaussianity(torch.rand(1, 256, 8, 8, generator=gen))
    assert abs(gaussian["kurtosis"].item()) < 0.1 and gaussian["ks"].item() < 0.03
    assert abs(uniform["kurtosis"].item() + 1.2) < 0.1 and uniform["ks"].item() > 0.05


@pytest.mark.slow
@pytest.mark.parametrize(
    "norm",
    [
        {"kind": "lp", "p": "inf"},
        {"kind": "groupnorm", "channel_groups": 2},
        {"kind": "layernorm"},
        {"kind": "instancenorm"},
        {"kind": "decorrelated", "group_size": 2},
        {"kind": "none"},
    ],
)
def test_each_new_norm_trains_a_conv_net_with_the_gaussianity_probe(norm, tmp_path):
    from bnrepro.config import validate
    from bnrepro.run.loop import train_runs

    cfg = tiny(
        model__arch="convnet",
        model__depth=2,
        model__width=4,
        model__bn="pre",
        model__norm=norm,
        model__weight_norm=norm["kind"] == "none",
        train__steps=4,
        train__log_every=2,
        train__eval_every=2,
        probes__which=["grad_norm", "gauss"],
    )
    validate(cfg)
    (summary,) = train_runs([cfg], [tmp_path / "run"], log=lambda m: None)
    assert summary["status"] == "completed"
    assert all(math.isfinite(summary["final"][f"gauss/layer_0{i}/ks"]) for i in (1, 2))


@pytest.mark.slow
def test_the_group_size_figure_draws_bn_by_group_beside_the_per_example_norms_and_only_then(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from bnrepro.report.group_size_figure import group_size_figure

    rows = [
        {
            "config.model.norm.kind": kind,
            "config.model.norm.group": group,
            "config.train.batch_size": 32,
            "test_acc_final": acc + 0.001 * seed,
        }
        for kind, group, acc in (
            ("torch", None, 0.88),
            ("torch", 4, 0.85),
            ("torch", 2, 0.70),
            ("groupnorm", None, 0.87),
            ("layernorm", None, 0.86),
        )
        for seed in (1, 2)
    ]
    runs = pd.DataFrame(rows)
    (path,) = group_size_figure(plt, runs, "test", tmp_path / "x_groups.png")
    assert path.is_file() and path.stat().st_size > 0
    assert group_size_figure(plt, runs[runs["config.model.norm.kind"] == "torch"], "test", tmp_path / "y.png") == []


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"model__norm": {"kind": "instancenorm"}}, r"model.norm.kind=instancenorm .*conv nets only"),
        (
            {"model__arch": "convnet", "model__norm": {"kind": "groupnorm", "channel_groups": 3}},
            r"model.norm.channel_groups=3 .*must divide model.width=16",
        ),
        ({"model__norm": {"kind": "lp", "p": "3"}}, r"model.norm.p=3 .*one of 1, 2, inf"),
        (
            {"model__norm": {"kind": "lp"}, "eval__stats": "population"},
            r"eval.stats=population .*norm=lp supports moving, batch",
        ),
        (
            {"model__norm": {"kind": "decorrelated", "group_size": 3}},
            r"model.norm.group_size=3 .*must divide model.width=16",
        ),
        (
            {"model__norm": {"kind": "decorrelated"}, "eval__stats": "population"},
            r"eval.stats=population .*norm=decorrelated supports moving, batch",
        ),
    ],
)
def test_the_new_norms_refuse_what_they_cannot_do_naming_the_key(overrides, message):
    from bnrepro.config import ConfigError, validate

    with pytest.raises(ConfigError, match=message):
        validate(tiny(model__bn="pre", **overrides))
