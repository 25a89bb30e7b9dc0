"""`bnrepro bench`: how fast bnrepro trains, against the loop a user would write.

In one process, on one device, for the mnist_fig1 network (784-100-100-100-10
sigmoid, batch 60):
- reference: torchvision MNIST + DataLoader(ToTensor, shuffle) + nn.Sequential +
  torch.optim.SGD, eager, no logging (workers 0, and 4 on a GPU machine);
- bnrepro, one run: the real `+experiment=mnist_fig1` config through train_runs,
  with its probes (every 100 steps) and test evaluation (every 500), with BN and
  without; the same without probes and eval (their cost); eager instead of CUDA graphs;
- bnrepro, checkpoints: one BN run without checkpoints and with one every steps/10,
  whence the cost of one checkpoint and of the default train.checkpoint_every;
- bnrepro, batched: K BN runs trained together (a pack), probes on, for each K of
  --batched-runs (default 64 on a CPU; 64, 256 and 1024 on a GPU: the pack-size choice);
- with --full: the whole mnist_fig1 comparison at 5 seeds per arm (10 runs x 50,000
  steps), as `bnrepro train +experiment=mnist_fig1 seed=1,2,3,4,5` runs it;
- convnet rows (--rows convnet): fig3's BN-x5 net (VGG-style, 6 convs, batch 32, Fashion-MNIST)
  as the same plain loop (torchvision FashionMNIST + DataLoader + nn.Sequential + SGD with
  momentum) against bnrepro's one run with probes and eval.
- measures rows (--parts measures): the landscape experiment's VGG (width 8, BN, batch 128,
  Fashion-MNIST), one run with probes every 100 steps: without Santurkar et al.'s measures,
  with the landscape probe every 100 steps (8 step sizes), with ICS every 100 (2 layers);
  their cost as the ratio of the run's time with them to without (target <= 1.3x).
Every figure is steps (or run-steps) per second of training, excluding start-up: the
median of --repeats interleaved measurements, with their range.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

from .run import provenance
from .run.files import atomic_write


def experiment_config(overrides: list[str], experiment: str = "mnist_fig1"):
    from hydra import compose, initialize_config_dir

    from .launch.app import conf_dir
    from .launch.sweep import typed

    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        return typed(compose("train", overrides=[f"+experiment={experiment}", *overrides]))


CONVNET = ["+fig3=bn_x5"]  # the convnet rows' network: fig3's BN-x5 variant


def reference_loop(root: str, device: torch.device, steps: int, bn: bool, workers: int) -> float:
    """Steps/s of the plain PyTorch loop (data loading included: that is its bottleneck)."""
    from torch import nn
    from torchvision import datasets, transforms

    dataset = datasets.MNIST(str(Path(root).expanduser()), train=True, download=False,
                             transform=transforms.ToTensor())
    layers: list[nn.Module] = [nn.Flatten()]
    for fan_in in (784, 100, 100):
        layers += [nn.Linear(fan_in, 100, bias=not bn)] + ([nn.BatchNorm1d(100)] if bn else []) + [nn.Sigmoid()]
    model = nn.Sequential(*layers, nn.Linear(100, 10)).to(device)
    return _plain_rate(dataset, model, torch.optim.SGD(model.parameters(), lr=1.0), 60, device, steps, workers)


def reference_conv_loop(root: str, device: torch.device, steps: int, cfg) -> float:
    """The same plain loop for fig3's net with BN (cfg: its composed config)."""
    from torch import nn
    from torchvision import datasets, transforms

    from .stacked.model import layer_widths

    dataset = datasets.FashionMNIST(str(Path(root).expanduser()), train=True, download=False,
                                    transform=transforms.Compose([transforms.ToTensor(),
                                                                  transforms.Normalize((0.286,), (0.353,))]))
    layers: list[nn.Module] = []
    fan_in = 1
    for index, width in enumerate(layer_widths(cfg.model)):
        layers += [nn.Conv2d(fan_in, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
        if (index + 1) % cfg.model.pool_every == 0:
            layers.append(nn.MaxPool2d(2))
        fan_in = width
    model = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(fan_in, 10)).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.optim.lr * cfg.optim.lr_mult, momentum=cfg.optim.momentum,
                          weight_decay=cfg.optim.weight_decay / cfg.optim.weight_decay_div)
    return _plain_rate(dataset, model, opt, cfg.train.batch_size, device, steps, workers=0)


