"""Shared spec handling of the normalisation layers (``affine``, ``eps``)."""

from __future__ import annotations

import sympy as sp

from .fields import boolean, check_keys, finite_float
from .layer import Block


def norm_options(table, field):
    check_keys(table, {"type", "affine", "eps"}, field)
    eps = finite_float(table.get("eps", 1e-5), f"{field}.eps", low=0.0)
    return boolean(table, "affine", field, False), eps


def exact_eps(eps: float) -> sp.Rational:
    """eps as the exact rational of its decimal spelling (1e-05 -> 1/100000)."""
    return sp.Rational(repr(float(eps)))


class AffineMixin:
    """Gain g<l> and bias beta<l> of an affine normalisation (shape (features,))."""

    def affine_blocks(self, n):
        return [Block(f"g{self.index}", (n,)), Block(f"beta{self.index}", (n,))] if self.affine else []

    def affine_apply(self, y, p):
        if not self.affine:
            return y
        g, b = p[f"g{self.index}"], p[f"beta{self.index}"]
        return [g[i] * yi + b[i] for i, yi in enumerate(y)]
