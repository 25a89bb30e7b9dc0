"""The stacked LSTM (model.arch=lstm): torch.nn.LSTM exactly without BN, K runs each its own;
BN's statistics kept per time step; gamma's initial value; dL/dh_t; its config checks."""

from __future__ import annotations

import re

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from bnrepro.config import (
    Arch,
    BatchNormConfig,
    BNPlacement,
    ConfigError,
    Init,
    LSTMConfig,
    ModelConfig,
    NoNormConfig,
    validate,
)
from bnrepro.stacked.lstm import StackedLSTM
from bnrepro.stacked.model import StackedNet

from conftest import tiny

SHAPE = (1, 28, 28)  # MNIST read row by row: 28 steps of 28 pixels


def _cfg(bn="none", width=8, depth=1, gamma=0.1, stat_steps=None, momentum=0.1, bn_cell=False) -> ModelConfig:
    norm = NoNormConfig() if bn == "none" else BatchNormConfig(momentum=momentum)
    return ModelConfig(
        arch=Arch.lstm,
        depth=depth,
        width=width,
        bn=BNPlacement(bn),
        norm=norm,
        init=Init.xavier,
        lstm=LSTMConfig(gamma=gamma, stat_steps=stat_steps, bn_cell=bn_cell),
    )


def _torch_copy(net: StackedLSTM, k: int) -> tuple[nn.LSTM, nn.Linear]:
    """Run k's initial weights copied into torch.nn.LSTM (gates i, f, g, o) and a linear head."""
    views = net.layout.per_run(net.params.detach())
    lstm = nn.LSTM(28, net.width, num_layers=net.depth, batch_first=True)
    head = nn.Linear(net.width, 10)
    with torch.no_grad():
        for index, layer in enumerate(net.hidden):
            weight, inputs = views[layer["weight"].name][k], layer["inputs"]
            getattr(lstm, f"weight_ih_l{index}").copy_(weight[:inputs].T)
            getattr(lstm, f"weight_hh_l{index}").copy_(weight[inputs:].T)
            getattr(lstm, f"bias_ih_l{index}").copy_(views[layer["bias"].name][k])
            getattr(lstm, f"bias_hh_l{index}").zero_()
        head.weight.copy_(views[net.out_weight.name][k].T)
        head.bias.copy_(views[net.out_bias.name][k])
    return lstm, head


@pytest.mark.slow
def test_without_bn_each_of_k_runs_trains_as_its_own_torch_lstm():
    K, B, lr = 3, 16, 0.5
    net = StackedNet([_cfg(depth=2)] * K, [11, 12, 13], SHAPE, 10)
    assert isinstance(net, StackedLSTM)
    refs = [_torch_copy(net, k) for k in range(K)]
    # torch's second bias (bias_hh) stays at 0: with both learned, the gates' shift would move twice as fast
    optims = [
        torch.optim.SGD(
            [*(p for n, p in lstm.named_parameters() if not n.startswith("bias_hh")), *head.parameters()], lr=lr
        )
        for lstm, head in refs
    ]
    gen = torch.Generator().manual_seed(0)
    for _ in range(3):
        x, y = torch.rand(K, B, *SHAPE, generator=gen), torch.randint(0, 10, (K, B), generator=gen)
        logits = net(x)
        loss = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none").view(K, B).mean(1)
        (grad,) = torch.autograd.grad(loss.sum(), [net.params])
        for k, ((lstm, head), optim) in enumerate(zip(refs, optims)):
            out, _ = lstm(x[k].view(B, 28, 28))
            ref_logits = head(out[:, -1])
            assert torch.allclose(logits[k], ref_logits, atol=1e-5), f"run {k}"
            optim.zero_grad()
            F.cross_entropy(ref_logits, y[k]).backward()
            optim.step()
        with torch.no_grad():
            net.params -= lr * grad
    test = torch.rand(20, *SHAPE, generator=gen)  # evaluation: one input shared by all runs
    shared = net(test, "moving")
    for k, (lstm, head) in enumerate(refs):
        assert torch.allclose(shared[k], head(lstm(test.view(20, 28, 28))[0][:, -1]), atol=1e-5)


