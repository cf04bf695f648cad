"""Exact per-step laws: expand a charge along an optimizer's symbolic update (THEORY.md §4).

A charge is C(θ) = ½ B(θ, θ) + L(θ), with B(u, v) = uᵀAv symmetric and L(u) = cᵀu.  An update
rule writes θ_{k+1} (and any state) as a linear combination of step-k vectors.  Expanding
C(θ_{k+1}) − C(θ_k) bilinearly gives a polynomial in the atoms B(u, v), L(u); the symmetry
identity X(θ_k)·g_k = B(g_k, θ_k) + L(g_k) = 0 is then applied as a substitution rule.  What is
left is the law, derived, not typed in: for GD, C_{k+1} − C_k = ½η² B(g_k, g_k).
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..optim.base import UpdateRule

B, L = sp.Function("B"), sp.Function("L")


def _vec(name: str) -> sp.Symbol:
    return sp.Symbol(name)


def _Bsym(u: sp.Symbol, v: sp.Symbol):
    """Symmetric bilinear atom with a canonical argument order."""
    a, b = sorted([u, v], key=str)
    return B(a, b)


def expand_B(u: dict, v: dict) -> sp.Expr:
    return sp.expand(sum(cu * cv * _Bsym(_vec(a), _vec(b)) for a, cu in u.items() for b, cv in v.items()))


def expand_L(u: dict) -> sp.Expr:
    return sp.expand(sum(c * L(_vec(a)) for a, c in u.items()))


@dataclass
class Law:
    optimizer: str
    lhs: sp.Expr                  # C(θ_{k+1}) − C(θ_k)
    rhs: sp.Expr                  # in atoms of step-k vectors
    identity: str
    closed: bool = True
    note: str = ""

    def atoms(self) -> list[sp.Expr]:
        return sorted(self.rhs.atoms(sp.Function), key=str)

    def pretty(self) -> str:
        return f"C(theta_next) - C(theta) = {self.rhs}"

    def latex(self) -> str:
        return r"C(\theta_{k+1}) - C(\theta_k) = " + sp.latex(self.rhs)


def symmetry_substitution() -> dict:
    """X(θ_k)·g_k = 0, i.e. B(g, θ) = −L(g)."""
    return {_Bsym(_vec("g"), _vec("theta")): -L(_vec("g"))}


def derive_law(rule: UpdateRule) -> Law:
    upd = rule.update()
    nxt = upd["theta"]
    delta = sp.Rational(1, 2) * expand_B(nxt, nxt) + expand_L(nxt) \
        - sp.Rational(1, 2) * _Bsym(_vec("theta"), _vec("theta")) - L(_vec("theta"))
    rhs = sp.expand(sp.expand(delta).subs(symmetry_substitution()))
    rhs = sp.collect(rhs, sorted(rhs.atoms(sp.Function), key=str))
    return Law(rule.name, sp.Symbol("DeltaC"), rhs, "B(g, theta) + L(g) = 0  [X(theta)·g = 0]")
