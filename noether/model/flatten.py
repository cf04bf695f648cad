"""``flatten``: the identity on noether's flat, channel-major layout (``torch.nn.Flatten`` of an
NCHW batch).  It keeps the axes of its input, so channel relabellings pass through it."""

from __future__ import annotations

from .fields import check_keys
from .layer import Layer


class Flatten(Layer):
    type = "flatten"

    @classmethod
    def from_spec(cls, table, field):
        check_keys(table, {"type"}, field)
        return cls()

    def out_dim(self):
        return self.in_dim

    def axes(self, ins, ctx):
        return list(ins), {}

    def symbolic(self, x, p):
        return list(x)

    def forward(self, X, p):
        return X.copy()

    def backward(self, X, p, dY, grads):
        return dY

    def kernel_forward(self, ctx, X, Z):
        return [f"{Z}[:, :] = {X}"]

    def kernel_backward(self, ctx, X, dZ, dX, need_dx):
        return [f"{dX}[:, :] = {dZ}"] if need_dx else []