def test_the_probe_gives_dl_dh_t_at_every_step():
    """The zeros added to h_t on a probe step: their gradient is the total dL/dh_t (through
    every later step), checked against an LSTMCell loop with retained gradients."""
    net = StackedNet([_cfg(width=6)], [3], SHAPE, 10)
    lstm, head = _torch_copy(net, 0)
    cell = nn.LSTMCell(28, 6)
    cell.load_state_dict({k.replace("_l0", ""): v for k, v in lstm.state_dict().items()})
    x, y = torch.rand(1, 5, *SHAPE), torch.randint(0, 10, (1, 5))
    taps, outputs = [], []
    loss = F.cross_entropy(net(x, taps=taps, outputs=outputs)[0], y[0])
    (dh,) = torch.autograd.grad(loss, outputs)  # [K, B, U, T]
    h = c = torch.zeros(5, 6)
    hs = []
    for t in range(28):
        h, c = cell(x[0, :, 0, t], (h, c))
        h.retain_grad()
        hs.append(h)
    F.cross_entropy(head(h), y[0]).backward()
    assert taps[0].shape == (1, 5, 24, 28)
    for t in (0, 13, 27):
        assert torch.allclose(dh[0, :, :, t], hs[t].grad, atol=1e-6)


def _rows_of_growing_scale(n: int) -> torch.Tensor:
    """Images whose row t has values ~ (t + 1): W_x x_t's statistics differ from step to step."""
    gen = torch.Generator().manual_seed(1)
    return torch.randn(n, *SHAPE, generator=gen) * torch.arange(1, 29).view(1, 1, 28, 1)


@pytest.mark.slow
@pytest.mark.parametrize("stat_steps", [None, 1])
def test_bn_statistics_are_kept_per_time_step_and_used_at_evaluation(stat_steps):
    """With running averages at rate 1 (the last batch's statistics), the evaluation of that batch
    reproduces the training forward (up to BN's m/(m-1) variance factor) only if every step
    is normalized with its own step's statistics; stat_steps=1 pools them over time, and the
    same comparison fails: the test can tell the two apart."""
    K, B = 2, 256
    net = StackedNet([_cfg(bn="both", width=8, momentum=1.0, stat_steps=stat_steps)] * K, [1, 2], SHAPE, 10)
    x = _rows_of_growing_scale(B)
    trained = net(x.expand(K, *x.shape), "train")
    evaluated = net(x, "moving")
    assert len(net.norm_x[0]) == (28 if stat_steps is None else 1)
    same = torch.allclose(trained, evaluated, atol=5e-3, rtol=5e-3)
    assert same == (stat_steps is None), (trained - evaluated).abs().max()
    if stat_steps is None:  # step t's input-side BN holds the batch mean of W_x x_t at step t
        views = net.layout.split(net.params.detach())
        w_x = views[net.hidden[0]["weight"].name][:, :28]  # [K, 28, 4U]
        for t in (0, 27):
            mean = (x[:, 0, t] @ w_x).mean(1).flatten()  # [K * 4U]
            assert torch.allclose(net.norm_x[0][t].running_mean, mean, rtol=1e-4, atol=1e-4)
        assert not torch.allclose(net.norm_x[0][0].running_var, net.norm_x[0][27].running_var)


def test_steps_beyond_stat_steps_reuse_the_last_statistics():
    net = StackedNet([_cfg(bn="both", stat_steps=3, bn_cell=True)], [1], SHAPE, 10)
    assert [len(n[0]) for n in (net.norm_x, net.norm_h, net.norm_c)] == [3, 3, 3]
    x = _rows_of_growing_scale(4)
    before = net(x, "moving")
    with torch.no_grad():  # a change to the last kept step's statistics moves the output ...
        net.norm_x[0][2].running_mean += 1.0
    assert not torch.allclose(net(x, "moving"), before)


