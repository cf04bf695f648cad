"""A canonical point of a network's orbit under the diagonal (rescaling) part of its derived
continuous symmetry group, for alignment modulo the group.

The diagonal generators X_k(θ) = diag(d_k) θ of the derived algebra (ReLU's per-unit rescalings,
for instance) act exactly by θ ↦ exp(Σ_k t_k d_k) ⊙ θ.  Their combinations are found from the
derived generators themselves (the null space of their off-diagonal and affine coefficients), so
no architecture is special-cased.  The canonical point is the minimum-norm point of the orbit
(Kempf & Ness 1979): Φ(t) = Σ_p θ_p² e^{2(Dᵀt)_p} is convex in t, and at its minimum every
charge θᵀ diag(d_k) θ vanishes (balanced units, Du, Hu & Lee 2018).  It is unique when the d_k
are independent on the support of θ, so it commutes with every permutation that normalises the
group: a permuted *and rescaled* copy of a network has the permuted canonical point.
A direction along which Φ only decreases (a parameter the outputs do not depend on, scaled
alone) has no minimum; its limit, those parameters set to 0, is used and reported.

With the GL freedom of linear blocks (:mod:`.linear_blocks`, also read from the derived algebra)
the canonical point is the minimum-norm point of the orbit of both: the rescalings and the
balanced SVD factorisation of every linear block alternate (each the exact minimum over its own
subgroup, so the norm never increases) until θ stops moving; the last step fixes each block's
remaining O(n) freedom by its SVD.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import SpecError
from ..derive.discrete import axis_sites, permute
from ..derive.generator import Generator
from .linear_blocks import GLBlocks, balance, float_coefficients, gl_blocks

#: Alternations of rescaling and linear-block balancing before giving up (reported, not raised).
MAX_OUTER = 500
#: Stop when an alternation moves θ by less than this, relative to |θ|: the two exact minimisers
#: then agree to a few float64 roundings of the O(P) sums that define them.
OUTER_TOL = 1e-13


@dataclass
class DiagonalGroup:
    D: np.ndarray            # (k, P): exponent rates of the diagonal generators
    dim_algebra: int | None  # dimension of the derived algebra (for the report)

    @property
    def k(self) -> int:
        return len(self.D)


def _diag_of(g, P) -> tuple[np.ndarray, np.ndarray]:
    """(diagonal of A, the off-diagonal A entries and c entries keyed into a dict)."""
    d = np.zeros(P)
    off = {}
    for k, v in float_coefficients(g).items():
        if k[0] == k[1]:
            d[k[0]] = v
        else:
            off[k] = v
    return d, off


def _null_combinations(offs) -> np.ndarray:
    """Rows c with Σ_j c_j off_j = 0: the combinations of generators with no off-diagonal or
    affine part.  Generators sharing no off-diagonal coefficient cannot cancel each other, so the
    null space is solved per connected group of them (a GL block's E_ij are each alone), which
    keeps the dense SVDs small at any width."""
    n = len(offs)
    parent = list(range(n))

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict = {}
    for j, o in enumerate(offs):
        for k in o:
            if k in owner:
                parent[root(j)] = root(owner[k])
            else:
                owner[k] = j
    comps: dict = {}
    for j in range(n):
        comps.setdefault(root(j), []).append(j)
    rows = []
    for js in comps.values():
        keys = sorted({k for j in js for k in offs[j]}, key=lambda k: (k[0], -1 if k[1] is None else k[1]))
        if not keys:
            rows += [np.eye(1, n, j)[0] for j in js]
            continue
        if len(js) == 1:
            continue                          # one generator with an off-diagonal part: no combination
        pos = {k: i for i, k in enumerate(keys)}
        O = np.zeros((len(keys), len(js)))
        for c, j in enumerate(js):
            for k, v in offs[j].items():
                O[pos[k], c] = v
        # small rational entries: the singular-value gap is wide, 1e-10 relative cut
        _, sv, Vt = np.linalg.svd(O, full_matrices=O.shape[0] < O.shape[1])   # Vt: all len(js) rows
        rank = int(np.sum(sv > 1e-10 * (sv[0] if len(sv) else 1.0)))
        for v in Vt[rank:]:
            row = np.zeros(n)
            row[js] = v
            rows.append(row)
    return np.array(rows) if rows else np.zeros((0, n))


def diagonal_group(model, derivation) -> DiagonalGroup:
    """The diagonal subalgebra of ``derivation``'s algebra, as rows d_k (orthonormal basis)."""
    P = model.D
    gens = derivation.algebra.generators
    if gens is None:
        gens = _family_generators(model, derivation)
    if not gens:
        return DiagonalGroup(np.zeros((0, P)), derivation.dim)
    diags, offs = zip(*(_diag_of(g, P) for g in gens))
    Dm = np.array(diags)                                   # (n_gen, P)
    N = _null_combinations(offs)
    Dsub = N @ Dm
    if not len(Dsub):
        return DiagonalGroup(np.zeros((0, P)), derivation.dim)
    _, s, Vt = np.linalg.svd(Dsub, full_matrices=False)
    rank = int(np.sum(s > 1e-10 * s[0]))
    return DiagonalGroup(Vt[:rank], derivation.dim)


@dataclass
class Quotient:
    """The part of the derived continuous group that ``canonicalise`` removes: the diagonal
    (rescaling) subgroup and the GL groups of linear blocks."""
    diag: DiagonalGroup
    gl: GLBlocks
    model: object
    shapes: dict

    @property
    def dim_algebra(self) -> int | None:
        return self.diag.dim_algebra

    @property
    def k(self) -> int:
        """Dimension quotiented: the rescalings plus gl(n)'s off-diagonal part on each GL axis."""
        return self.diag.k + self.gl.extra_dim


def continuous_quotient(model, derivation, amap, groups) -> Quotient:
    """Diagonal subgroup and GL blocks of ``derivation``'s algebra (``groups``: the derived
    permutation groups of ``amap``'s axes, the candidates for GL)."""
    return Quotient(diagonal_group(model, derivation), gl_blocks(model, derivation, groups, amap.shapes),
                    model, amap.shapes)


def _family_generators(model, derivation):
    """For models past the explicit-generator limit (wide MLPs): the per-unit family members that
    are diagonal, built at unit 0 and carried to unit i by the derived transposition (0 i)."""
    amap = axis_sites(model)
    out = []
    for f in derivation.algebra.families:
        if f.kind != "unit":
            continue
        g0 = f.instance((0,))
        if g0.c or any(r != s for r, s in g0.A):
            continue
        axis = next((a for a in amap.axes if (f.itf.left.W, 0) in a.sites), None)
        if axis is None:
            continue
        d0 = np.zeros(model.D)
        for (r, _), v in g0.A.items():
            d0[r] = float(v)
        for i in range(f.itf.h):
            p = np.arange(f.itf.h)
            p[[0, i]] = p[[i, 0]]
            di = permute(model, amap.shapes, d0, axis, p)
            g = Generator(f"{f.name}[{i}]", f.name)
            g.A = {(int(r), int(r)): float(di[r]) for r in np.flatnonzero(di)}
            out.append(g)
    return out


def canonicalise(group: DiagonalGroup | Quotient, theta: np.ndarray, max_iter: int = 200) -> tuple[np.ndarray, dict]:
    """(the canonical point of θ's orbit, info): under exp(Σ t_k d_k) for a DiagonalGroup, and
    alternating with the linear blocks' balancing for a Quotient."""
    if isinstance(group, DiagonalGroup):
        return _min_norm(group, theta, max_iter)
    th = np.asarray(theta, dtype=float)
    if not group.gl.axes:
        th, info = _min_norm(group.diag, th, max_iter)
        return th, {**info, "gl_axes": 0}
    change, outer = np.inf, 0
    for outer in range(1, MAX_OUTER + 1):
        t1, info = _min_norm(group.diag, th, max_iter)
        t2, ginfo = balance(group.model, group.shapes, group.gl, t1)
        change = float(np.linalg.norm(t2 - th) / max(float(np.linalg.norm(t2)), 1e-300))
        th = t2
        if change <= OUTER_TOL:
            break
    return th, {**info, **ginfo, "generators": group.k, "alternations": outer, "last_change": change,
                "converged": change <= OUTER_TOL}


def _min_norm(group: DiagonalGroup, theta: np.ndarray, max_iter: int = 200) -> tuple[np.ndarray, dict]:
    """(the minimum-norm point of θ's orbit under exp(Σ t_k d_k), info)."""
    theta = np.asarray(theta, dtype=float)
    if group.k == 0:
        return theta.copy(), {"generators": 0, "zeroed": 0, "iterations": 0, "balance": 0.0}
    D = group.D.copy()
    th = theta.copy()
    # one-sided directions: a basis row that only grows (or only shrinks) the parameters it
    # touches on θ's support; its orbit closure sets them to 0 (same function in the limit)
    supp = th != 0
    zeroed = 0
    keep = []
    for row in D:
        r = row[supp]
        if np.all(r >= -1e-12) or np.all(r <= 1e-12):
            touched = np.abs(row) > 1e-12
            zeroed += int(np.sum(touched & supp))
            th[touched] = 0.0
            supp = th != 0
        else:
            keep.append(row)
    D = np.array(keep) if keep else np.zeros((0, len(th)))
    if not len(D):
        return th, {"generators": group.k, "zeroed": zeroed, "iterations": 0, "balance": 0.0}
    w0 = th * th
    t = np.zeros(len(D))

    def phi(t):
        return float(w0 @ np.exp(2 * (D.T @ t)))

    f = phi(t)
    it = 0
    for it in range(1, max_iter + 1):
        w = w0 * np.exp(2 * (D.T @ t))
        g = 2 * (D @ w)
        if np.abs(g).max() <= 1e-15 * f * np.sqrt(len(D)):
            break
        H = 4 * (D * w) @ D.T
        step = -np.linalg.lstsq(H, g, rcond=1e-13)[0]
        a = 1.0
        # near the minimum Φ changes below its rounding (a step δt moves Φ by ~δt²): a full Newton
        # step that does not raise Φ beyond rounding is taken, so t converges, not only Φ
        while a > 1e-12 and phi(t + a * step) > f * (1 + 1e-13):
            a /= 2
        if a <= 1e-12:
            break
        t = t + a * step
        f = phi(t)
        if a == 1.0 and np.abs(step).max() <= 1e-10 * (1 + np.abs(t).max()):   # quadratic: next error ~1e-20
            break
        if np.abs(t).max() > 700:
            raise SpecError("--modulo", "the orbit of these parameters under the rescaling group is not "
                            "closed (the norm decreases without bound); use --modulo permutation")
    out = th * np.exp(D.T @ t)
    bal = float(np.abs(D @ (out * out)).max() / max(float(out @ out), 1e-300))
    return out, {"generators": group.k, "zeroed": zeroed, "iterations": it, "balance": bal}
