"""Laws rechecked with plain numpy from recorded arrays, independent of the generated kernels.

Atoms are evaluated from explicit matrices: B(u, w) = uᵀAw, L(u) = cᵀu, per step, and a derived
sympy law (its right-hand side in atoms) is evaluated on them.  The relative residual divides by
the sum of absolute values of the terms (the scale of float64 rounding), as in the kernels.
"""

from __future__ import annotations

import numpy as np
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
