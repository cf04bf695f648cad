"""Assertions for symmetry claims, with explicit, scale-aware tolerances.

Every check compares a violation v with ``atol + rtol * scale``, where ``scale`` is the magnitude
float64 rounding is relative to (sum of absolute values of the terms that should cancel).  A
failure raises :class:`ClaimFailure` (an ``AssertionError``) whose message shows the claim, the
counterexample (parameters and data; under hypothesis, the shrunk one) and v against the bound.

All accept a noether ``Model`` (exact numpy gradient) or a user callable
``loss(params: dict[str, ndarray], X, Y)`` (gradient from ``grad=`` or by finite differences).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp

from ..errors import SpecError
from .charge import quantity
from .stepping import make_rule, marker_values, steps as run_steps
from .target import Target, as_target
from .transforms import Transform, BlockMap
from ..model import Layer, Model
from ..derive.laws import derive_law
from ..optim.base import rule_key
from .arrayexpr import BlockContext
from ..derive import derive
import hypothesis

#: Invariance / equivariance: the two sides are the same arithmetic up to rounding, ~1e-16
#: relative per operation over O(100) operations, amplified by the condition of the group element
#: (e^{2|t|·|A|} <= e^4 for the default strategies): <= 1e-12.  1e-9 leaves a margin of 1000.
RTOL_EXACT = 1e-9
#: With finite-difference gradients (relative error ~ε^{2/3} ≈ 4e-11 per entry, amplified by
#: cancellation in dot products), 1e-5 keeps a margin of >= 1e4.
RTOL_FD = 1e-5
#: Absolute floor: losses and charges of the strategies' magnitudes (O(1)..O(1e3)) round at
#: <= 1e-13 absolute, so 1e-12 only matters where the terms themselves vanish.
ATOL = 1e-12
#: Gradient flow integrated with DOP853 at rtol 1e-10: drift ~1e-10 relative per unit time; 1e-7.
RTOL_FLOW = 1e-7


class ClaimFailure(AssertionError):
    """A symmetry claim is false at a concrete point."""

    def __init__(self, claim: str, violation: float, bound: float, scale: float, rtol: float, atol: float,
                 counterexample: str, detail: str = "", example: dict | None = None):
        self.claim, self.violation, self.bound, self.scale = claim, violation, bound, scale
        self.counterexample = counterexample
        #: the data of the counterexample: theta (flat), X, Y, model (or None), params (user form)
        self.example = example or {}
        ratio = violation / bound if bound > 0 else float("inf")
        msg = (f"claim: {claim}\n"
               f"violation {violation:.3e} > tolerance {bound:.3e} "
               f"(= atol {atol:g} + rtol {rtol:g} x scale {scale:.3e}; {ratio:.3g}x over)\n"
               + (f"{detail}\n" if detail else "")
               + f"counterexample:\n{counterexample}")
        super().__init__(msg)


@dataclass(frozen=True)
class Check:
    violation: float
    bound: float
    scale: float

    @property
    def ok(self) -> bool:
        return bool(np.isfinite(self.violation) and self.violation <= self.bound)


def _check(violation, scale, rtol, atol) -> Check:
    return Check(float(violation), float(atol + rtol * scale), float(scale))


def _format_case(tgt: Target, theta, X=None, Y=None, extra: str = "") -> str:
    parts = [f"  model: {tgt.model.describe()}"] if tgt.model is not None else []
    parts.append(tgt.layout.format(theta))
    with np.printoptions(precision=6, suppress=True, linewidth=100):
        if X is not None:
            parts.append("  X = " + np.array2string(np.asarray(X), prefix="      "))
        if Y is not None:
            parts.append("  Y = " + np.array2string(np.asarray(Y), prefix="      "))
    if extra:
        parts.append(extra)
    return "\n".join(parts)


def _raise(claim, c: Check, rtol, atol, case, detail=""):
    """``case``: a formatted string, or (target, theta, X, Y) to format and attach."""
    example = None
    if isinstance(case, tuple):
        tgt, theta, X, Y = case
        example = {"theta": np.array(theta), "X": X, "Y": Y, "model": tgt.model, "params": tgt.user(theta)}
        case = _format_case(tgt, theta, X, Y)
    raise ClaimFailure(claim, c.violation, c.bound, c.scale, rtol, atol, case, detail, example)


_MAPS: dict = {}


def _as_transform(tgt: Target, transform):
    if isinstance(transform, Transform):
        return transform.apply, transform.claim
    if isinstance(transform, str):
        key = (transform, tuple(tgt.layout.names), tuple(tgt.layout.shapes))
        m = _MAPS.get(key)
        if m is None:
            if len(_MAPS) > 512:
                _MAPS.clear()
            m = _MAPS[key] = BlockMap(transform, BlockContext(tgt.layout.blocks), "transform")
        return m.apply, m.claim
    if callable(transform):
        return (lambda th: tgt.from_user(transform(tgt.user(th)))), getattr(transform, "__name__", "transform")
    raise SpecError("transform", "must be a Transform, a map string 'W1 -> 2*W1; ...' or a callable")


def _data(X, Y):
    X = np.atleast_2d(np.asarray(X, dtype=float))
    Y = np.asarray(Y, dtype=float)
    return X, Y.reshape(X.shape[0], -1) if Y.ndim < 2 else Y


def assert_invariant(f, transform, params, X, Y, *, grad=None, rtol: float = RTOL_EXACT, atol: float = ATOL,
                     claim: str | None = None) -> Check:
    """L(T(θ); X, Y) = L(θ; X, Y) up to ``atol + rtol (|L(θ)| + |L(Tθ)|)``.

    ``transform``: a :class:`Transform` (strategies, ``block_map``), a map string such as
    ``"W1 -> 2*W1; W2 -> W2/2"``, or a callable on params (same form as ``params``)."""
    tgt, theta = as_target(f, params, grad)
    X, Y = _data(X, Y)
    fn, text = _as_transform(tgt, transform)
    new = fn(theta)
    L0, L1 = tgt.loss(theta, X, Y), tgt.loss(new, X, Y)
    c = _check(abs(L1 - L0), abs(L0) + abs(L1), rtol, atol)
    if not c.ok:
        _raise(claim or f"loss invariant under {text}", c, rtol, atol, (tgt, theta, X, Y),
               f"L(theta) = {L0:.10g}, L(T theta) = {L1:.10g}")
    return c


def assert_equivariant(f, g_in, g_out, x, *, params=None, rtol: float = RTOL_EXACT, atol: float = ATOL,
                       claim: str | None = None) -> Check:
    """f(g_in(x)) = g_out(f(x)) elementwise, each within ``atol + rtol (|lhs| + |rhs|)``.

    ``f``: a callable x -> y, a noether ``Layer`` (with ``params`` its block dict) or a ``Model``
    (with ``params`` = θ)."""
    if isinstance(f, Model):
        th = params
        fn = lambda a: f.forward(np.asarray(th, dtype=float), a)  # noqa: E731
        name = f.name
    elif isinstance(f, Layer):
        p = params or {}
        fn = lambda a: f.forward(a, p)  # noqa: E731
        name = f.describe()
    elif callable(f):
        fn, name = f, getattr(f, "__name__", "f")
    else:
        raise SpecError("f", "must be a callable, a noether Layer or a Model")
    x = np.asarray(x, dtype=float)
    lhs = np.asarray(fn(g_in(x)), dtype=float)
    rhs = np.asarray(g_out(fn(x)), dtype=float)
    err = np.abs(lhs - rhs)
    bound = atol + rtol * (np.abs(lhs) + np.abs(rhs))
    ratio = np.where(np.isfinite(err), err / bound, np.inf)
    k = int(np.argmax(ratio)) if ratio.size else 0
    c = Check(float(err.ravel()[k]) if err.size else 0.0, float(bound.ravel()[k]) if bound.size else atol,
              float((np.abs(lhs) + np.abs(rhs)).ravel()[k]) if lhs.size else 0.0)
    if not c.ok:
        with np.printoptions(precision=6, suppress=True, linewidth=100):
            case = (f"  x = {np.array2string(x, prefix='      ')}\n"
                    f"  f(g_in(x))  = {np.array2string(lhs, prefix='                ')}\n"
                    f"  g_out(f(x)) = {np.array2string(rhs, prefix='                ')}")
        _raise(claim or f"{name} equivariant: f(g_in(x)) = g_out(f(x))", c, rtol, atol, case,
               f"worst entry {np.unravel_index(k, lhs.shape) if lhs.ndim else ()}")
    return c


def assert_conserved(f, C, params, X, Y, *, optimizer: str = "gf", lr: float = 0.05, steps: int = 10,
                     hyper: dict | None = None, law=None, T: float | None = None, grad=None,
                     rtol: float | None = None, atol: float = ATOL, claim: str | None = None) -> Check:
    """``C`` is conserved: under gradient flow (``optimizer="gf"``), or per step of an optimizer.

    * ``"gf"``: the rate dC/dt = −∇C·∇L vanishes at θ, within ``atol + rtol Σ_i|∂_iC ∂_iL|``
      (pointwise: conservation along every trajectory).  With ``T``, the flow is also integrated
      (DOP853, rtol 1e-10) on [0, T] and C(θ(T)) − C(θ) is checked.
    * an optimizer name from ``noether.optim`` (e.g. ``"gd"``): ``steps`` steps at ``lr``; at each,
      C(θ_{k+1}) − C(θ_k) equals ``law(step)`` (default 0), ``step`` a dict of the step-k vectors
      (``theta``, ``g``, state, ``theta_next``; as user params when ``f`` is a callable).

    ``C``: a block-level string (``"sum(W1**2) - sum(W2**2)"``), a sympy expression in the
    parameter symbols, or a callable on params."""
    tgt, theta = as_target(f, params, grad)
    X, Y = _data(X, Y)
    q = quantity(C, tgt.layout, tgt.user)
    exact = tgt.exact_grad and q.exact
    rtol = rtol if rtol is not None else (RTOL_EXACT if exact else RTOL_FD)
    what = claim or f"{q.text} is conserved under " + ("gradient flow" if optimizer == "gf" else
                                                        f"{optimizer} (lr={lr:g})" + (" following the stated law"
                                                                                     if law is not None else ""))
    if optimizer == "gf":
        g = tgt.grad(theta, X, Y)
        gc = q.grad(theta)
        rate = float(gc @ g)
        # a finite-difference gradient carries an absolute error; it widens the bound (not a rtol)
        a_eff = atol + float(np.abs(gc) @ tgt.grad_error(theta, X, Y))
        c = _check(abs(rate), float(np.sum(np.abs(gc * g))), rtol, a_eff)
        if not c.ok:
            _raise(what, c, rtol, a_eff, (tgt, theta, X, Y), f"dC/dt = -gradC . gradL = {-rate:.6g}"
                   + ("" if tgt.exact_grad else "  (atol includes the finite-difference error bound)"))
        if T is not None:
            c = _flow_check(tgt, q, theta, X, Y, float(T), what, atol)
        return c
    rule = make_rule(optimizer, lr, hyper)
    worst, checked = Check(0.0, atol, 0.0), 0
    with np.errstate(over="ignore", invalid="ignore"):   # overflow: see _diverged
        for k, step in enumerate(run_steps(rule, lambda th: tgt.grad(th, X, Y), theta, steps)):
            c0, c1 = q.value(step["theta"]), q.value(step["theta_next"])
            pred = 0.0
            if law is not None:
                pred = float(law(step if tgt.model is not None else {k2: tgt.user(v) if isinstance(v, np.ndarray) else v
                                                                    for k2, v in step.items()}))
            run_sc = q.scale(step["theta"]) + q.scale(step["theta_next"])
            if _diverged(k, c0, c1, run_sc):
                break
            # a non-finite prediction with finite charges is a failure, not a divergence
            c = _check(abs(c1 - c0 - pred), run_sc + abs(pred), rtol, atol)
            if not c.ok:
                _raise(what, c, rtol, atol, (tgt, theta, X, Y),
                       f"at step {k}: C_k = {c0:.10g}, C_k+1 = {c1:.10g}, predicted change {pred:.6g}")
            checked += 1
            if c.violation / c.bound > worst.violation / max(worst.bound, 1e-300):
                worst = c
    if steps > 0 and not checked:
        _nothing_checked()
    return worst


def _diverged(k: int, c_now, c_next, scale) -> bool:
    """True once the run leaves float64: the charge before or after step k, or its rounding scale
    (functions of θ alone), is not finite.  From step k on the run says nothing about the law
    (inf - inf is nan); the steps before k were checked, and under hypothesis the divergence is
    recorded as an event (``--hypothesis-show-statistics``)."""
    if np.isfinite(c_now) and np.isfinite(c_next) and np.isfinite(scale):
        return False
    if hypothesis.currently_in_test_context():
        hypothesis.event(f"run diverged: non-finite at step {k}; steps before it were checked")
    return True


def _nothing_checked():
    """The run left float64 (gradient, parameters or charge) before a single step could be checked:
    a hypothesis example is rejected (``hypothesis.reject``), a direct call is bad input."""
    if hypothesis.currently_in_test_context():
        hypothesis.reject()
    raise SpecError("params", "the run is not finite in float64 at its first step, so nothing can be "
                    "checked; accepted: parameters and data at which the gradient and the charge are finite")


def _flow_check(tgt, q, theta, X, Y, T, what, atol) -> Check:
    from scipy.integrate import solve_ivp  # lazy: scipy.integrate is slow to import, flow checks only
    sol = solve_ivp(lambda t, th: -tgt.grad(th, X, Y), (0.0, T), theta, method="DOP853", rtol=1e-10, atol=1e-12)
    thT = sol.y[:, -1]
    c0, cT = q.value(theta), q.value(thT)
    scale = q.scale(theta) + q.scale(thT)
    c = _check(abs(cT - c0), scale, RTOL_FLOW, atol)
    if not c.ok:
        _raise(what, c, RTOL_FLOW, atol, (tgt, theta, X, Y),
               f"gradient flow to t = {sol.t[-1]:g}: C(0) = {c0:.10g}, C(t) = {cT:.10g}")
    return c


_CACHE: dict = {}


def derivation_of(model):
    """``noether.derive.derive(model)``, cached per model spec (``Model.digest``)."""
    d = _CACHE.get(model.digest)
    if d is None or d.model.to_dict() != model.to_dict():
        d = _CACHE[model.digest] = derive(model)
    return d


_LAWS: dict = {}


def _derived_law(rule):
    """(``derive_law(rule)``, its numeric evaluator), memoised per rule structure and hyperparameter values."""
    key = rule_key(rule)
    if key not in _LAWS:
        law = derive_law(rule)
        _LAWS[key] = (law, _law_evaluator(law, rule) if getattr(law, "closed", True) else None)
    return _LAWS[key]


def _law_evaluator(law, rule):
    """Numeric rhs of a derived law: atoms B(u, v) = uᵀAv, L(u) = cᵀu of one charge, plus a scale
    (Σ over the rhs's terms of |coefficient| x the atoms evaluated on |A|, |c|, |u|, |v|)."""
    vals = {k: float(v) for k, v in rule.values().items()}
    rhs0 = sp.expand(law.rhs.xreplace(vals))
    atoms = sorted(rhs0.atoms(sp.Function), key=str)
    marks = list(marker_values(0))
    xs = sp.symbols(f"a0:{len(atoms)}")
    expr = rhs0.xreplace(dict(zip(atoms, xs)))
    terms = sp.Add.make_args(expr)
    f_val = sp.lambdify([xs, marks], expr, modules="numpy")
    f_mag = sp.lambdify([xs, marks], [sp.Abs(t) for t in terms], modules="numpy")
    specs = [(a.func.__name__, [str(x) for x in a.args]) for a in atoms]

    def evaluate(A, c, vecs):
        num, mag = [], []
        Aabs, cabs = np.abs(A), np.abs(c)
        for kind, names in specs:
            if kind == "B":
                u, v = vecs[names[0]], vecs[names[1]]
                num.append(float(u @ A @ v))
                mag.append(float(np.abs(u) @ Aabs @ np.abs(v)))
            else:
                u = vecs[names[0]]
                num.append(float(c @ u))
                mag.append(float(cabs @ np.abs(u)))
        mv = list(marker_values(vecs["k"]).values())
        value = float(f_val(num, mv))
        return value, float(np.sum(np.abs(np.asarray(f_mag(mag, mv), dtype=float))))

    return evaluate


def assert_law(f, params, X, Y, *, optimizer: str = "gd", lr: float = 0.05, steps: int = 10,
               hyper: dict | None = None, charges=None, grad=None, rtol: float | None = None,
               atol: float = ATOL, claim: str | None = None) -> Check:
    """The derived per-step law C(θ_{k+1}) − C(θ_k) = RHS (``noether.derive.laws``) holds at every
    step, for every charge C = ½θᵀAθ + cᵀθ.

    For a ``Model`` the charges are derived (``charges=None``); otherwise pass ``charges``: a list
    of quadratic expressions (``"sum(W1[0,:]**2) + b1[0]**2 - sum(W2[:,0]**2)"``) or of
    ``(name, A, c)`` (dense symmetric A, vector c on the flat parameter vector)."""
    tgt, theta = as_target(f, params, grad)
    X, Y = _data(X, Y)
    rule = make_rule(optimizer, lr, hyper)
    law, ev = _derived_law(rule)
    if not getattr(law, "closed", True):
        raise SpecError("--optimizer", f"{rule.name} closes no exact law ({law.note})")
    D = tgt.layout.D
    if charges is None:
        if tgt.model is None:
            raise SpecError("charges", "a user loss needs explicit charges [(name, A, c), ...]")
        d = derivation_of(tgt.model)
        if not d.charges:
            return Check(0.0, atol, 0.0)
        charges = [(ch.name, float(ch.kappa) * ch.generator.matrix(D), _cvec(ch.generator, D, float(ch.kappa)))
                   for ch in d.charges]
    charges = [(name, np.asarray(A, dtype=float), np.asarray(c, dtype=float))
               for name, A, c in (_as_charge(ch, tgt) for ch in charges)]
    absolute = [(np.abs(A), np.abs(c)) for _, A, c in charges]      # of the rounding scales, once
    rtol = rtol if rtol is not None else (RTOL_EXACT if tgt.exact_grad else RTOL_FD)
    worst, checked, diverged = Check(0.0, atol, 0.0), 0, False
    with np.errstate(over="ignore", invalid="ignore"):   # overflow: see _diverged
        for k, step in enumerate(run_steps(rule, lambda th: tgt.grad(th, X, Y), theta, steps)):
            t0, t1 = step["theta"], step["theta_next"]
            a0, a1 = np.abs(t0), np.abs(t1)
            for (name, A, c), (Aa, ca) in zip(charges, absolute):
                C0, C1 = 0.5 * t0 @ A @ t0 + c @ t0, 0.5 * t1 @ A @ t1 + c @ t1
                run_sc = 0.5 * (a0 @ Aa @ a0 + a1 @ Aa @ a1) + ca @ (a0 + a1)
                diverged = _diverged(k, C0, C1, run_sc)
                if diverged:
                    break
                pred, ps = ev(A, c, step)
                chk = _check(abs(C1 - C0 - pred), run_sc + ps, rtol, atol)
                if not chk.ok:
                    _raise((claim + ": " if claim else "") + f"derived {rule.name} law {law.pretty()} for {name}", chk, rtol, atol,
                           (tgt, theta, X, Y),
                           f"at step {k}: C_k+1 - C_k = {C1 - C0:.10g}, law predicts {pred:.10g}")
                checked += 1
                if chk.violation / chk.bound > worst.violation / max(worst.bound, 1e-300):
                    worst = chk
            if diverged:
                break       # a charge left float64: the run says nothing more
    if steps > 0 and charges and not checked:
        _nothing_checked()
    return worst


def _as_charge(ch, tgt):
    if isinstance(ch, tuple) and len(ch) == 3:
        return ch
    q = quantity(ch, tgt.layout, tgt.user)
    form = q.quadratic_form()
    if form is None:
        raise SpecError("charges", f"{q.text!r} is not a polynomial of degree <= 2 in the parameters")
    return (q.text, form[0], form[1])


def _cvec(g, D, kappa):
    c = np.zeros(D)
    for r, v in g.c.items():
        c[r] = float(v) * kappa
    return c
