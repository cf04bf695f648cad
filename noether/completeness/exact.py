"""Exact law counting for tiny polynomial models, in rational arithmetic.

Linear networks are polynomial in θ; ReLU-type networks (any activation that is a polynomial on
each side of its kink at 0) are polynomial on the activation region of a point, fixed by the
exact signs of the pre-activations at a rational θ₀ and rational inputs.  The gradient fields
are sparse polynomials over QQ (``sympy.polys.rings``; flint-backed when python-flint is
installed), brackets are taken exactly, the function space V_k is kept reduced (exact sparse
elimination), and dim V_k(θ₀) is an exact rank.  Stopping rule as in :mod:`.count`
(Marcotte, Gribonval, Peyré, NeurIPS 2023): dim V_{k+1}(θ₀) = dim V_k(θ₀).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from sympy.polys.domains import QQ
from sympy.polys.rings import ring

from ..errors import SpecError
from .jets import ActStage, LinStage, Net, local_polynomial

MAX_EXACT_D = 48


class Reducer:
    """Incremental sparse echelon form over QQ: ``add(vec)`` says whether vec was independent."""

    def __init__(self):
        self.rows: dict = {}

    @property
    def rank(self) -> int:
        return len(self.rows)

    def reduce(self, v: dict) -> dict:
        v = {k: c for k, c in v.items() if c}
        while v:
            lead = max(v)
            row = self.rows.get(lead)
            if row is None:
                return v
            f = v[lead] / row[lead]
            for k, c in row.items():
                nv = v.get(k, 0) - f * c
                if nv:
                    v[k] = nv
                else:
                    v.pop(k, None)
        return v

    def add(self, v: dict) -> bool:
        r = self.reduce(v)
        if not r:
            return False
        self.rows[max(r)] = r
        return True


@dataclass
class ExactReport:
    lie_dim: int
    laws: int
    ranks: list[int]
    n_generators: int          # dimension of V_0 as a space of polynomial fields
    seconds: float


class ExactNet:
    """The model's per-sample outputs as exact polynomials on the region of a rational point."""

    def __init__(self, model):
        self.model = model
        self.net = Net(model, purpose="exact counting (--exact, --degree)")
        if self.net.D > MAX_EXACT_D:
            raise SpecError("--exact", f"exact mode is for tiny models (D <= {MAX_EXACT_D}), D = {self.net.D}")
        self.pieces = {}
        for s in self.net.stages:
            if isinstance(s, ActStage):
                pos, neg = local_polynomial(s.expr, +1), local_polynomial(s.expr, -1)
                if pos is None or neg is None:
                    raise SpecError("activation", f"{s.name!r} is not polynomial on each side of 0: "
                                    "exact mode needs linear or ReLU-type activations")
                self.pieces[id(s)] = {1: [QQ(int(c.p), int(c.q)) for c in pos],
                                      -1: [QQ(int(c.p), int(c.q)) for c in neg]}
        self.D = self.net.D
        self.R, *self.x = ring(",".join(model.parameters), QQ)

    def outputs(self, theta0: list, xs: list[list]) -> list:
        """Polynomials f_k(θ; x_s) on the region of θ₀, for all samples and outputs.

        Raises ValueError if a pre-activation is exactly 0 at θ₀ (the caller redraws)."""
        polys = []
        for x in xs:
            h = [self.R(c) for c in x]
            hv = list(x)
            for s in self.net.stages:
                if isinstance(s, LinStage):
                    zp, zv = [], []
                    for i in range(s.out):
                        base = s.w_off + i * s.inp
                        p = sum((self.x[base + j] * h[j] for j in range(s.inp)), self.R.zero)
                        v = sum((theta0[base + j] * hv[j] for j in range(s.inp)), QQ(0))
                        if s.b_off is not None:
                            p += self.x[s.b_off + i]
                            v += theta0[s.b_off + i]
                        zp.append(p)
                        zv.append(v)
                    h, hv = zp, zv
                else:
                    nh, nv = [], []
                    for p, v in zip(h, hv):
                        if v == 0:
                            raise ValueError("pre-activation exactly at the kink")
                        coeffs = self.pieces[id(s)][1 if v > 0 else -1]
                        acc_p, acc_v = self.R.zero, QQ(0)
                        for c in reversed(coeffs):   # Horner
                            acc_p = acc_p * p + c
                            acc_v = acc_v * v + c
                        nh.append(acc_p)
                        nv.append(acc_v)
                    h, hv = nh, nv
            polys.extend(h)
        return polys

    def gradient(self, g) -> list:
        return [g.diff(xj) for xj in self.x]


