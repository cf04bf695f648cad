"""Exact global search: every generator X(θ) = Aθ + c of a small model (docs/theory.md §1–2).

Condition (1), ∇_θ L · X = 0 for all θ, x, y, is linear in the D² + D unknowns (A, c).  With
ℓ's output gradient ranging over the span of the loss's ``sensitivity`` rows S (all of R^out
for MSE, the sum-zero vectors for softmax cross-entropy), it reads S J_f(θ; x) (Aθ + c) = 0.
It is sampled at random rational points (θ, x), evaluated exactly modulo a prime p
(:mod:`.modeval`), and solved by exact elimination over GF(p) (python-flint's ``nmod_mat`` when
installed, else a vectorised numpy elimination) — Schwartz–Zippel style identity testing, with
more equations than unknowns and a rank that must stay put under extra samples.  The reduced
null basis is lifted to QQ by rational reconstruction and every vector is re-checked against
fresh samples modulo a second prime; a vector that fails raises :class:`GlobalSearchError`
naming it.  Batch-coupled layers (batchnorm) are sampled on whole batches of B inputs.

Reported (docs/theory.md §2 caveat): ``dim`` of the linear+affine solution space, ``orbit_rank``
(dim span{X(θ)} at a generic θ), and the functionally independent gradient-flow charges
C = ½θᵀAθ + cᵀθ of the symmetric-A subspace (rank of their gradients at a generic θ).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from fractions import Fraction

import numpy as np
import sympy as sp

from ...errors import SpecError
from ...expr import postorder
from ..charges import normaliser
from ..generator import Generator
from ..modeval import P1, P2, ModEvaluator, NotExact, Rejected
from ..linalg import flint, matmul_mod, null_basis, rank_mod, residue, rref_mod
from sympy.polys.matrices import DomainMatrix
from sympy.polys.domains import QQ


#: The exact search is offered up to this many parameters (D² + D unknowns).
MAX_GLOBAL_D = 64
#: Square roots in the outputs past which usable random points are too rare (2^-k of them).
MAX_ROOTS = 12


class GlobalSearchError(Exception):
    """An internal inconsistency of the search (never averaged away)."""


@dataclass
class Problem:
    """One search problem: outputs (exprs in ``params`` and ``inputs``) and their sensitivity."""

    params: list[sp.Symbol]
    inputs: list[sp.Symbol]
    outputs: list[sp.Expr]
    sensitivity: list[list[int]]     # rows over ``outputs`` (integers)
    names: list[str] = field(default_factory=list)

    @property
    def D(self) -> int:
        return len(self.params)

    @cached_property
    def n_roots(self) -> int:
        """Distinct square-root radicands in the outputs (normalisations): a random point mod p
        is usable only where every one is a square, about 2^-n_roots of the points."""
        rads = set()
        for e in self.outputs:
            for a in sp.sympify(e).atoms(sp.Pow):
                if a.exp in (sp.Rational(1, 2), -sp.Rational(1, 2)):
                    rads.add(a.base)
        return len(rads)


@dataclass
class ExactResult:
    dim: int
    orbit_rank: int
    generators: list[Generator]
    charge_generators: list[Generator]     # gradient generator of each charge (normalised), exact
    n_independent_charges: int
    independent: list[bool]
    rows: int
    samples: int
    backend: str
    symbols: list = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    _exprs: dict = field(default_factory=dict, repr=False)

    def charge_expr(self, i: int) -> sp.Expr:
        """C_i = ½θᵀAθ + cᵀθ of charge i, built on first use (thousands of dependent charges on a
        wide model would cost minutes of sympy; the derivation prints the independent ones)."""
        if i not in self._exprs:
            self._exprs[i] = self.charge_generators[i].potential(self.symbols)
        return self._exprs[i]

    @property
    def charges(self) -> list[tuple[sp.Expr, Generator]]:
        """Every (C, its gradient generator)."""
        return [(self.charge_expr(i), g) for i, g in enumerate(self.charge_generators)]


# -- the model as a problem -------------------------------------------------------------------
def batch_size(model) -> int:
    """Samples per evaluation: 1, or 3 when a layer couples the samples of a batch."""
    return 3 if any(l.batch_coupled for l in model.all_layers()) else 1


#: Largest expression (as a tree: nodes counted with multiplicity) the exact route builds.  The
#: modular evaluator and sympy's own canonicalisation walk trees, so a model whose outputs are
#: bigger (a convolution into batch statistics into another convolution) is certified in float64.
MAX_TREE = 200_000


def tree_size(exprs) -> int:
    """Largest tree size among ``exprs``, in time linear in their shared DAG."""
    size: dict = {}
    for e in postorder(exprs):
        size[e] = 1 + sum(size[a] for a in getattr(e, "args", ()))
    return max((size[e] for e in exprs), default=0)


def dag_size(exprs) -> int:
    """Distinct nodes of the DAG the expressions share."""
    return sum(1 for _ in postorder(exprs))


def symbolic_batch(layers, hs: list[list[sp.Expr]], p: dict, size=tree_size, limit: int | None = None,
                   what: str = "the exact route") -> list[list[sp.Expr]]:
    """Apply ``layers`` to a batch of symbolic samples (batch-coupled layers see all of them).

    Raises NotExact once ``size`` of the intermediate expressions (by default the largest tree)
    outgrows ``limit`` (default MAX_TREE); ``what`` names the consumer in that message."""
    limit = MAX_TREE if limit is None else limit
    for layer in layers:
        hs = layer.symbolic_batch(hs, p)
        n = size([sp.sympify(e) for h in hs for e in h])
        if n > limit:
            raise NotExact(f"the symbolic model has {n} nodes after a {layer.type} layer ({what} builds "
                           f"up to {limit})")
    return hs


def model_problem(model, **limits) -> Problem:
    """The model's outputs on a batch of symbolic inputs (``limits``: see :func:`symbolic_batch`)."""
    B = batch_size(model)
    xs = [[sp.Symbol(f"x{n}_{j}", real=True) for j in range(model.input)] for n in range(B)]
    p = model.unflatten(np.array(model.symbols, dtype=object))
    outs = symbolic_batch(model.layers, xs, p, **limits)
    S1 = model.loss.sensitivity(model.output)
    S = [[0] * (j * model.output) + row + [0] * ((B - 1 - j) * model.output) for j in range(B) for row in S1]
    return Problem(list(model.symbols), [x for xx in xs for x in xx],
                   [o for oo in outs for o in oo], S, list(model.parameters))