def _plain_rate(dataset, model, opt, batch_size: int, device: torch.device, steps: int, workers: int) -> float:
    from torch import nn
    from torch.utils.data import DataLoader

    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=workers, drop_last=True,
                        pin_memory=device.type == "cuda", persistent_workers=workers > 0)
    warmup, done, start = 20, 0, 0.0
    while done < steps + warmup:
        for x, y in loader:
            if done == warmup:
                if device.type == "cuda":
                    torch.cuda.synchronize()
                start = time.perf_counter()
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            loss = nn.functional.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            done += 1
            if done == steps + warmup:
                break
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps / (time.perf_counter() - start)


def bnrepro_rate(overrides: list[str], runs: int = 1, experiment: str = "mnist_fig1") -> dict:
    """Train `runs` runs together through train_runs; return its summary of the first."""
    from .run.loop import train_runs

    cfgs = [experiment_config([*overrides, f"seed={seed}"], experiment) for seed in range(1, runs + 1)]
    with tempfile.TemporaryDirectory() as tmp:
        return train_runs(cfgs, [Path(tmp) / f"run{i}" for i in range(runs)], log=lambda m: None)[0]


def run(steps: int, reference_steps: int, batched_runs: list[int], full: bool, device: torch.device, repeats: int = 1,
        log=lambda m: print(m, file=sys.stderr), parts: tuple = ("mlp",),
        conv_steps: tuple = (250, 50), conv_overrides: tuple = ()) -> tuple[list[dict], dict]:
    """Every measurement `repeats` times, interleaved (a slow spell of a shared machine
    hits all of them), summarized by the median and the range. parts: "mlp" (the
    mnist_fig1 rows), "convnet" (fig3's net: conv_steps = (bnrepro's, the reference's);
    conv_overrides change fig3's config for both loops, e.g. a smaller width in tests)."""
    root = experiment_config([]).data.root
    dev = f"device={device.type}"

    def ours(overrides: list[str], runs: int = 1):
        return lambda: bnrepro_rate([dev, f"train.steps={steps}", *overrides], runs)["steps_per_s"]

    def reference(bn: bool, workers: int):
        return lambda: reference_loop(root, device, reference_steps, bn=bn, workers=workers)

    plan = _mlp_plan(ours, reference, batched_runs, steps, device) if "mlp" in parts else []
    if "convnet" in parts:
        convnet = [dev, *CONVNET, *conv_overrides]
        conv_cfg = experiment_config(convnet, "fig3")
        plan += [
            ("reference_conv", "reference", "convnet (fig3's BN-x5 net, batch 32): torchvision FashionMNIST + "
             "DataLoader (workers 0), eager", 1, lambda: reference_conv_loop(root, device, conv_steps[1], conv_cfg)),
            ("single_conv", "bnrepro", "convnet, one run, probes every 100 + eval every 250", 1,
             lambda: bnrepro_rate([*convnet, f"train.steps={conv_steps[0]}"], 1, "fig3")["steps_per_s"]),
            ("single_conv_quiet", "bnrepro", "convnet, one run, probes and eval only at the last step", 1,
             lambda: bnrepro_rate([*convnet, f"train.steps={conv_steps[0]}", f"train.log_every={conv_steps[0]}",
                                   f"train.eval_every={conv_steps[0]}"], 1, "fig3")["steps_per_s"]),
        ]
    if "measures" in parts:
        plan += _measures_plan(dev, conv_steps[0])
    log(f"benchmark on {provenance.device_name(device)}, {repeats} round(s)")
    rates: dict[str, list[float]] = {key: [] for key, *_ in plan}
    for round_ in range(repeats):
        for key, path, what, _runs, measure in plan:
            rates[key].append(measure())
            log(f"  round {round_ + 1}: {path}: {what}: {rates[key][-1]:,.0f} steps/s")
    rows = []
    for key, path, what, runs, _ in plan:
        values = rates[key]
        median = statistics.median(values)
        rows.append({"path": path, "what": what, "steps/s": median, "run-steps/s": median * runs,
                     "range": (min(values), max(values)), "runs": runs, "key": key})
    med = {key: row["steps/s"] for (key, *_), row in zip(plan, rows)}
    facts = {"repeats": repeats}
    if "convnet" in parts:
        facts.update(conv_speedup=med["single_conv"] / med["reference_conv"],
                     conv_speedups=[a / b for a, b in zip(rates["single_conv"], rates["reference_conv"])])
    if "measures" in parts:
        facts.update(landscape_cost=med["measures_off"] / med["measures_landscape"],
                     ics_cost=med["measures_off"] / med["measures_ics"])
    if "mlp" not in parts:
        return rows, facts
    facts.update({
        "single_bn": med["single_bn"], "reference_bn": med["reference_bn"],
        "speedup": med["single_bn"] / med["reference_bn"],
        "speedups": [a / b for a, b in zip(rates["single_bn"], rates["reference_bn"])],
        "probe_eval_cost": 1 - med["single_bn"] / med["single_bn_quiet"],
        "all_probes_cost": 1 - med["single_bn_all_probes"] / med["single_bn_quiet"],
        "batched_run_steps": med[f"batched_{batched_runs[0]}"] * batched_runs[0], "batched_runs": batched_runs[0],
        "pack_run_steps": {k: med[f"batched_{k}"] * k for k in batched_runs},
        **checkpoint_cost(med["single_bn_nockpt"], med["single_bn_ckpt"], steps, _checkpoint_every(steps)),
    })
    if full:
        seconds = 0.0
        for bn in ("none", "pre"):
            summary = bnrepro_rate([dev, f"model.bn={bn}"], runs=5)
            seconds += summary["wall_time_s"]
            log(f"  mnist_fig1, bn={bn}, 5 seeds x {summary['steps_done']} steps: {summary['wall_time_s']:.1f} s")
        facts["fig1_seconds"] = seconds
    return rows, facts


