"""The paper's BatchNorm (Algorithms 1 and 2), Batch Renormalization, and their properties."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from bnrepro.data import load
from bnrepro.run.evaluation import evaluate, set_population
from bnrepro.stacked.model import StackedNet
from bnrepro.stacked.norms import BatchRenorm, PaperBatchNorm, PaperBNFunction, TorchBatchNorm, renorm_schedule
from bnrepro.run.sampler import Sampler

from conftest import tiny

SHAPES = [(32, 6), (8, 5, 4, 3)]  # an MLP layer [N, C] and a conv layer [N, C, H, W]


def leaf(*shape, scale=1.0, shift=0.0, dtype=torch.float32):
    return (torch.randn(*shape, dtype=dtype) * scale + shift).requires_grad_()


@pytest.mark.parametrize("shape", SHAPES)
def test_paper_layer_matches_torch_in_training_and_eval(shape):
    """Outputs, all three gradients, running statistics and eval-mode outputs."""
    torch.manual_seed(0)
    C = shape[1]
    paper, ours_torch = PaperBatchNorm(C, 1e-5, 0.1), TorchBatchNorm(C, 1e-5, 0.1)
    for _ in range(5):
        x = leaf(*shape, scale=3.0, shift=2.0)
        gamma, beta = leaf(C), leaf(C)
        upstream = torch.randn(shape)
        outputs = {}
        for name, layer in (("paper", paper), ("torch", ours_torch)):
            xs, gs, bs = (t.detach().clone().requires_grad_() for t in (x, gamma, beta))
            y = layer(xs, gs, bs, "train")
            (y * upstream).sum().backward()
            outputs[name] = (y, xs.grad, gs.grad, bs.grad)
        for a, b in zip(outputs["paper"], outputs["torch"]):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(paper.running_mean, ours_torch.running_mean)
    torch.testing.assert_close(paper.running_var, ours_torch.running_var)
    x = torch.randn(shape)
    torch.testing.assert_close(paper(x, gamma, beta, "moving"), ours_torch(x, gamma, beta, "moving"))
    reference = torch.nn.BatchNorm1d(C) if len(shape) == 2 else torch.nn.BatchNorm2d(C)
    reference.load_state_dict(
        {
            "weight": gamma,
            "bias": beta,
            "running_mean": paper.running_mean,
            "running_var": paper.running_var,
            "num_batches_tracked": torch.tensor(5),
        }
    )
    torch.testing.assert_close(paper(x, gamma, beta, "moving"), reference.eval()(x))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("affine", ["learn", "fixed_gamma", "none"])
def test_paper_backward_passes_gradcheck_in_float64(shape, affine):
    C = shape[1]
    x = leaf(*shape, dtype=torch.float64)
    gamma = {
        "learn": leaf(C, dtype=torch.float64),
        "fixed_gamma": torch.full((C,), 2.0, dtype=torch.float64),
        "none": None,
    }[affine]
    beta = None if affine == "none" else leaf(C, dtype=torch.float64)
    inputs = tuple(t for t in (x, gamma, beta) if t is not None and t.requires_grad)

    def f(*args):
        values = iter(args)
        g = next(values) if gamma is not None and gamma.requires_grad else gamma
        b = next(values) if beta is not None else None
        return PaperBNFunction.apply(x_arg[0], g, b, 1e-5)[0]

    x_arg = [x]

    def with_x(xv, *rest):
        x_arg[0] = xv
        return f(*rest)

    assert torch.autograd.gradcheck(with_x, inputs, eps=1e-6, atol=1e-5)


@pytest.mark.parametrize("norm", ["paper", "torch"])
def test_scale_invariance_of_bn(norm):
    """BN((aW)u) = BN(Wu); the input gradient is unchanged; the weights' gradient scales by 1/a."""
    results = {}
    for a in (0.1, 1.0, 10.0):
        cfg = tiny(
            model__bn="pre",
            model__norm__kind=norm,
            model__weight_scale=a,
            model__norm__eps=1e-12,
            data__synthetic_train=64,
        )
        data = load(cfg.data, torch.device("cpu"))
        model = StackedNet([cfg.model], [cfg.seed], data.input_shape, data.classes).double()
        x = data.train_x[:32].double().unsqueeze(0).requires_grad_()
        logits = model(x, "train")
        loss = F.cross_entropy(logits[0], data.train_y[:32])
        grad_params, grad_x = torch.autograd.grad(loss, (model.params, x))
        views = model.layout.per_run(grad_params)
        results[a] = (logits.detach(), grad_x, [views[s.name] for s in model.weight_slots()])
    close = dict(rtol=1e-5, atol=1e-7)  # the weights a*W are rounded to float32 before the float64 pass
    for a in (0.1, 10.0):
        logits, grad_x, grads = results[a]
        torch.testing.assert_close(logits, results[1.0][0], **close)
        torch.testing.assert_close(grad_x, results[1.0][1], **close)
        for hidden, reference in zip(grads[:-1], results[1.0][2][:-1]):  # hidden layers: 1/a
            torch.testing.assert_close(hidden * a, reference, **close)
        torch.testing.assert_close(grads[-1], results[1.0][2][-1], **close)  # output layer


