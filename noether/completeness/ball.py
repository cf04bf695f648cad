"""A certified law count for any model, in ball arithmetic (``count --exact`` beyond polynomials).

Marcotte, Gribonval & Peyré (NeurIPS 2023) count ``D − dim Lie(V)(θ)`` conservation laws near a
generic θ.  Two exact facts bracket this number at a point θ₀ whose coordinates are float64 values
(dyadic rationals, so exact):

* **at least m laws**: the derived charges are exactly conserved, and the rank m of their gradients
  A_iθ₀ + c_i is computed over the rationals, so m of them are functionally independent near θ₀;
* **at most D − r laws**: dim Lie(V)(θ₀) ≥ r whenever the fields themselves, the per-sample
  gradients ∇_θ (s·f(θ₀, x_p)) with s over the loss's rows, have an r × r minor that is not zero.
  The minor is computed in ball arithmetic (arb, through python-flint): every operation returns a
  ball certain to contain the true value, so a determinant ball that excludes 0 proves rank ≥ r.
  Square roots, exponentials and the other elementary functions of layer norms, softmax attention
  or smooth activations are evaluated the same way; a kink whose side a ball cannot decide makes
  the point unusable and another point is drawn.

When m = D − r the count is exact: m laws, the derived charges are all of them.  Otherwise the
certificate leaves the interval [m, D − r], and says so: the bracket levels that could close it are
not evaluated in balls here.  Nothing in this module knows a layer: it walks the model's expression
graph (:class:`~noether.completeness.graph.GraphNet`) node by node.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from math import factorial

import numpy as np
import sympy as sp
from scipy.linalg import qr

from ..errors import SpecError
from ..model.catalogue import z as _z
from .exact import Reducer, loss_rows
from .jets import nested_bracket
from .graph import ADD, AND, CHOICE, CONST, FUNC, INPUT, MUL, NOT, OR, PIECEWISE, REL, THETA, GraphNet

#: working precision of the balls (bits)
PREC = 256
#: the largest certificate run, in node evaluations of the fields (samples × (loss rows + 1) ×
#: graph nodes); measured at 3·10⁴ per second with one bracket level (the conv2d + batchnorm model
#: of the tests: 60,515 in 2.0 s), so the fields of the largest run take about half a minute
MAX_OPS = 1_000_000

#: the largest parameter count certified: the determinant of a D × D ball matrix costs ~D³
#: operations at :data:`PREC` bits, and its radius grows with D
MAX_D = 200

_UNARY = {sp.exp: "exp", sp.log: "log", sp.tanh: "tanh", sp.sinh: "sinh", sp.cosh: "cosh",
          sp.sin: "sin", sp.cos: "cos", sp.tan: "tan", sp.atan: "atan", sp.asin: "asin", sp.acos: "acos",
          sp.asinh: "asinh", sp.acosh: "acosh", sp.atanh: "atanh", sp.erf: "erf", sp.erfc: "erfc",
          sp.sech: "sech", sp.coth: "coth", sp.cot: "cot", sp.sec: "sec", sp.csc: "csc"}


class Undecided(ValueError):
    """A ball straddles a kink or a comparison: this point cannot be used."""


@contextmanager
def _precision(bits: int):
    flint = _flint()
    old = flint.ctx.prec
    flint.ctx.prec = bits
    try:
        yield
    finally:
        flint.ctx.prec = old


def _flint():
    try:
        import flint                  # optional extra 'exact' (python-flint): imported on first use
    except ImportError:
        raise SpecError("--exact", "ball arithmetic needs python-flint: pip install "
                        "'noether-symmetry[exact]'") from None
    return flint


def sign(a) -> int:
    """The sign of the value in ball ``a``, or :class:`Undecided`."""
    if a > 0:
        return 1
    if a < 0:
        return -1
    if a.is_zero():
        return 0
    raise Undecided("a ball contains 0")


def ball(e, env: dict):
    """The sympy expression ``e`` evaluated in arb balls; ``env`` maps symbols to balls."""
    flint = _flint()
    if e in env:
        return env[e]
    if e.is_Rational:
        return flint.arb(int(e.p)) / int(e.q)
    if e.is_Float:
        return ball(sp.Rational(e), env)
    if e is sp.pi:
        return flint.arb.pi()
    if e is sp.E:
        return flint.arb(1).exp()
    if isinstance(e, sp.Add):
        out = flint.arb(0)
        for a in e.args:
            out += ball(a, env)
        return out
    if isinstance(e, sp.Mul):
        out = flint.arb(1)
        for a in e.args:
            out *= ball(a, env)
        return out
    if isinstance(e, sp.Pow):
        b = ball(e.base, env)
        if e.exp.is_Integer:
            n = int(e.exp)
            return b ** n if n >= 0 else 1 / b ** (-n)
        if sign(b) <= 0:
            raise Undecided(f"a non-integer power of a ball that is not positive ({e})")
        if e.exp == sp.Rational(1, 2):
            return b.sqrt()
        if e.exp == sp.Rational(-1, 2):
            return b.rsqrt()
        return (ball(e.exp, env) * b.log()).exp()
    if e.func in _UNARY:
        return getattr(ball(e.args[0], env), _UNARY[e.func])()
    if isinstance(e, sp.Abs):
        a = ball(e.args[0], env)
        return a if sign(a) >= 0 else -a
    if isinstance(e, sp.sign):
        return flint.arb(sign(ball(e.args[0], env)))
    if isinstance(e, sp.Heaviside):
        s = sign(ball(e.args[0], env))
        h0 = e.args[1] if len(e.args) > 1 else sp.Rational(1, 2)
        return flint.arb(int(s > 0)) if s else ball(h0, env)
    if isinstance(e, sp.DiracDelta):      # the derivative of a kink: 0 on either side of it
        if sign(ball(e.args[0], env)) == 0:
            raise Undecided(f"{e} at its kink")
        return flint.arb(0)
    if isinstance(e, (sp.Max, sp.Min)):
        vals = [ball(a, env) for a in e.args]
        return vals[pick(vals, isinstance(e, sp.Max))]
    if isinstance(e, sp.Piecewise):
        for value, cond in e.args:
            if truth(cond, env):
                return ball(value, env)
        raise Undecided(f"no branch of {e} holds")
    raise SpecError("--exact", f"ball arithmetic has no evaluation for {type(e).__name__} ({str(e)[:50]})")


def truth(c, env: dict) -> bool:
    if c is sp.true or c is True:
        return True
    if c is sp.false or c is False:
        return False
    if isinstance(c, sp.core.relational.Relational):
        s = sign(ball(c.lhs - c.rhs, env))
        return bool({sp.StrictGreaterThan: s > 0, sp.GreaterThan: s >= 0, sp.StrictLessThan: s < 0,
                     sp.LessThan: s <= 0, sp.Eq: s == 0, sp.Ne: s != 0}[type(c)])
    if isinstance(c, sp.And):
        return all(truth(a, env) for a in c.args)
    if isinstance(c, sp.Or):
        return any(truth(a, env) for a in c.args)
    if isinstance(c, sp.Not):
        return not truth(c.args[0], env)
    raise SpecError("--exact", f"ball arithmetic cannot decide the condition {str(c)[:50]}")


def pick(vals: list, largest: bool) -> int:
    """The index of the certainly largest (or smallest) ball, or :class:`Undecided`."""
    for i, v in enumerate(vals):
        if all(j == i or ((v - w > 0) if largest else (v - w < 0)) for j, w in enumerate(vals)):
            return i
    raise Undecided("a max/min whose arguments' balls overlap")


class Jet:
    """A truncated Taylor polynomial in nilpotent symbols ε_b (ε_b² = 0) with arb coefficients:
    ``{mask: ball}``, the bits of ``mask`` naming the symbols of a term (the ball counterpart of
    :mod:`.jets`, one sample at a time).  Brackets of the fields are read off these jets."""

    __slots__ = ("t",)

    def __init__(self, t: dict):
        self.t = t

    @property
    def real(self):
        return self.t.get(0) if 0 in self.t else _flint().arb(0)

    def __add__(self, o: Jet) -> Jet:
        t = dict(self.t)
        for m, v in o.t.items():
            t[m] = t[m] + v if m in t else v
        return Jet(t)

    def __sub__(self, o: Jet) -> Jet:
        return self + (-o)

    def __neg__(self) -> Jet:
        return Jet({m: -v for m, v in self.t.items()})

    def __mul__(self, o: Jet) -> Jet:
        out: dict = {}
        for ma, va in self.t.items():
            for mb, vb in o.t.items():
                if ma & mb:
                    continue
                m, v = ma | mb, va * vb
                out[m] = out[m] + v if m in out else v
        return Jet(out)


class BallGraph:
    """Forward and reverse passes of a :class:`GraphNet` on :class:`Jet` values, one sample at a
    time: the gradient fields ∇_θ Σ_p c_p·(s·f(θ̃, x_p)) at a jet point θ̃."""

    def __init__(self, net: GraphNet, S: list):
        self.net, self.S = net, S
        self._derivs: dict = {}
        with _precision(PREC):       # the constants' balls keep the working precision
            self.consts = {i: (data if isinstance(data, bool) else Jet({0: ball(net.exprs[i], {})}))
                           for i, (kind, _, data) in enumerate(net.nodes) if kind == CONST}

    def _taylor(self, expr, z: Jet, offset: int) -> Jet:
        """σ^(offset)(z̃) = Σ_j σ^(offset+j)(z₀)/j! · (z̃ − z₀)^j, finite because z̃ − z₀ is nilpotent."""
        flint = _flint()
        z0 = z.real
        n = Jet({m: v for m, v in z.t.items() if m})
        top = (max(n.t).bit_length() if n.t else 0)
        out = Jet({0: ball(self._deriv(expr, offset), {_z: z0})})
        power = Jet({0: flint.arb(1)})
        for j in range(1, top + 1):
            power = power * n
            if not power.t:
                break
            d = self._deriv(expr, offset + j)
            if d == 0:
                continue
            c = ball(d, {_z: z0}) / factorial(j)
            out = out + Jet({m: c * v for m, v in power.t.items()})
        return out

    def _deriv(self, expr, order: int):
        key = (expr, order)
        if key not in self._derivs:
            self._derivs[key] = sp.diff(expr, _z, order) if order else expr
        return self._derivs[key]

    def forward(self, theta: list, x: list) -> tuple[list, dict]:
        """Node jets and the branch each CHOICE / PIECEWISE node took (decided on the balls of
        the real parts, or :class:`Undecided`)."""
        vals: list = [None] * len(self.net.nodes)
        taken: dict = {}
        for i, (kind, kids, data) in enumerate(self.net.nodes):
            if kind == THETA:
                vals[i] = theta[data]
            elif kind == INPUT:
                vals[i] = x[data]
            elif kind == CONST:
                vals[i] = self.consts[i]
            elif kind == ADD:
                v = vals[kids[0]]
                for c in kids[1:]:
                    v = v + vals[c]
                vals[i] = v
            elif kind == MUL:
                v = vals[kids[0]]
                for c in kids[1:]:
                    v = v * vals[c]
                vals[i] = v
            elif kind == FUNC:
                vals[i] = self._taylor(data, vals[kids[0]], 0)
            elif kind == CHOICE:
                taken[i] = pick([vals[c].real for c in kids], data is np.argmax)
                vals[i] = vals[kids[taken[i]]]
            elif kind == PIECEWISE:
                conds = [vals[c] for c in kids[1::2]]
                if True not in conds:
                    raise Undecided("no branch of a piecewise node holds")
                taken[i] = conds.index(True)
                vals[i] = vals[kids[0::2][taken[i]]]
            elif kind == REL:
                vals[i] = bool(data(sign(vals[kids[0]].real - vals[kids[1]].real), 0))
            elif kind in (AND, OR):
                vals[i] = (all if kind == AND else any)(vals[c] for c in kids)
            elif kind == NOT:
                vals[i] = not vals[kids[0]]
        return vals, taken

    def backward(self, vals: list, taken: dict, seeds: dict, grad: list) -> None:
        """grad += ∇_θ Σ_o seeds[o]·output_o (reverse accumulation on jets)."""
        net = self.net
        adj: dict = {}

        def push(c, v):
            adj[c] = adj[c] + v if c in adj else v
        for o, s in seeds.items():
            push(net.outputs[o], s)
        for i in range(len(net.nodes) - 1, -1, -1):
            a = adj.pop(i, None)
            if a is None or not net.theta_dep[i]:
                continue
            kind, kids, data = net.nodes[i]
            if kind == THETA:
                grad[data] = grad[data] + a
            elif kind == ADD:
                for c in kids:
                    push(c, a)
            elif kind == MUL:
                pre = [None]
                for c in kids[:-1]:
                    pre.append(vals[c] if pre[-1] is None else pre[-1] * vals[c])
                suf = None
                for b in range(len(kids) - 1, -1, -1):
                    c = kids[b]
                    if net.theta_dep[c]:
                        f = [x for x in (pre[b], suf) if x is not None]
                        push(c, a * f[0] * f[1] if len(f) == 2 else (a * f[0] if f else a))
                    suf = vals[c] if suf is None else suf * vals[c]
            elif kind == FUNC:
                push(kids[0], a * self._taylor(data, vals[kids[0]], 1))
            elif kind == CHOICE:
                push(kids[taken[i]], a)
            elif kind == PIECEWISE:
                push(kids[0::2][taken[i]], a)

    def field(self, coeffs: dict, point: dict, X) -> dict:
        """The jet of X_c(θ̃) = ∇_θ Σ c[p, j]·(S_j·f(θ̃, x_p)); ``coeffs`` {(p, j): float} (exact,
        dyadic), ``point`` {mask: object array (D,) of balls}, as :func:`.jets.nested_bracket` needs."""
        flint = _flint()
        D = self.net.D
        theta = [Jet({m: v[j] for m, v in point.items()}) for j in range(D)]
        grad = [Jet({}) for _ in range(D)]
        by_sample: dict = {}
        for (p, j), c in coeffs.items():
            by_sample.setdefault(p, []).append((j, c))
        for p, terms in by_sample.items():
            vals, taken = self.forward(theta, [Jet({0: flint.arb(float(v))}) for v in X[p]])
            seeds: dict = {}
            for j, c in terms:
                for o, s in enumerate(self.S[j]):
                    if s and self.net.nodes[self.net.outputs[o]][0] != CONST:
                        seeds[o] = seeds.get(o, 0) + flint.arb(float(c)) * s
            self.backward(vals, taken, {o: Jet({0: v}) for o, v in seeds.items()}, grad)
        masks = sorted({m for g in grad for m in g.t} | {0})
        zero = flint.arb(0)
        return {m: np.array([g.t.get(m, zero) for g in grad], dtype=object) for m in masks}


@dataclass
class BallCertificate:
    laws_lower: int              # rank over QQ of the derived charges' gradients at θ₀
    laws_upper: int              # D − the certified rank of the fields at θ₀
    rank_float: int              # the fields' rank read from float64 (the target of the proof)
    precision_bits: int
    samples: int
    seconds: float
    bracket_levels: int = 0      # levels of nested brackets evaluated in balls

    @property
    def laws(self) -> int | None:
        return self.laws_lower if self.laws_lower == self.laws_upper else None

    def to_json(self) -> dict:
        return {"method": "ball arithmetic (arb): fields and brackets at one point", "laws": self.laws,
                "laws_lower": self.laws_lower, "laws_upper": self.laws_upper, "rank_float": self.rank_float,
                "precision_bits": self.precision_bits, "samples": self.samples,
                "bracket_levels": self.bracket_levels, "seconds": self.seconds}


def charge_rank(deriv, theta: np.ndarray) -> int:
    """Exact rank over QQ of the derived charges' gradients A_iθ + c_i at the dyadic point θ."""
    if deriv is None or not deriv.charges:
        return 0
    th = [Fraction(float(t)) for t in theta]
    red = Reducer()

    def q(v):
        v = sp.sympify(v)
        if not v.is_Rational:        # no rounding guess: an inexact coefficient is refused
            raise SpecError("--exact", f"a derived generator has the coefficient {v}, not a rational")
        return Fraction(int(v.p), int(v.q))
    for c in deriv.charges:
        g = c.generator
        vec: dict = {}
        for (r, s), a in g.A.items():
            vec[r] = vec.get(r, 0) + q(a) * th[s]
        for r, a in g.c.items():
            vec[r] = vec.get(r, 0) + q(a)
        red.add(vec)
    return red.rank


