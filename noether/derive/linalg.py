"""Linear algebra for the derivation: over the rationals, over GF(p) and in float64.

One module for the eliminations the methods share:

* over Q: null spaces of small symbolic systems (sympy) and reduced row echelon forms
  (``DomainMatrix`` over QQ) for canonical bases;
* over GF(p), p < 2³¹: products, reduced row echelon forms, ranks and null bases of int64
  matrices (python-flint's ``nmod_mat`` when installed, else a vectorised numpy elimination),
  and the residue of a rational.  Schwartz–Zippel style identity testing (docs/theory.md §2)
  rests on these.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import sympy as sp
from sympy.polys.domains import QQ
from sympy.polys.matrices import DomainMatrix

try:  # optional speed-up
    import flint  # type: ignore
except ImportError:  # pragma: no cover - depends on the environment
    flint = None


# -- over the rationals ----------------------------------------------------------------------
def rational_null(rows: list[list], ncols: int) -> list[list]:
    """A basis of {a : rows · a = 0} over Q (sympy entries); the identity when there are no rows."""
    if not rows:
        return [[1 if k == j else 0 for k in range(ncols)] for j in range(ncols)]
    return [list(v) for v in sp.Matrix(rows).nullspace(simplify=False)]


def rational_rref(rows: list[list], ncols: int):
    """Exact reduced row echelon form over QQ: (nonzero rows as QQ elements, pivot columns)."""
    if not rows:
        return [], ()
    R, piv = DomainMatrix([[_qq(v) for v in r] for r in rows], (len(rows), ncols), QQ).rref()
    return R.to_list()[:len(piv)], piv


def first_independent(rows: list[list], ncols: int) -> list[int]:
    """Indices of the rows independent of the rows before them (exact, over QQ): the pivot
    columns of the transposed matrix's echelon form, one elimination for the whole greedy pass."""
    if not rows:
        return []
    cols = [[_qq(r[j]) for r in rows] for j in range(ncols)]
    _, piv = DomainMatrix(cols, (ncols, len(rows)), QQ).rref()
    return list(piv)


_MPQ = type(QQ(1, 2))


def _qq(v):
    """v as a QQ element; ints and Fractions directly (QQ.convert goes through sympify)."""
    if type(v) is _MPQ:
        return v
    if isinstance(v, (int, np.integer)):
        return QQ(int(v))
    if isinstance(v, Fraction):
        return QQ(v.numerator, v.denominator)
    return QQ.convert(v)


def to_rational(x) -> sp.Rational:
    """A QQ element as a sympy Rational."""
    return sp.Rational(int(x.numerator), int(x.denominator))


# -- over GF(p) -----------------------------------------------------------------------------
def residue(v, p: int) -> int:
    """The rational v modulo p."""
    v = sp.Rational(v)
    return int(v.p) % p * pow(int(v.q) % p, p - 2, p) % p


def matmul_mod(A: np.ndarray, B: np.ndarray, p: int) -> np.ndarray:
    """A @ B mod p without int64 overflow (one rank-1 update per inner index)."""
    out = np.zeros((A.shape[0], B.shape[1]), dtype=np.int64)
    for k in range(A.shape[1]):
        out = (out + (A[:, k:k + 1] * B[k:k + 1, :]) % p) % p
    return out


def rref_mod(M: np.ndarray, p: int) -> tuple[np.ndarray, list[int]]:
    """Reduced row echelon form of M over GF(p): (nonzero rows, pivot columns)."""
    if flint is not None and M.size:
        fm = flint.nmod_mat(M.shape[0], M.shape[1], [int(v) for v in M.ravel()], p)
        R, rank = fm.rref()
        out = np.array([[int(R[i, j]) for j in range(M.shape[1])] for i in range(rank)], dtype=np.int64) \
            if rank else np.zeros((0, M.shape[1]), dtype=np.int64)
        piv = [int(np.flatnonzero(row)[0]) for row in out]
        return out, piv
    M = M.copy() % p
    rows, cols = M.shape
    piv, r = [], 0
    for c in range(cols):
        if r == rows:
            break
        nz = np.flatnonzero(M[r:, c])
        if not len(nz):
            continue
        k = r + nz[0]
        if k != r:
            M[[r, k]] = M[[k, r]]
        M[r] = M[r] * pow(int(M[r, c]), p - 2, p) % p
        f = M[:, c].copy()
        f[r] = 0
        nzr = np.flatnonzero(f)
        if len(nzr):
            M[nzr] = (M[nzr] - (f[nzr, None] * M[r]) % p) % p
        piv.append(c)
        r += 1
    return M[:r], piv


