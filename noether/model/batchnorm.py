"""``batchnorm``: training-mode batch normalisation (Ioffe & Szegedy 2015).

Each feature is normalised with the statistics of the current batch, y_ni = (x_ni − μ_i)/√(σ²_i + eps)
(· g_i + β_i with ``affine``), μ and σ² the batch mean and biased variance.  The loss therefore
couples the samples of a batch: the layer is ``batch_coupled`` and gives ``symbolic_batch`` (the
exact global search samples whole batches); there is no per-sample symbolic form.  The kernels
use the whole array they are given as the batch, like the numpy reference.

With ``channels`` = C (``torch.nn.BatchNorm2d``/``BatchNorm1d`` on (N, C, L)) a sample is C × S
channel-major and each channel is normalised with the statistics over the batch *and* its S
positions, with one gain and bias per channel: the per-feature layer applied to the (N·S, C)
rows of the batch.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from ..errors import SpecError
from .fields import check_keys, positive_int
from .layer import Layer
from .normalisation import AffineMixin, exact_eps, norm_options


class BatchNorm(AffineMixin, Layer):
    type = "batchnorm"
    batch_coupled = True

    def __init__(self, affine: bool = False, eps: float = 1e-5, channels: int | None = None):
        super().__init__(affine, eps)
        if channels is not None:
            channels = positive_int({"channels": channels}, "channels", self.type)
        self.channels = channels

    @classmethod
    def from_spec(cls, table, field):
        check_keys(table, {"type", "affine", "eps", "channels"}, field)
        rest = {k: v for k, v in table.items() if k != "channels"}
        ch = positive_int(table, "channels", field) if "channels" in table else None
        return cls(*norm_options(rest, field), ch)

    def bind(self, in_dim, index):
        super().bind(in_dim, index)
        self.C = self.channels or in_dim
        if in_dim % self.C:
            raise SpecError("batchnorm.channels", f"input size {in_dim} is not a multiple of {self.C} channels")
        self.S = in_dim // self.C

    def blocks(self):
        return self.affine_blocks(self.C)

    def axes(self, ins, ctx):
        """Relabelling the channels commutes with per-channel statistics; positions are labels."""
        if self.channels is None:
            return super().axes(ins, ctx)
        c, s = ctx.split(ins, (self.C, self.S))
        s.fix()
        return list(ins), {b.name: [(c,)] for b in self.blocks()}

    def _rows(self, X):
        N = X.shape[0]
        return X.reshape(N, self.C, self.S).transpose(0, 2, 1).reshape(N * self.S, self.C)

    def _unrows(self, R, N):
        return R.reshape(N, self.S, self.C).transpose(0, 2, 1).reshape(N, self.C * self.S)

    # -- symbolic: whole batches only ------------------------------------------------------------
    def symbolic(self, x, p):
        raise SpecError("batchnorm", "couples the samples of a batch: it has no per-sample symbolic form "
                        "(the derivation uses symbolic_batch)")

    def symbolic_batch(self, hs, p):
        C, S = self.C, self.S
        hs = [[h[c * S + s] for c in range(C)] for h in hs for s in range(S)]   # (N·S) rows of C
        B, n = len(hs), C
        eps = exact_eps(self.eps)
        cols = []
        for i in range(n):
            mu = sum((h[i] for h in hs), sp.Integer(0)) / B
            c = [h[i] - mu for h in hs]
            s = 1 / sp.sqrt(sum((ci**2 for ci in c), sp.Integer(0)) / B + eps)
            cols.append([ci * s for ci in c])
        rows = [self.affine_apply([cols[i][b] for i in range(n)], p) for b in range(B)]
        return [[rows[m * S + s][c] for c in range(C) for s in range(S)] for m in range(B // S)]

    # -- numpy reference -------------------------------------------------------------------------
    def _norm(self, X):
        mu = X.mean(axis=0)
        s = np.sqrt(((X - mu) ** 2).mean(axis=0) + self.eps)
        return (X - mu) / s, s

    def forward(self, X, p):
        xh, _ = self._norm(self._rows(X))
        if self.affine:
            xh = xh * p[f"g{self.index}"] + p[f"beta{self.index}"]
        return self._unrows(xh, X.shape[0])

    def backward(self, X, p, dY, grads):
        return self._unrows(self._backward(self._rows(X), p, self._rows(dY), grads), X.shape[0])

    def _backward(self, X, p, dY, grads):
        xh, s = self._norm(X)
        d = dY
        if self.affine:
            grads[f"g{self.index}"] += (dY * xh).sum(axis=0)
            grads[f"beta{self.index}"] += dY.sum(axis=0)
            d = dY * p[f"g{self.index}"]
        return (d - d.mean(axis=0) - xh * (d * xh).mean(axis=0)) / s

    # -- kernels (noether/kernels/primitives_batchnorm.py) -------------------------------------
    def _kargs(self, ctx):
        og = ctx.offsets.get(f"g{self.index}", 0)
        ob = ctx.offsets.get(f"beta{self.index}", 0)
        return f"{og}, {ob}, {self.affine}, {self.eps!r}"

    def kernel_forward(self, ctx, X, Z):
        if self.channels is None:
            return [f"bn_fwd(theta, {self._kargs(ctx)}, {X}, {Z})"]
        k = ctx.uid(self)
        return [f"BNX{k} = ch_rows({X}, {self.C})", f"BNZ{k} = np.empty_like(BNX{k})",
                f"bn_fwd(theta, {self._kargs(ctx)}, BNX{k}, BNZ{k})", f"ch_unrows(BNZ{k}, {Z})"]

    def kernel_backward(self, ctx, X, dZ, dX, need_dx):
        if self.channels is None:
            return [f"bn_bwd(theta, grad, {self._kargs(ctx)}, {X}, {dZ}, {dX}, {need_dx})"]
        k = ctx.uid(self)
        lines = [f"BNX{k} = ch_rows({X}, {self.C})", f"BNG{k} = ch_rows({dZ}, {self.C})",
                 f"BND{k} = np.empty_like(BNX{k})",
                 f"bn_bwd(theta, grad, {self._kargs(ctx)}, BNX{k}, BNG{k}, BND{k}, {need_dx})"]
        return lines + ([f"ch_unrows(BND{k}, {dX})"] if need_dx else [])

    def describe(self):
        return f"batchnorm eps={self.eps:g}" + (" affine" if self.affine else "") + \
            (f" over {self.C} channels" if self.channels else "")

    def to_spec(self):
        out = {"type": self.type, "affine": self.affine, "eps": self.eps}
        return out | ({"channels": self.channels} if self.channels else {})
