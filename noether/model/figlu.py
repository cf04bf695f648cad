"""``figlu``: the σ-Asymmetric nonlinearity of Lim et al. (2024), y = x ⊙ σ(F x), with F a fixed
n × n matrix of seeded random constants (N(0, scale²/n), :mod:`.fixed`) and σ a catalogue name or
expression in z (default sigmoid: a fixed-gate GLU, FiGLU).  No parameters.  Spec keys ``fn``,
``seed`` (default 0), ``scale`` (default 1)."""

from __future__ import annotations

import numpy as np
import sympy as sp

from ..errors import SpecError
from .activation import Activation
from .catalogue import z
from .fields import check_keys, finite_float
from .fixed import dyadic_normal, rational, seed_int
from .layer import Layer


class FiGLU(Layer):
    type = "figlu"

    def __init__(self, fn: str = "sigmoid", seed: int = 0, scale: float = 1.0, field: str = "figlu"):
        self.fn, self.seed, self.field = fn, seed, field
        self.act = Activation(fn, f"{field}.fn")
        self.scale = finite_float(scale, f"{field}.scale", low=0, low_open=True)

    @classmethod
    def from_spec(cls, table, field):
        check_keys(table, {"type", "fn", "seed", "scale"}, field)
        fn = table.get("fn", "sigmoid")
        if not isinstance(fn, str):
            raise SpecError(f"{field}.fn", "must be an activation name or an expression in z")
        return cls(fn, seed_int(table, "seed", field), table.get("scale", 1.0), field)

    def bind(self, in_dim, index):
        super().bind(in_dim, index)
        self.F = dyadic_normal(np.random.default_rng([self.seed, in_dim]), (in_dim, in_dim),
                               self.scale / np.sqrt(in_dim))

    def out_dim(self):
        return self.in_dim

    def symbolic(self, x, p):
        n = self.in_dim
        g = [sum((rational(self.F[i, j]) * x[j] for j in range(n)), sp.Integer(0)) for i in range(n)]
        return [x[i] * self.act.expr.subs(z, g[i]) for i in range(n)]

    def forward(self, X, p):
        G = X @ self.F.T
        return X * np.broadcast_to(np.asarray(self.act._np(G), dtype=float), G.shape)

    def backward(self, X, p, dY, grads):
        G = X @ self.F.T
        S = np.broadcast_to(np.asarray(self.act._np(G), dtype=float), G.shape)
        dS = np.broadcast_to(np.asarray(self.act._dnp(G), dtype=float), G.shape)
        return dY * S + (dY * X * dS) @ self.F

    def axes(self, ins, ctx):
        """F mixes all units with distinct constants: every index is a fixed label."""
        for a in ins:
            a.fix()
        return [ctx.fixed(self.in_dim)], {}

    def kernel_defs(self, ctx):
        scalar_function = ctx.scalar_function
        k, n = ctx.uid(self), self.in_dim
        return (scalar_function(f"fg_{k}", self.act.expr, z) + "\n"
                + scalar_function(f"dfg_{k}", sp.diff(self.act.expr, z), z) + "\n"
                + f"FG_F_{k} = np.array({self.F.ravel().tolist()}, dtype=np.float64).reshape(({n}, {n}))\n"
                + f"FG_FT_{k} = np.ascontiguousarray(FG_F_{k}.T)\n\n"
                + f"@njit(cache=True)\ndef figlu_fwd_{k}(X, Z):\n    G = np.dot(X, FG_FT_{k})\n"
                + "    for r in range(X.shape[0]):\n        for c in range(X.shape[1]):\n"
                + f"            Z[r, c] = X[r, c] * fg_{k}(G[r, c])\n\n"
                + f"@njit(cache=True)\ndef figlu_bwd_{k}(X, dZ, dX):\n    G = np.dot(X, FG_FT_{k})\n"
                + "    T = np.empty_like(G)\n"
                + "    for r in range(X.shape[0]):\n        for c in range(X.shape[1]):\n"
                + f"            T[r, c] = dZ[r, c] * X[r, c] * dfg_{k}(G[r, c])\n"
                + f"            dX[r, c] = dZ[r, c] * fg_{k}(G[r, c])\n"
                + f"    dX += np.dot(T, FG_F_{k})\n")

    def kernel_forward(self, ctx, X, Z):
        return [f"figlu_fwd_{ctx.uid(self)}({X}, {Z})"]

    def kernel_backward(self, ctx, X, dZ, dX, need_dx):
        return [f"figlu_bwd_{ctx.uid(self)}({X}, {dZ}, {dX})"] if need_dx else []

    def describe(self):
        return f"figlu x*{self.fn}(Fx) (F fixed, seed {self.seed})"

    def to_spec(self):
        return {"type": self.type, "fn": self.fn, "seed": self.seed, "scale": self.scale}