def rank_mod(M: np.ndarray, p: int) -> int:
    return len(rref_mod(M, p)[1]) if M.size else 0


def null_basis(R: np.ndarray, piv: list[int], n: int, p: int) -> np.ndarray:
    """The null space of a reduced row echelon form (rows R, pivots piv) over GF(p), one row per
    free column."""
    free = [c for c in range(n) if c not in set(piv)]
    out = np.zeros((len(free), n), dtype=np.int64)
    for k, f in enumerate(free):
        out[k, f] = 1
        for i, c in enumerate(piv):
            out[k, c] = (-R[i, f]) % p
    return out


# -- in float64 -------------------------------------------------------------------------------
def float_rank(M: np.ndarray, rtol: float, top: float | None = None) -> int:
    """The number of singular values of M above rtol·top (top: the largest one unless given)."""
    if not M.size:
        return 0
    s = np.linalg.svd(M, compute_uv=False)
    return int(np.sum(s > rtol * (s[0] if top is None else top)))


def float_null(M: np.ndarray, rtol: float) -> tuple[np.ndarray, tuple[float, float]]:
    """Orthonormal rows spanning {v : Mv ≈ 0} (singular values below rtol·σ_max, the missing ones
    of a wide M counting as 0), and the gap (largest null, smallest kept), relative to σ_max."""
    n = M.shape[1]
    _, s, Vt = np.linalg.svd(M, full_matrices=True)
    s_full = np.zeros(n)
    s_full[:len(s)] = s
    top = max(s_full[0], 1e-300)
    null = s_full < rtol * top
    gap = (float(s_full[null].max() / top) if null.any() else 0.0,
           float(s_full[~null].min() / top) if (~null).any() else 1.0)
    return Vt[null], gap


def float_left_null(M: np.ndarray, rtol: float, top: float) -> np.ndarray:
    """Orthonormal rows spanning {a : aᵀM ≈ 0} for M with at most as many rows as columns: the
    left singular vectors whose singular value is at most rtol·top."""
    U, s, _ = np.linalg.svd(M, full_matrices=False)
    return U[:, int(np.sum(s > rtol * top)):].T


def float_row_basis(M: np.ndarray, rtol: float) -> np.ndarray:
    """Orthonormal rows spanning M's row space (singular values above rtol·σ_max)."""
    _, s, Vt = np.linalg.svd(M, full_matrices=False)
    return Vt[:int(np.sum(s > rtol * s[0]))] if len(s) else Vt[:0]


def float_independent_columns(M: np.ndarray, rtol: float) -> tuple[int, list[int], tuple[float, float]]:
    """(rank at rtol·σ_max, the columns a pivoted QR keeps first, gap (largest discarded,
    smallest kept) relative to σ_max) of a nonzero M."""
    import scipy.linalg as sla          # lazily: 0.2 s of every derive's start-up otherwise
    s = np.linalg.svd(M, compute_uv=False)
    r = int(np.sum(s > rtol * s[0]))
    _, _, piv = sla.qr(M, pivoting=True, mode="economic")
    return r, [int(c) for c in piv[:r]], (float(s[r] / s[0]) if r < len(s) else 0.0, float(s[r - 1] / s[0]))


class NoClearGap(Exception):
    """A sampled null space whose singular values show no clear gap (``gap``: largest null,
    smallest kept, relative)."""

    def __init__(self, gap):
        super().__init__(f"no clear singular-value gap ({gap[0]:.1e} / {gap[1]:.1e})")
        self.gap = gap