# -- sampling -----------------------------------------------------------------------------------
def _rand_rational(rng, p):
    num, den = int(rng.integers(-24, 25)), int(rng.integers(1, 9))
    if num == 0:
        num = 1
    return num / den, num * pow(den, p - 2, p) % p


def sample_rows(prob: Problem, p: int, rng, max_tries: int | None = None):
    """One point's equations: array (k, D² + D) mod p, rows (kron(G_o, θ), G_o).  Random points
    are drawn until one is usable: by default 40·2^n_roots of them (each radicand is a square
    mod p at half the points), so running out has probability about e^-40."""
    D = prob.D
    max_tries = max_tries or max(200, 40 * 2 ** prob.n_roots)
    for _ in range(max_tries):
        env, theta = {}, np.empty(D, dtype=np.int64)
        for r, s in enumerate(prob.params):
            f, m = _rand_rational(rng, p)
            t = np.zeros(D, dtype=np.int64)
            t[r] = 1
            env[s] = (f, m, t)
            theta[r] = m
        for s in prob.inputs:
            f, m = _rand_rational(rng, p)
            env[s] = (f, m, None)
        ev = ModEvaluator(p, D, env, rng)
        try:
            J = np.zeros((len(prob.outputs), D), dtype=np.int64)
            for o, e in enumerate(prob.outputs):
                v = ev.ev(sp.sympify(e))
                if v[2] is not None:
                    J[o] = v[2]
        except Rejected:
            continue
        S = np.array(prob.sensitivity, dtype=np.int64) % p
        G = matmul_mod(S, J, p)
        A_part = (G[:, :, None] * theta[None, None, :]) % p
        return np.hstack([A_part.reshape(len(G), D * D), G]), theta
    raise GlobalSearchError(f"could not find a usable sample point in {max_tries} tries")


