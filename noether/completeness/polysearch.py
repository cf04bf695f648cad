"""Exact search for polynomial conserved functions of gradient flow, up to a degree K.

A polynomial C(θ) = Σ_m c_m θ^m (1 ≤ |m| ≤ K) is conserved for every loss exactly when
∇C·X = 0 for every gradient field X of V_0 (then for all of Lie(V) too).  Each condition is a
polynomial identity; matching coefficients gives a sparse linear system in the c_m, solved
exactly over QQ.  Laws that no linear symmetry explains show up here as polynomials of degree
≥ 3, or quadratics beyond the derived charges (cf. Marcotte, Gribonval, Peyré, NeurIPS 2023,
where all laws of linear and ReLU networks turn out to be polynomial of degree 2).
For ReLU-type models the search is on the activation region of the point (local polynomials).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations_with_replacement
from math import comb

import sympy as sp
from sympy.polys.domains import QQ
from sympy.polys.matrices import DomainMatrix

from ..errors import SpecError
from .exact import ExactNet, Reducer, evaluate, generator_basis

MAX_MONOMIALS = 6000


@dataclass
class PolyLaws:
    degree: int
    polynomials: list          # sympy expressions in the parameter symbols (a reduced basis)
    n_found: int               # dimension of the space of conserved polynomials (no constants)
    n_independent: int         # functional rank: rank of their gradients at θ₀


def monomials(D: int, K: int) -> list[tuple[int, ...]]:
    out = []
    for d in range(1, K + 1):
        for combo in combinations_with_replacement(range(D), d):
            e = [0] * D
            for j in combo:
                e[j] += 1
            out.append(tuple(e))
    return out


def search(en: ExactNet, theta0: list, xs: list, K: int) -> PolyLaws:
    """All conserved polynomials of degree ≤ K (exact), for the fields of samples ``xs``."""
    D = en.D
    n_mon = comb(D + K, K) - 1
    if K < 1:
        raise SpecError("--degree", f"must be a positive integer, got {K}")
    if n_mon > MAX_MONOMIALS:
        raise SpecError("--degree", f"{n_mon} monomials of degree <= {K} in D = {D} variables; "
                        f"the exact search accepts at most {MAX_MONOMIALS} (lower the degree)")
    G = generator_basis(en, theta0, xs)
    mons = monomials(D, K)
    R = en.R
    rows: dict = {}
    for gi, X in enumerate(G):
        nz = [j for j, p in enumerate(X) if p]
        for mi, e in enumerate(mons):
            acc = R.zero
            for j in nz:
                if e[j]:
                    de = list(e)
                    de[j] -= 1
                    acc += X[j] * R({tuple(de): QQ(e[j])})
            for mu, c in acc.items():
                rows.setdefault((gi, mu), {})[mi] = c
    if rows:
        keys = list(rows)
        M = DomainMatrix({i: rows[k] for i, k in enumerate(keys)}, (len(keys), len(mons)), QQ)
        null = M.nullspace().to_Matrix() if len(keys) else None
        vecs = [list(null.row(i)) for i in range(null.rows)] if null is not None else []
    else:
        vecs = [[QQ(int(i == j)) for j in range(len(mons))] for i in range(len(mons))]
    syms = [sp.Symbol(n, real=True) for n in en.net.model.parameters]
    polys, grads = [], Reducer()
    n_ind = 0
    for vec in vecs:
        terms = {mons[i]: QQ(c) if not isinstance(c, sp.Basic) else QQ(int(sp.fraction(c)[0]), int(sp.fraction(c)[1]))
                 for i, c in enumerate(vec) if c != 0}
        p = R(terms)
        polys.append(sp.expand(sum(sp.Rational(str(c)) * sp.Mul(*[s**k for s, k in zip(syms, mon) if k])
                                   for mon, c in terms.items())))
        if grads.add(evaluate([p.diff(x) for x in en.x], theta0)):
            n_ind += 1
    return PolyLaws(K, polys, len(vecs), n_ind)
