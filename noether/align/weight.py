"""Weight matching (Ainsworth, Hayase & Srinivasa 2022, Git Re-Basin, Alg. 1): maximise
Σ ⟨θ_A, π(θ_B)⟩ over the derived permutation groups by coordinate descent, each step a linear
assignment problem (``scipy.optimize.linear_sum_assignment``) for one axis with the others fixed;
random axis orders on restarts, the best objective kept."""

from __future__ import annotations

import numpy as np

from .perms import PermSet, same_block_sites, slab
from ..derive.discrete import permute
from scipy.optimize import linear_sum_assignment


def axis_cost(ps: PermSet, k: int, theta_a, theta_b, value: int, solved: set | None = None,
              cache: dict | None = None) -> np.ndarray:
    """C[i, j] = Σ over the blocks carrying group k's axis of ⟨A unit i, B unit j⟩, the other
    groups' permutations applied to B (and this group's at a second position of the same block).
    With ``solved``: only blocks whose other permuted axes are all in ``solved`` (when any are)."""
    g, model, shapes = ps.groups[k], ps.model, ps.shapes
    B0 = ps.apply(theta_b, skip=k)
    n = g.axis.size
    C = np.zeros((n, n))
    sites = g.axis.sites
    if solved is not None:
        ok = [(b, s) for b, s in sites if all(j in solved or j == k or b not in ps.groups[j].axis.blocks
                                              for j in range(len(ps.groups)))]
        sites = ok or sites
    for block, slot in sites:
        Bk = B0
        other = same_block_sites(g.axis, block, slot)
        if other.sites:
            for v, p in enumerate(ps.perms[k]):
                Bk = permute(model, shapes, Bk, other, p, g.per, v)
        key = (k, value, block, slot)
        Ma = cache.get(key) if cache is not None else None
        if Ma is None:
            Ma = np.ascontiguousarray(slab(model, shapes, theta_a, block, slot, g.per, value))
            if cache is not None:
                cache[key] = Ma             # A never changes: its slabs are reused every pass
        C += Ma @ slab(model, shapes, Bk, block, slot, g.per, value).T
    return C


def solve_lap(C: np.ndarray) -> np.ndarray:
    _, col = linear_sum_assignment(C, maximize=True)
    return col


def weight_matching(ps: PermSet, theta_a, theta_b, rng: np.random.Generator, restarts: int = 3,
                    max_passes: int = 100, only: list[int] | None = None) -> tuple[PermSet, dict]:
    """Coordinate descent over the groups in ``only`` (default all), from ``ps``'s permutations."""
    todo = list(range(len(ps.groups))) if only is None else list(only)
    best, best_obj, passes_used = None, -np.inf, []
    start = [p.copy() for p in ps.perms]
    cache: dict = {}
    for r in range(max(1, restarts)):
        cur = PermSet(ps.model, ps.shapes, ps.groups, [p.copy() for p in start])
        order = list(todo) if r == 0 else list(rng.permutation(todo))
        if r == 0:
            # a first sweep in model order, each axis matched on the blocks whose other permuted
            # axes are already matched (W1's rows against the fixed input first): a planted
            # permutation is then found before the noise of unmatched neighbours can mislead it
            solved = set(range(len(ps.groups))) - set(todo)
            for k in order:
                for v in range(len(cur.perms[k])):
                    cur.perms[k][v] = solve_lap(axis_cost(cur, k, theta_a, theta_b, v, solved, cache))
                solved.add(k)
        for npass in range(1, max_passes + 1):
            changed = False
            for k in order:
                for v in range(len(cur.perms[k])):
                    C = axis_cost(cur, k, theta_a, theta_b, v, cache=cache)
                    col, now = solve_lap(C), cur.perms[k][v]
                    ar = np.arange(len(col))
                    # a strict gain beyond the rounding of the n-term sums (ties keep the current one)
                    if C[ar, col].sum() - C[ar, now].sum() > 1e-12 * len(col) * (np.abs(C).max() + 1e-300):
                        cur.perms[k][v] = col
                        changed = True
            if not changed:
                break
        passes_used.append(npass)
        obj = float(theta_a @ cur.apply(theta_b))
        if obj > best_obj:
            best, best_obj = cur, obj
    return best, {"restarts": max(1, restarts), "passes": passes_used, "objective": best_obj}