def _fvec(X: list) -> dict:
    return {(mon, i): c for i, p in enumerate(X) for mon, c in p.items()}


def bracket(X: list, Y: list, x: list) -> list:
    """[X, Y] = J_Y X − J_X Y for polynomial fields (lists of ring elements)."""
    nzX = [j for j, p in enumerate(X) if p]
    nzY = [j for j, p in enumerate(Y) if p]
    out = []
    for i in range(len(X)):
        acc = X[i].ring.zero
        if Y[i]:
            for j in nzX:
                d = Y[i].diff(x[j])
                if d:
                    acc += X[j] * d
        if X[i]:
            for j in nzY:
                d = X[i].diff(x[j])
                if d:
                    acc -= Y[j] * d
        out.append(acc)
    return out


def evaluate(X: list, point: list) -> dict:
    return {i: p(*point) for i, p in enumerate(X) if p}


def random_rational_point(model, rng: np.random.Generator, P: int, denom: int = 16):
    """θ₀ (scaled like model.init) and P inputs, as exact rationals with denominator ``denom``."""
    theta = model.init(rng)
    X = rng.standard_normal((P, model.input))
    to_q = lambda a: QQ(int(round(float(a) * denom)), denom)  # noqa: E731
    return [to_q(t) for t in theta], [[to_q(v) for v in row] for row in X]


def loss_rows(model) -> list[list[int]]:
    """Integer rows s spanning the output gradients ∂ℓ/∂f of the loss (its ``sensitivity``): the
    fields of the count are ∇_θ (s·f(θ; x)), all of R^k for MSE, the sum-zero vectors for softmax
    cross-entropy (Marcotte, Gribonval, Peyré 2023, §2)."""
    return model.loss.sensitivity(model.output)


def generator_basis(en: ExactNet, theta0: list, xs: list) -> list:
    """A basis (over QQ, as functions) of the gradient fields ∇_θ (s·f(θ; x_s)), s over
    :func:`loss_rows`."""
    fs = Reducer()
    basis = []
    S = loss_rows(en.model)
    f = en.outputs(theta0, xs)
    k = len(S[0])
    for p in range(len(f) // k):
        for row in S:
            g = sum((c * f[p * k + o] for o, c in enumerate(row) if c), en.R.zero)
            X = en.gradient(g)
            if fs.add(_fvec(X)):
                basis.append(X)
    return basis


def exact_lie_rank(en: ExactNet, theta0: list, xs: list, max_levels: int = 12) -> ExactReport:
    """Exact dim Lie(V)(θ₀) for the fields of samples ``xs`` on the region of θ₀."""
    t0 = time.perf_counter()
    G = generator_basis(en, theta0, xs)
    fs = Reducer()
    for X in G:
        fs.add(_fvec(X))
    pt = Reducer()
    for X in G:
        pt.add(evaluate(X, theta0))
    ranks = [pt.rank]
    new = G
    for _ in range(max_levels):
        if pt.rank == en.D or not new:
            break
        before = pt.rank
        cand = []
        for X in G:
            for Z in new:
                B = bracket(X, Z, en.x)
                if fs.add(_fvec(B)):
                    cand.append(B)
                    pt.add(evaluate(B, theta0))
        ranks.append(pt.rank)
        if pt.rank == before:
            break
        new = cand
    return ExactReport(pt.rank, en.D - pt.rank, ranks, len(G), time.perf_counter() - t0)


def to_float(theta0: list, xs: list) -> tuple[np.ndarray, np.ndarray]:
    f = lambda q: float(QQ.to_sympy(q))  # noqa: E731
    return np.array([f(t) for t in theta0]), np.array([[f(v) for v in row] for row in xs])


def exact_point(en: ExactNet, model, rng: np.random.Generator, P: int, tries: int = 50):
    """A rational point whose pre-activations are all off the kink, with its generator basis."""
    for _ in range(tries):
        theta0, xs = random_rational_point(model, rng, P)
        try:
            en.outputs(theta0, xs)
        except ValueError:
            continue
        return theta0, xs
    raise SpecError("model", "no rational point off the activation kinks found (degenerate model)")