def test_gamma_starts_at_model_lstm_gamma_per_run():
    net = StackedNet(
        [_cfg(bn="both", gamma=0.1, bn_cell=True), _cfg(bn="both", gamma=1.0, bn_cell=True)], [1, 2], SHAPE, 10
    )
    views = net.layout.per_run(net.params.detach())
    gammas = [s.name for s in net.layout.slots.values() if s.kind == "gamma"]
    assert len(gammas) == 3  # gamma_x, gamma_h, gamma_c
    for name in gammas:
        assert torch.all(views[name][0] == 0.1) and torch.all(views[name][1] == 1.0)
    assert all(s.kind != "beta" or torch.all(views[s.name] == 0) for s in net.layout.slots.values())


def _lstm_cfg(**overrides):
    return tiny(
        **{
            "model__arch": "lstm",
            "model__depth": 1,
            "model__width": 8,
            "probes__which": ["grad_norm", "lstm"],
            **overrides,
        }
    )


@pytest.mark.parametrize(
    "overrides, key",
    [
        ({"model__lstm__gamma": 0.0}, "model.lstm.gamma"),
        ({"model__bn": "pre"}, "model.bn"),
        ({"model__lstm__step_inputs": 5}, "model.lstm.step_inputs"),
        ({"model__lstm__stat_steps": 0}, "model.lstm.stat_steps"),
        ({"model__lstm__bn_cell": True, "model__bn": "input"}, "model.lstm.bn_cell"),
        ({"probes__which": ["grad_norm", "act"]}, "probes.which"),
    ],
)
def test_lstm_keys_out_of_range_fail_naming_the_key(overrides, key):
    with pytest.raises(ConfigError, match=re.escape(key)):
        validate(_lstm_cfg(**overrides))


def test_lstm_keys_elsewhere_fail_naming_the_key():
    validate(_lstm_cfg(model__bn="both"))
    with pytest.raises(ConfigError, match="model.bn"):
        validate(tiny(model__bn="input"))
    with pytest.raises(ConfigError, match="probes.which"):
        validate(tiny(probes__which=["grad_norm", "lstm"]))


def test_claims_may_name_the_time_steps_the_sequence_has_and_no_others():
    from bnrepro.run.logged_tags import why_missing

    rows = _lstm_cfg()  # 784 pixels, 28 per step: T = 28
    assert why_missing(rows, "lstm/layer_01/step_28/gates_std") is None
    assert "step_29" in why_missing(rows, "lstm/layer_01/step_29/gates_std")
    halves = _lstm_cfg(model__lstm__step_inputs=392)  # T = 2
    assert why_missing(halves, "lstm/layer_01/step_02/hidden_grad") is None
    assert why_missing(halves, "lstm/layer_01/step_03/hidden_grad") is not None


@pytest.mark.slow
def test_an_lstm_run_logs_per_step_tags_the_glossary_and_claims_know(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from bnrepro.run.logged_tags import why_missing
    from bnrepro.run.loop import train_runs
    from test_docs import glossary_patterns

    cfg = _lstm_cfg(
        model__bn="both",
        probes__which=["grad_norm", "lstm", "update_ratio"],
        probes__initial=True,
        train__steps=4,
        train__log_every=2,
        train__eval_every=4,
        probes__hist_every=2,
    )
    validate(cfg)
    (summary,) = train_runs([cfg], [tmp_path / "run"], log=lambda m: None)
    assert summary["status"] == "completed"
    final = summary["final"]
    assert all(final[f"lstm/layer_01/step_{t:02d}/hidden_grad"] > 0 for t in range(1, 29))
    assert final["lstm/layer_01/hidden_grad_first_over_last"] > 0
    events = EventAccumulator(str(tmp_path / "run"))
    events.Reload()
    tags = events.Tags()["scalars"] + events.Tags()["histograms"] + events.Tags()["images"]
    patterns = glossary_patterns()
    assert not [tag for tag in tags if not any(p.match(tag) for p in patterns)]
    for metric in ("lstm/layer_01/step_05/hidden_grad:first", "lstm/layer_01/grad_norm_hidden", "grad_norm/layer_02"):
        assert why_missing(cfg, metric) is None
    assert why_missing(cfg, "lstm/layer_01/step_05/hidden_grd") is not None  # a typo is caught
    from bnrepro.report.figures import figures

    drawn = figures([tmp_path], tmp_path / "figures")
    assert tmp_path / "figures" / "default_hidden_grad.png" in drawn  # ||dL/dh_t|| per time step
