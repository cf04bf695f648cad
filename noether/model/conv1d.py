"""``conv1d``: valid 1-d convolution, stride 1.  Input: ``in_channels`` × L, channel-major flat
(x[c·L + t]); output: ``channels`` × (L − kernel + 1).  Blocks W<l> (channels, in_channels,
kernel) and, with ``bias``, b<l> (channels,)."""

from __future__ import annotations

import sympy as sp

from ..errors import SpecError
from .fields import boolean, check_keys, positive_int
from .layer import Block
from .symlayer import SymbolicLayer


class Conv1d(SymbolicLayer):
    type = "conv1d"

    def __init__(self, channels: int, kernel: int, in_channels: int = 1, bias: bool = True, field="conv1d"):
        self.channels, self.kernel, self.in_channels, self.bias, self.field = channels, kernel, in_channels, bias, field

    @classmethod
    def from_spec(cls, table, field):
        check_keys(table, {"type", "channels", "kernel", "in_channels", "bias"}, field)
        return cls(positive_int(table, "channels", field), positive_int(table, "kernel", field),
                   positive_int(table, "in_channels", field, 1), boolean(table, "bias", field, True), field)

    def bind(self, in_dim, index):
        super().bind(in_dim, index)
        if in_dim % self.in_channels:
            raise SpecError(f"{self.field}.in_channels", f"input size {in_dim} is not a multiple of "
                            f"in_channels = {self.in_channels}")
        self.length = in_dim // self.in_channels
        if self.kernel > self.length:
            raise SpecError(f"{self.field}.kernel", f"must be <= the input length {self.length}")

    def blocks(self):
        out = [Block(f"W{self.index}", (self.channels, self.in_channels, self.kernel))]
        return out + ([Block(f"b{self.index}", (self.channels,))] if self.bias else [])

    def out_dim(self):
        return self.channels * (self.length - self.kernel + 1)

    def symbolic(self, x, p):
        W, Lout = p[f"W{self.index}"], self.length - self.kernel + 1
        ys = []
        for o in range(self.channels):
            for t in range(Lout):
                s = sum((W[o, c, k] * x[c * self.length + t + k] for c in range(self.in_channels)
                         for k in range(self.kernel)), sp.Integer(0))
                ys.append(s + p[f"b{self.index}"][o] if self.bias else s)
        return ys

    def axes(self, ins, ctx):
        """Channels are free; sequence positions and kernel taps are fixed labels."""
        cin, L = ctx.split(ins, (self.in_channels, self.length))
        L.fix()
        if cin.free:
            ctx.also_sets(cin, "in_channels")
        ch = ctx.new(self.channels, "channels")
        bl = {f"W{self.index}": [(ch,), (cin,), (ctx.fixed(self.kernel),)]}
        if self.bias:
            bl[f"b{self.index}"] = [(ch,)]
        return [ch, ctx.fixed(self.length - self.kernel + 1)], bl

    def describe(self):
        return f"conv1d {self.in_channels}x{self.length} -> {self.channels} (kernel {self.kernel})"

    def to_spec(self):
        return {"type": self.type, "channels": self.channels, "kernel": self.kernel,
                "in_channels": self.in_channels, "bias": self.bias}
