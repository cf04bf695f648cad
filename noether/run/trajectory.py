"""Recorded runs saved to ``.npz`` (``verify --trajectory``): the run, its rule, and the charges
as explicit matrices when they are small enough to be useful to a reader."""

from __future__ import annotations

import numpy as np
import sympy as sp

from ..io import save_npz_atomic

STATE_NAMES = {"v": "velocity", "m": "first_moment", "s": "second_moment"}
MAX_DENSE = 4_000_000  # charge matrices saved in the trajectory when nC·D² is below this


def charge_matrices(deriv):
    """Dense (A_q, c_q) of every explicit charge C_q = ½θᵀA_qθ + c_qᵀθ, from the sympy expressions."""
    syms = deriv.model.symbols
    D = len(syms)
    A = np.zeros((len(deriv.charges), D, D))
    c = np.zeros((len(deriv.charges), D))
    for q, ch in enumerate(deriv.charges):
        poly = sp.Poly(sp.expand(ch.expr), *syms)
        for mon, coef in poly.terms():
            nz = [i for i, e in enumerate(mon) if e]
            if sum(mon) == 1:
                c[q, nz[0]] = float(coef)
            elif len(nz) == 1:
                A[q, nz[0], nz[0]] = 2 * float(coef)
            else:
                A[q, nz[0], nz[1]] = A[q, nz[1], nz[0]] = float(coef)
    return A, c


def save_trajectory(path, model, deriv, rule, run, names, X, Y, law):
    """An optimizer run (``run`` recorded) with its rule, law and state, written atomically."""
    arrays = dict(parameters=np.array(model.parameters), theta=run.theta, charges=run.charges,
                  charge_names=np.array(names), X=X, Y=Y, loss=run.losses, completed_steps=run.completed,
                  grad=run.grad, optimizer=rule.name, law=str(law.rhs) if law.closed else "none",
                  **{k: v for k, v in rule.hyperparameters().items() if k != "optimizer"})
    for i, s in enumerate(rule.state):
        arrays[f"state_{STATE_NAMES.get(s, s)}"] = run.state[:, i]
    if run.batch_index is not None:
        arrays["batch_index"] = run.batch_index
    if deriv.charges is not None and len(deriv.charges) * model.D ** 2 <= MAX_DENSE \
            and len(deriv.charges) == len(names):
        A, c = charge_matrices(deriv)
        arrays["charge_A"], arrays["charge_c"] = A, c
    save_npz_atomic(path, **arrays)
