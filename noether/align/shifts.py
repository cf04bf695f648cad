"""Affine shifts in the derived algebra, quotiented for alignment modulo the group.

A linear block's first bias can be moved through the next weight without changing f:
b1 → b1 + v, b2 → b2 − W2 v.  In the derived algebra these are fields X_k(θ) = A_kθ + c_k with
c_k ≠ 0 (here c_k = e_{b1,k}, A_k: W2[:, k] → −b2).  They are found from the generators
themselves, never from the layer types: the generators with both a constant and a linear part,
accepted as a group of shifts when their flows are straight lines that commute and never touch
the constant directions, which the coefficient supports decide exactly:

* no A_j reads or writes a coordinate where some c_k is nonzero (so A_j c_k = 0 and C A_j = 0),
* no A_j reads a coordinate another A_k writes (A_j A_k = 0),
* the c_k are linearly independent.

Then exp(Σ t_k X_k)(θ) = θ + Σ t_k X_k(θ) exactly, its component along span{c_k} is
P θ + Cᵀt, and θ(t) is affine in t.  The canonical point of θ's shift orbit is its minimum-norm point (a
least-squares solve), so that, alternated with the rescalings' and the linear blocks' own
minimum-norm steps, no step raises the norm.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .linear_blocks import float_coefficients


@dataclass
class AffineShifts:
    C: np.ndarray                                        # (k, P): the constant parts c_k
    A: list[tuple[np.ndarray, np.ndarray, np.ndarray]]   # per field: rows, cols, values of A_k

    @property
    def k(self) -> int:
        return len(self.C)

    def move(self, theta: np.ndarray, t: np.ndarray) -> np.ndarray:
        """exp(Σ t_k X_k)(θ) = θ + Σ t_k (A_kθ + c_k): exact, the flows being straight lines."""
        out = theta + self.C.T @ t
        for tk, (r, c, v) in zip(t, self.A):
            np.add.at(out, r, tk * v * theta[c])
        return out

    def zeroed(self, theta: np.ndarray) -> np.ndarray:
        """The orbit point with no component along span{c_k} (b1 = 0 in the example): the point
        of the orbit's closure where a linear block can lose rank."""
        return self.move(theta, -np.linalg.solve(self.C @ self.C.T, self.C @ theta)) if self.k else theta

    def canonical(self, theta: np.ndarray) -> np.ndarray:
        """The minimum-norm point of θ's shift orbit: θ(t) = θ + V t with V's columns X_k(θ) is
        affine in t, so the minimum is a least-squares solve (unique: the c_k are independent)."""
        if not self.k:
            return theta
        V = self.C.T.copy()
        for k, (r, c, v) in enumerate(self.A):
            np.add.at(V[:, k], r, v * theta[c])
        t = np.linalg.lstsq(V, -theta, rcond=None)[0]
        return self.move(theta, t)


def affine_shifts(model, gens, avoid: np.ndarray | None = None) -> AffineShifts:
    """The shifts among the generators ``gens`` (empty when their supports do not satisfy the
    module docstring's conditions); ``avoid``: rows (e.g. the constant translations) whose
    support the shifts must not touch either."""
    P = model.D
    none = AffineShifts(np.zeros((0, P)), [])
    C, A = [], []
    for g in gens:
        co = float_coefficients(g)
        c = np.zeros(P)
        lin = [(r, s, v) for (r, s), v in co.items() if s is not None and v]
        for (r, s), v in co.items():
            if s is None:
                c[r] = v
        if c.any() and lin:
            C.append(c)
            A.append(tuple(np.array(x) for x in zip(*lin)))
    if not C:
        return none
    C = np.array(C)
    const = np.any(C != 0, axis=0)
    if avoid is not None and len(avoid):
        # ``avoid``'s rows are orthonormal SVD rows of small-integer translations: an entry that
        # is 0 in exact arithmetic comes out at rounding (~1e-16), a real one at ≳ 1e-2
        if np.any(const & np.any(np.abs(avoid) > 1e-12, axis=0)):
            return none
    writes = np.zeros(P, dtype=bool)
    reads = np.zeros(P, dtype=bool)
    for r, s, _ in A:
        writes[r] = True
        reads[s] = True
    if np.any((writes | reads) & const) or np.any(reads & writes):
        return none
    if np.linalg.matrix_rank(C) < len(C):      # small integer entries: the rank is exact
        return none
    return AffineShifts(C, A)
