"""Laws rechecked with plain numpy from recorded arrays, independent of the generated kernels.

Atoms are evaluated from explicit matrices: B(u, w) = uᵀAw, L(u) = cᵀu, per step, and a derived
sympy law (its right-hand side in atoms) is evaluated on them.  The relative residual divides by
the sum of absolute values of the terms (the scale of float64 rounding), as in the kernels.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sps
import sympy as sp

from ..optim import HYPER
from ..optim.base import first as first_sym


def bilinear(A, U, W) -> np.ndarray:
    """Per-row uᵀAw for stacked rows U, W (steps, D); A dense or scipy sparse."""
    return np.einsum("kd,kd->k", U, np.asarray((A @ W.T).T))


def eval_law(rhs: sp.Expr, vectors: dict[str, np.ndarray], A, c, hyper: dict[str, float],
             first: np.ndarray, P: np.ndarray | None = None):
    """Value and abs-scale of ``rhs`` per step; ``vectors`` name → (steps, D) rows at step k."""
    Aa = abs(A)
    ca = np.abs(c)
    vals, scale = {}, {}
    for atom in rhs.atoms(sp.Function):
        u = vectors[str(atom.args[0])]
        if atom.func.__name__ == "B":
            w = vectors[str(atom.args[1])]
            vals[atom], scale[atom] = bilinear(A, u, w), bilinear(Aa, np.abs(u), np.abs(w))
        else:
            vals[atom], scale[atom] = u @ c, np.abs(u) @ ca
    subs = {HYPER[k]: v for k, v in hyper.items() if k in HYPER}
    total = np.zeros(len(first))
    absum = np.zeros(len(first))
    for term in sp.Add.make_args(sp.expand(rhs)):
        coef, rest = term.as_independent(*rhs.atoms(sp.Function), sp.Symbol("P"), as_Add=False)
        f = sp.lambdify(first_sym, coef.subs(subs), "numpy")
        cval = np.broadcast_to(np.asarray(f(first), float), first.shape)
        v = np.ones(len(first))
        s = np.ones(len(first))
        for fac in sp.Mul.make_args(rest):
            base, e = fac.as_base_exp()
            if base == sp.Symbol("P"):
                v, s = v * P[0], s * P[1]
            elif base in vals:
                v, s = v * vals[base] ** int(e), s * scale[base] ** int(e)
        total += cval * v
        absum += np.abs(cval) * s
    return total, absum


def generator_sparse(g, D):
    """The kernels' packed generators as [(A as scipy CSR, c)], one per generator."""
    out = []
    for k in range(len(g["gptr"]) - 1):
        s, e = g["gptr"][k], g["gptr"][k + 1]
        A = sps.csr_matrix((g["vals"][s:e], (g["rows"][s:e], g["cols"][s:e])), shape=(D, D))
        c = np.zeros(D)
        cs, ce = g["cptr"][k], g["cptr"][k + 1]
        np.add.at(c, g["cidx"][cs:ce], g["cvals"][cs:ce])
        out.append((A, c))
    return out


def state_law_residuals(law, rule, run, gens) -> np.ndarray:
    """max_k |P_{k+1} − (ρP_k + source_k)| / scale per generator, P_k = X(θ_k)·s_k (numpy), for the
    rule's derived state law ``law`` (:func:`noether.derive.derive_state_law`)."""
    n = run.completed
    vecs = {"theta": run.theta[:n], "g": run.grad[:n]}
    for i, s in enumerate(rule.state):
        vecs[s] = run.state[:n, i]
    first = np.zeros(n)
    first[0] = 1.0
    vals = rule.values()
    hyper = {k: vals[v] for k, v in HYPER.items()}
    out = np.zeros(len(gens))
    # The substituted identity X(θ_k)·g_k = 0 holds in float64 only to ε·|X(θ_k)|·(the size of the
    # terms summed into g_k), which does not shrink as g_k → 0 at convergence; max_k |g_k|∞ bounds
    # that size, so η·max|g|·Σ|X(θ_k)| joins the rounding scale.
    gscale = rule.lr * float(np.abs(run.grad).max()) if n else 0.0
    sv = run.state[:, rule.state.index(law.state)]
    for j, (A, c) in enumerate(gens):
        Pv = np.einsum("kd,kd->k", sv, np.asarray((A @ run.theta.T).T)) + sv @ c
        Pa = np.einsum("kd,kd->k", np.abs(sv), np.asarray((abs(A) @ np.abs(run.theta).T).T)) + np.abs(sv) @ np.abs(c)
        val, scale = eval_law(law.rhs, vecs, A, c, hyper, first, P=(Pv[:n], Pa[:n]))
        scale = scale + gscale * (np.asarray((abs(A) @ np.abs(run.theta[:n]).T).T).sum(axis=1) + np.abs(c).sum())
        out[j] = np.max(np.abs(Pv[1:n + 1] - val) / (scale + Pa[1:n + 1] + 1e-300)) if n else 0.0
    return out
