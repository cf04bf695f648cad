"""``maxpool2d`` and ``avgpool2d``: 2-d pooling as in ``torch.nn.MaxPool2d`` / ``AvgPool2d``
(stride defaults to the kernel; padding is −∞ for max, and counted as zeros in the average,
PyTorch's ``count_include_pad=True``).  Parameter-free; channels pass through (see :mod:`.grid`)."""

from __future__ import annotations

import numpy as np
import sympy as sp

from .fields import check_keys
from .grid import Grid
from .symlayer import SymbolicLayer

KEYS = {"type", "kernel", "in_channels", "stride", "padding", "height"}


class _Pool2d(Grid, SymbolicLayer):
    def __init__(self, kernel, in_channels: int = 1, stride=None, padding=0, height: int | None = None,
                 field: str | None = None):
        self.set_grid(in_channels, kernel, kernel if stride is None else stride, padding, height,
                      field or self.type)

    @classmethod
    def from_spec(cls, table, field):
        check_keys(table, KEYS, field)
        return cls(**cls.grid_kwargs(table, field, stride_default=None))

    def bind(self, in_dim, index):
        super().bind(in_dim, index)
        self.bind_grid(in_dim)

    def out_dim(self):
        return self.in_channels * self.Ho * self.Wo

    def symbolic(self, x, p):
        H, W, ys = self.H, self.W, {}
        for (a, b), taps in self.windows():
            for c in range(self.in_channels):
                ys[c, a, b] = self.pool([x[(c * H + i) * W + j] for (i, j), _ in taps])
        return [ys[c, a, b] for c in range(self.in_channels) for a in range(self.Ho) for b in range(self.Wo)]

    def axes(self, ins, ctx):
        return [self.grid_axes(ins, ctx), ctx.fixed(self.Ho), ctx.fixed(self.Wo)], {}

    def describe(self):
        return f"{self.type} {self.grid_describe()}"

    def to_spec(self):
        return {"type": self.type} | self.grid_spec()


class MaxPool2d(_Pool2d):
    type = "maxpool2d"

    def pool(self, xs):
        return sp.Max(*xs)

    def forward(self, X, p):
        P = self.patches(X, -np.inf)
        return P.max(axis=(4, 5)).reshape(X.shape[0], -1)

    def backward(self, X, p, dY, grads):
        # the gradient goes to the first maximal tap in row-major window order (PyTorch's choice)
        P = self.patches(X, -np.inf)
        N, C, Ho, Wo, kh, kw = P.shape
        flat = P.reshape(N, C, Ho, Wo, kh * kw)
        onehot = np.zeros_like(flat)
        np.put_along_axis(onehot, flat.argmax(axis=4)[..., None], 1.0, axis=4)
        dP = onehot.reshape(P.shape) * dY.reshape(N, C, Ho, Wo)[..., None, None]
        return self.unpatch(dP)


class AvgPool2d(_Pool2d):
    type = "avgpool2d"

    def pool(self, xs):
        return sum(xs, sp.Integer(0)) / (self.kernel[0] * self.kernel[1])

    def forward(self, X, p):
        return self.patches(X).mean(axis=(4, 5)).reshape(X.shape[0], -1)

    def backward(self, X, p, dY, grads):
        N, k = X.shape[0], self.kernel[0] * self.kernel[1]
        dP = np.broadcast_to((dY.reshape(N, self.in_channels, self.Ho, self.Wo) / k)[..., None, None],
                             (N, self.in_channels, self.Ho, self.Wo, *self.kernel))
        return self.unpatch(np.ascontiguousarray(dP))
