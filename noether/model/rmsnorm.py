"""``rmsnorm``: y = z / sqrt(mean z² + eps) (· g + β with ``affine``); Zhang & Sennrich 2019."""

from __future__ import annotations

import sympy as sp

from .normalisation import AffineMixin, exact_eps
from .symlayer import SymbolicLayer


class RMSNorm(AffineMixin, SymbolicLayer):
    type = "rmsnorm"

    def symbolic(self, x, p):
        ms = sum((xi**2 for xi in x), sp.Integer(0)) / len(x)
        s = 1 / sp.sqrt(ms + exact_eps(self.eps))
        return self.affine_apply([xi * s for xi in x], p)

    def describe(self):
        return f"rmsnorm eps={self.eps:g}" + (" affine" if self.affine else "")

    def to_spec(self):
        return {"type": self.type, "affine": self.affine, "eps": self.eps}