def test_without_bn_scaling_the_weights_changes_the_function():
    outputs = []
    for a in (1.0, 10.0):
        cfg = tiny(model__weight_scale=a)
        data = load(cfg.data, torch.device("cpu"))
        model = StackedNet([cfg.model], [cfg.seed], data.input_shape, data.classes)
        outputs.append(model(data.test_x[:8], "moving"))
    assert not torch.allclose(*outputs, atol=1e-3)


@pytest.mark.parametrize("norm", ["paper", "torch", "renorm"])
def test_population_statistics_are_the_exact_statistics_of_the_training_minibatches(norm):
    cfg = tiny(model__bn="pre", model__norm__kind=norm, model__depth=1, train__batch_size=16)
    data = load(cfg.data, torch.device("cpu"))
    model = StackedNet([cfg.model], [cfg.seed], data.input_shape, data.classes)
    sampler = Sampler(model.seeds, len(data.train_y), 16)
    running = model.norms[0].running_mean.clone()
    set_population(model, data, sampler, batches=20)
    # by hand: the first layer's pre-activations Wu of the same 20 batches
    w = model.layout.per_run(model.params.detach())["layer_01.weight"][0]
    means, variances = [], []
    for index in sampler.population_indices(20):
        z = data.train_x[index[0]].flatten(1) @ w
        means.append(z.mean(0))
        variances.append(z.var(0, unbiased=False))
    torch.testing.assert_close(model.norms[0].population_mean, torch.stack(means).mean(0))
    torch.testing.assert_close(model.norms[0].population_var, torch.stack(variances).mean(0) * 16 / 15)
    assert torch.equal(model.norms[0].running_mean, running)  # Algorithm 2 touched no running average


