"""``layernorm``: y = (z − mean z)/sqrt(var z + eps) (· g + β with ``affine``); Ba et al. 2016."""

from __future__ import annotations

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

    def describe(self):
        return f"layernorm eps={self.eps:g}" + (" affine" if self.affine else "")

    def to_spec(self):
        return {"type": self.type, "affine": self.affine, "eps": self.eps}
