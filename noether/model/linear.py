"""``linear``: z = W x + b.  Blocks ``W<l>`` (out, in) and, if ``bias``, ``b<l>`` (out,).  With
``fixed = K`` the W-asymmetric variant (:mod:`.wlinear`)."""

from __future__ import annotations

import sympy as sp

from .fields import boolean, check_keys, positive_int
from .fixed import seed_int
from .layer import Block, Layer
from .wlinear import WAsymLinear      # the W-asymmetric option (Lim et al. 2024)


class Linear(Layer):
    type = "linear"
    declares_out = True

    def __init__(self, out: int, bias: bool = True):
        self.out, self.bias = out, bias

    @classmethod
    def from_spec(cls, table, field):
        check_keys(table, {"type", "out", "bias", "fixed", "fixed_seed", "fixed_scale"}, field)
        out, bias = positive_int(table, "out", field), boolean(table, "bias", field, True)
        if table.get("fixed", 0) != 0 or "fixed_seed" in table or "fixed_scale" in table:
            return WAsymLinear(out, positive_int(table, "fixed", field), bias, seed_int(table, "fixed_seed", field),
                               table.get("fixed_scale", 1.0), field)
        return cls(out, bias)

    @property
    def W(self) -> str:
        return f"W{self.index}"

    @property
    def b(self) -> str:
        return f"b{self.index}"

    def blocks(self):
        out = [Block(self.W, (self.out, self.in_dim))]
        if self.bias:
            out.append(Block(self.b, (self.out,)))
        return out

    def out_dim(self):
        return self.out

    def symbolic(self, x, p):
        W = p[self.W]
        z = [sum((W[i, j] * x[j] for j in range(self.in_dim)), sp.Integer(0)) for i in range(self.out)]
        if self.bias:
            z = [zi + p[self.b][i] for i, zi in enumerate(z)]
        return z

    def forward(self, X, p):
        Z = X @ p[self.W].T
        return Z + p[self.b] if self.bias else Z

    def backward(self, X, p, dY, grads):
        grads[self.W] += dY.T @ X
        if self.bias:
            grads[self.b] += dY.sum(axis=0)
        return dY @ p[self.W]

    def kernel_forward(self, ctx, X, Z):
        ob = ctx.offsets.get(self.b, 0)
        return [f"linear_fwd(theta, {ctx.offsets[self.W]}, {ob}, {self.in_dim}, {self.out}, {self.bias}, {X}, {Z})"]

    def kernel_backward(self, ctx, X, dZ, dX, need_dx):
        ob = ctx.offsets.get(self.b, 0)
        return [f"linear_bwd(theta, grad, {ctx.offsets[self.W]}, {ob}, {self.in_dim}, {self.out}, "
                f"{self.bias}, {X}, {dZ}, {dX}, {need_dx})"]

    def axes(self, ins, ctx):
        o = ctx.new(self.out, "out")
        return [o], {b.name: ([(o,), tuple(ins)] if b.name == self.W else [(o,)]) for b in self.blocks()}

    def describe(self):
        return f"linear {self.in_dim}->{self.out}" + ("" if self.bias else " (no bias)")

    def to_spec(self):
        return {"type": self.type, "out": self.out, "bias": self.bias}
