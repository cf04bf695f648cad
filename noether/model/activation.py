"""``activation``: an elementwise σ(z), given by a catalogue name or a sympy expression in z."""

from __future__ import annotations

from functools import cached_property

import numpy as np
import sympy as sp

from ..errors import SpecError
from ..expr import parse_expr
from .catalogue import ACTIVATIONS, z
from .fields import check_keys
from .layer import Layer


def activation_expr(fn: str, field: str) -> sp.Expr:
    """A catalogue name or an allow-listed expression in ``z``."""
    if not isinstance(fn, str) or not fn.strip():
        raise SpecError(field, "must be an activation name or an expression in z; names: "
                        + ", ".join(sorted(ACTIVATIONS)))
    if fn in ACTIVATIONS:
        return ACTIVATIONS[fn]
    if fn.isidentifier() and fn != "z":     # "z" itself is an expression in z (the identity)
        raise SpecError(field, f"unknown activation {fn!r}; accepted: "
                        + ", ".join(sorted(ACTIVATIONS)) + ", or an expression in z such as 'z**3'")
    expr = parse_expr(fn, {"z": z}, field)
    if not isinstance(expr, sp.Expr) or expr.free_symbols - {z}:
        raise SpecError(field, f"{fn!r} must be an expression in z alone")
    return expr


class Activation(Layer):
    type = "activation"
    elementwise = True

    def __init__(self, fn: str | sp.Expr, field: str = "activation.fn"):
        if isinstance(fn, sp.Expr):
            if fn.free_symbols - {z}:
                raise SpecError(field, "a sympy activation must be an expression in z alone")
            self.expr, self.name = fn, str(fn)
        else:
            self.expr, self.name = activation_expr(fn, field), fn

    # σ and σ' as numpy functions, built on first use: lambdify's "scipy" backend imports
    # scipy.special (~0.15 s), which a command that never evaluates σ numerically (count refusing
    # a model too large, up front) should not pay for
    @cached_property
    def _np(self):
        return sp.lambdify(z, self.expr, modules=_MODULES)

    @cached_property
    def _dnp(self):
        return sp.lambdify(z, sp.diff(self.expr, z), modules=_MODULES)

    @classmethod
    def from_spec(cls, table, field):
        check_keys(table, {"type", "fn"}, field)
        if "fn" not in table:
            raise SpecError(f"{field}.fn", "missing; give a catalogue name or an expression in z")
        return cls(table["fn"], f"{field}.fn")

    def out_dim(self):
        return self.in_dim

    def axes(self, ins, ctx):      # elementwise: every relabelling of the units commutes with σ
        return list(ins), {}

    def symbolic(self, x, p):
        return [substitute(self.expr, xi) for xi in x]

    def forward(self, X, p):
        return np.broadcast_to(np.asarray(self._np(X), dtype=float), X.shape).copy()

    def backward(self, X, p, dY, grads):
        d = np.broadcast_to(np.asarray(self._dnp(X), dtype=float), X.shape)
        return dY * d

    def kernel_defs(self, ctx):
        scalar_function = ctx.scalar_function
        k = ctx.uid(self)
        return (scalar_function(f"act_{k}", self.expr, z) + "\n"
                + scalar_function(f"dact_{k}", sp.diff(self.expr, z), z) + "\n"
                + f"@njit(cache=True)\ndef act_fwd_{k}(X, Z):\n"
                + "    for r in range(X.shape[0]):\n        for c in range(X.shape[1]):\n"
                + f"            Z[r, c] = act_{k}(X[r, c])\n\n"
                + f"@njit(cache=True)\ndef act_bwd_{k}(X, dZ, dX):\n"
                + "    for r in range(X.shape[0]):\n        for c in range(X.shape[1]):\n"
                + f"            dX[r, c] = dZ[r, c] * dact_{k}(X[r, c])\n")

    def kernel_forward(self, ctx, X, Z):
        return [f"act_fwd_{ctx.uid(self)}({X}, {Z})"]

    def kernel_backward(self, ctx, X, dZ, dX, need_dx):
        return [f"act_bwd_{ctx.uid(self)}({X}, {dZ}, {dX})"] if need_dx else []

    def describe(self):
        return f"activation {self.name}"

    def to_spec(self):
        return {"type": self.type, "fn": self.name}


def substitute(expr: sp.Expr, value: sp.Expr) -> sp.Expr:
    """σ(value): ``expr`` with z replaced, Max/Min built unevaluated.  Evaluating Max(u, 0) on a
    large symbolic u makes sympy look for a sign of u (``_find_localzeros``, ``factor_terms``),
    seconds per unit after a convolution into batch statistics, and at a generic point there is
    none to find; the value is the same function either way."""
    if not expr.has(sp.Max, sp.Min):
        return expr.subs(z, value)

    def build(e):
        if e == z:
            return value
        if not e.args or not e.has(z):
            return e
        args = [build(a) for a in e.args]
        if isinstance(e, (sp.Max, sp.Min)) and not all(a.is_number for a in args):
            return e.func(*args, evaluate=False)
        return e.func(*args)
    return build(expr)


def _heaviside(x, h0=0.5):
    return np.heaviside(x, h0)


def _dirac(x, *args):
    return np.zeros_like(np.asarray(x, dtype=float))  # zero almost everywhere


_MODULES = [{"Heaviside": _heaviside, "DiracDelta": _dirac}, "numpy", "scipy"]
