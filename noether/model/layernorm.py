"""``layernorm``: y = (z − mean z)/sqrt(var z + eps) (· g + β with ``affine``); Ba et al. 2016."""

from __future__ import annotations

import numpy as np
import sympy as sp

from .normalisation import AffineMixin, exact_eps
from .symlayer import SymbolicLayer


class LayerNorm(AffineMixin, SymbolicLayer):
    type = "layernorm"

    def symbolic(self, x, p):
        n = len(x)
        mu = sum(x, sp.Integer(0)) / n
        c = [xi - mu for xi in x]
        var = sum((ci**2 for ci in c), sp.Integer(0)) / n
        s = 1 / sp.sqrt(var + exact_eps(self.eps))
        return self.affine_apply([ci * s for ci in c], p)

    # numpy reference passes written out (the lambdified Jacobian of ``symbolic`` has in_dim²
    # expressions of in_dim terms each: impractical past a few dozen units); the symbolic pass
    # stays the definition, and tests check these against its lambdified form
    def _normalise(self, X):
        c = X - X.mean(axis=1, keepdims=True)
        s = 1.0 / np.sqrt((c * c).mean(axis=1, keepdims=True) + float(exact_eps(self.eps)))
        return c * s, s

    def forward(self, X, p):
        y, _ = self._normalise(X)
        return y * p[f"g{self.index}"] + p[f"beta{self.index}"] if self.affine else y

    def backward(self, X, p, dY, grads):
        """dX = s·(dŷ − mean dŷ − ŷ·mean(dŷ ⊙ ŷ)) per sample, ŷ the normalised input, dŷ = dY ⊙ g."""
        y, s = self._normalise(X)
        if self.affine:
            grads[f"g{self.index}"] += np.einsum("ni,ni->i", dY, y)
            grads[f"beta{self.index}"] += dY.sum(axis=0)
            dY = dY * p[f"g{self.index}"]
        return s * (dY - dY.mean(axis=1, keepdims=True) - y * (dY * y).mean(axis=1, keepdims=True))

    def describe(self):
        return f"layernorm eps={self.eps:g}" + (" affine" if self.affine else "")

    def to_spec(self):
        return {"type": self.type, "affine": self.affine, "eps": self.eps}
