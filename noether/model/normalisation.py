"""Shared spec handling of the normalisation layers (``affine``, ``eps``)."""

from __future__ import annotations

import sympy as sp

from ..errors import SpecError
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
    """What the normalisation layers share: the ``affine`` and ``eps`` options, the size-keeping
    shape, and the gain g<l> and bias beta<l> of an affine normalisation (shape (features,))."""

    def __init__(self, affine: bool = False, eps: float = 1e-5):
        eps = finite_float(eps, f"{self.type}.eps", low=0.0)
        if not isinstance(affine, bool):
            raise SpecError(f"{self.type}.affine", f"must be true or false, got {affine!r}")
        self.affine, self.eps = affine, eps

    @classmethod
    def from_spec(cls, table, field):
        return cls(*norm_options(table, field))

    def blocks(self):
        return self.affine_blocks(self.in_dim)

    def out_dim(self):
        return self.in_dim

    def axes(self, ins, ctx):
        """Statistics over all units (or over the batch) commute with relabelling the units."""
        return list(ins), {b.name: [tuple(ins)] for b in self.affine_blocks(self.in_dim)}

    def affine_blocks(self, n):
        return [Block(f"g{self.index}", (n,)), Block(f"beta{self.index}", (n,))] if self.affine else []

    def affine_apply(self, y, p):
        if not self.affine:
            return y
        g, b = p[f"g{self.index}"], p[f"beta{self.index}"]
        return [g[i] * yi + b[i] for i, yi in enumerate(y)]
