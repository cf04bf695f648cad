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
A direction along which Φ only decreases has no minimum.  When the outputs do not depend on the
parameters it scales, its limit (those parameters set to 0) is used; when they do (a scaling that
a normalisation removes, where f is not continuous at 0), the orbit point with those parameters
at unit mean square.  Both are reported.

With the GL freedom of linear blocks (:mod:`.linear_blocks`, also read from the derived algebra)
the canonical point is the minimum-norm point of the orbit of both: the rescalings and the
balanced SVD factorisation of every linear block alternate (each the exact minimum over its own
subgroup, so the norm never increases) until θ stops moving; the last step fixes each block's
remaining O(n) freedom by its SVD.

Translations θ ↦ θ + t in the algebra (a key bias softmax ignores, a bias that batchnorm's
centring removes) are quotiented by the minimum-norm point of θ + span(t): the component of θ
orthogonal to them, projected at every alternation.  Affine shifts (a linear block's bias moved
through the next weight, :mod:`.shifts`) are quotiented at the same place, by the minimum-norm
point of their orbit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import SpecError
from ..derive.discrete import axis_sites, permute
from ..derive.generator import Generator
from .linear_blocks import GLBlocks, balance, float_coefficients, gl_blocks
from .shifts import AffineShifts, affine_shifts

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
    return DiagonalGroup(_sparse_basis(Dsub), derivation.dim)


def _sparse_basis(R: np.ndarray) -> np.ndarray:
    """Independent rows of R spanning its row space, fewest nonzeros first (each normalised): the
    per-unit scalings stay per unit, so a one-sided one (a scaling that only shrinks the norm) is
    recognised as such (an orthonormal basis would mix units).  Independence by Gram–Schmidt
    residuals: the rows have small rational entries, so a dependent row leaves rounding only."""
    order = sorted(range(len(R)), key=lambda i: (int(np.sum(np.abs(R[i]) > 1e-12)), i))
    Q, out = [], []
    for i in order:
        r = R[i] / max(float(np.linalg.norm(R[i])), 1e-300)
        res = r - sum((q @ r) * q for q in Q) if Q else r
        if np.linalg.norm(res) > 1e-8:
            Q.append(res / np.linalg.norm(res))
            out.append(r)
    return np.array(out) if out else np.zeros((0, R.shape[1]))


def translations(model, derivation) -> np.ndarray:
    """Orthonormal rows spanning the translations θ ↦ θ + t in ``derivation``'s algebra (the
    combinations of its generators with no linear part, e.g. a key bias that softmax ignores)."""
    gens = derivation.algebra.generators or []
    if not gens:
        return np.zeros((0, model.D))
    lin, C = [], np.zeros((len(gens), model.D))
    for j, g in enumerate(gens):
        co = float_coefficients(g)
        lin.append({k: v for k, v in co.items() if k[1] is not None})
        for (r, s), v in co.items():
            if s is None:
                C[j, r] = v
    T = _null_combinations(lin) @ C
    if not len(T) or not np.abs(T).max():
        return np.zeros((0, model.D))
    _, sv, Vt = np.linalg.svd(T, full_matrices=False)
    return Vt[:int(np.sum(sv > 1e-10 * sv[0]))]        # small rational entries: a wide gap


@dataclass
class Quotient:
    """The part of the derived continuous group that ``canonicalise`` removes: the diagonal
    (rescaling) subgroup, the GL groups of linear blocks and the translations."""
    diag: DiagonalGroup
    gl: GLBlocks
    model: object
    shapes: dict
    trans: np.ndarray | None = None      # orthonormal rows: the translations
    shifts: AffineShifts | None = None   # affine shifts (:mod:`.shifts`)

    @property
    def dim_algebra(self) -> int | None:
        return self.diag.dim_algebra

    @property
    def k(self) -> int:
        """Dimension quotiented: the rescalings, gl(n)'s off-diagonal part on each GL axis, and
        with the translations every field with values in them (n_T·(D + 1), the projection removes
        all of their orbits), less the rescalings that are such fields (counted once), and the
        affine shifts."""
        if not self.n_trans:
            return self.diag.k + self.gl.extra_dim + self.n_shifts
        P = self.trans.shape[1]
        inside = np.abs((self.trans ** 2).sum(axis=0) - 1.0) < 1e-9      # e_p lies in the span
        out = self.diag.D[:, ~inside]
        overlap = self.diag.k - (int(np.linalg.matrix_rank(out, tol=1e-9)) if out.size else 0)
        return int(self.diag.k + self.gl.extra_dim + self.n_trans * (P + 1) - overlap + self.n_shifts)

    @property
    def n_trans(self) -> int:
        return 0 if self.trans is None else len(self.trans)

    @property
    def n_shifts(self) -> int:
        return 0 if self.shifts is None else self.shifts.k