def _mlp_plan(ours, reference, batched_runs: list[int], steps: int, device: torch.device) -> list:
    from .run.probes import PROBES

    full_logging = ["model.bn=pre", "train.log_every=100", "train.eval_every=500"]
    every_probe = f"probes.which=[{','.join(sorted(PROBES))}]"
    every = _checkpoint_every(steps)
    plan = [  # (key, path, what, runs trained together, measurement)
        ("reference_bn", "reference", "torchvision MNIST + DataLoader (workers 0), eager, BN", 1, reference(True, 0)),
        ("reference_nobn", "reference", "same, no BN", 1, reference(False, 0)),
        ("single_bn", "bnrepro", "one run, BN, probes every 100 + eval every 500", 1, ours(full_logging)),
        ("single_bn_all_probes", "bnrepro", "one run, BN, every probe (probes.which: all) + eval", 1,
         ours([*full_logging, every_probe])),
        ("single_bn_quiet", "bnrepro", "one run, BN, no probes or eval", 1,
         ours(["model.bn=pre", f"train.log_every={steps}", f"train.eval_every={steps}"])),
        ("single_bn_nockpt", "bnrepro", "one run, BN, probes + eval, no checkpoints (train.checkpoint_every=0)",
         1, ours([*full_logging, "train.checkpoint_every=0"])),
        ("single_bn_ckpt", "bnrepro", f"same, a checkpoint every {every} steps", 1,
         ours([*full_logging, f"train.checkpoint_every={every}", "train.checkpoint_min_s=0"])),
        ("single_nobn", "bnrepro", "one run, no BN, probes + eval", 1,
         ours(["model.bn=none", "train.log_every=100", "train.eval_every=500"])),
        *[(f"batched_{k}", "bnrepro", f"{k} BN runs trained together (a pack), probes + eval", k,
           ours(full_logging, runs=k)) for k in batched_runs],
    ]
    if device.type == "cuda":
        plan.insert(2, ("reference_workers", "reference", "same with BN, DataLoader workers 4", 1, reference(True, 4)))
        plan.insert(7, ("single_bn_eager", "bnrepro", "one run, BN, probes + eval, eager (train.graph=off)", 1,
                        ours([*full_logging, "train.graph=off"])))
    return plan


def _measures_plan(dev: str, steps: int) -> list:
    """The landscape experiment's VGG with BN, one run, with and without the measures."""
    base = [dev, "+net=vgg", "model.bn=pre", "optim.lr=0.1", f"train.steps={steps}", "train.log_every=100",
            f"train.eval_every={steps}", "probes.landscape_every=0", "probes.ics_every=0"]

    def rate(*more: str):
        return lambda: bnrepro_rate([*base, *more], 1, "landscape")["steps_per_s"]

    return [
        ("measures_off", "bnrepro", "landscape's VGG (BN, batch 128), probes every 100, no measures", 1, rate()),
        ("measures_landscape", "bnrepro", "same, landscape probe every 100 steps (8 step sizes)", 1,
         rate("probes.landscape_every=100")),
        ("measures_ics", "bnrepro", "same, ICS every 100 steps (layers 5 and 7)", 1, rate("probes.ics_every=100")),
    ]


