"""``batchnorm``: training-mode batch normalisation (Ioffe & Szegedy 2015).

Each feature is normalised with the statistics of the current batch, y_ni = (x_ni − μ_i)/√(σ²_i + eps)
(· g_i + β_i with ``affine``), μ and σ² the batch mean and biased variance.  The loss therefore
couples the samples of a batch: the layer is ``batch_coupled`` and gives ``symbolic_batch`` (the
exact global search samples whole batches); there is no per-sample symbolic form.  The kernels
use the whole array they are given as the batch, like the numpy reference.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from ..errors import SpecError
from .layer import Layer
from .normalisation import AffineMixin, exact_eps


class BatchNorm(AffineMixin, Layer):
    type = "batchnorm"
    batch_coupled = True

    # -- symbolic: whole batches only ------------------------------------------------------------
    def symbolic(self, x, p):
        raise SpecError("batchnorm", "couples the samples of a batch: it has no per-sample symbolic form "
                        "(the derivation uses symbolic_batch)")

    def symbolic_batch(self, hs, p):
        B, n = len(hs), self.in_dim
        eps = exact_eps(self.eps)
        cols = []
        for i in range(n):
            mu = sum((h[i] for h in hs), sp.Integer(0)) / B
            c = [h[i] - mu for h in hs]
            s = 1 / sp.sqrt(sum((ci**2 for ci in c), sp.Integer(0)) / B + eps)
            cols.append([ci * s for ci in c])
        return [self.affine_apply([cols[i][b] for i in range(n)], p) for b in range(B)]

    # -- numpy reference -------------------------------------------------------------------------
    def _norm(self, X):
        mu = X.mean(axis=0)
        s = np.sqrt(((X - mu) ** 2).mean(axis=0) + self.eps)
        return (X - mu) / s, s

    def forward(self, X, p):
        xh, _ = self._norm(X)
        if self.affine:
            return xh * p[f"g{self.index}"] + p[f"beta{self.index}"]
        return xh

    def backward(self, X, p, dY, grads):
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
        return [f"bn_fwd(theta, {self._kargs(ctx)}, {X}, {Z})"]

    def kernel_backward(self, ctx, X, dZ, dX, need_dx):
        return [f"bn_bwd(theta, grad, {self._kargs(ctx)}, {X}, {dZ}, {dX}, {need_dx})"]

    def describe(self):
        return f"batchnorm eps={self.eps:g}" + (" affine" if self.affine else "")

    def to_spec(self):
        return {"type": self.type, "affine": self.affine, "eps": self.eps}
