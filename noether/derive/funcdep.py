"""Linear relations among functions: the null space of  Σ_k a_k f_k(u) ≡ 0.

Every symmetry condition in the engine reduces to this.  Two routes, chosen per problem:

* **exact** - when every f_k evaluates to a rational at rational points (polynomials, piecewise
  linear functions, Heaviside, sign, ...), the functions are sampled at more random rational points
  than there are unknowns and the null space is computed over QQ (Schwartz-Zippel style identity
  testing).  Points are drawn both broadly and on each side of every breakpoint the expression
  declares, so that no piece of a piecewise function goes unsampled.
* **high precision** - otherwise (exp, tanh, erf, ...) the samples are evaluated to 60 digits with
  mpmath; the singular-value gap decides the rank, the null basis is put in reduced row-echelon
  form and rationalised, and every relation is then *certified*: by ``sympy.simplify`` to 0 if
  it can, else by re-evaluation at fresh points to 90 digits.

The gap and the certificate are reported with the result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import mpmath
import numpy as np
import sympy as sp

from ..errors import SpecError
from .linalg import rational_rref, to_rational

_DPS = 60
_ZERO = mpmath.mpf(10) ** -40      # singular values below this (relative) are zero at 60 digits
_NONZERO = mpmath.mpf(10) ** -12   # ... and above this are clearly nonzero: anything between is no gap


@dataclass
class NullSpace:
    basis: list[list[sp.Expr]]           # exact relations, reduced row-echelon form
    method: str                          # "exact-rational" or "high-precision"
    gap: tuple[float, float] | None = None   # (largest null sv, smallest nonzero sv), relative
    certificates: list[str] = field(default_factory=list)


def breakpoints(expr: sp.Expr, var: sp.Symbol) -> list[sp.Rational]:
    """Real points where a piece of ``expr`` may change: zeros of Heaviside/sign/Abs/Max/Min
    arguments and of Piecewise conditions, when they can be solved."""
    args: list[sp.Expr] = []
    for node in sp.preorder_traversal(expr):
        if isinstance(node, (sp.Heaviside, sp.sign, sp.Abs)):
            args.append(node.args[0])
        elif isinstance(node, (sp.Max, sp.Min)):
            a = node.args
            args.extend(a[i] - a[j] for i in range(len(a)) for j in range(i + 1, len(a)))
        elif isinstance(node, sp.core.relational.Relational):
            args.append(node.lhs - node.rhs)
    pts: set[sp.Rational] = set()
    for a in args:
        if var not in a.free_symbols:
            continue
        try:
            sols = sp.solve(sp.Eq(a, 0), var)
        except (NotImplementedError, TypeError, ValueError):
            continue
        for s in sols:
            if s.is_real and s.is_number:
                pts.add(sp.nsimplify(s, rational=True) if not s.is_Rational else s)
    return sorted(pts)


def _sample_values(bps: list, rng: np.random.Generator, n: int) -> list[sp.Rational]:
    """n rational points: broad (several scales) plus both sides of every breakpoint."""
    out: list[sp.Rational] = []
    scales = [1, 4, 20]
    while len(out) < n:
        if bps and rng.random() < 0.5:
            c = bps[int(rng.integers(len(bps)))]
            off = sp.Rational(int(rng.integers(1, 97)), int(rng.integers(97, 400)))
            out.append(c + off if rng.random() < 0.5 else c - off)
        else:
            s = scales[int(rng.integers(len(scales)))]
            num = int(rng.integers(-1000, 1001)) or 7
            out.append(sp.Rational(num * s, int(rng.integers(211, 1000))))
    return out


def null_space(funcs: list[sp.Expr], variables: list[sp.Symbol], *, seed: int = 0,
               what: str = "functions") -> NullSpace:
    """All exact a with Σ a_k funcs[k] ≡ 0 as functions of ``variables``."""
    k = len(funcs)
    rng = np.random.default_rng(seed)
    n = 2 * k + 12
    columns = {v: _sample_values(breakpoints(sp.Add(*funcs), v), rng, n) for v in variables}
    points = [{v: columns[v][i] for v in variables} for i in range(n)]
    rows = [[sp.sympify(f).xreplace(pt) for f in funcs] for pt in points]
    rows = [[sp.nsimplify(x) if x.is_Float else x for x in r] for r in rows]
    for pt, r in zip(points, rows):
        for x in r:
            if x.has(sp.zoo, sp.nan, sp.oo, -sp.oo) or x.is_extended_real is False:
                at = ", ".join(f"{k}={v}" for k, v in pt.items())
                raise SpecError(what, f"is not real and finite on the whole real line (at {at}); "
                                "activations must be defined for every real input")
    if all(x.is_Rational for r in rows for x in r):
        M = sp.Matrix(rows)
        basis = [list(v) for v in M.nullspace(simplify=False)]
        basis = [[to_rational(x) for x in r] for r in rational_rref(basis, k)[0]]
        return NullSpace(basis, "exact-rational", None, ["exact at rational points"] * len(basis))
    return _high_precision(funcs, variables, rows, rng, what)


def _high_precision(funcs, variables, rows, rng, what) -> NullSpace:
    with mpmath.workdps(_DPS):
        A = mpmath.matrix([[x.evalf(_DPS) for x in r] for r in rows])
        # row scaling keeps functions of very different sizes comparable
        for i in range(A.rows):
            s = max(abs(A[i, j]) for j in range(A.cols)) or 1
            for j in range(A.cols):
                A[i, j] /= s
        U, S, V = mpmath.svd_r(A)
        svals = [S[i] for i in range(len(S))]
        smax = max(svals) if svals else mpmath.mpf(1)
        rel = [s / smax for s in svals]
        zero = [i for i, s in enumerate(rel) if s < _ZERO]
        nonzero = [i for i, s in enumerate(rel) if s > _NONZERO]
        if len(zero) + len(nonzero) != len(rel):
            raise SpecError(what, "cannot decide the symmetry condition: singular values "
                            + ", ".join(mpmath.nstr(s, 3) for s in rel) + " show no clear gap")
        ncols = A.cols
        null_dim = ncols - len(nonzero)
        gap = (float(max([rel[i] for i in zero], default=0)), float(min([rel[i] for i in nonzero], default=1)))
        if null_dim == 0:
            return NullSpace([], "high-precision", gap, [])
        order = sorted(range(len(svals)), key=lambda i: svals[i])
        vecs = [[V[i, j] for j in range(ncols)] for i in order[:null_dim]]
        basis = _rationalise(_mp_rref(vecs), what)
    certs = [_certify(funcs, variables, b, rng, what) for b in basis]
    return NullSpace(basis, "high-precision", gap, certs)


def _mp_rref(vecs):
    M = [list(v) for v in vecs]
    rows, cols = len(M), len(M[0])
    r = 0
    for c in range(cols):
        p = max(range(r, rows), key=lambda i: abs(M[i][c]), default=None)
        if p is None or abs(M[p][c]) < mpmath.mpf(10) ** -30:
            continue
        M[r], M[p] = M[p], M[r]
        piv = M[r][c]
        M[r] = [x / piv for x in M[r]]
        for i in range(rows):
            if i != r:
                f = M[i][c]
                M[i] = [a - f * b for a, b in zip(M[i], M[r])]
        r += 1
        if r == rows:
            break
    return M[:r]


def _rationalise(M, what):
    out = []
    for row in M:
        vec = []
        for x in row:
            q = Fraction(str(mpmath.nstr(x, 50))).limit_denominator(10**8)
            if abs(x - mpmath.mpf(q.numerator) / q.denominator) > mpmath.mpf(10) ** -30:
                raise SpecError(what, "a symmetry relation has a coefficient that is not a small "
                                f"rational ({mpmath.nstr(x, 20)}); this engine certifies rational relations only")
            vec.append(sp.Rational(q.numerator, q.denominator))
        out.append(vec)
    return out


def _certify(funcs, variables, coeffs, rng, what) -> str:
    expr = sp.Add(*[c * f for c, f in zip(coeffs, funcs)])
    try:
        if sp.simplify(expr) == 0:
            return "simplify"
    except Exception:  # noqa: BLE001 - simplify may fail on exotic input; fall back to sampling
        pass
    with mpmath.workdps(90):
        for _ in range(12):
            pt = {v: sp.Rational(int(rng.integers(-3000, 3001)), int(rng.integers(500, 1500))) for v in variables}
            val = abs(expr.xreplace(pt).evalf(90))
            scale = sum(abs((c * f).xreplace(pt).evalf(90)) for c, f in zip(coeffs, funcs)) + 1
            if val > sp.Float(10, 90) ** -70 * scale:
                raise SpecError(what, f"relation {coeffs} failed certification at {pt}")
    return "numeric, 12 points at 90 digits"
