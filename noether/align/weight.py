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
        sites = [(b, s) for b, s in sites if _settled(ps, b, {k}, solved)] or sites
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


def inner_groups(ps: PermSet, k: int) -> list[int]:
    """The groups acting separately for each unit of group k's axis (d_k, d_v within each head)."""
    name = ps.groups[k].axis.name
    return [j for j, g in enumerate(ps.groups) if g.per is not None and g.per.name == name]


def _settled(ps: PermSet, block, own: set, solved: set | None) -> bool:
    """Whether ``block``'s permuted axes other than the groups in ``own`` are all in ``solved``
    (always, without ``solved``)."""
    return solved is None or all(j in solved or j in own or block not in ps.groups[j].axis.blocks
                                 for j in range(len(ps.groups)))


def nested_step(ps: PermSet, k: int, inner: list[int], theta_a, theta_b,
                solved: set | None = None) -> list[np.ndarray]:
    """Group k's permutation together with its inner groups' (one per unit of k): the cost of
    matching A's unit i to B's unit j is their inner product with each inner axis optimally
    matched *for that pair* (a linear assignment per pair), so a head moves with its d_k / d_v
    coordinates instead of being held back by their current labels.  Needs every block of k's
    axis to carry at most one of the inner axes (else the pairs do not separate); returns the
    new permutations of all groups (``ps.perms`` layout).  With ``solved``, as in
    :func:`axis_cost`: only blocks whose other permuted axes are solved (when any are), so an
    unmatched neighbour (the output features after the heads, in the first sweep) adds no noise."""
    model, shapes, g = ps.model, ps.shapes, ps.groups[k]
    perms = [P.copy() for P in ps.perms]
    for j in [k] + inner:
        perms[j] = np.tile(np.arange(ps.groups[j].axis.size), (len(perms[j]), 1))
    B0 = ps.apply(theta_b, perms=perms)               # the other groups applied; k and inner ones not
    n = g.axis.size
    C = np.zeros((n, n))
    own = {j: set(ps.groups[j].axis.blocks) for j in inner}
    mine = {k, *inner}

    def usable(sites):
        ok = [(b, sl) for b, sl in sites if _settled(ps, b, mine, solved)]
        return ok or list(sites)
    for block, slot in usable(g.axis.sites):
        if not any(block in b for b in own.values()):
            C += slab(model, shapes, theta_a, block, slot, None, 0) @ slab(model, shapes, B0, block, slot, None, 0).T
    pair = {}
    for j in inner:
        gj = ps.groups[j]
        sites = usable(gj.axis.sites)
        for a in range(n):
            for b in range(n):
                M = sum(slab(model, shapes, theta_a, bl, sl, gj.per, a) @ slab(model, shapes, B0, bl, sl, gj.per, b).T
                        for bl, sl in sites)
                col = solve_lap(M)
                pair[(j, a, b)] = col
                C[a, b] += M[np.arange(len(col)), col].sum()
    col = solve_lap(C)
    perms[k][0] = col
    for j in inner:
        for a in range(n):
            perms[j][a] = pair[(j, a, col[a])]
    return perms


def _separable(ps: PermSet, k: int, inner: list[int]) -> bool:
    blocks = [set(ps.groups[j].axis.blocks) for j in inner]
    # k's permutation is applied before its inner groups' (PermSet order), whose value a is then
    # the unit at A's position a
    return bool(inner) and ps.groups[k].per is None and k < min(inner) and all(
        sum(b in bs for bs in blocks) <= 1 for b in ps.groups[k].axis.blocks)


def weight_matching(ps: PermSet, theta_a, theta_b, rng: np.random.Generator, restarts: int = 3,
                    max_passes: int = 100, only: list[int] | None = None) -> tuple[PermSet, dict]:
    """Coordinate descent over the groups in ``only`` (default all), from ``ps``'s permutations."""
    todo = list(range(len(ps.groups))) if only is None else list(only)
    nested = {k: inner_groups(ps, k) for k in todo}
    nested = {k: v for k, v in nested.items() if _separable(ps, k, v) and all(j in todo for j in v)}
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
                if k in nested:
                    cur.perms = nested_step(cur, k, nested[k], theta_a, theta_b, solved)
                    solved.update([k] + nested[k])
                    continue
                for v in range(len(cur.perms[k])):
                    cur.perms[k][v] = solve_lap(axis_cost(cur, k, theta_a, theta_b, v, solved, cache))
                solved.add(k)
        for npass in range(1, max_passes + 1):
            changed = False
            for k in order:
                if k in nested:
                    new = nested_step(cur, k, nested[k], theta_a, theta_b)
                    now_obj, new_obj = float(theta_a @ cur.apply(theta_b)), float(theta_a @ cur.apply(theta_b, perms=new))
                    # a strict gain beyond the rounding of the D-term inner products
                    if new_obj - now_obj > 1e-12 * np.sqrt(len(theta_a)) * (np.abs(theta_a) @ np.abs(theta_b) + 1e-300):
                        cur.perms = new
                        changed = True
                    continue
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
