"""Discrete symmetries of elementwise interfaces (docs/theory.md §10).

Permutations of the h units of a hidden interface always leave the model unchanged.  A relation
σ(−u) = a σ(u) + b, found by :mod:`.funcdep` like every other relation, gives a *flip* of unit i:
W[i,:], b[i] → −W[i,:], −b[i]; U[:,i] → a U[:,i]; b' → b' + b U[:,i] (which needs b' when b ≠ 0).
"""

from __future__ import annotations

from math import factorial
import numpy as np


def discrete_symmetries(alg) -> list[dict]:
    out = []
    for itf in alg.interfaces:
        if itf.right is None:
            continue
        L, R = itf.left, itf.right
        if itf.h >= 2:
            out.append({"kind": "permutation", "interface": itf.name, "units": itf.h,
                        "order": str(factorial(itf.h)) if itf.h <= 20 else f"{itf.h}!",
                        "action": f"permute rows of {L.W}" + (f", {L.b}" if L.bias else "")
                        + f" and columns of {R.W} together"})
        for a, b in itf.sol.flips:
            if b != 0 and not R.bias:
                continue
            if a == 1 and b == 0:
                act = f"negate row i of {L.W}" + (f" and {L.b}[i]" if L.bias else "") + "; σ is even"
            else:
                act = (f"negate row i of {L.W}" + (f" and {L.b}[i]" if L.bias else "")
                       + f"; {R.W}[:,i] -> {a}*{R.W}[:,i]" + (f"; {R.b} += {b}*{R.W}[:,i]" if b != 0 else ""))
            out.append({"kind": "flip", "interface": itf.name, "units": itf.h, "relation":
                        f"sigma(-z) = {a}*sigma(z) + {b}", "action": act,
                        "order": f"2^{itf.h}"})
    return out


def apply_permutation(model, theta, itf, perm):
    """θ with the units of interface ``itf`` permuted by ``perm`` (numpy, for checks)."""
    p = {k: v.copy() for k, v in model.unflatten(np.asarray(theta, dtype=float).copy()).items()}
    L, R = itf.left, itf.right
    p[L.W] = p[L.W][perm]
    if L.bias:
        p[L.b] = p[L.b][perm]
    p[R.W] = p[R.W][:, perm]
    return np.concatenate([p[b.name].ravel() for b in model.blocks])


def apply_flip(model, theta, itf, unit, a, b):
    p = {k: v.copy() for k, v in model.unflatten(np.asarray(theta, dtype=float).copy()).items()}
    L, R = itf.left, itf.right
    p[L.W][unit] *= -1
    if L.bias:
        p[L.b][unit] *= -1
    col = p[R.W][:, unit].copy()
    p[R.W][:, unit] = float(a) * col
    if float(b) != 0:
        p[R.b] += float(b) * col
    return np.concatenate([p[b_.name].ravel() for b_ in model.blocks])
