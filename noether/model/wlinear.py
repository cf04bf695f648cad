"""W-Asymmetric linear layer (Lim et al. 2024, "The Empirical Impact of Neural Parameter
Symmetries, or Lack Thereof"): ``linear`` with ``fixed = K`` holds K entries of each row of W at
seeded random constants.  They are constants, not parameters: the block W<l> has shape
(out, in − K) and holds the trainable entries of each row in column order, so no optimizer can
move the fixed ones.  Spec keys ``fixed``, ``fixed_seed`` (default 0), ``fixed_scale`` (the
constants are N(0, fixed_scale²), default 1)."""

from __future__ import annotations

import numpy as np
import sympy as sp

from ..errors import SpecError
from .fields import finite_float
from .fixed import dyadic_normal, rational
from .layer import Block, Layer


class WAsymLinear(Layer):
    """z = W_full x + b with W_full[i, fixed_cols[i]] = F[i] fixed and the rest trainable."""

    def __init__(self, out: int, fixed: int, bias: bool = True, seed: int = 0, scale: float = 1.0,
                 field: str = "linear"):
        self.out, self.K, self.bias, self.seed, self.field = out, fixed, bias, seed, field
        self.scale = finite_float(scale, f"{field}.fixed_scale", low=0, low_open=True)

    @classmethod
    def from_spec(cls, table, field):
        return Layer.registry["linear"].from_spec(table, field)   # ``linear`` with ``fixed`` builds this

    def bind(self, in_dim, index):
        super().bind(in_dim, index)
        if self.K >= in_dim:
            raise SpecError(f"{self.field}.fixed", f"must be < the input size {in_dim} (K entries per row are "
                            "fixed, the others trained)")
        rng = np.random.default_rng([self.seed, index or 0, in_dim, self.out])
        cols = np.array([np.sort(rng.permutation(in_dim)[:self.K]) for _ in range(self.out)], dtype=np.int64)
        self.fix_cols = cols.reshape(self.out, self.K)
        self.free_cols = np.array([[c for c in range(in_dim) if c not in set(r)] for r in self.fix_cols],
                                  dtype=np.int64).reshape(self.out, in_dim - self.K)
        self.F = dyadic_normal(rng, (self.out, self.K), self.scale)
        self._rows = np.arange(self.out)[:, None]

    @property
    def W(self) -> str:
        return f"W{self.index}"

    @property
    def b(self) -> str:
        return f"b{self.index}"

    def blocks(self):
        out = [Block(self.W, (self.out, self.in_dim - self.K))]
        return out + ([Block(self.b, (self.out,))] if self.bias else [])

    def out_dim(self):
        return self.out

    def full(self, W):
        Wf = np.empty((self.out, self.in_dim), dtype=np.asarray(W).dtype)
        Wf[self._rows, self.free_cols] = W
        Wf[self._rows, self.fix_cols] = self.F if Wf.dtype != object else \
            np.vectorize(rational, otypes=[object])(self.F)
        return Wf

    def symbolic(self, x, p):
        Wf = self.full(p[self.W])
        z = [sum((Wf[i, j] * x[j] for j in range(self.in_dim)), sp.Integer(0)) for i in range(self.out)]
        return [zi + p[self.b][i] for i, zi in enumerate(z)] if self.bias else z

    def forward(self, X, p):
        Z = X @ self.full(p[self.W]).T
        return Z + p[self.b] if self.bias else Z

    def backward(self, X, p, dY, grads):
        G = dY.T @ X
        grads[self.W] += G[self._rows, self.free_cols]
        if self.bias:
            grads[self.b] += dY.sum(axis=0)
        return dY @ self.full(p[self.W])

    def axes(self, ins, ctx):
        """Rows carry different fixed columns: no index is a relabelling axis (all fixed labels)."""
        for a in ins:
            a.fix()
        o = ctx.fixed(self.out)
        bl = {self.W: [(o,), (ctx.fixed(self.in_dim - self.K),)]}
        if self.bias:
            bl[self.b] = [(o,)]
        return [o], bl

    # -- kernels: the full W assembled from θ and the constants (module-level arrays) ------------
    def kernel_defs(self, ctx):
        k, n, m, K = ctx.uid(self), self.in_dim, self.out, self.K
        oW, ob = ctx.offsets[self.W], ctx.offsets.get(self.b, 0)
        arr = lambda a, dt: f"np.array({a.ravel().tolist()}, dtype=np.{dt}).reshape({a.shape})"  # noqa: E731
        return (f"WA_FREE_{k} = {arr(self.free_cols, 'int64')}\nWA_FIX_{k} = {arr(self.fix_cols, 'int64')}\n"
                f"WA_F_{k} = {arr(self.F, 'float64')}\n\n"
                f"@njit(cache=True)\ndef wa_full_{k}(theta):\n"
                f"    W = np.empty(({m}, {n}))\n"
                f"    for i in range({m}):\n"
                f"        for a in range({n - K}):\n"
                f"            W[i, WA_FREE_{k}[i, a]] = theta[{oW} + i * {n - K} + a]\n"
                f"        for a in range({K}):\n"
                f"            W[i, WA_FIX_{k}[i, a]] = WA_F_{k}[i, a]\n"
                f"    return W\n\n"
                f"@njit(cache=True)\ndef wa_fwd_{k}(theta, X, Z):\n"
                f"    np.dot(X, np.ascontiguousarray(wa_full_{k}(theta).T), Z)\n"
                + (f"    for r in range(Z.shape[0]):\n        for o in range({m}):\n"
                   f"            Z[r, o] += theta[{ob} + o]\n" if self.bias else "")
                + f"\n@njit(cache=True)\ndef wa_bwd_{k}(theta, grad, X, dZ, dX, need_dx):\n"
                f"    G = np.dot(np.ascontiguousarray(dZ.T), X)\n"
                f"    for i in range({m}):\n        for a in range({n - K}):\n"
                f"            grad[{oW} + i * {n - K} + a] = G[i, WA_FREE_{k}[i, a]]\n"
                + (f"    for o in range({m}):\n        grad[{ob} + o] = 0.0\n"
                   f"    for r in range(dZ.shape[0]):\n        for o in range({m}):\n"
                   f"            grad[{ob} + o] += dZ[r, o]\n" if self.bias else "")
                + f"    if need_dx:\n        np.dot(dZ, wa_full_{k}(theta), dX)\n")

    def kernel_forward(self, ctx, X, Z):
        return [f"wa_fwd_{ctx.uid(self)}(theta, {X}, {Z})"]

    def kernel_backward(self, ctx, X, dZ, dX, need_dx):
        return [f"wa_bwd_{ctx.uid(self)}(theta, grad, {X}, {dZ}, {dX}, {need_dx})"]

    def describe(self):
        return f"linear {self.in_dim}->{self.out} (W-asymmetric, {self.K} fixed per row, seed {self.seed})" \
            + ("" if self.bias else " (no bias)")

    def to_spec(self):
        return {"type": "linear", "out": self.out, "bias": self.bias, "fixed": self.K,
                "fixed_seed": self.seed, "fixed_scale": self.scale}


WAsymLinear.type = "linear"    # a ``linear`` option: set after class creation, so not registered over Linear
