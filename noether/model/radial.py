"""``radial``: σ(z) = f(‖z‖) z on the whole vector, with f a sympy expression in ``r``.

Radial rescaling activations (Ganev, Walters et al. 2022; symmetries in Zhao et al. 2023): the
derivation finds so(h), and one more global scaling when f is homogeneous (e.g. f = 1/r²).
"""

from __future__ import annotations

import sympy as sp

from ..errors import SpecError
from ..expr import parse_expr
from .fields import check_keys
from .symlayer import SymbolicLayer

r = sp.Symbol("r", positive=True)


class Radial(SymbolicLayer):
    type = "radial"

    def __init__(self, f: str | sp.Expr, field: str = "radial.f"):
        if isinstance(f, sp.Expr):
            expr = f
        else:
            if not isinstance(f, str) or not f.strip():
                raise SpecError(field, "must be an expression in r, e.g. '1/(1+r)'")
            expr = parse_expr(f, {"r": r}, field)
        bad = getattr(expr, "free_symbols", set()) - {r}
        if not isinstance(expr, sp.Expr) or bad:
            raise SpecError(field, f"{f!r} must be an expression in r alone (got {', '.join(sorted(map(str, bad))) or 'non-expression'})")
        self.f, self.name = expr, str(f)

    @classmethod
    def from_spec(cls, table, field):
        check_keys(table, {"type", "f"}, field)
        if "f" not in table:
            raise SpecError(f"{field}.f", "missing; give an expression in r such as '1/(1+r)'")
        return cls(table["f"], f"{field}.f")

    def out_dim(self):
        return self.in_dim

    def symbolic(self, x, p):
        norm = sp.sqrt(sum((xi**2 for xi in x), sp.Integer(0)))
        fr = self.f.subs(r, norm)
        return [fr * xi for xi in x]

    def axes(self, ins, ctx):      # ‖z‖ is invariant under every relabelling of the units
        return list(ins), {}

    def describe(self):
        return f"radial f(r) = {self.f}"

    def to_spec(self):
        return {"type": self.type, "f": str(self.f)}
