"""The arithmetic of a training step, counted analytically: the matrix products of one run's
forward and backward pass, their FLOPs, and the network description the reference loops
build their nn.Sequential from (bench/reference.py), so all three describe one network.

Counted: the products that a matmul unit does, for each layer that has weights (the MLP's
linear layers; the conv net's convolutions, each as the GEMM it lowers to: rows = batch x
output pixels, inner = C_in x k x k, columns = C_out; the classifier). Forward z = x W is
one GEMM of 2 M K N FLOPs; backward dW = x^T dz is another of the same count, and dx = dz W^T
a third, except at the first layer, whose input is the data (autograd does not compute its
gradient): about 3x the forward. Not counted: BN, activations, pooling, the loss and the
optimizer's update (a few FLOPs per value each), nor the probes' and evaluation's work. A
row's GFLOP/s is then this count x its run-steps/s: the matrix arithmetic it achieved.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

IMAGE = (1, 28, 28)  # MNIST and Fashion-MNIST, the benchmark's data sets: [C, H, W]


@dataclass(frozen=True)
class Net:
    """A network as the benchmark's plain loops build it (bench/reference.py)."""

    conv: bool  # False: an MLP on the flattened image; True: conv blocks, global average pool
    widths: tuple  # units (channels) of each hidden layer
    batch: int
    activation: str  # "sigmoid" or "relu"
    bn: bool  # BN after each hidden layer's product (no bias then)
    classes: int = 10
    image: tuple = IMAGE
    kernel: int = 3  # conv: the kernel's side ("same" padding)
    pool_every: int = 2  # conv: a 2x2 max-pool after every pool_every convs

    def as_task(self) -> dict:
        """The description a reference process receives (JSON)."""
        return asdict(self)


def gemms(net: Net) -> list[tuple[int, int, int]]:
    """(M, K, N) of each matrix product of one run's step: every layer's forward, then the
    backward's weight and input gradients from the last layer to the first (none for the input)."""
    channels, height, width = net.image
    layers = []  # (rows, fan_in, fan_out) of each layer with weights, input first
    if net.conv:
        for index, out in enumerate(net.widths):
            layers.append((net.batch * height * width, channels * net.kernel**2, out))
            channels = out
            if (index + 1) % net.pool_every == 0:
                height, width = height // 2, width // 2
        layers.append((net.batch, channels, net.classes))
    else:
        fan_in = channels * height * width
        for out in (*net.widths, net.classes):
            layers.append((net.batch, fan_in, out))
            fan_in = out
    forward = [(m, k, n) for m, k, n in layers]
    backward = []
    for index, (m, k, n) in reversed(list(enumerate(layers))):
        backward.append((k, m, n))  # dW = x^T dz: [K, M] @ [M, N]
        if index > 0:
            backward.append((m, n, k))  # dx = dz W^T: [M, N] @ [N, K]
    return forward + backward


def step_flops(net: Net) -> int:
    """Forward + backward FLOPs of one run's training step (2 per multiply-add)."""
    return sum(2 * m * k * n for m, k, n in gemms(net))


def net_of(cfg) -> Net:
    """The Net of a composed bnrepro config (model.arch mlp or vgg, on 28 x 28 grey images)."""
    from ..config import Arch, BNPlacement
    from ..stacked.model import layer_widths

    if cfg.model.arch not in (Arch.mlp, Arch.vgg):
        raise ValueError(f"bench: no FLOP count for model.arch={cfg.model.arch.value}")
    return Net(
        conv=cfg.model.arch == Arch.vgg,
        widths=tuple(layer_widths(cfg.model)),
        batch=cfg.train.batch_size,
        activation=cfg.model.activation.value,
        bn=cfg.model.bn == BNPlacement.pre,
        kernel=cfg.model.conv_kernel,
        pool_every=cfg.model.pool_every,
    )