def rational_reconstruct(a: int, p: int) -> Fraction:
    """The fraction n/d ≡ a mod p with |n|, d ≤ sqrt(p/2) (Wang's algorithm)."""
    a %= p
    bound = math.isqrt(p // 2)
    r0, r1, s0, s1 = p, a, 0, 1
    while r1 > bound:
        q = r0 // r1
        r0, r1, s0, s1 = r1, r0 - q * r1, s1, s0 - q * s1
    if s1 == 0 or abs(s1) > bound:
        raise GlobalSearchError(f"rational reconstruction failed for {a} mod {p}")
    return Fraction(r1, s1)


def _rref_settled(prob: Problem, p: int, rng, n_s: int, extra: int):
    """RREF mod p of n_s sample points' rows, grown until a batch of max(extra, n_s / 8) more
    points leaves the rank unchanged: (R, pivots, samples).  A fixed handful is not enough where
    most points add nothing: one output through a ReLU-gated GLU reached rank 697 of 824 when
    six more points added no row, and its "null space" then held 127 spurious directions."""
    R, piv = rref_mod(np.vstack([sample_rows(prob, p, rng)[0] for _ in range(n_s)]), p)
    samples = n_s
    batch = max(extra, n_s // 8)
    while True:  # the rank must not move under more samples
        more = [sample_rows(prob, p, rng)[0] for _ in range(batch)]
        samples += batch
        R2, piv2 = rref_mod(np.vstack([R] + more), p)
        if len(piv2) == len(piv):
            return R, piv, samples
        R, piv = R2, piv2


def _reconstruct(basis: np.ndarray, m: int) -> list[dict]:
    return [{int(j): rational_reconstruct(int(row[j]), m) for j in np.flatnonzero(row)} for row in basis]


def solve(prob: Problem, seed: int = 0, extra: int = 6) -> tuple[list[dict], int, int, str]:
    """Exact null space of the sampled system: (sparse rational vectors, rows, samples, backend).

    The null basis in normal form (1 on a free column, the pivot columns solved) is canonical:
    its free columns are fixed by the row space.  Its entries are read back as fractions with
    numerator and denominator up to sqrt(P1/2) ≈ 3·10⁴; when one is larger, the same basis modulo
    P2 (from its own sample points) is combined by the Chinese remainder theorem, which allows
    up to sqrt(P1·P2/2) ≈ 1.5·10⁹."""
    D = prob.D
    N = D * D + D
    k = max(len(prob.sensitivity), 1)
    n_s = -(-N // k) + extra
    R, piv, samples = _rref_settled(prob, P1, np.random.default_rng([seed, 31]), n_s, extra)
    basis = null_basis(R, piv, N, P1)
    try:
        vecs = _reconstruct(basis, P1)
    except GlobalSearchError:
        R2, piv2, more = _rref_settled(prob, P2, np.random.default_rng([seed, 33]), n_s, extra)
        samples += more
        if list(piv2) != list(piv):
            raise GlobalSearchError("the eliminations modulo two primes have different pivots") from None
        b2 = null_basis(R2, piv2, N, P2)
        inv = pow(P1, P2 - 2, P2)
        both = [[int(a) + P1 * ((int(b) - int(a)) * inv % P2) for a, b in zip(r1, r2)] for r1, r2 in zip(basis, b2)]
        vecs = _reconstruct(np.array(both, dtype=object), P1 * P2)
    # independent re-check modulo a second prime at fresh points
    rng2 = np.random.default_rng([seed, 32])
    check = np.vstack([sample_rows(prob, P2, rng2)[0] for _ in range(max(4, -(-2 * D // k)))])
    for n, v in enumerate(vecs):
        idx = np.array(list(v), dtype=np.int64)
        vals = np.array([fr.numerator % P2 * pow(fr.denominator % P2, P2 - 2, P2) % P2 for fr in v.values()],
                        dtype=np.int64)
        res = (matmul_mod(check[:, idx], vals[:, None], P2)).ravel()
        if res.any():
            raise GlobalSearchError(f"generator G{n} ({_describe(v, prob, D)}) fails the check modulo a "
                                    "second prime")
    backend = "python-flint nmod_mat" if flint is not None else "numpy GF(p) elimination"
    return vecs, len(R), samples, backend


def _describe(v: dict, prob: Problem, D: int) -> str:
    names = prob.names or [str(s) for s in prob.params]
    parts = []
    for j, fr in list(v.items())[:4]:
        parts.append(f"{fr}*{names[j // D]}*{names[j % D]}" if j < D * D else f"{fr}*d/d{names[j - D * D]}")
    return " + ".join(parts) + (" + ..." if len(v) > 4 else "")


def to_generators(vecs: list[dict], D: int, prefix: str = "G", family: str = "global") -> list[Generator]:
    out = []
    for n, v in enumerate(vecs):
        g = Generator(f"{prefix}{n}", family)
        for j, fr in v.items():
            val = sp.Rational(fr.numerator, fr.denominator)
            if j < D * D:
                g.add(j // D, j % D, val)
            else:
                g.add(j - D * D, None, val)
        out.append(g)
    return out


def field_matrix_mod(gens: list[Generator], theta: np.ndarray, p: int) -> np.ndarray:
    """Rows X_k(θ) mod p for rational generators and θ (residues)."""
    D = len(theta)
    M = np.zeros((len(gens), D), dtype=np.int64)
    for k, g in enumerate(gens):
        for (r, s), v in g.A.items():
            M[k, r] = (M[k, r] + residue(v, p) * int(theta[s])) % p
        for r, v in g.c.items():
            M[k, r] = (M[k, r] + residue(v, p)) % p
    return M


def gradient_subspace(gens: list[Generator]) -> list[Generator]:
    """Exact basis of the combinations with symmetric A (gradient fields, docs/theory.md §3)."""
    if not gens:
        return []
    keys = sorted(set().union(*(g.antisymmetric_part().keys() for g in gens)))
    if not keys:
        return [Generator.combine([(1, g)], g.name, g.family) for g in gens]
    pos = {k: i for i, k in enumerate(keys)}
    rows = [[QQ(0)] * len(gens) for _ in keys]
    for c, g in enumerate(gens):
        for k, v in g.antisymmetric_part().items():
            rows[pos[k]][c] = QQ(int(sp.Rational(v).p), int(sp.Rational(v).q))
    M = DomainMatrix(rows, (len(keys), len(gens)), QQ)
    null = M.nullspace().to_Matrix()
    out = []
    for n in range(null.rows):
        vec = list(null.row(n))
        out.append(Generator.combine([(c, g) for c, g in zip(vec, gens) if c != 0], f"C{n}", "C.global"))
    return out


def charges_of(gens: list[Generator]) -> list[Generator]:
    """The gradient generator of each charge C = ½θᵀAθ + cᵀθ, for a basis of the gradient
    combinations, each normalised (primitive, positive leading coefficient).  C itself is built on
    demand (:meth:`ExactResult.charge_expr`)."""
    out = []
    for g in gradient_subspace(gens):
        terms = g.potential_terms()
        if terms:
            out.append(Generator.combine([(normaliser(terms), g)], g.name, g.family))
    return out


def global_exact(model, seed: int = 0) -> ExactResult:
    """The exact global search of a model with D ≤ MAX_GLOBAL_D (see module docstring)."""
    if model.D > MAX_GLOBAL_D:
        raise SpecError("model", f"the exact global search handles up to {MAX_GLOBAL_D} parameters; "
                        f"this model has {model.D}")
    prob = model_problem(model)
    if prob.n_roots > MAX_ROOTS:
        raise SpecError("model", f"the exact global search would draw about 2^{prob.n_roots} random points per "
                        f"usable one ({prob.n_roots} square roots, each a square mod p at half of them); "
                        f"accepted: up to {MAX_ROOTS}; use --method structured")
    try:
        vecs, rows, samples, backend = solve(prob, seed)
    except NotExact as exc:
        raise SpecError("model", f"no exact evaluation ({exc}); use the numeric global search") from None
    gens = to_generators(vecs, model.D)
    return summarise(gens, model.symbols, rows, samples, backend, seed)


def summarise(gens, symbols, rows=0, samples=0, backend="", seed=0) -> ExactResult:
    D = len(symbols)
    rng = np.random.default_rng([seed, 33])
    theta = np.array([_rand_rational(rng, P1)[1] for _ in range(D)], dtype=np.int64)
    orbit = rank_mod(field_matrix_mod(gens, theta, P1), P1) if gens else 0
    # linear charges (A = 0) first: the independent set then keeps C = b rather than b², a function of it
    cg = sorted(charges_of(gens), key=lambda g: 1 if g.A else 0)
    indep = [False] * len(cg)
    if cg:
        M = field_matrix_mod(cg, theta, P1)
        _, piv = rref_mod(M.T.copy(), P1)     # pivot columns = independent charge gradients
        for c in piv:
            indep[c] = True
    return ExactResult(len(gens), orbit, gens, cg, sum(indep), indep, rows, samples, backend, list(symbols))
