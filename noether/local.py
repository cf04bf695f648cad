"""``local``: the symmetries that hold on a region of parameter space for a given data set.

Regions come from the pieces of σ (:mod:`noether.model.regions`); the locally reduced model (σ
replaced by its piece on pinned units) goes through the ordinary derivation, and its charges
that the global algebra lacks are the local charges, each valid while its region holds.  The
count ``D − dim Lie(V)`` uses the per-sample gradient fields of the given data only (Marcotte,
Gribonval, Peyré, NeurIPS 2023).  Dead and bypassed units: the comments on the LessWrong post on
parameter-space symmetries; data-dependent actions: Zhao et al., ICLR 2023.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import sympy as sp
from sympy import QQ

from .derive.derivation import derive
from .errors import SpecError
from .model.regions import UnitRegion, classify, reduced_model
from .derive.global_search.exact import GlobalSearchError
from .completeness.count import count_laws, lie_rank
from .completeness.jets import Net
from .derive.generator import Generator
from .derive.linalg import rational_rref, to_rational


@dataclass
class LocalCharge:
    name: str
    expr: sp.Expr
    regions: list[UnitRegion]
    A: np.ndarray          # C = ½θᵀAθ + cᵀθ (+ const), exact from the expression
    c: np.ndarray

    @property
    def region(self) -> str:
        return "; ".join(r.condition() for r in self.regions)

    def value(self, theta: np.ndarray) -> float:
        return float(0.5 * theta @ self.A @ theta + self.c @ theta)

    def to_json(self) -> dict:
        return {"name": self.name, "expr": str(self.expr), "region": self.region,
                "units": [{"layer": r.layer, "unit": r.unit} for r in self.regions]}


@dataclass
class LocalResult:
    model: object
    theta: np.ndarray
    X: np.ndarray
    units: list[UnitRegion]
    reduced: object = None
    derivation: object = None
    global_derivation: object = None
    charges: list[LocalCharge] = field(default_factory=list)
    generators: list[Generator] = field(default_factory=list)   # local algebra modulo the global one
    count: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def pinned(self) -> list[UnitRegion]:
        return [u for u in self.units if u.pinned]

    def to_json(self) -> dict:
        d = self.derivation
        return {"model": self.model.name, "samples": int(self.X.shape[0]),
                "units": [u.to_json() for u in self.units],
                "local_charges": [c.to_json() for c in self.charges],
                "local_generators": [{"name": g.name, "field": {k: str(v) for k, v in
                                                                 g.field_exprs(self.model.symbols, self.model.parameters).items()}}
                                     for g in self.generators],
                "algebra": {"dim": d.dim if d else self.global_derivation.dim,
                            "orbit_rank": d.orbit_rank if d else self.global_derivation.orbit_rank,
                            "global_dim": self.global_derivation.dim,
                            "global_orbit_rank": self.global_derivation.orbit_rank},
                "count": self.count, "notes": self.notes}


def quadratic_form(expr: sp.Expr, symbols: list[sp.Symbol]) -> tuple[np.ndarray, np.ndarray]:
    """(A, c) with expr = ½θᵀAθ + cᵀθ + const; refuses terms of degree > 2."""
    idx = {s: i for i, s in enumerate(symbols)}
    D = len(symbols)
    A, c = np.zeros((D, D)), np.zeros(D)
    poly = sp.Poly(sp.expand(expr), *[s for s in symbols if s in expr.free_symbols] or symbols[:1])
    gens = poly.gens
    for mon, coef in poly.terms():
        where = [i for i, e in enumerate(mon) for _ in range(e)]
        v = float(coef)
        if len(where) == 1:
            c[idx[gens[where[0]]]] += v
        elif len(where) == 2:
            a, b = idx[gens[where[0]]], idx[gens[where[1]]]
            if a == b:
                A[a, a] += 2 * v
            else:
                A[a, b] += v
                A[b, a] += v
        elif len(where) > 2:
            raise SpecError("charge", f"{expr} is not quadratic in the parameters")
    return A, c


def quotient_basis(local: list[dict], glob: list[dict], order) -> list[dict]:
    """A canonical basis of span(local + glob) modulo span(glob), exact over the rationals.

    Vectors are sparse dicts {key: rational}; ``order`` sorts the keys into columns.  The local
    vectors are reduced against the reduced echelon form of the global ones and the remainders
    brought to reduced echelon form, so the result depends only on the two spans and the column
    order, not on the basis the derivation returned."""
    keys = sorted({k for v in [*local, *glob] for k in v}, key=order)
    col = {k: j for j, k in enumerate(keys)}

    def row(v):
        r = [QQ(0)] * len(keys)
        for k, coef in v.items():
            coef = sp.sympify(coef)
            if not coef.is_Rational:     # the derivation certifies rational coefficients; else a bug
                raise ArithmeticError(f"a coefficient {coef} is not rational")
            r[col[k]] = QQ(int(coef.p), int(coef.q))
        return r
    G, gpiv = rational_rref([row(v) for v in glob], len(keys))
    rest = []
    for v in local:
        r = row(v)
        for g, p in zip(G, gpiv):
            if r[p]:
                f = r[p]
                r = [a - f * b for a, b in zip(r, g)]
        rest.append(r)
    R, _ = rational_rref(rest, len(keys))
    return [{k: to_rational(x) for k, x in zip(keys, r) if x} for r in R]


def canonical_quotient(local: list[sp.Expr], glob: list[sp.Expr], symbols) -> list[sp.Expr]:
    """Local charges modulo global charges (:func:`quotient_basis` on their coefficients over the
    monomials, degree 1 before degree 2, in parameter order): a dead unit's charges read W1_0_0,
    W1_0_1, ..., not sums."""
    polys = [sp.Poly(sp.expand(e), *symbols) for e in [*local, *glob]]
    vecs = [dict(p.terms()) for p in polys]
    basis = quotient_basis(vecs[:len(local)], vecs[len(local):], lambda m: (sum(m), [-e for e in m]))
    return [sp.Add(*(v * sp.Mul(*(s ** e for s, e in zip(symbols, m))) for m, v in b.items())) for b in basis]


def local_generators(deriv, glob) -> list[Generator]:
    """Generators of the local algebra modulo the global ones (:func:`quotient_basis` on the
    entries of X(θ) = Aθ + c: translations c first, then A by row), named X.local[k]."""
    def vec(g):
        return {("c", r): v for r, v in g.c.items()} | {("A", *k): v for k, v in g.A.items()}
    basis = quotient_basis([vec(g) for g in deriv.algebra.generators], [vec(g) for g in glob.algebra.generators],
                           lambda k: (k[0] == "A", k[1:]))
    out = []
    for k, b in enumerate(basis):
        g = Generator(f"X.local[{k}]", "local")
        for key, v in b.items():
            g.add(key[1], key[2] if key[0] == "A" else None, v)
        out.append(g)
    return out


def _needs(model, regions: list[UnitRegion], r: UnitRegion, A, c, rng) -> bool:
    """Does the charge need unit r pinned?  It does when it is not conserved by the model
    reduced on every other pinned unit (gradient of C against the loss gradient at random points)."""
    m = reduced_model(model, [q for q in regions if q is not r])
    for _ in range(3):
        th = m.init(rng)
        X = rng.standard_normal((8, m.input))
        Y = rng.standard_normal((8, m.output))
        _, g = m.loss_and_grad(th, X, Y)
        gc = A @ th + c
        if abs(gc @ g) > 1e-9 * (np.linalg.norm(gc) * np.linalg.norm(g) + 1e-300):
            return True
    return False


def local_symmetries(model, theta: np.ndarray, X: np.ndarray, seed: int = 0, count: bool = True) -> LocalResult:
    """Regions of every unit, the local algebra and charges, and the count on the given data."""
    theta = np.asarray(theta, float)
    units = classify(model, theta, X)
    res = LocalResult(model, theta, np.asarray(X, float), units)
    res.global_derivation = derive(model, seed=seed)
    syms = model.symbols
    gcharges = res.global_derivation.charges or []
    if res.pinned:
        res.reduced = reduced_model(model, res.pinned)
        try:
            res.derivation = derive(res.reduced, seed=seed)
        except GlobalSearchError as exc:     # e.g. constant (saturated) pieces: see the report's notes
            res.derivation = derive(res.reduced, seed=seed, method="structured")
            res.notes.append(f"the exact global search failed on the reduced model ({exc}); "
                             "the local algebra comes from the structured search")
        if res.derivation.charges is None:
            raise SpecError("model", f"the locally reduced model has D = {model.D}: too large for explicit "
                            "charges; use a smaller model")
        res.derivation._charge_rank        # marks functionally independent charges
        if res.derivation.algebra.explicit and res.global_derivation.algebra.explicit:
            res.generators = local_generators(res.derivation, res.global_derivation)
        rng = np.random.default_rng([seed, 13])
        exprs = canonical_quotient([ch.expr for ch in res.derivation.charges], [ch.expr for ch in gcharges], syms)
        for k, expr in enumerate(exprs):
            A, c = quadratic_form(expr, syms)
            regs = [r for r in res.pinned if _needs(model, res.pinned, r, A, c, rng)]
            res.charges.append(LocalCharge(f"C.local[{k}]", expr, regs or res.pinned, A, c))
    if count:
        res.count = local_count(model, theta, res.X, res, seed)
    return res


def local_count(model, theta, X, res: LocalResult, seed: int) -> dict:
    """Laws of gradient flow for these samples at θ, against the global (generic) count."""
    rng = np.random.default_rng([seed, 7])
    here = lie_rank(Net(model), theta, X, rng)
    glob = count_laws(model, points=2, seed=seed, with_derived=False, max_local=0)
    d = res.derivation or res.global_derivation
    explained = d.n_independent_charges
    out = {"laws": here.laws, "global_laws": glob.laws, "lie_dim": here.lie_dim,
           "gap": here.gap, "clear": bool(here.clear and glob.clear),
           "explained_by_local_algebra": explained,
           "not_explained": None if explained is None else here.laws - explained,
           "frozen": here.frozen}
    if explained is not None and here.laws > explained:
        res.notes.append(f"{here.laws - explained} law(s) at this point are not explained by the local algebra "
                         f"(data-subspace or nonlinear laws); conserved coordinates: {', '.join(here.frozen) or 'none'}")
    return out
