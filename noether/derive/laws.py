"""Exact per-step laws: expand a charge along an optimizer's symbolic update (docs/theory.md §4).

A charge is C(θ) = ½ B(θ, θ) + L(θ), with B(u, v) = uᵀAv symmetric and L(u) = cᵀu.  An update
rule writes θ_{k+1} (and any state: velocity v, ...) per coordinate as an expression in step-k
values; when that expression is linear in the vectors, expanding C(θ_{k+1}) − C(θ_k) bilinearly
gives a polynomial in the atoms B(u, v), L(u) of step-k vectors, and the symmetry identity
X(θ_k)·g_k = B(g_k, θ_k) + L(g_k) = 0 is applied as a substitution rule.  What is left is the law,
derived, not typed in: for GD, C_{k+1} − C_k = ½η² B(g_k, g_k); with momentum the law involves the
auxiliary atoms B(θ_k, v_k), B(v_k, v_k), L(v_k), ... of the optimizer state.

For a state vector s (e.g. the velocity) the discrete Noether momentum P_k = X(θ_k)·s_k is an
auxiliary sequence; for any generator (A not necessarily symmetric) :func:`derive_state_law` gives
P_{k+1} = ρ P_k + source, e.g. ρ = β under heavy ball, with a source that vanishes for rotations
(A antisymmetric, c = 0): the discrete e^{−γt} decay of the Bregman charge (§6).

A rule that is not linear in the vectors (Adam's per-coordinate rescaling by 1/√ŝ) closes no such
law: that is kinetic symmetry breaking (Tanaka & Kunin 2021), reported as ``closed=False``.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..optim.base import UpdateRule, rule_key, vec

B, L = sp.Function("B"), sp.Function("L")
P, Pn = sp.Symbol("P"), sp.Symbol("P_next")


def _vec(name: str) -> sp.Symbol:
    return sp.Symbol(name)


def _Bsym(u: sp.Symbol, v: sp.Symbol):
    """Symmetric bilinear atom with a canonical argument order."""
    a, b = sorted([u, v], key=str)
    return B(a, b)


def expand_B(u: dict, v: dict, symmetric: bool = True) -> sp.Expr:
    atom = _Bsym if symmetric else B
    return sp.expand(sum(cu * cv * atom(_vec(a), _vec(b)) for a, cu in u.items() for b, cv in v.items()))


def expand_L(u: dict) -> sp.Expr:
    return sp.expand(sum(c * L(_vec(a)) for a, c in u.items()))


class NotLinear(ValueError):
    """The update rule is not linear in the vectors: no bilinear law closes."""


def vectors(rule: UpdateRule) -> list[str]:
    return ["theta", "g", *rule.state]


def linear_update(rule: UpdateRule) -> dict[str, dict[str, sp.Expr]]:
    """{next vector: {step-k vector: coefficient}}; raises :class:`NotLinear` otherwise."""
    names = vectors(rule)
    syms = [vec(n) for n in names]
    out = {}
    for target, expr in rule.update().items():
        expr = sp.expand(expr)
        coeffs = {}
        for n, s in zip(names, syms):
            c = sp.expand(expr.coeff(s, 1))
            if c.free_symbols & set(syms):
                raise NotLinear(f"{target}_next is not linear in {n}")
            if c != 0:
                coeffs[n] = c
        rest = sp.expand(expr - sum(c * vec(n) for n, c in coeffs.items()))
        if rest != 0:
            raise NotLinear(f"{target}_next = {expr} is not linear in ({', '.join(names)})")
        out[target] = coeffs
    return out


@dataclass(frozen=True)   # memoised by derive_law: shared, so immutable
class Law:
    optimizer: str
    lhs: sp.Expr                  # C(θ_{k+1}) − C(θ_k)
    rhs: sp.Expr                  # in atoms of step-k vectors
    identity: str
    closed: bool = True
    note: str = ""

    def atoms(self) -> list[sp.Expr]:
        return sorted(self.rhs.atoms(sp.Function), key=str) if self.closed else []

    def pretty(self) -> str:
        if not self.closed:
            return f"no closed law: {self.note}"
        return f"C(theta_next) - C(theta) = {self.rhs}"

    def latex(self) -> str:
        if not self.closed:
            return r"\text{no closed law (kinetic symmetry breaking)}"
        return r"C(\theta_{k+1}) - C(\theta_k) = " + sp.latex(self.rhs)


@dataclass
class StateLaw:
    """P_{k+1} = rho P_k + source for P_k = X(θ_k)·s_k = B(s_k, θ_k) + L(s_k)."""

    optimizer: str
    state: str
    rho: sp.Expr
    source: sp.Expr               # in ordered atoms B(u, w) = uᵀAw, L(u), step-k vectors
    source_rotation: sp.Expr      # the same for A antisymmetric, c = 0
    identity: str

    @property
    def rhs(self) -> sp.Expr:
        return self.rho * P + self.source

    def pretty(self) -> str:
        return (f"P_next = {self.rho}*P + {self.source}    with P = X(theta)·{self.state}"
                f"; for rotations (A antisymmetric, c = 0): P_next = {self.rho}*P + {self.source_rotation}")

    def latex(self) -> str:
        return (rf"P_{{k+1}} = {sp.latex(self.rho * P + self.source)},\quad "
                rf"P_k = X(\theta_k)\cdot {self.state}_k")


IDENTITY = "B(g, theta) + L(g) = 0  [X(theta)·g = 0]"


def symmetry_substitution() -> dict:
    """X(θ_k)·g_k = 0, i.e. B(g, θ) = −L(g)."""
    return {_Bsym(_vec("g"), _vec("theta")): -L(_vec("g"))}


def _collect(expr):
    """Group by atom, each coefficient factored (readable laws: (1 - τ(1 - first)) rather than sums)."""
    expr = sp.expand(expr)
    atoms = sorted(expr.atoms(sp.Function), key=str)
    parts = sp.collect(expr, atoms, evaluate=False)
    return sp.Add(*[sp.factor(c) * a for a, c in parts.items()])


def _specialise(expr, rule, general: bool):
    """Drop the hyperparameters that are zero in ``rule`` (λ = 0, τ = 0, ...) unless ``general``."""
    if general:
        return expr
    return _collect(expr.subs({s: 0 for s, v in rule.values().items() if v == 0}))


_LAW_MEMO: dict = {}


def derive_law(rule: UpdateRule, general: bool = False) -> Law:
    """ΔC for a charge C = ½B(θ,θ) + L(θ) (A symmetric) along ``rule``, symmetry substituted.

    ``general`` keeps every hyperparameter symbolic (the kernels' form); otherwise the ones that
    are zero in ``rule`` are dropped (the law as a person would write it).  Memoised per rule
    (:func:`noether.optim.base.rule_key`): a sweep of many runs derives each law once."""
    key = (rule_key(rule), bool(general))
    if key not in _LAW_MEMO:
        _LAW_MEMO[key] = _derive_law(rule, general)
    return _LAW_MEMO[key]


def _derive_law(rule: UpdateRule, general: bool) -> Law:
    try:
        upd = linear_update(rule)
    except NotLinear as exc:
        return Law(rule.name, sp.Symbol("DeltaC"), sp.nan, IDENTITY, closed=False,
                   note=f"kinetic symmetry breaking: {exc}; the drift is measured, not predicted")
    nxt = upd["theta"]
    delta = sp.Rational(1, 2) * expand_B(nxt, nxt) + expand_L(nxt) \
        - sp.Rational(1, 2) * _Bsym(_vec("theta"), _vec("theta")) - L(_vec("theta"))
    rhs = _specialise(_collect(sp.expand(delta).subs(symmetry_substitution())), rule, general)
    return Law(rule.name, sp.Symbol("DeltaC"), rhs, IDENTITY)


def _antisymmetrise(expr):
    """A antisymmetric and c = 0: B(u, u) = 0, B(u, w) = −B(w, u), L = 0; then X(θ)·g = B(g, θ) = 0."""
    rep = {}
    for a in expr.atoms(sp.Function):
        if a.func == B:
            u, w = a.args
            if u == w:
                rep[a] = 0
            elif str(u) > str(w):
                rep[a] = -B(w, u)
        elif a.func == L:
            rep[a] = 0
    expr = sp.expand(expr.xreplace(rep))
    return sp.expand(expr.subs(_Bsym(_vec("g"), _vec("theta")), 0))


def _split(expr, p_atoms: dict):
    """expr = rho·P + source, P = Σ sign·atom (``p_atoms``); rho read off the first atom."""
    expr = sp.expand(expr)
    atom, sign = next(iter(p_atoms.items()))
    rho = sp.expand(expr.coeff(atom) / sign)
    src = sp.expand(expr - rho * sum(sg * a for a, sg in p_atoms.items()))
    return sp.factor(rho), _collect(src)


def derive_state_law(rule: UpdateRule, state: str | None = None, general: bool = False) -> StateLaw:
    """Recurrence of P_k = X(θ_k)·s_k for a state vector s, for any generator X = Aθ + c.

    ρ is read off L(s_k) (the affine part, any generator); for rotations (A antisymmetric, c = 0)
    P = B(s, θ) and the law is re-derived with the antisymmetry substituted."""
    upd = linear_update(rule)            # NotLinear propagates: the caller reports it
    s = state or rule.state[0]
    sv, tv = _vec(s), _vec("theta")
    th1, s1 = upd["theta"], upd[s]
    nxt = expand_B(s1, th1, symmetric=False) + expand_L(s1)
    nxt = sp.expand(nxt.subs({B(_vec("g"), tv): -L(_vec("g"))}))
    rho, src = _split(nxt, {L(sv): 1, B(sv, tv): 1})
    rot = _antisymmetrise(nxt)
    p_rot = {B(sv, tv): 1} if str(s) < "theta" else {B(tv, sv): -1}
    rho_r, src_r = _split(rot, p_rot)
    if sp.simplify(rho_r - rho) != 0:
        src_r = _collect(src_r + (rho_r - rho) * sum(sg * a for a, sg in p_rot.items()))
    sp_ = lambda e: _specialise(e, rule, general)  # noqa: E731
    return StateLaw(rule.name, s, sp.factor(sp_(rho)), sp_(src), sp_(src_r), IDENTITY)
