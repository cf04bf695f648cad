"""The GL freedom of linear blocks, read from the derived algebra, and its canonical point.

Where two linear maps meet with no nonlinearity between them (``linear → linear``, an identity
activation, W_V → W_O of an attention head, the query/key coordinates d_k of a head), any
invertible T acting on the shared axis is a symmetry: the blocks on one side of the axis take
M₊ ↦ T M₊ and those on the other M₋ ↦ T⁻ᵀ M₋ (M± the blocks' slabs, the axis first).  Nothing
here knows which layers do that.  For every axis with a derived permutation group (GL(n) ⊃ S_n),
each split of its blocks into the two sides is tried, and the axis is kept when the basis
elements E_ij of gl(n) (all, or past n = 8 those that generate it under the derived S_n), as the
vector fields δM₊ = E M₊, δM₋ = −Eᵀ M₋, lie in the span of the derived generators (least
squares against their exact coefficients).

On such an axis the function depends on M₊, M₋ only through K = M₊ᵀ M₋ (of rank n when both
sides have full rank).  The canonical point is the balanced factorisation K = UΣVᵀ,
M₊ = Σ^½ Uᵀ, M₋ = Σ^½ Vᵀ: the minimum-norm point of the GL orbit (its norm is 2‖K‖_* , the
least over all factorisations; Kempf & Ness 1979), with its remaining O(n) freedom fixed by the
SVD's order and a sign rule.  It equals T·θ for the exact T = Σ^½ U'ᵀ R₊⁻ᵀ (thin QR M₊ᵀ = Q₊R₊,
R₊R₋ᵀ = U'ΣV'ᵀ), so the function is unchanged.  It is unique when the singular values are
distinct (the report gives their smallest relative gap).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from ..errors import SpecError
from .perms import put_slab, slab, slab_index

#: A candidate gl(n) field is in the derived span when its least-squares residual is below this,
#: relative to its norm: the derived coefficients are small exact rationals, so a member's
#: residual is float64 rounding of an O(#generators) solve (≲ 1e-13); a non-member's is O(1).
MEMBER_TOL = 1e-9
#: Rank cut of the balanced factorisation, relative to the largest singular value.
RANK_TOL = 1e-12


@dataclass
class GLAxis:
    """One axis (per value of ``group.per``, if any) on which GL(n) acts."""
    group: object                     # the derived permutation group of the axis (DiscreteGroup)
    plus: list[tuple[str, int]]       # sites taking T
    minus: list[tuple[str, int]]      # sites taking T⁻ᵀ

    @property
    def name(self) -> str:
        g = self.group
        return g.axis.name + (f" (each {g.per.name})" if g.per else "")

    @property
    def copies(self) -> int:
        return self.group.per.size if self.group.per else 1

    @property
    def extra_dim(self) -> int:
        """Dimensions of gl(n) beyond its diagonal (the per-unit rescalings are quotiented apart)."""
        n = self.group.axis.size
        return n * (n - 1) * self.copies

    def to_json(self) -> dict:
        return {"axis": self.name, "n": self.group.axis.size, "copies": self.copies,
                "T": [f"{b}[axis {s}]" for b, s in self.plus], "T^-T": [f"{b}[axis {s}]" for b, s in self.minus]}


@dataclass
class GLBlocks:
    axes: list[GLAxis]
    notes: list[str] = field(default_factory=list)

    @property
    def extra_dim(self) -> int:
        return sum(a.extra_dim for a in self.axes)


#: sympy number → float, memoised: a derived algebra repeats a few small rationals many times
to_float = lru_cache(maxsize=4096)(float)


def float_coefficients(g) -> dict:
    """{(r, s): A[r, s]} ∪ {(r, None): c[r]} of a generator, as floats."""
    col = {k: to_float(v) for k, v in g.A.items()}
    col.update({(r, None): to_float(v) for r, v in g.c.items()})
    return col


def _index_slabs(model, shapes, sites, per, value) -> list[np.ndarray]:
    """Each site's slab of parameter *indices* (n, rest)."""
    return [slab_index(model, shapes, b, s, per, value) for b, s in sites]