def plan(model, samples: int | None = None) -> tuple[GraphNet, list, int]:
    """(graph, loss rows, samples) of a certificate, or a one-line :class:`SpecError` before any
    work when python-flint is missing or the run would exceed :data:`MAX_OPS`."""
    _flint()
    if model.D > MAX_D:
        raise SpecError("--exact", f"the ball-arithmetic certificate proves a rank on a D × D minor; "
                        f"it runs up to D = {MAX_D}, this model has D = {model.D}")
    net = GraphNet(model)
    S = loss_rows(model)
    if net.k != model.output:        # batch-coupled layers: a sample is a batch
        S = np.kron(np.eye(net.k // model.output, dtype=int), np.array(S)).tolist()
    P = samples or int(max(8, np.ceil(2 * net.D / max(1, len(S))) + 8))
    ops = P * (len(S) + 1) * len(net.nodes)
    if ops > MAX_OPS:
        raise SpecError("--exact", f"the ball-arithmetic certificate would take {ops:.1e} ball operations "
                        f"(D = {net.D}, {len(net.nodes)} graph nodes, {P} samples); up to {MAX_OPS:.0e} run")
    return net, S, P


def certify(model, deriv, seed: int = 0, points: int = 20, samples: int | None = None,
            max_level: int = 4, planned: tuple | None = None) -> BallCertificate:
    """Bracket the law count of ``model`` at a seeded point (see the module docstring).

    ``deriv``: the model's derivation (its charges give the lower bound), or None.  Up to
    ``points`` points are drawn until one has no pinned kink (:meth:`GraphNet.pinned`) and every
    kink decided by its balls.  The rows at it are the per-sample fields, then right-nested
    brackets of random sparse combinations of them (level by level, up to ``max_level``) while
    the float64 rank of the rows is below D − m.  The rank the rows reach is then proved on one
    minor.  ``planned``: what :func:`plan` returned for this model, if it was called already."""
    t0 = time.perf_counter()
    net, S, P = planned or plan(model, samples)
    D = net.D
    bg = BallGraph(net, S)
    rng = np.random.default_rng([seed, 71])
    with _precision(PREC):
        for _ in range(points):
            theta = model.init(rng)
            X = rng.standard_normal((P, net.d_in))
            if net.pinned(theta, X):     # a kink on one side for every sample: a local point
                continue
            pt = {0: np.array([_flint().arb(float(t)) for t in theta], dtype=object)}  # exact: dyadic
            try:
                rows = [bg.field({(p, j): 1.0}, pt, X)[0] for p in range(P) for j in range(len(S))]
                break
            except Undecided:
                continue
        else:
            raise SpecError("--exact", f"no point of {points} drawn had every kink used by the samples and "
                            "decided by its ball")
        m = charge_rank(deriv, theta)
        target, levels = D - m, [len(rows)]
        rank = _float_rank(rows)
        for level in range(1, max_level + 1):
            if rank >= target:
                break
            for _ in range(target - rank + 2):
                coeffs = [_sparse_coeffs(rng, P, len(S)) for _ in range(level + 1)]
                try:
                    jet = nested_bracket(lambda c, q: bg.field(c, q, X), coeffs, pt)
                except Undecided:
                    continue
                rows.append(jet.get(0, np.zeros(D, dtype=object) + _flint().arb(0)))
            levels.append(len(rows))
            new = _float_rank(rows)
            if new == rank:
                break
            rank = new
        proved = _proved_rank(rows, rank)
    return BallCertificate(m, D - proved, rank, PREC, P, time.perf_counter() - t0, len(levels) - 1)


def _sparse_coeffs(rng: np.random.Generator, P: int, r: int, size: int = 3) -> dict:
    """A random field of V: ``size`` samples with standard-normal (float64, hence exact) weights."""
    ps = rng.choice(P, size=min(size, P), replace=False)
    return {(int(p), int(rng.integers(r))): float(rng.standard_normal()) for p in ps}


def _midpoints(rows: list) -> np.ndarray:
    return np.array([[float(v.mid()) for v in r] for r in rows])


def _float_rank(rows: list) -> int:
    sv = np.linalg.svd(_midpoints(rows), compute_uv=False)
    return int(np.sum(sv > 1e-9 * sv[0])) if sv.size and sv[0] > 0 else 0


def _proved_rank(rows: list, rank: int) -> int:
    """``rank`` if the rank × rank minor picked by pivoted QR of the midpoints (rows, then
    columns) has a determinant ball that excludes 0, else 0."""
    if not rank:
        return 0
    Mf = _midpoints(rows)
    _, _, prow = qr(Mf.T, pivoting=True, mode="economic")
    ri = prow[:rank]
    _, _, pcol = qr(Mf[ri], pivoting=True, mode="economic")
    ci = pcol[:rank]
    det = _flint().arb_mat([[rows[i][j] for j in ci] for i in ri]).det()
    return rank if not det.contains(0) else 0
