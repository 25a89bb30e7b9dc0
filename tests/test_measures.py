"""Santurkar et al.'s measures and noisy BN: ICS against a hand-made partial update, the
landscape probe leaving the run untouched, noisy BN's noise distribution, the shift probe."""

from __future__ import annotations

import copy

import pytest
import torch
from scipy import stats

from bnrepro.config import ConfigError, validate
from bnrepro.data import load
from bnrepro.run import losses, measures, probes
from bnrepro.run.loop import train_runs
from bnrepro.run.sampler import Sampler
from bnrepro.run.step import StepState, train_step
from bnrepro.stacked.model import StackedNet
from bnrepro.stacked import norms, rng
from bnrepro.stacked.norms import noisy_bn_noise
from bnrepro.stacked.optim import StackedSGD

from conftest import tiny


def _state(cfgs, keep_record=True, which=("grad_norm",)):
    data = load(cfgs[0].data, torch.device("cpu"))
    model = StackedNet([c.model for c in cfgs], [c.seed for c in cfgs], data.input_shape, data.classes)
    sampler = Sampler(model.seeds, len(data.train_y), cfgs[0].train.batch_size)
    sampler.start_epoch(0)
    optimizer = StackedSGD(model.layout, [c.optim for c in cfgs], 100, torch.device("cpu"))
    return StepState(model, optimizer, sampler, data, 0, which, keep_record=keep_record)


def _snapshot(model):
    return model.params.detach().clone(), {name: b.clone() for name, b in model.named_buffers()}


def _bn(norm="torch", **more):
    return dict(model__bn="pre", model__norm__kind=norm, optim__momentum=0.9, optim__weight_decay=1e-3, **more)


@pytest.mark.parametrize("layer", [2, 3, 4])
def test_ics_g_prime_is_the_gradient_after_the_earlier_layers_update(layer):
    """G' by hand: a copy of the network whose layers 1..i-1 hold their updated values (slot
    by slot) and layers i.. their old ones, one ordinary backward pass on the same batch."""
    cfgs = [tiny(seed=s, optim__lr=lr, **_bn()) for s, lr in ((1, 0.1), (2, 0.5))]
    state = _state(cfgs)
    train_step(state, probe=False)  # momentum non-zero: the update is not just -lr * g
    out = train_step(state, probe=True)
    record, model = out.record, state.model
    values = measures.ics(state, record, [layer])

    hand = copy.deepcopy(model)
    before, after = (model.layout.per_run(t) for t in (record.before, model.params.detach()))
    with torch.no_grad():
        for name, view in model.layout.per_run(hand.params.data).items():
            earlier = int(name.split(".")[0].removeprefix("layer_")) < layer
            view.copy_(after[name] if earlier else before[name])
    logits = hand(record.x, "train", step=record.step)
    loss = losses.per_example(logits, record.y, state.loss, state.output).view(2, -1).mean(1)
    loss.sum().backward()
    slot = model.weight_slots()[layer - 1].name
    g = model.layout.per_run(record.grad)[slot].flatten(1)
    g_prime = model.layout.per_run(hand.params.grad)[slot].flatten(1)
    tag = f"ics/layer_{layer:02d}"
    torch.testing.assert_close(values[f"{tag}/l2"], (g - g_prime).norm(dim=1), rtol=1e-4, atol=1e-7)
    torch.testing.assert_close(values[f"{tag}/cos"], torch.cosine_similarity(g, g_prime, dim=1), rtol=1e-5, atol=1e-6)
    assert (values[f"{tag}/l2"] > 0).all()  # the earlier layers did move


def test_ics_without_an_update_is_zero():
    """A record whose `before` is the current point (no update happened): G' = G, bit for bit."""
    state = _state([tiny(**_bn())])
    record = train_step(state, probe=True).record
    record.before = state.model.params.detach().clone()
    record.grad = measures.loss_and_grad(state, record, record.before)[1]
    values = measures.ics(state, record, [2, 4])
    assert float(values["ics/layer_02/l2"][0]) == 0.0 and float(values["ics/layer_04/cos"][0]) == pytest.approx(1.0)


