"""Solve the first-order condition (docs/theory.md §2, eq. 2) for an elementwise σ.

For σ applied elementwise to z ∈ R^h, we want (M, c, P, d) with

    σ'(z) ⊙ (M z + c) = P σ(z) + d        for all z.

Row i of this identity is a sum of functions of (z_i, z_j) pairs, so it splits exactly into

* the **pair** condition, for j ≠ i (from ∂/∂z_j):   σ'(u) M_ij − P_ij σ'(v) ≡ 0 in (u, v);
* the **unit** condition, at z_j = 0 for j ≠ i:      σ'(u)(M_ii u + c_i) − P_ii σ(u) − d̃_i ≡ 0,
  with d̃_i = d_i + σ(0) Σ_{j≠i} P_ij.

Both are width-independent problems in 2 and 4 unknowns, solved by :mod:`.funcdep`; every
width h is the lift of these two solutions (so `derive` of width 1024 costs what width 2 costs).
The discrete symmetries come the same way: a relation σ(−u) = a σ(u) + b gives a unit flip.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import sympy as sp

from ...model.catalogue import z
from ..funcdep import null_space

u, v = sp.symbols("u v", real=True)


@dataclass(frozen=True)
class ElementwiseSolution:
    """Exact solution of eq. 2 for one σ.  Vectors are tuples of sympy numbers."""

    sigma: sp.Expr
    sigma0: sp.Expr
    unit: tuple[tuple, ...]     # basis of (m, c, p, d̃)
    pair: tuple[tuple, ...]     # basis of (μ, π)
    flips: tuple[tuple, ...]    # (a, b) with σ(−u) = a σ(u) + b, a ≠ 0
    method: str
    certificates: tuple[str, ...]
    gap: tuple | None


@lru_cache(maxsize=256)
def solve_elementwise(sigma: sp.Expr, what: str = "activation") -> ElementwiseSolution:
    s_u, ds = sigma.subs(z, u), sp.diff(sigma, z)
    ds_u, ds_v = ds.subs(z, u), ds.subs(z, v)
    unit = null_space([u * ds_u, ds_u, -s_u, sp.Integer(-1)], [u], what=what, seed=1)
    pair = null_space([ds_u, -ds_v], [u, v], what=what, seed=2)
    flip = null_space([sigma.subs(z, -u), -s_u, sp.Integer(-1)], [u], what=what, seed=3)
    flips = []
    for vec in flip.basis:
        if vec[0] != 0 and vec[1] != 0:
            a, b = vec[1] / vec[0], vec[2] / vec[0]
            flips.append((sp.nsimplify(a), sp.nsimplify(b)))
    methods = {unit.method, pair.method, flip.method}
    return ElementwiseSolution(
        sigma=sigma, sigma0=sp.nsimplify(sigma.subs(z, 0)) if sigma.subs(z, 0).is_Float else sigma.subs(z, 0),
        unit=tuple(tuple(x) for x in unit.basis), pair=tuple(tuple(x) for x in pair.basis),
        flips=tuple(flips), method="exact-rational" if methods == {"exact-rational"} else "high-precision",
        certificates=tuple(unit.certificates + pair.certificates), gap=unit.gap)
