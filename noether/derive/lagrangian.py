"""The Bregman Lagrangian and its Noether charges (docs/theory.md §6), derived with sympy.

    ℒ(θ, θ̇, t) = e^{γt} (½ θ̇ᵀ θ̇ / η − γ V(θ))

Its Euler-Lagrange equations (``sympy.calculus.euler.euler_equations``) give the second-order
flow θ̈ = −γ θ̇ − γ η ∇V.  For a generator X = Aθ + c, Noether's construction gives
Q = e^{γt} X(θ)ᵀ θ̇ / η.  Differentiating Q along solutions, substituting the EL equations and the
symmetry identity X·∇V = 0, leaves the kinetic symmetry-breaking source.

The derivation is done once, for a generic n-dimensional block with symbolic A and c (n = 2: the
algebra does not depend on n), and the source is read off as a combination of the bilinear atoms
B(u, v) = uᵀAv, L(u) = cᵀu of the generator, u, v ∈ {θ, θ̇}.  Nothing is typed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import sympy as sp
from sympy.calculus.euler import euler_equations

t, gamma, eta = sp.symbols("t gamma eta", positive=True)


@dataclass(frozen=True)
class BregmanLaw:
    lagrangian: sp.Expr            # generic form, for display
    el_equation: sp.Expr           # θ̈ in terms of θ̇ and ∇V (generic component form)
    charge: sp.Expr                # Q in atoms: e^{γt} X·θ̇/η
    source: dict                   # {atom: coefficient}; atoms 'B(thetadot,thetadot)', ...
    source_expr: sp.Expr           # dQ/dt in atoms

    def source_atoms(self) -> sp.Expr:
        return self.source_expr


@lru_cache(maxsize=1)
def derive_bregman(n: int = 2) -> BregmanLaw:
    th = [sp.Function(f"theta{i}")(t) for i in range(n)]
    V = sp.Function("V")(*th)
    thd = [sp.diff(x, t) for x in th]
    lag = sp.exp(gamma * t) * (sp.Rational(1, 2) * sum(x**2 for x in thd) / eta - gamma * V)
    eqs = euler_equations(lag, th, t)
    acc = sp.solve([e.lhs - e.rhs for e in eqs], [sp.diff(x, t, 2) for x in th], dict=True)[0]
    A = sp.Matrix(n, n, lambda a, b: sp.Symbol(f"a{a}{b}"))
    c = sp.Matrix(n, 1, lambda a, _: sp.Symbol(f"c{a}"))
    X = A * sp.Matrix(th) + c
    Q = sp.exp(gamma * t) * sum(X[a] * thd[a] for a in range(n)) / eta
    dQ = sp.diff(Q, t).subs(acc)
    # symmetry identity X·∇V = 0, used as a substitution for the first partial derivative
    grads = [sp.diff(V, x) for x in th]
    ident = sp.solve(sum(X[a] * grads[a] for a in range(n)), grads[0])[0]
    dQ = sp.expand(sp.cancel(dQ.subs(grads[0], ident)))   # the ∇V terms cancel (X·∇V = 0)
    # express in atoms B(u, v) = uᵀAv, L(u) = cᵀu, u, v in {θ, θ̇}
    vecs = {"theta": sp.Matrix(th), "thetadot": sp.Matrix(thd)}
    atoms = {}
    for a_name, ua in vecs.items():
        for b_name, vb in vecs.items():
            atoms[f"B({a_name},{b_name})"] = (ua.T * A * vb)[0]
        atoms[f"L({a_name})"] = (c.T * ua)[0]
    coeffs = sp.symbols(f"k0:{len(atoms)}")
    resid = sp.expand(dQ - sum(k * e for k, e in zip(coeffs, atoms.values())))
    gens = list(A) + list(c) + th + thd
    eqs2 = sp.Poly(resid, *gens).coeffs()
    sol = sp.solve(eqs2, coeffs, dict=True)
    if not sol:
        raise RuntimeError("Bregman source is not a combination of the bilinear atoms")
    sol = sol[0]
    src = {name: sp.simplify(sol.get(k, k)) for name, k in zip(atoms, coeffs)}
    src = {k: v for k, v in src.items() if v != 0 and not v.free_symbols & set(coeffs)}
    B, L = sp.Function("B"), sp.Function("L")
    th_s, thd_s = sp.symbols("theta thetadot")

    def atom_expr(name):
        f, args = name.split("(")
        parts = [th_s if a == "theta" else thd_s for a in args.rstrip(")").split(",")]
        return (B if f == "B" else L)(*parts)

    src_expr = sum((v * atom_expr(k) for k, v in src.items()), sp.Integer(0))
    charge = sp.exp(gamma * t) * (B(thd_s, th_s) + L(thd_s)) / eta   # (Aθ + c)·θ̇
    el = sp.Eq(sp.Symbol("thetaddot"), -gamma * thd_s - gamma * eta * sp.Symbol("grad_V"))
    return BregmanLaw(lag, el, charge, src, src_expr)
