"""How far bnrepro's paper layer (Algorithm 1, the paper's backward) is from PyTorch's BatchNorm.

Usage: python scripts/compare_bn_layers.py [--out results/bn_layers.md]
On random inputs (several scales, MLP and conv shapes, float32 and float64, the CPU
and a GPU when there is one) it reports the largest relative differences between
the two layers' outputs, the three gradients, and the running statistics after
10 training steps.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from pathlib import Path

import torch

from bnrepro.run import provenance
from bnrepro.stacked.norms import PaperBatchNorm, TorchBatchNorm


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))


def compare(shape, dtype, device, scale: float) -> dict:
    gen = torch.Generator().manual_seed(0)
    C = shape[1]
    layers = {"paper": PaperBatchNorm(C, 1e-5, 0.1), "torch": TorchBatchNorm(C, 1e-5, 0.1)}
    for layer in layers.values():
        layer.to(device=device, dtype=dtype)
    worst = {"output": 0.0, "d input": 0.0, "d gamma": 0.0, "d beta": 0.0}
    for _ in range(10):
        x = (torch.randn(shape, generator=gen, dtype=dtype) * scale + scale).to(device)
        gamma = torch.rand(C, generator=gen, dtype=dtype).to(device) + 0.5
        beta = torch.randn(C, generator=gen, dtype=dtype).to(device)
        upstream = torch.randn(shape, generator=gen, dtype=dtype).to(device)
        results = {}
        for name, layer in layers.items():
            inputs = [t.clone().requires_grad_() for t in (x, gamma, beta)]
            y = layer(*inputs, "train")
            (y * upstream).sum().backward()
            results[name] = [y.detach()] + [t.grad for t in inputs]
        for key, a, b in zip(worst, results["paper"], results["torch"]):
            worst[key] = max(worst[key], rel(a, b))
    worst["running mean"] = rel(layers["paper"].running_mean, layers["torch"].running_mean)
    worst["running var"] = rel(layers["paper"].running_var, layers["torch"].running_var)
    return worst


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path)
    opts = parser.parse_args()
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    rows = []
    for device in devices:
        for dtype in (torch.float32, torch.float64):
            for shape in ((60, 100), (32, 16, 8, 8)):
                for scale in (1e-3, 1.0, 1e3):
                    worst = compare(shape, dtype, device, scale)
                    rows.append(
                        (
                            provenance.device_name(device),
                            str(dtype).removeprefix("torch."),
                            "x".join(map(str, shape)),
                            scale,
                            worst,
                        )
                    )
    keys = list(rows[0][4])
    commit, dirty = provenance.git_state()
    lines = [
        "# bnrepro's paper BatchNorm vs PyTorch's",
        "",
        f"- produced by: `python scripts/compare_bn_layers.py`; commit {commit[:10]}"
        f"{provenance.tree_note(dirty)}; torch {torch.__version__}; "
        f"{datetime.now(timezone.utc).strftime('%Y-%m-%d')}",
        "- largest relative difference max|paper - torch| / max|torch| over 10 training steps "
        "(random inputs of mean and std `scale`, gamma in [0.5, 1.5])",
        "",
        "| device | dtype | shape | scale | " + " | ".join(keys) + " |",
        "|---|---|---|---|" + "---|" * len(keys),
    ]
    for device, dtype, shape, scale, worst in rows:
        lines.append(
            f"| {device} | {dtype} | {shape} | {scale:g} | " + " | ".join(f"{worst[k]:.1e}" for k in keys) + " |"
        )
    text = "\n".join(lines) + "\n"
    if opts.out:
        opts.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