@pytest.mark.parametrize("norm", ["torch", "paper", "noisy"])
def test_landscape_leaves_weights_and_statistics_bit_identical_and_starts_at_the_step_loss(norm):
    cfgs = [tiny(seed=s, model__dropout=0.2, **_bn(norm)) for s in (1, 2)]
    state = _state(cfgs)
    state.sums.zero_()
    out = train_step(state, probe=True)
    step_loss = state.sums[0].clone()
    params, buffers = _snapshot(state.model)
    momentum = state.optimizer.buf.clone()
    values = measures.landscape(state, out.record, 8, (0.5, 4.0))
    values.update(measures.ics(state, out.record, [2, 3]))
    assert torch.equal(state.model.params.detach(), params)
    assert all(torch.equal(b, buffers[name]) for name, b in state.model.named_buffers())
    assert torch.equal(state.optimizer.buf, momentum) and int(state.step) == 1
    loss, change, distance = measures.landscape_points(state, out.record, [0.0])
    assert torch.equal(loss[0], step_loss)  # step size 0: the step's own loss, bit for bit
    assert torch.equal(change[0], torch.zeros(2)) and torch.equal(distance[0], torch.zeros(2))
    for tag, value in values.items():
        assert value.shape == (2,) and torch.isfinite(value).all(), tag
    assert (values["landscape/loss_range"] >= 0).all()
    assert (values["landscape/loss_max"] - values["landscape/loss_min"] == values["landscape/loss_range"]).all()


def test_landscape_moves_each_run_by_its_own_learning_rate():
    """Two runs, lr 0.1 and 0.4, same seed: run 2's points at c are run 1's at 4c."""
    cfgs = [tiny(seed=1, optim__lr=lr, **_bn()) for lr in (0.1, 0.4)]
    state = _state(cfgs)
    out = train_step(state, probe=True)
    loss, change, distance = measures.landscape_points(state, out.record, [0.5, 2.0])
    torch.testing.assert_close(distance[1, 0] * 4, distance[1, 1])
    torch.testing.assert_close(loss[1, 0], loss[0, 1], rtol=1e-5, atol=1e-6)  # 2 * 0.1 = 0.5 * 0.4


def test_landscape_step_sizes_are_scaled_down_together_to_the_largest_step_asked_for():
    """landscape_max_step=0.3: run 2 (lr 0.4, steps 0.2, 0.3, 0.8) is scaled by 0.3 / 0.8; run 1's
    steps (at most 0.2) are below the cap and stay."""
    cfgs = [tiny(seed=1, optim__lr=lr, **_bn()) for lr in (0.1, 0.4)]
    state = _state(cfgs)
    out = train_step(state, probe=True)
    free = measures.landscape_points(state, out.record, [0.5, 0.75, 2.0])
    capped = measures.landscape_points(state, out.record, [0.5, 0.75, 2.0], max_step=0.3)
    g_norm = measures.run_norms(out.record.grad, state.model.layout)
    torch.testing.assert_close(capped[2][:, 1], torch.tensor([0.2, 0.3, 0.8]) * 0.3 / 0.8 * g_norm[1])
    for got, want in zip(capped, free):
        torch.testing.assert_close(got[:, 0], want[:, 0])
    torch.testing.assert_close(capped[0][2, 1], free[0][1, 1])  # its largest step: 0.3, as run 2's 0.75 x 0.4
    with pytest.raises(ConfigError, match="probes.landscape_max_step"):
        validate(tiny(probes__landscape_max_step=0.0))


def test_landscape_descent_and_rise_split_the_loss_along_the_gradient_by_hand():
    """Three runs' losses at increasing step sizes: falls then rises (3, 2, 1, 4: descent 2,
    rise 3), only falls (descent 2, rise 0), rises from two lows (1, 2, 0.5, 1.5: rise 1 from
    either low, where max - min is 1.5)."""
    loss = torch.tensor([[3.0, 3.0, 1.0], [2.0, 2.0, 2.0], [1.0, 1.0, 0.5], [4.0, 1.0, 1.5]])
    descent, rise = measures.descent_and_rise(loss)
    assert descent.tolist() == [2.0, 2.0, 0.5]
    assert rise.tolist() == [3.0, 0.0, 1.0]


def test_step_multiples_are_geometric_over_the_range():
    assert measures.step_multiples(8, (0.5, 4.0)) == pytest.approx([0.5 * 2 ** (3 * i / 7) for i in range(8)])
    assert measures.step_multiples(1, (0.5, 4.0)) == [0.5]


