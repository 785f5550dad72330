"""Whole-network multiply-adds and weights written out layer by layer, independently of costcalc.

Each function below walks its paper's architecture table (the stage list is written out here, not
read from ``examples/``) with the PyTorch output-size formula and the textbook counts of a
convolution (H′·W′·K²·N/G·M multiply-adds, K²·N/G·M weights) and a linear layer (N·M). Nothing
here imports costcalc: these are the exact numbers the strict xfails of the example tests stand
beside (a strict xfail only says "not the paper's number"; these say which number it is).
"""

from __future__ import annotations

from typing import NamedTuple


class Count(NamedTuple):
    macs: int
    weights: int


def out_size(h: int, k: int, s: int, p: int) -> int:
    """``torch.nn.Conv2d`` / ``MaxPool2d`` output length: floor((H + 2P − K) / S) + 1."""
    return (h + 2 * p - k) // s + 1


class Net:
    """A running tally: each ``conv`` adds its multiply-adds and weights and returns its output size."""

    def __init__(self) -> None:
        self.macs = 0
        self.weights = 0

    def conv(self, h: int, n: int, m: int, k: int = 1, s: int = 1, g: int = 1) -> int:
        ho = out_size(h, k, s, k // 2)
        self.macs += ho * ho * k * k * (n // g) * m
        self.weights += k * k * (n // g) * m
        return ho

    def fc(self, n: int, m: int = 1000) -> None:
        self.macs += n * m
        self.weights += n * m

    def count(self) -> Count:
        return Count(self.macs, self.weights)


# ----------------------------------------------------------------------------------------------
# MobileNet v1 (Howard et al. 2017, Table 1); width rounding of TF-slim: max(int(c·α), 8)

MOBILENET_V1 = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + \
    [(1024, 2), (1024, 1)]  # (output channels, depthwise stride) of the 13 separable layers


def mobilenet_v1(alpha: float = 1.0, resolution: int = 224) -> Count:
    def depth(c: int) -> int:
        return max(int(c * alpha), 8)

    net = Net()
    n = depth(32)
    h = net.conv(resolution, 3, n, k=3, s=2)
    for c, s in MOBILENET_V1:
        h = net.conv(h, n, n, k=3, s=s, g=n)   # depthwise 3×3
        net.conv(h, n, depth(c))               # pointwise 1×1
        n = depth(c)
    net.fc(n)
    return net.count()


def mobilenet_v1_table(alpha: float = 1.0, resolution: int = 224) -> list[tuple[int, str, int, int]]:
    """MobileNet v1 as costcalc's spec builds it (every conv followed by BatchNorm, FC with bias),
    one entry per conv, BatchNorm and FC: (top-level row, category, multiply-adds, PyTorch params).
    Rows: 0 the stem conv, 1–13 the separable layers, 14 the average pool (nothing to count),
    15 the FC layer. PyTorch params: K²·N/G·M per conv, 2·C per BatchNorm (γ, β), N·M + M per FC."""
    def depth(c: int) -> int:
        return max(int(c * alpha), 8)

    out: list[tuple[int, str, int, int]] = []
    n = depth(32)
    h = out_size(resolution, 3, 2, 1)
    out += [(0, "conv 3×3", h * h * 27 * n, 27 * n), (0, "batchnorm", 0, 2 * n)]
    for row, (c, s) in enumerate(MOBILENET_V1, start=1):
        m = depth(c)
        h = out_size(h, 3, s, 1)
        out += [(row, "depthwise 3×3", h * h * 9 * n, 9 * n), (row, "batchnorm", 0, 2 * n),
                (row, "conv 1×1", h * h * n * m, n * m), (row, "batchnorm", 0, 2 * m)]
        n = m
    out.append((15, "fc", n * 1000, n * 1000 + 1000))
    return out


# ----------------------------------------------------------------------------------------------
# MobileNetV2 (Sandler et al. 2018, Table 2), torchvision's rounding

MOBILENET_V2 = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                (6, 160, 3, 2), (6, 320, 1, 1)]  # (t, c, n, s)


def make_divisible(v: float, divisor: int = 8) -> int:
    """torchvision's ``_make_divisible``: nearest multiple of 8, never below 90 % of v."""
    new = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * v else new


def mobilenet_v2(alpha: float = 1.0, resolution: int = 224) -> Count:
    net = Net()
    n = make_divisible(32 * alpha)
    h = net.conv(resolution, 3, n, k=3, s=2)
    for t, c, repeat, stride in MOBILENET_V2:
        m = make_divisible(c * alpha)
        for i in range(repeat):
            e = n * t
            if t != 1:
                net.conv(h, n, e)                                # expand 1×1
            h = net.conv(h, e, e, k=3, s=stride if i == 0 else 1, g=e)  # depthwise 3×3
            net.conv(h, e, m)                                    # linear 1×1
            n = m
    last = make_divisible(1280 * max(1.0, alpha))
    net.conv(h, n, last)
    net.fc(last)
    return net.count()


# ----------------------------------------------------------------------------------------------
# ShuffleNet V2 (Ma et al. 2018, Table 5), units as torchvision writes them

SHUFFLENET_V2 = {0.5: (48, 96, 192, 1024), 1.0: (116, 232, 464, 1024), 1.5: (176, 352, 704, 1024),
                 2.0: (244, 488, 976, 2048)}


def shufflenet_v2(alpha: float = 1.0, resolution: int = 224) -> Count:
    net = Net()
    h = net.conv(resolution, 3, 24, k=3, s=2)
    h = out_size(h, 3, 2, 1)  # max pool 3×3/2
    n = 24
    *stages, last = SHUFFLENET_V2[alpha]
    for c, repeat in zip(stages, (4, 8, 4)):
        half = c // 2
        # stride 2: branch 1 depthwise 3×3/2 + 1×1 n→half; branch 2 1×1 n→half, dw 3×3/2, 1×1
        ho = net.conv(h, n, n, k=3, s=2, g=n)
        net.conv(ho, n, half)
        net.conv(h, n, half)
        net.conv(h, half, half, k=3, s=2, g=half)
        net.conv(ho, half, half)
        h = ho
        for _ in range(repeat - 1):  # stride 1: the branch on half the channels
            net.conv(h, half, half)
            net.conv(h, half, half, k=3, g=half)
            net.conv(h, half, half)
        n = c
    net.conv(h, n, last)
    net.fc(last)
    return net.count()


# ----------------------------------------------------------------------------------------------
# ResNet (He et al. 2015, Table 1), ResNeXt (Xie et al. 2017, Table 1)

RESNET_DEPTHS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 6, 3), 101: (3, 4, 23, 3),
                 152: (3, 8, 36, 3)}


