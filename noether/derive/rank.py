"""Generic ranks at random points: orbit rank, functional independence (docs/theory.md §2 caveat).

Fields are split into connected components of their supports (fields with disjoint supports
cannot be linearly dependent), and each component's rank is read from an SVD with its gap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .linalg import float_independent_columns


@dataclass
class RankResult:
    rank: int
    independent: list[bool]      # per field: kept by a pivoted QR, in order
    gap: tuple[float, float]     # (largest discarded sv, smallest kept sv), relative to the component's largest


def _components(supports: list[set[int]]) -> list[list[int]]:
    parent: dict[int, int] = {}

    def find(x):
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for k, s in enumerate(supports):
        root = find(("f", k))
        for r in s:
            parent[find(r)] = root
    comps: dict = {}
    for k in range(len(supports)):
        comps.setdefault(find(("f", k)), []).append(k)
    return list(comps.values())


def field_rank(gens, theta: np.ndarray) -> RankResult:
    """Rank of span{X_k(θ)} for explicit generators ``gens`` at ``theta``."""
    indep = [False] * len(gens)
    total, worst_zero, best_nonzero = 0, 0.0, 1.0
    for comp in _components([g.support for g in gens]):
        rows = sorted(set().union(*(gens[k].support for k in comp)))
        pos = {r: i for i, r in enumerate(rows)}
        M = np.zeros((len(rows), len(comp)))
        for col, k in enumerate(comp):
            g = gens[k]
            for (r, s), v in g.A.items():
                M[pos[r], col] += float(v) * theta[s]
            for r, v in g.c.items():
                M[pos[r], col] += float(v)
        if not M.any():
            continue
        # float64 SVD: singular values of an exactly rank-deficient matrix sit near
        # eps * ||M|| * max(shape); 1e-9 relative leaves a wide margin on both sides.
        r, cols, (zero, nonzero) = float_independent_columns(M, 1e-9)
        worst_zero, best_nonzero = max(worst_zero, zero), min(best_nonzero, nonzero)
        total += r
        for col in cols:
            indep[comp[col]] = True
    return RankResult(total, indep, (worst_zero, best_nonzero))