def test_noisy_bn_noise_has_the_stated_distribution():
    """Per channel mu_t ~ U(-0.5, 0.5), sigma_t ~ U(1, 1.25); per example m ~ U(mu_t +- 0.1),
    s ~ N(sigma_t, 0.1); Kolmogorov-Smirnov at p > 1e-3 over 50 steps x 64 channels."""
    seeds, index = torch.full((64,), 7), torch.arange(64)
    draws = [noisy_bn_noise(seeds, index, torch.tensor(t), 1, 32, 0.5, 1.25, 0.1, 0.1) for t in range(50)]
    mu = torch.cat([d[0] for d in draws])
    sigma = torch.cat([d[1] for d in draws])
    m_off = torch.cat([(d[2] - d[0]).flatten() for d in draws])
    s_off = torch.cat([(d[3] - d[1]).flatten() for d in draws])
    assert stats.kstest(mu.numpy(), stats.uniform(-0.5, 1.0).cdf).pvalue > 1e-3
    assert stats.kstest(sigma.numpy(), stats.uniform(1.0, 0.25).cdf).pvalue > 1e-3
    assert stats.kstest(m_off.numpy(), stats.uniform(-0.1, 0.2).cdf).pvalue > 1e-3
    assert stats.kstest(s_off.numpy(), stats.norm(0, 0.1).cdf).pvalue > 1e-3
    again = noisy_bn_noise(seeds, index, torch.tensor(3), 1, 32, 0.5, 1.25, 0.1, 0.1)
    assert all(torch.equal(a, b) for a, b in zip(again, draws[3]))  # a pure function of the step
    other = noisy_bn_noise(seeds, index, torch.tensor(3), 2, 32, 0.5, 1.25, 0.1, 0.1)
    assert not torch.equal(other[0], draws[3][0])  # each layer its own


def test_noisy_bn_noise_in_blocks_is_the_one_pass_formula_bit_for_bit():
    """On the CPU the per-position draws are made in blocks (norms.NOISE_BLOCK); the values are
    those of the formula computed in one pass over all [n, C] (fixed seeds, several blocks, a
    channel count that does not divide the block, a partial last block)."""
    seeds, index = torch.tensor([3, 5, 11]).repeat_interleave(8), torch.arange(8).repeat(3)  # 3 runs x 8 channels
    n, step = 2 * norms.NOISE_BLOCK // 24 + 77, torch.tensor(41)
    example = torch.arange(n).view(n, 1)

    def prefix(draw):
        return rng.hash32(seeds, rng.STREAM_NOISE, step, 2, index, draw)

    mu_t = (2 * rng.uniform(state=prefix(0)) - 1) * 0.5
    sigma_t = 1 + rng.uniform(state=prefix(1)) * (1.25 - 1)
    u_shift, u_radius, u_angle = rng.uniform_split(example, state=prefix(2), bits=(10, 11, 11))
    m = mu_t + (2 * u_shift - 1) * 0.1
    s = sigma_t + 0.1 * torch.sqrt(-2 * torch.log1p(-u_radius)) * torch.cos(2 * torch.pi * u_angle)
    drawn = noisy_bn_noise(seeds, index, step, 2, n, 0.5, 1.25, 0.1, 0.1)
    assert all(torch.equal(a, b) for a, b in zip(drawn, (mu_t, sigma_t, m, s)))


def test_noisy_bn_is_bn_then_scale_and_shift_in_training_and_plain_bn_at_evaluation():
    cfg = tiny(**_bn("noisy"))
    state = _state([cfg], keep_record=False)
    norm = state.model.norms[0]
    x = torch.randn(16, 16) * 3 + 1
    step = torch.tensor(5)
    mu_t, sigma_t, m, s = noisy_bn_noise(
        norm.noise.channel_seed, norm.noise.channel_index, step, 0, 16, 0.5, 1.25, 0.1, 0.1
    )
    clean = torch.nn.functional.batch_norm(x, torch.zeros(16), torch.ones(16), training=True)
    torch.testing.assert_close(norm(x, None, None, "train", step), clean * s + m)
    running = norm.running_mean.clone(), norm.running_var.clone()
    plain = torch.nn.functional.batch_norm(x, *running, training=False)
    torch.testing.assert_close(norm(x, None, None, "moving"), plain)


def test_noisy_bn_noise_of_a_run_does_not_depend_on_its_batch_mates():
    alone = _state([tiny(seed=3, **_bn("noisy"))], keep_record=False).model.norms[1]
    together = _state([tiny(seed=s, **_bn("noisy")) for s in (1, 3)], keep_record=False).model.norms[1]
    step = torch.tensor(9)
    a = noisy_bn_noise(alone.noise.channel_seed, alone.noise.channel_index, step, 1, 4, 0.5, 1.25, 0.1, 0.1)
    b = noisy_bn_noise(together.noise.channel_seed, together.noise.channel_index, step, 1, 4, 0.5, 1.25, 0.1, 0.1)
    assert all(torch.equal(x, y[..., 16:]) for x, y in zip(a, b))  # run 2's channels are 16..31


