"""A scalar function of the parameters under test: value, gradient and a rounding scale.

Given as a string (block-level, e.g. ``"sum(W1**2) - sum(W2**2)"``, parsed by :mod:`.arrayexpr`),
a sympy expression in the parameter symbols (exact gradient), or a user callable on the params
(gradient by central differences).  The scale is the magnitude float64 rounding is relative to:
the sum of absolute values of the expression's terms, or for a callable
|C| + Σ_i |θ_i ∂C/∂θ_i| (first-order sensitivity of C to a relative perturbation of θ).
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from ..errors import SpecError
from .arrayexpr import ArrayExpr, BlockContext
from .target import fd_grad

_MODULES = [{"Heaviside": lambda x, h0=0.5: np.heaviside(x, h0)}, "numpy"]


class Quantity:
    def __init__(self, value, grad, scale, text: str, exact: bool, expr: sp.Expr | None = None, symbols=None):
        self.value, self.grad, self.scale = value, grad, scale
        self.text, self.exact, self.expr, self.symbols = text, exact, expr, symbols

    def quadratic_form(self):
        """(A, c) with C = ½θᵀAθ + cᵀθ + const, if C is a polynomial of degree <= 2 (else None)."""
        if self.expr is None:
            return None
        try:
            poly = sp.Poly(self.expr, *self.symbols)
        except sp.PolynomialError:
            return None
        if poly.total_degree() > 2:
            return None
        D = len(self.symbols)
        A, c = np.zeros((D, D)), np.zeros(D)
        for monom, coef in poly.terms():
            nz = [(i, e) for i, e in enumerate(monom) if e]
            if len(nz) == 1 and nz[0][1] == 1:
                c[nz[0][0]] += float(coef)
            elif len(nz) == 1 and nz[0][1] == 2:
                A[nz[0][0], nz[0][0]] += 2 * float(coef)
            elif len(nz) == 2:
                (i, _), (j, _) = nz
                A[i, j] += float(coef)
                A[j, i] += float(coef)
        return A, c


def from_sympy(expr: sp.Expr, symbols: list[sp.Symbol], text: str) -> Quantity:
    free = expr.free_symbols - set(symbols)
    if free:
        raise SpecError("--conserved", f"{text!r} uses {sorted(map(str, free))[0]!r}, which is not a parameter")
    f = sp.lambdify([symbols], expr, modules=_MODULES)
    grads = [sp.diff(expr, s) for s in symbols]
    g = sp.lambdify([symbols], grads, modules=_MODULES)
    terms = sp.Add.make_args(sp.expand(expr))
    a = sp.lambdify([symbols], [sp.Abs(t) for t in terms], modules=_MODULES)

    def value(th):
        return float(f(list(th)))

    def grad(th):
        return np.asarray(np.broadcast_to(np.asarray(g(list(th)), dtype=float), (len(symbols),)), dtype=float)

    def scale(th):
        return float(np.sum(np.asarray(a(list(th)), dtype=float)))

    return Quantity(value, grad, scale, text, True, expr, symbols)


def quantity(C, layout, user) -> Quantity:
    """``C``: str (block-level expression), sympy expression, callable(user params) -> float, or
    an already built :class:`Quantity` (returned as is)."""
    if isinstance(C, Quantity):
        return C
    if isinstance(C, str | sp.Expr):
        key = (C, tuple(layout.names), tuple(layout.shapes))
        if key not in _CACHE:
            if len(_CACHE) > 512:
                _CACHE.clear()
            _CACHE[key] = _symbolic(C, layout)
        return _CACHE[key]
    if not callable(C):
        raise SpecError("quantity", "must be an expression string, a sympy expression or a callable")

    def value(th):
        return float(C(user(th)))

    def grad(th):
        return fd_grad(value, th)

    def scale(th):
        return abs(value(th)) + float(np.sum(np.abs(th * grad(th))))

    return Quantity(value, grad, scale, getattr(C, "__name__", "C"), False)


_CACHE: dict = {}


def _symbolic(C, layout) -> Quantity:
    if isinstance(C, str):
        ctx = BlockContext(layout.blocks, scalars=())
        expr = ArrayExpr.parse(C, ctx, "--conserved").scalar()
        return from_sympy(sp.sympify(expr), ctx.symbols, C)
    if isinstance(C, sp.Expr):
        ctx = BlockContext(layout.blocks, scalars=())
        return from_sympy(C, ctx.symbols, str(C))
