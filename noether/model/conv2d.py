"""``conv2d``: 2-d cross-correlation as in ``torch.nn.Conv2d`` (zero padding, stride, no dilation
or groups).  Input ``in_channels`` × H × W channel-major (see :mod:`.grid`); output ``channels`` ×
Ho × Wo.  Blocks W<l> (channels, in_channels, kh, kw) and, with ``bias``, b<l> (channels,).
Its symbolic form is the sum over window taps; numpy passes work on window patches."""

from __future__ import annotations

import numpy as np
import sympy as sp

from .fields import boolean, check_keys, positive_int
from .grid import Grid
from .layer import Block
from .symlayer import SymbolicLayer

KEYS = {"type", "channels", "kernel", "in_channels", "stride", "padding", "height", "bias"}


class Conv2d(Grid, SymbolicLayer):
    type = "conv2d"

    def __init__(self, channels: int, kernel, in_channels: int = 1, stride=1, padding=0, bias: bool = True,
                 height: int | None = None, field: str = "conv2d"):
        self.channels = positive_int({"channels": channels}, "channels", field)
        self.bias = boolean({"bias": bias}, "bias", field, True)
        self.set_grid(in_channels, kernel, stride, padding, height, field)

    @classmethod
    def from_spec(cls, table, field):
        check_keys(table, KEYS, field)
        return cls(positive_int(table, "channels", field), bias=table.get("bias", True),
                   **cls.grid_kwargs(table, field))

    def bind(self, in_dim, index):
        super().bind(in_dim, index)
        self.bind_grid(in_dim)

    def blocks(self):
        out = [Block(f"W{self.index}", (self.channels, self.in_channels, *self.kernel))]
        return out + ([Block(f"b{self.index}", (self.channels,))] if self.bias else [])

    def out_dim(self):
        return self.channels * self.Ho * self.Wo

    def symbolic(self, x, p):
        W, H, Wd, C = p[f"W{self.index}"], self.H, self.W, self.in_channels
        ys = {}
        for (a, b), taps in self.windows():
            for o in range(self.channels):
                s = sum((W[o, c, u, v] * x[(c * H + i) * Wd + j] for c in range(C) for (i, j), (u, v) in taps),
                        sp.Integer(0))
                ys[o, a, b] = s + p[f"b{self.index}"][o] if self.bias else s
        return [ys[o, a, b] for o in range(self.channels) for a in range(self.Ho) for b in range(self.Wo)]

    def forward(self, X, p):
        P = self.patches(X)                                       # (N, C, Ho, Wo, kh, kw)
        Z = np.einsum("ncabuv,ocuv->noab", P, p[f"W{self.index}"])
        if self.bias:
            Z = Z + p[f"b{self.index}"][None, :, None, None]
        return Z.reshape(X.shape[0], -1)

    def backward(self, X, p, dY, grads):
        P = self.patches(X)
        dZ = dY.reshape(X.shape[0], self.channels, self.Ho, self.Wo)
        grads[f"W{self.index}"] += np.einsum("noab,ncabuv->ocuv", dZ, P)
        if self.bias:
            grads[f"b{self.index}"] += dZ.sum(axis=(0, 2, 3))
        return self.unpatch(np.einsum("noab,ocuv->ncabuv", dZ, p[f"W{self.index}"]))

    def axes(self, ins, ctx):
        """Channels are free; rows, columns and kernel taps are fixed labels."""
        cin = self.grid_axes(ins, ctx)
        if cin.free:
            ctx.also_sets(cin, "in_channels")
        ch = ctx.new(self.channels, "channels")
        bl = {f"W{self.index}": [(ch,), (cin,), (ctx.fixed(self.kernel[0]),), (ctx.fixed(self.kernel[1]),)]}
        if self.bias:
            bl[f"b{self.index}"] = [(ch,)]
        return [ch, ctx.fixed(self.Ho), ctx.fixed(self.Wo)], bl

    def describe(self):
        return f"conv2d {self.grid_describe()} -> {self.channels}x{self.Ho}x{self.Wo}"

    def to_spec(self):
        return {"type": self.type, "channels": self.channels, "bias": self.bias} | self.grid_spec()