def test_shift_probe_compares_each_unit_with_the_previous_probe_step():
    z1, z2 = torch.randn(2, 50, 4), torch.randn(2, 50, 4) * 2 + 1  # [K, B, U]
    inputs = [
        probes.ProbeInput(
            z=[z],
            a=[z],
            a_grad=None,
            grad=None,
            params=None,
            update=None,
            layout=None,
            weights=[],
            biases=[],
            unit=0,
            activation=None,
            memory=memory,
        )
        for z, memory in ((z1, {}), (z2, None))
    ]
    inputs[1].memory = inputs[0].memory
    assert probes.PROBES["shift"](inputs[0]) == {}  # nothing to compare with yet
    values = probes.PROBES["shift"](inputs[1])
    m1, s1, m2, s2 = z1.mean(1), z1.std(1), z2.mean(1), z2.std(1)
    torch.testing.assert_close(values["shift/layer_01/mean"], (m2 - m1).abs().mean(1) / s1.pow(2).mean(1).sqrt())
    torch.testing.assert_close(values["shift/layer_01/std"], (s2.log() - s1.log()).abs().mean(1))


def test_measures_in_a_run_are_logged_on_their_schedule_and_do_not_change_the_trajectory(tmp_path):
    plain = tiny(**_bn("noisy"), probes__which=["grad_norm", "shift"])
    measured = tiny(
        **_bn("noisy"),
        probes__which=["grad_norm", "shift"],
        probes__ics_every=20,
        probes__ics_layers=[2, 4],
        probes__landscape_every=10,
        probes__landscape_sizes=3,
    )
    (a,) = train_runs([plain], [tmp_path / "plain"], log=lambda m: None)
    (b,) = train_runs([measured], [tmp_path / "measured"], log=lambda m: None)
    assert a["test_acc_final"] == b["test_acc_final"] and a["train_loss_final"] == b["train_loss_final"]
    rows = (tmp_path / "measured" / "scalars.csv").read_text().splitlines()
    header = rows[0].split(",")
    by_step = {int(float(r.split(",")[0])): dict(zip(header, r.split(","))) for r in rows[1:]}
    assert by_step[10]["landscape/loss_range"] and not by_step[10]["ics/layer_02/l2"]
    assert by_step[20]["ics/layer_04/cos"] and by_step[20]["landscape/beta_smoothness"]
    assert by_step[20]["shift/layer_01/mean"] and not by_step[1].get("shift/layer_01/mean")


@pytest.mark.parametrize(
    "key, value",
    [
        ("probes__ics_layers", [1]),
        ("probes__ics_layers", [5]),
        ("probes__ics_every", 15),
        ("probes__landscape_every", 7),
        ("probes__landscape_range", [2.0, 1.0]),
        ("model__norm__n_sigma", 0.5),
    ],
)
def test_bad_measure_settings_are_refused_naming_the_key(key, value):
    extra = {"model__bn": "pre", "model__norm__kind": "noisy"} if "norm" in key else {}
    with pytest.raises(ConfigError, match=key.replace("__", ".")):
        validate(tiny(**{key: value}, **extra))


def test_a_run_with_the_measures_and_noisy_bn_killed_mid_run_resumes_exactly(tmp_path, monkeypatch):
    """The shift probe's memory is checkpointed; noisy BN's noise is a function of the step."""
    from bnrepro.launch.resume import resume_group
    from test_resume import Killed, assert_same_results, stop_at

    cfg = dict(
        **_bn("noisy"),
        probes__which=["grad_norm", "shift"],
        probes__ics_every=10,
        probes__ics_layers=[3],
        probes__landscape_every=20,
        probes__landscape_sizes=2,
        train__checkpoint_every=17,
        train__checkpoint_min_s=0,
    )
    plain = [tmp_path / "plain" / "run"]
    train_runs([tiny(**cfg)], plain, log=lambda m: None)
    dirs = [tmp_path / "killed" / "run"]

    def kill():
        raise Killed

    stop_at(monkeypatch, 25, kill)  # after the checkpoint at 17 and the probe at 20
    with pytest.raises(Killed):
        train_runs([tiny(**cfg)], dirs, log=lambda m: None)
    monkeypatch.undo()
    resume_group(dirs, log=lambda m: None)
    assert_same_results(plain, dirs)


@pytest.mark.parametrize("value", [0.0, -2.0, float("inf")])
def test_a_fixed_gamma_that_is_not_finite_and_positive_is_refused_naming_the_key(value):
    with pytest.raises(ConfigError, match="model.bn_gamma"):
        validate(tiny(model__bn_affine="fixed_gamma", model__bn_gamma=value))
