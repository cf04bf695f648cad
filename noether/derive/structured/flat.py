"""The loss's flat translations T and the fields with values in them.

A loss can be blind to some constant moves of the parameters (cross-entropy to a common shift of
the logits, attention to its key bias).  Along that subspace T the loss is flat everywhere, so
every field with values in T is a symmetry, whatever its dependence on θ: for linear+affine
fields, the dim T·(D + 1) fields θ ↦ t·(u·θ + s).  Listing them would swamp the algebra (about
114 000 for a 64-32-32-10 cross-entropy net) and adds nothing the constant ones do not give:
their values lie in T, so they add no orbit direction, and their gradient combinations are
functions of the translations' linear charges t·θ.  So the constant ones are listed and the
others counted (docs/theory.md §2, flat directions).  Only the rotations t uᵀ − u tᵀ inside T
carry heavy-ball Noether charges of their own (with zero source); they are built on demand for
the momentum count (:func:`flat_rotations`).
"""

from __future__ import annotations

import numpy as np

from ..generator import Generator
from ..linalg import float_left_null, float_rank

#: Relative singular-value threshold of the float rank tests below: the fields have small
#: rational entries and T an orthonormal float basis, so a field with values in T leaves a
#: projection at rounding level (≲ 1e-14 relative), any other one of order 1.
RTOL = 1e-9


class FlatTranslations:
    """T, given by orthonormal float rows ``F`` (dim T × D)."""

    def __init__(self, F: np.ndarray):
        self.F = np.asarray(F, dtype=float)

    @property
    def dim(self) -> int:
        return len(self.F)

    def perp(self, X: np.ndarray) -> np.ndarray:
        """The component of each row of X orthogonal to T."""
        return X - (X @ self.F.T) @ self.F

    def valued_combinations(self, gens: list[Generator]) -> np.ndarray:
        """Rows a (orthonormal, floats) spanning {a : Σ a_i X_i has every value in T}: the fields
        whose A-columns and c all lie in T."""
        D = self.F.shape[1]
        M = np.zeros((len(gens), D * (D + 1)))
        top = 0.0
        for i, g in enumerate(gens):
            A = g.matrix(D)
            c = np.zeros(D)
            for r, v in g.c.items():
                c[r] = float(v)
            top = max(top, np.sqrt((A ** 2).sum() + c @ c))
            M[i] = np.concatenate([self.perp(A.T).T.ravel(), self.perp(c[None])[0]])
        # relative to the fields themselves: when every one has values in T, all of s is rounding
        return float_left_null(M, RTOL, max(top, 1e-300))     # k ≤ D(D + 1) rows

    def rank_modulo(self, gens: list[Generator], rng: np.random.Generator) -> int:
        """dim of span(gens) modulo the fields with values in T: the rank of the components
        orthogonal to T of X_i(0) = c_i and of X_i(θ) at random points θ, one more point at a time
        until a point adds nothing.  That is then the rank: a combination vanishing (mod T) at
        generic θ_1..θ_k that a further generic point does not separate vanishes there too, so
        (its components being linear in θ) everywhere.  One point is not enough in general: on a
        linear net wider than its input, gl(h) has combinations that vanish at any one θ."""
        if not gens:
            return 0
        D = self.F.shape[1]
        blocks, rank, th, size = [], -1, np.zeros(D), 0.0
        while True:
            X = np.array([g.evaluate(th) for g in gens])
            blocks.append(self.perp(X))
            Z = np.hstack(blocks)
            # relative to the fields themselves, not to their projections: when every field takes
            # its values in T, Z is all rounding (~1e-16 of |X|) and has rank 0, not full rank
            size = max(size, float(np.abs(X).max()))
            top = max(size, 1e-300) * np.sqrt(Z.shape[1])   # ≥ the largest row norm of the unprojected fields
            new = float_rank(Z, RTOL, top)
            if new == rank or new == len(gens):
                return new
            rank, th = new, rng.standard_normal(D)


def flat_rotations(constants: list[Generator], name: str = "flat") -> list[Generator]:
    """The rotations t_k t_lᵀ − t_l t_kᵀ (k < l) of the constant translations t_k: symmetries
    (values in T), antisymmetric, so their heavy-ball Noether charges have zero source."""
    out = []
    for k, a in enumerate(constants):
        for b in constants[k + 1:]:
            g = Generator(f"R.{name}.{len(out)}", f"R.{name}")
            for r, x in a.c.items():
                for s, y in b.c.items():
                    g.add(r, s, x * y)
                    g.add(s, r, -x * y)
            if g.A:
                out.append(g)
    return out