def scaled_null(M: np.ndarray, rtol: float, gram_rtol: float):
    """The null space of a tall sampled system M with its columns scaled to unit norm: (basis rows
    in unscaled coordinates, relative singular-value gap, column scale); :class:`NoClearGap` when
    neither the Gram eigenvalues (at ``gram_rtol``) nor the SVD of the triangular factor (at
    ``rtol``) separate null from genuine singular values by two decades."""
    # column scaling, floored: a column that vanishes identically is rounding (~1e-16 of the
    # largest) and must stay tiny rather than be blown up to unit norm
    norms = np.linalg.norm(M, axis=0)
    scale = np.maximum(norms, 1e-3 * max(norms.max(), 1e-300))
    # singular values of M/scale from the eigenvalues of its Gram matrix (n × n, several times
    # cheaper than an SVD of the tall M).  eigh is accurate to ~1e-16·λ_max, so null directions
    # show σ ≲ 1e-8·σ_max; genuine ones of these systems have σ ≳ 1e-4·σ_max (gaps reported).
    Ms = M / scale
    # a column at rounding level (a direction the outputs do not see, e.g. attention's key bias)
    # is its own null vector e_j: its scaled norm ≤ 1e-9 is far below the null threshold and it
    # couples to the others only at that level, so it is split off before the eigensolver
    zero = norms <= 1e-12 * max(norms.max(), 1e-300)
    keep = np.flatnonzero(~zero)
    Mk = Ms[:, keep]                     # one copy of the kept columns (the systems reach ~10⁴ × 3·10³)
    lam, W = np.linalg.eigh(Mk.T @ Mk) if len(keep) else (np.zeros(0), np.zeros((0, 0)))
    s_keep = np.sqrt(np.clip(lam[::-1], 0.0, None))
    W = W[:, ::-1].T
    s_zero = norms[zero] / scale[zero]
    null, gap = _split(s_keep, s_zero, gram_rtol)
    if gap[1] < 1e2 * gram_rtol and len(keep):
        # a genuine σ near the Gram's rounding floor (~1e-8·σ_max), e.g. a scale symmetry that a
        # normalisation's eps breaks only at O(eps) = 1e-5: the eigenvalues cannot separate it,
        # and its eigenvector mixes into the null ones at ~1e-16/σ² (~1e-6, too much to
        # rationalise).  The SVD of the triangular factor resolves σ to ~1e-16·σ_max instead.
        R = np.linalg.qr(Mk, mode="r")
        _, s_keep, W = np.linalg.svd(R)
        s_keep = np.concatenate([s_keep, np.zeros(len(W) - len(s_keep))])   # fewer rows than columns
        null, gap = _split(s_keep, s_zero, rtol)
        if gap[1] >= 1e2 * rtol:
            return _basis(W, null, keep, zero, scale, M.shape[1]), gap, scale
    if gap[1] < 1e2 * gram_rtol:
        raise NoClearGap(gap)
    return _basis(W, null, keep, zero, scale, M.shape[1]), gap, scale


def _split(s_keep: np.ndarray, s_zero: np.ndarray, rtol: float) -> tuple[np.ndarray, tuple[float, float]]:
    """Which singular values (descending) are null at ``rtol``, and the relative gap
    (largest null, smallest kept) counting the split-off zero columns as null."""
    top = max(s_keep[0] if len(s_keep) else 0.0, 1e-300)
    null = s_keep < rtol * top
    s_null = np.concatenate([s_keep[null], s_zero])
    return null, (float(s_null.max() / top) if len(s_null) else 0.0,
                  float(s_keep[~null].min() / top) if (~null).any() else 1.0)


def _basis(W, null, keep, zero, scale, n) -> np.ndarray:
    """Null rows of W (over the ``keep`` columns) and e_j per ``zero`` column, unscaled."""
    V = np.zeros((int(null.sum()) + int(zero.sum()), n))
    V[:int(null.sum()), keep] = W[null]
    V[np.arange(int(null.sum()), len(V)), np.flatnonzero(zero)] = 1.0
    return V / scale[None, :]
