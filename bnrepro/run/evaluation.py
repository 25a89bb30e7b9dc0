"""Test-time evaluation: which statistics BN normalizes the test data with.

- test/loss, test/acc: with eval.stats (moving averages by default);
- eval.compare_stats: test accuracy under each choice (moving averages, Algorithm 2's
  population statistics, each test batch's own statistics) and how far the moving
  averages are from the population statistics;
- eval.variance_shift: per BN layer, Li et al. 2019's variance shift max(a/b, b/a) of BN's
  moving variance a and the variance b of its input over training examples in inference
  mode (no dropout), each the mean over the layer's units; dropout before BN makes them
  differ;
- eval.train_gap: accuracy on as many training examples as the test set has, in eval
  mode, and its difference from test accuracy (the generalization gap);
- eval.batch_sizes, at the end: test accuracy when each group of n test examples is
  normalized with its own statistics, for every n: what a model that used the test
  batch's statistics would score, and how that depends on who shares the batch.
Evaluation never changes the model's training state (running averages included).
"""

from __future__ import annotations

import math
from dataclasses import replace

import torch

from ..config import Arch, Config, Loss, Output
from ..data import Dataset
from ..stacked.model import StackedNet, layer_tag
from . import losses
from .sampler import Sampler


# On the CPU an evaluation chunk holds at most this many values in its widest activation
# (all runs; 64 MiB of float32): larger chunks are no faster there, and fig3's net in
# chunks of train.eval_batch_size = 10,000 test images held gigabytes per layer.
CPU_CHUNK_VALUES = 16 << 20


def chunk_size(model: StackedNet, data: Dataset, requested: int) -> int:
    """Test examples per forward pass: train.eval_batch_size, on the CPU bounded by
    CPU_CHUNK_VALUES (the widest layer at full resolution bounds an example's activation)."""
    if data.test_x.is_cuda:
        return requested
    positions = (
        1 if model.arch == Arch.mlp else model.steps if model.arch == Arch.lstm else math.prod(data.input_shape[1:])
    )
    per_example = model.K * max(model.widths) * positions  # the LSTM: its gates at every time step
    return max(1, min(requested, CPU_CHUNK_VALUES // per_example))


def _segments(n: int, chunk: int, group: int | None):
    """(start, end, group) pieces covering n test examples; with groups, every piece holds
    whole groups of `group` examples, and the tail is one smaller group."""
    if group is None:
        return [(s, min(s + chunk, n), None) for s in range(0, n, chunk)]
    step = max(group, chunk // group * group)
    whole = n - n % group
    pieces = [(s, min(s + step, whole), group) for s in range(0, whole, step)]
    return pieces + ([(whole, n, n - whole)] if whole < n else [])


@torch.no_grad()
def evaluate(
    model: StackedNet,
    data: Dataset,
    chunk: int,
    stats="moving",
    group: int | None = None,
    loss_kind: Loss = Loss.cross_entropy,
    output: Output = Output.linear,
) -> torch.Tensor:
    """[2, K]: test loss and accuracy of every run over the whole test set."""
    loss = torch.zeros(model.K, device=data.test_x.device)
    correct = torch.zeros(model.K, device=data.test_x.device)
    n = len(data.test_y)
    for start, end, size in _segments(n, chunk, group if stats == "batch" else None):
        mode = ("batch", size) if stats == "batch" else stats
        logits = model(data.test_x[start:end], mode)  # [K, b, classes]
        labels = data.test_y[start:end]
        target = labels.expand(model.K, *labels.shape)
        loss += losses.per_example(logits, target, loss_kind, output).sum(1)
        correct += losses.correct(logits, target).sum(1)
    return torch.stack([loss / n, correct / n])


def set_population(model: StackedNet, data: Dataset, sampler: Sampler, batches: int) -> None:
    """Algorithm 2 on the current weights, from `batches` training mini-batches per run."""
    model.set_population_statistics(data.train_batch(index)[0] for index in sampler.population_indices(batches))


def moving_population_gap(model: StackedNet) -> torch.Tensor:
    """[K]: mean over BN units of |moving mean - population mean| / population std."""
    gaps = []
    for norm in model.norms:
        gap = (norm.running_mean - norm.population_mean).abs() * torch.rsqrt(norm.population_var + norm.eps)
        gaps.append(gap.view(model.K, -1).mean(1))
    return torch.stack(gaps).mean(0)


@torch.no_grad()
def variance_shift(model: StackedNet, data: Dataset, chunk: int) -> dict:
    """Tag -> [K]: per BN layer, Li et al. 2019's "variance shift" as they measure it (their
    Fig. 1): max(moving / real, real / moving), where moving is the mean over the layer's units
    of BN's moving variance (accumulated in training, dropout on) and real the mean over units
    of the variance of BN's input over the first `chunk` training examples in inference mode
    (dropout off). 1: no shift."""
    inputs: list = []
    model(data.train_x[:chunk], "moving", bn_inputs=inputs)
    shift = {}
    for index, (x, norm) in enumerate(zip(inputs, model.norms)):  # x: [K, N, U, *rest]
        real = x.transpose(1, 2).flatten(2).var(dim=2).mean(1).clamp_min(1e-12)  # [K]
        moving = norm.running_var.view(model.K, -1).mean(1).clamp_min(1e-12)
        shift[f"bn_shift/{layer_tag(index + 1)}"] = torch.maximum(moving / real, real / moving)
    return shift


def test_metrics(model: StackedNet, data: Dataset, sampler: Sampler, cfg: Config) -> dict:
    """Tag -> [K] tensor, at one evaluation step."""
    e, chunk = cfg.eval, chunk_size(model, data, cfg.train.eval_batch_size)
    group = e.batch_size or cfg.train.batch_size
    has_bn = len(model.norms) > 0
    wanted = e.stats.value if has_bn else "moving"
    choices = ("moving", "population", "batch") if has_bn and e.compare_stats else (wanted,)
    if "population" in choices:
        set_population(model, data, sampler, e.population_batches)
    results = {name: evaluate(model, data, chunk, name, group, cfg.train.loss, cfg.model.output) for name in choices}
    metrics = {"test/loss": results[wanted][0], "test/acc": results[wanted][1]}
    if len(choices) > 1:
        metrics.update({f"test_stats/{name}_acc": result[1] for name, result in results.items()})
        metrics["test_stats/moving_population_gap"] = moving_population_gap(model)
    if e.train_gap:
        n = min(len(data.test_y), len(data.train_y))
        seen = replace(data, test_x=data.train_x[:n], test_y=data.train_y[:n])
        train_acc = evaluate(model, seen, chunk, wanted, group, cfg.train.loss, cfg.model.output)[1]
        metrics.update({"train_eval/acc": train_acc, "train_eval/gap": train_acc - metrics["test/acc"]})
    if has_bn and e.variance_shift:
        metrics.update(variance_shift(model, data, cfg.train.eval_batch_size))
    return metrics


def batch_size_sweep(model: StackedNet, data: Dataset, cfg: Config) -> dict:
    """Tag -> [K]: test accuracy with each test batch's own statistics, per test batch size."""
    if not model.norms:
        return {}
    chunk = chunk_size(model, data, cfg.train.eval_batch_size)
    return {
        f"test_batch_stats/bs_{n:04d}_acc": evaluate(model, data, chunk, "batch", n)[1]
        for n in cfg.eval.batch_sizes
        if n <= len(data.test_y)
    }