def _field(n, plus_idx, minus_idx, i, j) -> dict:
    """The vector field of E_ij: row i of M₊ gains row j; row j of M₋ loses row i."""
    out = {}
    for I in plus_idx:
        for r, s in zip(I[i], I[j]):
            out[(int(r), int(s))] = out.get((int(r), int(s)), 0.0) + 1.0
    for I in minus_idx:
        for r, s in zip(I[j], I[i]):
            out[(int(r), int(s))] = out.get((int(r), int(s)), 0.0) - 1.0
    return {k: v for k, v in out.items() if v != 0}


#: Largest least-squares system (coefficients × generators) a membership test builds.
MAX_SYSTEM = 5_000_000


class _Span:
    """Membership in the span of the derived generators, by least squares over the generators
    that share a coefficient with the candidate, then with those, and so on (a derived basis may
    need a generator that only cancels another's extra coefficients), until the residual
    vanishes or the system would pass ``MAX_SYSTEM`` entries.  A solution on a subset is one in
    the whole span, so a field found a member is one; a member may be missed (the axis is then
    not quotiented, and ``missed`` says so), never invented.  Affine parts (c) are coefficients
    like any other: a gl(n) field has none."""

    def __init__(self, gens):
        self.cols = []
        self.by_key: dict = {}
        self.missed = False
        for j, g in enumerate(gens):
            col = float_coefficients(g)
            self.cols.append(col)
            for key in col:
                self.by_key.setdefault(key, []).append(j)

    def _residual(self, near, f) -> float:
        keys = {key: i for i, key in enumerate({k for j in near for k in self.cols[j]} | set(f))}
        G = np.zeros((len(keys), len(near)))
        for c, j in enumerate(near):
            for key, v in self.cols[j].items():
                G[keys[key], c] = v
        F = np.zeros(len(keys))
        for key, v in f.items():
            F[keys[key]] = v
        coef = np.linalg.lstsq(G, F, rcond=None)[0]
        return float(np.linalg.norm(G @ coef - F) / np.linalg.norm(F))

    def contains(self, fields: list[dict]) -> bool:
        for f in fields:
            near = {j for key in f for j in self.by_key.get(key, ())}
            while True:
                if not near:
                    return False
                if self._residual(sorted(near), f) <= MEMBER_TOL:
                    break
                grown = near | {i for j in near for key in self.cols[j] for i in self.by_key[key]}
                size = len({k for j in grown for k in self.cols[j]}) * len(grown)
                if grown == near or size > MAX_SYSTEM:
                    self.missed |= grown != near
                    return False
                near = grown
        return True


def _basis_checked(n: int, local: bool = False) -> list[tuple[int, int]]:
    """The E_ij checked: all of them up to n = 8 (unless only generators at units 0 and 1 are
    at hand, ``local``); past that E_01, E_10, E_00, E_11.  That suffices
    because S_n is a derived symmetry of the axis and conjugating a symmetry generator by a
    symmetry gives one: P E_01 P⁻¹ = E_π(0)π(1) reaches every off-diagonal E_ij and P E_00 P⁻¹
    every diagonal one (per value of the per-axis, whose S_n acts value by value)."""
    if n <= 8 and not local:
        return [(i, j) for i in range(n) for j in range(n)]
    return [(0, 1), (1, 0), (0, 0), (1, 1)]


def gl_blocks(model, derivation, groups, shapes) -> GLBlocks:
    """The axes of ``groups`` (derived permutation groups) on which the derived algebra contains
    gl(n), with the side of each site."""
    gens, local = derivation.algebra.generators, False
    if gens is None:
        # past the explicit limit: the family members at units 0 and 1 of every interface, which
        # is all the reduced basis of _basis_checked touches
        gens, local = [f.instance(idx) for f in derivation.algebra.families for idx in f.index_sets()
                       if set(idx) <= {0, 1}], True
    span = _Span(gens)
    out = []
    for g in groups:
        n, sites = g.axis.size, g.axis.sites
        if n < 2 or len(sites) < 2 or len({b for b, _ in sites}) < len(sites):
            continue                          # an axis twice in one block (P W Pᵀ) is not a GL site
        for signs in itertools.product((1, -1), repeat=len(sites) - 1):
            plus = [sites[0]] + [s for s, z in zip(sites[1:], signs) if z > 0]
            minus = [s for s, z in zip(sites[1:], signs) if z < 0]
            if not minus:
                continue
            ok = True
            for v in range(g.per.size if g.per else 1):
                P = _index_slabs(model, shapes, plus, g.per, v)
                M = _index_slabs(model, shapes, minus, g.per, v)
                if not span.contains([_field(n, P, M, i, j) for i, j in _basis_checked(n, local)]):
                    ok = False
                    break
            if ok:
                out.append(GLAxis(g, plus, minus))
                break
    notes = ["some gl(n) membership tests were cut off at their size limit; an axis may carry GL "
             "freedom that is not quotiented"] if span.missed else []
    return GLBlocks(out, notes)