def continuous_quotient(model, derivation, amap, groups) -> Quotient:
    """Diagonal subgroup, GL blocks and translations of ``derivation``'s algebra (``groups``: the
    derived permutation groups of ``amap``'s axes, the candidates for GL)."""
    trans = translations(model, derivation)
    gens = derivation.algebra.generators
    if gens is None:        # wide models: the per-unit family members (a shift is one unit's)
        gens = [g for f in derivation.algebra.families if f.kind == "unit" for g in f.instances()]
    gl = gl_blocks(model, derivation, groups, amap.shapes)
    shifts = affine_shifts(model, gens, trans)
    if shifts.k and gl.axes:
        # the shift orbit's closure reaches the point without the constant parts (a linear
        # block's first bias at 0), where a block of n units fed by fewer inputs has rank < n:
        # the orbit of GL and the shifts is then not closed, and its minimum-norm point not
        # unique.  Rank at a seeded generic point decides, the same for every point of an orbit.
        try:
            balance(model, amap.shapes, gl, shifts.zeroed(model.init(np.random.default_rng(0))))
        except SpecError:
            gl.notes.append(f"the {shifts.k} affine shifts are not quotiented: with them at their canonical "
                            "point a linear block has rank below its width")
            shifts = AffineShifts(np.zeros((0, model.D)), [])
    return Quotient(diagonal_group(model, derivation), gl, model, amap.shapes, trans, shifts)


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
    keeps = _keeps_function(group.model)
    th = np.asarray(theta, dtype=float)
    F = group.trans if group.n_trans else None

    def project(x):
        # the minimum-norm point of x + span(translations): its component orthogonal to them;
        # then the shifts' canonical point
        x = x if F is None else x - F.T @ (F @ x)
        return group.shifts.canonical(x) if group.n_shifts else x
    if not group.gl.axes and F is None and not group.n_shifts:
        th, info = _min_norm(group.diag, th, max_iter, keeps)
        return th, {**info, "gl_axes": 0, "translations": 0, "shifts": 0}
    change, outer, ginfo = np.inf, 0, {"gl_axes": 0}
    for outer in range(1, MAX_OUTER + 1):
        t1, info = _min_norm(group.diag, project(th), max_iter, keeps)
        t2, ginfo = balance(group.model, group.shapes, group.gl, t1) if group.gl.axes else (t1, ginfo)
        change = float(np.linalg.norm(t2 - th) / max(float(np.linalg.norm(t2)), 1e-300))
        th = t2
        if change <= OUTER_TOL:
            break
    return th, {**info, **ginfo, "generators": group.k, "translations": group.n_trans,
                "shifts": group.n_shifts, "alternations": outer,
                "last_change": change, "converged": change <= OUTER_TOL}


def _keeps_function(model):
    """f(θ') = f(θ) on 8 seeded inputs, to 1e-9 relative (float64 forward passes agree to ~1e-14)."""
    X = np.random.default_rng(20260).standard_normal((8, model.input))

    def keeps(new: np.ndarray, old: np.ndarray) -> bool:
        with np.errstate(all="ignore"):
            a, b = model.forward(new, X), model.forward(old, X)
        return bool(np.all(np.isfinite(a)) and np.abs(a - b).max() <= 1e-9 * max(float(np.abs(b).max()), 1e-300))
    return keeps


def _normalise(th: np.ndarray, row: np.ndarray, touched: np.ndarray) -> np.ndarray:
    """The point of th's orbit under exp(t·row) where the touched parameters have Σ θ_p² equal to
    their number (exact group element; Σ θ_p² e^{2 r_p t} is monotone in t since the r_p on the
    support share a sign, so bisection on t finds it)."""
    w, r, target = th[touched] ** 2, row[touched], float(np.sum(touched & (th != 0)))

    def g(t):
        return float(w @ np.exp(2 * r * t)) - target
    lo, hi = -1.0, 1.0
    while g(lo) * g(hi) > 0 and hi < 1e3:
        lo, hi = 2 * lo, 2 * hi
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if (g(mid) > 0) == (g(hi) > 0):
            hi = mid
        else:
            lo = mid
    out = th.copy()
    out[touched] = th[touched] * np.exp(row[touched] * 0.5 * (lo + hi))
    return out


def _min_norm(group: DiagonalGroup, theta: np.ndarray, max_iter: int = 200, keeps=None) -> tuple[np.ndarray, dict]:
    """(the minimum-norm point of θ's orbit under exp(Σ t_k d_k), info).

    A direction that only shrinks the norm has no minimum.  Its limit (the parameters it touches
    set to 0) is used when it computes the same function (``keeps``: a parameter the outputs do
    not see); otherwise (a scaling a normalisation removes: f is not continuous at 0) the point of
    the orbit with those parameters at unit mean square is, which is in the orbit itself."""
    theta = np.asarray(theta, dtype=float)
    if group.k == 0:
        return theta.copy(), {"generators": 0, "zeroed": 0, "normalised": 0, "iterations": 0, "balance": 0.0}
    D = group.D.copy()
    th = theta.copy()
    supp = th != 0
    zeroed = normalised = 0
    keep = []
    for row in D:
        r = row[supp]
        if np.all(r >= -1e-12) or np.all(r <= 1e-12):
            touched = np.abs(row) > 1e-12
            cand = th.copy()
            cand[touched] = 0.0
            if keeps is None or keeps(cand, th):
                zeroed += int(np.sum(touched & supp))
                th = cand
            else:
                normalised += int(np.sum(touched & supp))
                th = _normalise(th, row, touched)
            supp = th != 0
        else:
            keep.append(row)
    D = np.array(keep) if keep else np.zeros((0, len(th)))
    if not len(D):
        return th, {"generators": group.k, "zeroed": zeroed, "normalised": normalised, "iterations": 0,
                    "balance": 0.0}
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
    return out, {"generators": group.k, "zeroed": zeroed, "normalised": normalised, "iterations": it,
                 "balance": bal}
