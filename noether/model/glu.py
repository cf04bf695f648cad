"""``glu``: y = (W x + b) ⊙ σ(V x + c), σ a catalogue name or expression in z (default sigmoid);
Dauphin et al. 2017.  Blocks W<l>, V<l> (out, in) and, with ``bias``, b<l>, c<l> (out,)."""

from __future__ import annotations

import sympy as sp

from ..errors import SpecError
from .activation import activation_expr
from .catalogue import z
from .fields import boolean, check_keys, positive_int
from .layer import Block
from .symlayer import SymbolicLayer


class GLU(SymbolicLayer):
    type = "glu"
    declares_out = True

    def __init__(self, out: int, bias: bool = True, fn: str = "sigmoid", field: str = "glu.fn"):
        self.out, self.bias, self.fn = out, bias, fn
        self.sigma = activation_expr(fn, field)

    @classmethod
    def from_spec(cls, table, field):
        check_keys(table, {"type", "out", "bias", "fn"}, field)
        fn = table.get("fn", "sigmoid")
        if not isinstance(fn, str):
            raise SpecError(f"{field}.fn", "must be an activation name or an expression in z")
        return cls(positive_int(table, "out", field), boolean(table, "bias", field, True), fn, f"{field}.fn")

    def blocks(self):
        l, n = self.index, self.in_dim
        out = [Block(f"W{l}", (self.out, n)), Block(f"V{l}", (self.out, n))]
        if self.bias:
            out += [Block(f"b{l}", (self.out,)), Block(f"c{l}", (self.out,))]
        return out

    def out_dim(self):
        return self.out

    def axes(self, ins, ctx):
        o = ctx.new(self.out, "out")
        return [o], {b.name: ([(o,), tuple(ins)] if b.name[0] in "WV" else [(o,)]) for b in self.blocks()}

    def symbolic(self, x, p):
        l = self.index
        W, V = p[f"W{l}"], p[f"V{l}"]
        ys = []
        for i in range(self.out):
            a = sum((W[i, j] * x[j] for j in range(self.in_dim)), sp.Integer(0))
            g = sum((V[i, j] * x[j] for j in range(self.in_dim)), sp.Integer(0))
            if self.bias:
                a, g = a + p[f"b{l}"][i], g + p[f"c{l}"][i]
            ys.append(a * self.sigma.subs(z, g))
        return ys

    def describe(self):
        return f"glu {self.in_dim}->{self.out} gate {self.fn}"

    def to_spec(self):
        return {"type": self.type, "out": self.out, "bias": self.bias, "fn": self.fn}