def apply_gl(model, shapes, theta, ax: GLAxis, T: np.ndarray, value: int = 0) -> np.ndarray:
    """θ moved by T ∈ GL(n) on axis ``ax`` (for ``value`` of its per-axis): T on one side, the
    true inverse transpose T⁻ᵀ (a solve, not a series) on the other; a copy."""
    th = np.array(theta, dtype=float, copy=True)
    g = ax.group
    Tit = np.linalg.solve(T.T, np.eye(len(T)))
    for sites, R in ((ax.plus, T), (ax.minus, Tit)):
        for b, s in sites:
            put_slab(model, shapes, th, b, s, g.per, value, R @ slab(model, shapes, th, b, s, g.per, value))
    return th


def balance(model, shapes, blocks: GLBlocks, theta: np.ndarray) -> tuple[np.ndarray, dict]:
    """θ with every GL axis at its balanced, sign-fixed SVD factorisation (a copy)."""
    th = np.array(theta, dtype=float, copy=True)
    gap = np.inf
    for ax in blocks.axes:
        g, n = ax.group, ax.group.axis.size
        for v in range(ax.copies):
            Mp = [slab(model, shapes, th, b, s, g.per, v) for b, s in ax.plus]
            Mm = [slab(model, shapes, th, b, s, g.per, v) for b, s in ax.minus]
            Qp, Rp = np.linalg.qr(np.hstack(Mp).T)
            Qm, Rm = np.linalg.qr(np.hstack(Mm).T)
            if Qp.shape[1] < n or Qm.shape[1] < n:
                raise SpecError("--modulo", f"axis {ax.name}: a side of the linear block has fewer than {n} "
                                "entries per unit, GL cannot be quotiented; use --modulo permutation")
            U, S, Vt = np.linalg.svd(Rp @ Rm.T)
            if S[-1] <= RANK_TOL * S[0]:
                raise SpecError("--modulo", f"axis {ax.name}: the linear block has rank < {n} (singular "
                                f"values {S[-1]:.1e} of {S[0]:.1e}); its GL orbit is not closed, use "
                                "--modulo permutation")
            gap = min(gap, float(np.min(-np.diff(S)) / S[0])) if n > 1 else gap
            Up, Vm = Qp @ U, Qm @ Vt.T                   # K = M₊ᵀM₋ = Up S Vmᵀ
            # sign rule: the largest-magnitude entry of each left singular vector is positive
            # (invariant under permutations of the other axes, which only reorder entries)
            sgn = np.sign(Up[np.argmax(np.abs(Up), axis=0), np.arange(n)])
            sgn[sgn == 0] = 1.0
            root = np.sqrt(S) * sgn
            newp, newm = (root[:, None] * Up.T), (root[:, None] * Vm.T)
            for parts, new, sites in ((Mp, newp, ax.plus), (Mm, newm, ax.minus)):
                col = 0
                for (b, s), old in zip(sites, parts):
                    put_slab(model, shapes, th, b, s, g.per, v, new[:, col:col + old.shape[1]])
                    col += old.shape[1]
    gap = None if gap == np.inf else gap
    # SVD vectors move by ~1e-16/gap: below a 1e-8 gap the canonical point is not determined to
    # the 1e-8 at which two copies are called matched
    return th, {"gl_axes": len(blocks.axes), "singular_value_gap": gap, "unique": gap is None or gap > 1e-8}
