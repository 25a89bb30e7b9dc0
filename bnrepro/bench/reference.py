"""The reference loops and the matmul microbenchmark, each measured in a process of its own.

bench/procs.py runs this file's source with `python -c SOURCE TASK_JSON`: the process imports
torch (torchvision too for the DataLoader loop) and never the bnrepro package, so nothing
bnrepro sets in its own process (intra-op threads, glibc's malloc thresholds: run/cpu.py)
is in effect. The thread count is set here, first thing (and in OMP_NUM_THREADS by the
parent). Tasks (TASK["kind"]), each on TASK["net"] (bench/flops.py's Net as a dict):
- "resident": what a careful user writes: the training images as one float tensor in memory
  (on the device), each epoch a random permutation, each step a batch indexed by it,
  nn.Sequential + torch.optim.SGD, eager;
- "dataloader": the same network fed by torchvision's dataset + DataLoader(ToTensor, shuffle);
- "matmul": the GEMM shapes of the network's step (TASK["gemms"]: flops.gemms), torch.mm
  (torch.bmm over TASK["runs"] matrices for a pack) back to back into preallocated outputs:
  the rate the machine's matrix kernels reach on exactly that arithmetic.
Protocol: once set up the process prints {"ready": true} and waits for a line on stdin (so
several can start timing together), then prints {"steps": n, "start": t0, "end": t1, "threads": t}:
steps (or passes over the GEMMs) timed between two time.monotonic() readings (one clock for
every process of the machine), and the intra-op threads they ran on.
"""

import json
import sys
import time

import torch

WARMUP_STEPS = 20


def build(net: dict):
    """nn.Sequential of the network: hidden layers product -> BN -> activation (-> pool)."""
    from torch import nn

    activation = {"sigmoid": nn.Sigmoid, "relu": nn.ReLU}[net["activation"]]
    channels, height, width = net["image"]
    layers = [] if net["conv"] else [nn.Flatten()]
    fan_in = channels if net["conv"] else channels * height * width
    for index, out in enumerate(net["widths"]):
        if net["conv"]:
            layers.append(nn.Conv2d(fan_in, out, net["kernel"], padding=net["kernel"] // 2, bias=not net["bn"]))
            layers += [nn.BatchNorm2d(out)] if net["bn"] else []
        else:
            layers.append(nn.Linear(fan_in, out, bias=not net["bn"]))
            layers += [nn.BatchNorm1d(out)] if net["bn"] else []
        layers.append(activation())
        if net["conv"] and (index + 1) % net["pool_every"] == 0:
            layers.append(nn.MaxPool2d(2))
        fan_in = out
    if net["conv"]:
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return nn.Sequential(*layers, nn.Linear(fan_in, net["classes"]))


def optimizer(model, task: dict):
    return torch.optim.SGD(model.parameters(), lr=task["lr"], momentum=task["momentum"], weight_decay=task["wd"])


def read_idx(path: str) -> torch.Tensor:
    """An uncompressed IDX file (MNIST's format): big-endian dimensions, then uint8 values."""
    with open(path, "rb") as f:
        raw = f.read()
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(raw[3])]
    return torch.frombuffer(bytearray(raw[4 + 4 * len(dims) :]), dtype=torch.uint8).view(*dims)


def resident(task: dict, device: torch.device):
    net = task["net"]
    images = read_idx(f"{task['data']}/train-images-idx3-ubyte")
    x = (images.float() / 255).unsqueeze(1)
    if list(x.shape[1:]) != list(net["image"]):
        raise SystemExit(f"reference: images of shape {list(x.shape[1:])}, the net expects {net['image']}")
    if task["normalize"]:
        mean, std = task["normalize"]
        x = (x - mean) / std
    x, y = x.to(device), read_idx(f"{task['data']}/train-labels-idx1-ubyte").long().to(device)
    model = build(net).to(device)
    opt = optimizer(model, task)
    batch, per_epoch = net["batch"], len(x) // net["batch"]
    order = {"perm": None, "next": per_epoch}

    def step():
        if order["next"] == per_epoch:  # a new epoch: a new permutation
            order["perm"], order["next"] = torch.randperm(len(x), device=device), 0
        index = order["perm"][order["next"] * batch : (order["next"] + 1) * batch]
        order["next"] += 1
        loss = torch.nn.functional.cross_entropy(model(x[index]), y[index])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return timed_steps(step, task["steps"], device)


def dataloader(task: dict, device: torch.device):
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    transform = [transforms.ToTensor()]
    if task["normalize"]:
        transform.append(transforms.Normalize(*([v] for v in task["normalize"])))
    dataset = getattr(datasets, task["dataset"])(
        task["root"], train=True, download=False, transform=transforms.Compose(transform)
    )
    model = build(task["net"]).to(device)
    opt = optimizer(model, task)
    workers = task["workers"]
    loader = DataLoader(
        dataset,
        batch_size=task["net"]["batch"],
        shuffle=True,
        num_workers=workers,
        drop_last=True,
        pin_memory=device.type == "cuda",
        persistent_workers=workers > 0,
    )
    batches = iter(())

    def step():
        nonlocal batches
        try:
            x, y = next(batches)
        except StopIteration:  # the next epoch
            batches = iter(loader)
            x, y = next(batches)
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return timed_steps(step, task["steps"], device)


def matmul(task: dict, device: torch.device):
    runs = task["runs"]
    product = torch.mm if runs == 1 else torch.bmm
    lead = () if runs == 1 else (runs,)
    operands = [
        (
            torch.randn(*lead, m, k, device=device),
            torch.randn(*lead, k, n, device=device),
            torch.empty(*lead, m, n, device=device),
        )
        for m, k, n in task["gemms"]
    ]

    def one_pass():
        for a, b, out in operands:
            product(a, b, out=out)

    one_pass()  # the first call of each shape may set up kernels
    sync(device)
    began, passes = time.monotonic(), 0
    while time.monotonic() - began < min(0.2, task["seconds"]):  # how long a pass takes
        one_pass()
        sync(device)
        passes += 1
    count = max(1, round(task["seconds"] * passes / (time.monotonic() - began)))
    return lambda: timed(one_pass, count, device)


def timed_steps(step, steps: int, device: torch.device):
    for _ in range(WARMUP_STEPS):
        step()
    return lambda: timed(step, steps, device)


def timed(work, count: int, device: torch.device) -> dict:
    sync(device)
    start = time.monotonic()
    for _ in range(count):
        work()
    sync(device)
    return {"steps": count, "start": start, "end": time.monotonic(), "threads": torch.get_num_threads()}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def ready_then_wait() -> None:
    """Tell the parent this process is set up; time nothing until it says go (a line)."""
    print(json.dumps({"ready": True}), flush=True)
    sys.stdin.readline()


def main(task: dict) -> None:
    if task.get("threads"):
        torch.set_num_threads(task["threads"])
    device = torch.device(task.get("device", "cpu"))
    measure = {"resident": resident, "dataloader": dataloader, "matmul": matmul}[task["kind"]](task, device)
    ready_then_wait()
    print(json.dumps(measure()), flush=True)


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
