"""Exact linear algebra for the derivation: over the rationals and over GF(p).

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


def _qq(v):
    """v as a QQ element; ints and Fractions directly (QQ.convert goes through sympify)."""
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