@pytest.mark.parametrize("shape", SHAPES)
def test_batch_renorm_with_rmax_1_dmax_0_is_batch_norm(shape):
    torch.manual_seed(1)
    C = shape[1]
    renorm = BatchRenorm(C, 1e-5, 0.01, renorm_schedule(1.0, 0.0, 0, 10, 10))
    renorm.running_mean.fill_(3.0)  # far from the batch statistics: r, d would matter
    renorm.running_std.fill_(0.2)
    x, gamma, beta = leaf(*shape, scale=2.0), leaf(C), leaf(C)
    y = renorm(x, gamma, beta, "train", torch.tensor(5))
    (y**2).sum().backward()
    x2, g2, b2 = (t.detach().clone().requires_grad_() for t in (x, gamma, beta))
    y2 = F.batch_norm(x2, None, None, g2, b2, training=True, eps=1e-5)
    (y2**2).sum().backward()
    for a, b in ((y, y2), (x.grad, x2.grad), (gamma.grad, g2.grad), (beta.grad, b2.grad)):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_batch_renorm_clips_r_and_d_and_does_not_backpropagate_them():
    torch.manual_seed(2)
    renorm = BatchRenorm(4, 1e-5, 0.01, renorm_schedule(2.0, 0.5, 0, 1, 1))
    renorm.running_mean.fill_(1.0)
    renorm.running_std.fill_(0.5)
    x = leaf(64, 4, scale=3.0)
    y = renorm(x, None, None, "train", torch.tensor(100))
    (y * torch.arange(4.0)).sum().backward()
    # by hand, r and d as constants: r = clip(sigma_B / 0.5, 1/2, 2) = 2, d = clip((mu_B - 1) / 0.5, +-0.5)
    x2 = x.detach().clone().requires_grad_()
    mu, sigma = x2.mean(0), torch.sqrt(x2.var(0, unbiased=False) + 1e-5)
    r = (sigma.detach() / 0.5).clamp(0.5, 2.0)
    d = ((mu.detach() - 1.0) / 0.5).clamp(-0.5, 0.5)
    assert (r == 2.0).all()
    y2 = (x2 - mu) / sigma * r + d
    (y2 * torch.arange(4.0)).sum().backward()
    torch.testing.assert_close(y, y2)
    torch.testing.assert_close(x.grad, x2.grad)
    torch.testing.assert_close(renorm.running_std, 0.99 * 0.5 + 0.01 * sigma.detach())


def test_renorm_schedule_starts_as_bn_and_relaxes_linearly():
    schedule = renorm_schedule(3.0, 5.0, warmup=100, r_max_at=500, d_max_at=300)
    values = {t: tuple(float(v) for v in schedule(torch.tensor(t))) for t in (0, 100, 300, 500, 900)}
    assert values == {0: (1.0, 0.0), 100: (1.0, 0.0), 300: (2.0, 5.0), 500: (3.0, 5.0), 900: (3.0, 5.0)}


@pytest.mark.parametrize("norm", ["paper", "torch", "renorm"])
def test_eval_mode_predictions_do_not_depend_on_the_rest_of_the_batch(norm):
    cfg = tiny(model__bn="pre", model__norm__kind=norm, train__steps=20)
    data = load(cfg.data, torch.device("cpu"))
    model = StackedNet([cfg.model], [cfg.seed], data.input_shape, data.classes)
    sampler = Sampler(model.seeds, len(data.train_y), 16)
    set_population(model, data, sampler, batches=5)
    with torch.no_grad():
        model(data.train_x[:64].unsqueeze(0), "train", step=torch.tensor(0))  # running averages off their init
    for stats in ("moving", "population"):
        alone = model(data.test_x[:1], stats)
        in_a_batch = model(data.test_x[:50], stats)[:, :1]
        torch.testing.assert_close(alone, in_a_batch, rtol=1e-5, atol=1e-6)
    # with the test batch's own statistics the same example's prediction changes with its company
    first = model(data.test_x[:50], ("batch", 50))[:, :1]
    other = model(torch.cat([data.test_x[:1], data.test_x[50:99]]), ("batch", 50))[:, :1]
    assert not torch.allclose(first, other, atol=1e-4)


def test_batch_statistics_evaluation_normalizes_each_group_on_its_own():
    cfg = tiny(model__bn="pre", model__norm__kind="paper")
    data = load(cfg.data, torch.device("cpu"))
    model = StackedNet([cfg.model], [cfg.seed], data.input_shape, data.classes)
    result = evaluate(model, data, chunk=40, stats="batch", group=16)  # 128 = 8 groups of 16
    by_hand = torch.cat([model(data.test_x[i : i + 16], ("batch", None)) for i in range(0, 128, 16)], dim=1)
    accuracy = (by_hand.argmax(-1) == data.test_y).float().mean()
    torch.testing.assert_close(result[1, 0], accuracy)
    alone = evaluate(model, data, chunk=128, stats="batch", group=1)[1, 0]
    assert alone < 0.2  # one example per batch: every input normalizes to 0, chance level
