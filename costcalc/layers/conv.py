"""Convolutions (standard, pointwise, grouped, depthwise) and fully-connected layers."""

from __future__ import annotations

from dataclasses import dataclass

from costcalc.cost import Cost, Shape
from costcalc.layers.base import DimError, Leaf, dim, opt, register
from costcalc.num import Num, conv_out, div, is_int, pair, pretty


def _kk(k: Num) -> str:
    kh, kw = pair(k)
    return f"{pretty(kh).replace(',', '')}×{pretty(kw).replace(',', '')}"


@register("depthwise", "depthwise K×K conv, one filter per channel: H·W·N·K²", depthwise=True,
          hidden=("M", "G"), post_ops=True)
@register("grouped", "grouped K×K conv: H·W·N·K²·M/G", required=("G",), hidden=("depthwise",),
          post_ops=True)
@register("pointwise", "1×1 conv: H·W·N·M", K=1, P=0, hidden=("P", "D", "depthwise"), post_ops=True)
@register("conv", "standard K×K conv: H·W·N·K²·M (/G when grouped)", hidden=("depthwise",), post_ops=True)
@dataclass(frozen=True)
class Conv(Leaf):
    """2-D convolution, as ``torch.nn.Conv2d``.

    MACs = H′·W′·M·K²·N/G, where H′ × W′ is the output size (= H × W at stride 1 with "same"
    padding, H/S × W/S at stride S). Params = K²·(N/G)·M (+ M with bias).
    ``depthwise`` is the case G = N, M = N: MACs = H′·W′·N·K².
    K, S, P and D may differ along height and width (``K: [1, 7]``): K² is then Kh·Kw.
    """

    M: Num | None = dim(None, "output channels (default: input channels)")
    K: Num = dim(3, "kernel size, or [height, width]", pair=True)
    S: Num = dim(1, "stride, or [height, width]", symbol=False, pair=True)
    P: Num | None = dim(None, "padding (default: 'same', D·(K−1)//2), or [height, width]", minimum=0,
                        symbol=False, pair=True)
    D: Num = dim(1, "dilation, or [height, width]", symbol=False, pair=True)
    G: Num = dim(1, "groups", symbol=False)  # a symbol where required: ``grouped``
    bias: bool = opt(False, "add a bias per output channel")
    depthwise: bool = opt(False, "one filter per input channel (G = M = N)")
    #: the registered name the layer was made as (``{type: grouped, G: 1}`` is shown as grouped)
    variant: str = opt("", "registered type name", kind="internal")

    # -- the dimensions as the rules see them --------------------------------------------------
    def _m(self, x: Shape) -> Num:
        return x.c if self.depthwise or self.M is None else self.M

    def _g(self, x: Shape) -> Num:
        return x.c if self.depthwise else self.G

    @property
    def type_name(self) -> str:  # type: ignore[override]
        if self.variant:
            return self.variant
        if self.depthwise:
            return "depthwise"
        if self.G != 1:
            return "grouped"
        return "pointwise" if self.K == 1 else "conv"

    @property
    def category(self) -> str:
        if self.depthwise:
            return f"depthwise {_kk(self.K)}"
        prefix = "grouped conv" if self.G != 1 else "conv"
        return f"{prefix} {_kk(self.K)}"

    def check(self, *inputs: Shape) -> None:
        x = inputs[0]
        m, g = self._m(x), self._g(x)
        if is_int(g) and is_int(x.c) and x.c % g:
            raise DimError("G", g, f"groups must divide the input channels N={x.c}")
        if is_int(g) and is_int(m) and m % g:
            raise DimError("G", g, f"groups must divide the output channels M={m}")
        for axis, size, k, p, d in zip(("H", "W"), (x.h, x.w), pair(self.K), pair(self.P), pair(self.D)):
            if not all(is_int(v) for v in (size, k, d)):
                continue
            pad = d * (k - 1) // 2 if p is None else p
            if not is_int(pad):
                continue
            span = d * (k - 1) + 1
            if span > size + 2 * pad:
                raise DimError("K", self.K, f"kernel (span {span}) is larger than the padded input "
                               f"{axis}={size}+2·{pad}")

    def out_shape(self, *inputs: Shape) -> Shape:
        x = inputs[0]
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = pair(self.K), pair(self.S), pair(self.P), pair(self.D)
        return Shape(conv_out(x.h, kh, sh, ph, dh), conv_out(x.w, kw, sw, pw, dw), self._m(x))

    def cost(self, *inputs: Shape) -> Cost:
        x = inputs[0]
        y = self.out_shape(x)
        m, g = y.c, self._g(x)
        kh, kw = pair(self.K)
        weights = m * div(x.c, g) * kh * kw
        out = y.h * y.w * m
        params = weights + (m if self.bias else 0)
        return Cost(
            macs=out * kh * kw * div(x.c, g),
            params=params,
            weights=weights,
            elementwise=out if self.bias else 0,
            activations=out,
            memory=x.elements + out + params,
        )


@register("fc", "fully connected (linear) layer on the flattened input: H·W·N·M", required=("M",))
@dataclass(frozen=True)
class FC(Leaf):
    """Fully-connected layer, as ``torch.nn.Linear`` on the flattened input (H·W·N features).

    MACs = H·W·N·M; params = H·W·N·M + M (bias, on by default as in PyTorch).
    """

    M: Num = dim(None, "output features")
    bias: bool = opt(True, "add a bias per output feature")

    category = "fc"

    def check(self, *inputs: Shape) -> None:
        if self.M is None:
            raise DimError("M", "missing", "fc needs M (output features)")

    def out_shape(self, *inputs: Shape) -> Shape:
        return Shape(1, 1, self.M)

    def cost(self, *inputs: Shape) -> Cost:
        x = inputs[0]
        weights = x.elements * self.M
        params = weights + (self.M if self.bias else 0)
        return Cost(
            macs=weights,
            params=params,
            weights=weights,
            elementwise=self.M if self.bias else 0,
            activations=self.M,
            memory=x.elements + self.M + params,
        )