def _checkpoint_every(steps: int) -> int:
    """The checkpoint interval of the benchmark's checkpoint row: 9 checkpoints a run."""
    return max(steps // 10, 1)


def checkpoint_cost(rate_without: float, rate_with: float, steps: int, every: int) -> dict:
    """Seconds per checkpoint (from two measured rates), and what share of the run the
    default schedule costs: a checkpoint once train.checkpoint_min_s seconds, and 1/SHARE
    times a checkpoint's duration, have passed since the previous one (run/checkpoint.py)."""
    from .config import TrainConfig
    from .run.checkpoint import SHARE

    checkpoints = (steps - 1) // every  # none at the last step: the run ends there
    per_checkpoint = max(steps / rate_with - steps / rate_without, 0.0) / checkpoints
    default = TrainConfig()
    between = max(default.checkpoint_min_s, per_checkpoint / SHARE)
    return {"checkpoint_s": per_checkpoint, "checkpoint_every": every, "default_every": default.checkpoint_every,
            "default_min_s": default.checkpoint_min_s, "checkpoint_default_cost": per_checkpoint / (per_checkpoint + between)}


def report(rows: list[dict], facts: dict, device: torch.device, command: str, cuda: bool) -> str:
    commit, dirty = provenance.git_state()
    lines = [
        "# bnrepro benchmark", "",
        f"- device: {provenance.device_name(device)}; torch {torch.__version__}",
        f"- commit: {commit[:10]}{provenance.tree_note(dirty)}; "
        f"{datetime.now(timezone.utc).strftime('%Y-%m-%d')}",
        f"- command: `{command}`",
        "- network: " + ("mnist_fig1's 784-100-100-100-10 sigmoid MLP, batch 60; " if "single_bn" in facts else "")
        + ("fig3's BN-x5 VGG-style conv net, batch 32; " if "conv_speedup" in facts else "")
        + ("the landscape experiment's VGG (width 8, BN), batch 128, Fashion-MNIST; " if "landscape_cost" in facts else "")
        + ("one measurement each (a shared machine: expect a few % of noise)" if facts["repeats"] == 1 else
           f"the median of {facts['repeats']} interleaved measurements each, with their range"), "",
        "| path | what | steps/s | range | run-steps/s | × reference (same network, BN, workers 0) |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        low, high = row["range"]
        ref_key = "reference_conv" if "conv" in row["key"] else "measures_off" if "measures" in row["key"] \
            else "reference_bn"
        ref = next((r for r in rows if r["key"] == ref_key), None)
        ratio = f"{row['run-steps/s'] / ref['steps/s']:,.2f}" if ref else ""
        lines.append(f"| {row['path']} | {row['what']} | {row['steps/s']:,.0f} | {low:,.0f}–{high:,.0f} "
                     f"| {row['run-steps/s']:,.0f} | {ratio} |")
    lines += ["", "Targets (issues 3, 12 and 13; the measures rows' last column is × the run without them):", ""]
    if "landscape_cost" in facts:
        lines.append(f"- the landscape probe every 100 steps (8 step sizes) costs ≤ 1.3× the run without it: "
                     f"**{facts['landscape_cost']:.2f}×** ({'met' if facts['landscape_cost'] <= 1.3 else 'not met'}); "
                     f"ICS every 100 steps (2 layers): {facts['ics_cost']:.2f}×")
    if "conv_speedup" in facts:
        each = ", ".join(f"{x:.1f}×" for x in facts["conv_speedups"])
        lines.append(f"- convnet, one run ≥ 10× the reference DataLoader loop (a GPU target): "
                     f"**{facts['conv_speedup']:.1f}×** (median; round by round {each})"
                     + (f" ({'met' if facts['conv_speedup'] >= 10 else 'not met'})" if cuda else
                        " (on the CPU: no target; the 10× is for a GPU, not measured here)"))
    if "single_bn" not in facts:
        return "\n".join(lines) + "\n"
    if cuda:
        lines += [
            f"- one BN run with probes and eval ≥ 3,000 steps/s: **{facts['single_bn']:,.0f}** "
            f"({'met' if facts['single_bn'] >= 3000 else 'not met'})",
            f"- ≥ 20× the reference DataLoader loop: **{facts['speedup']:.1f}×** "
            f"({'met' if facts['speedup'] >= 20 else 'not met'})",
            f"- probes and eval ≤ 15% of the run: **{100 * facts['probe_eval_cost']:.1f}%** "
            f"({'met' if facts['probe_eval_cost'] <= 0.15 else 'not met'})",
            f"- {facts['batched_runs']} BN runs together ≥ 50,000 run-steps/s: **{facts['batched_run_steps']:,.0f}** "
            f"({'met' if facts['batched_run_steps'] >= 50000 else 'not met'})",
        ]
        if 256 in facts.get("pack_run_steps", {}):
            rate = facts["pack_run_steps"][256]
            lines.append(f"- 256 BN runs together (a pack) ≥ 200,000 run-steps/s: **{rate:,.0f}** "
                         f"({'met' if rate >= 200000 else 'not met'})")
        if "fig1_seconds" in facts:
            lines.append(f"- mnist_fig1 at 5 seeds per arm (10 runs × 50,000 steps) < 30 s of training: "
                         f"**{facts['fig1_seconds']:.1f} s** ({'met' if facts['fig1_seconds'] < 30 else 'not met'})")
    else:
        each = ", ".join(f"{x:.1f}×" for x in facts["speedups"])
        lines.append(f"- CPU: one run ≥ 5× the reference DataLoader loop: **{facts['speedup']:.1f}×** (median; "
                     f"round by round {each}) ({'met' if facts['speedup'] >= 5 else 'not met'})")
    lines += ["", f"Probes and eval cost: {100 * facts['probe_eval_cost']:.1f}% "
              "(1 − rate with them / rate without); with every probe of the registry: "
              f"{100 * facts['all_probes_cost']:.1f}%.",
              "", f"Checkpoints: {1000 * facts['checkpoint_s']:.1f} ms each (from the rates with one every "
              f"{facts['checkpoint_every']} steps and without); at the defaults train.checkpoint_every="
              f"{facts['default_every']}, train.checkpoint_min_s={facts['default_min_s']:g} and this device's "
              f"step rate they cost "
              f"**{100 * facts['checkpoint_default_cost']:.2f}%** of a run (target ≤ 2%: "
              f"{'met' if facts['checkpoint_default_cost'] <= 0.02 else 'not met'})."]
    return "\n".join(lines) + "\n"


def main(args: list[str]) -> int:
    import shlex

    parser = argparse.ArgumentParser(prog="bnrepro bench", description=__doc__.split("\n")[0])
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                        help="where to measure (default auto: the GPU if there is one)")
    parser.add_argument("--steps", type=int, default=None,
                        help="training steps per bnrepro measurement (default 20000 on a GPU, 2000 on a CPU)")
    parser.add_argument("--reference-steps", type=int, default=None,
                        help="steps of the plain PyTorch DataLoader loop it is compared with "
                             "(default 3000 on a GPU, 300 on a CPU)")
    parser.add_argument("--batched-runs", default=None,
                        help="runs trained together (pack sizes), comma-separated (default: 64 on a CPU, "
                             "64,256,1024 on a GPU)")
    parser.add_argument("--full", action="store_true", help="also time mnist_fig1 at 5 seeds per arm, full length")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds of measurements (median reported)")
    parser.add_argument("--out", type=Path, default=None, help="write the Markdown report here")
    parser.add_argument("--parts", default="mlp,convnet",
                        help="comma list: mlp (mnist_fig1's rows), convnet (fig3's net), measures "
                             "(Santurkar et al.'s measures on the landscape experiment's VGG)")
    parser.add_argument("--conv-steps", type=int, nargs=2, default=None, metavar=("OURS", "REFERENCE"),
                        help="steps per convnet measurement (default 5000 2000 on a GPU, 250 50 on the CPU; "
                             "the measures rows train OURS steps)")
    opts = parser.parse_args(args)
    cuda = opts.device == "cuda" or (opts.device == "auto" and torch.cuda.is_available())
    device = torch.device("cuda" if cuda else "cpu")
    steps = opts.steps or (20000 if cuda else 2000)
    reference_steps = opts.reference_steps or (3000 if cuda else 300)
    parts = tuple(p.strip() for p in opts.parts.split(",") if p.strip())
    if not parts or set(parts) - {"mlp", "convnet", "measures"}:
        parser.error(f"--parts {opts.parts!r}: choose from mlp, convnet, measures")
    conv_steps = tuple(opts.conv_steps or ((5000, 2000) if cuda else (250, 50)))
    try:
        packs = [int(k) for k in (opts.batched_runs or ("64,256,1024" if cuda else "64")).split(",")]
    except ValueError:
        parser.error(f"--batched-runs: comma-separated integers, got {opts.batched_runs!r}")
    rows, facts = run(steps, reference_steps, packs, opts.full, device, opts.repeats,
                      parts=parts, conv_steps=conv_steps)
    text = report(rows, facts, device, shlex.join(["bnrepro", "bench", *args]), cuda)
    if opts.out:
        opts.out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(opts.out, text)
    print(text)
    return 0