def resnet(depth: int, stride_on: str = "1x1", groups: int = 1, width: int = 64,
           shortcut: str = "B") -> Count:
    """ResNet-``depth`` on 224×224; bottlenecks (depth ≥ 50) of width ``width``·2^stage with
    ``groups`` in the 3×3 (ResNeXt), the stride on the first 1×1 (the paper) or on the 3×3
    (torchvision). Shortcut B projects with a 1×1 conv on a change of shape, A zero-pads."""
    net = Net()
    h = net.conv(224, 3, 64, k=7, s=2)
    h = out_size(h, 3, 2, 1)  # max pool 3×3/2
    n = 64
    for stage, repeat in enumerate(RESNET_DEPTHS[depth]):
        for i in range(repeat):
            s = 2 if (i == 0 and stage > 0) else 1
            if depth < 50:  # basic block: two 3×3 convs
                m = 64 * 2 ** stage
                ho = net.conv(h, n, m, k=3, s=s)
                net.conv(ho, m, m, k=3)
            else:  # bottleneck 1×1 → 3×3 → 1×1
                m, b = 256 * 2 ** stage, width * 2 ** stage
                if stride_on == "1x1":
                    ho = net.conv(h, n, b, s=s)
                    net.conv(ho, b, b, k=3, g=groups)
                else:
                    net.conv(h, n, b)
                    ho = net.conv(h, b, b, k=3, s=s, g=groups)
                net.conv(ho, b, m)
            if (n != m or s != 1) and shortcut == "B":
                net.conv(h, n, m, s=s)
            h, n = ho, m
    net.fc(n)
    return net.count()
