"""Execute an optimizer's symbolic update rule (:mod:`noether.optim`) numerically, step by step.

A rule gives each vector at step k+1 (``theta`` and any state: ``v``, ``m``, ``s``, ...) as a
per-coordinate sympy expression in the step-k values, ``g`` = ∇L(θ_k), the hyperparameters and
the step markers ``first`` (1 at step 0) and ``k``.  The same expressions feed the law
derivation, so a law is checked against exactly the update it was derived from.  State vectors
start at zero.  Nonlinear rules (Adam) run too; they just close no law.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from ..errors import SpecError
from ..optim import base, OPTIMIZERS
from ..optim.base import UpdateRule, rule_key, vec
import inspect


def _markers():
    return getattr(base, "first", sp.Symbol("first", nonnegative=True)), \
        getattr(base, "step", sp.Symbol("k", integer=True, nonnegative=True))


def make_rule(optimizer, lr: float, hyper: dict | None = None):
    """An UpdateRule from a name registered in ``noether.optim.OPTIMIZERS`` (or an instance)."""
    if isinstance(optimizer, UpdateRule):
        return optimizer
    if optimizer not in OPTIMIZERS:
        raise SpecError("--optimizer", f"unknown optimizer {optimizer!r}; accepted: gf (gradient flow), "
                        + ", ".join(sorted(OPTIMIZERS)))
    try:
        return OPTIMIZERS[optimizer](lr=lr, **(hyper or {}))
    except TypeError:
        names = [n for n in inspect.signature(OPTIMIZERS[optimizer].__init__).parameters if n not in ("self", "lr")]
        raise SpecError("--hyper", f"unknown hyperparameter for {optimizer} in {sorted(hyper or {})}; accepted: "
                        + ", ".join(n for n in names if not n.startswith("*"))) from None


def marker_values(k: int) -> dict:
    first, step = _markers()
    return {first: 1.0 if k == 0 else 0.0, step: float(k)}


_COMPILED: dict = {}


def _compiled(rule):
    """Lambdified per-coordinate update, memoised per rule structure and hyperparameter values."""
    values = {s: float(v) for s, v in rule.values().items()}
    key = rule_key(rule)
    if key not in _COMPILED:
        _COMPILED[key] = _compile(rule, values)
    return _COMPILED[key]


def _compile(rule, values):
    first, step = _markers()
    names = ["theta", "g", *rule.state]
    fns = {}
    for target, expr in rule.update().items():
        e = sp.sympify(expr).xreplace(values)
        extra = e.free_symbols - {vec(nm) for nm in names} - {first, step}
        if extra:
            raise SpecError("--hyper", f"optimizer {rule.name} needs values for "
                            + ", ".join(sorted(map(str, extra))))
        fns[target] = sp.lambdify([vec(nm) for nm in names] + [first, step], e, modules="numpy")
    return fns


def steps(rule, grad, theta0: np.ndarray, n: int):
    """Yield one dict per step: step-k vectors (``theta``, ``g``, state), ``theta_next``, ``k``."""
    names = ["theta", "g", *rule.state]
    fns = _compiled(rule)
    vecs = {"theta": np.array(theta0, dtype=float)}
    for s in rule.state:
        vecs[s] = np.zeros_like(vecs["theta"])
    for k in range(n):
        vecs["g"] = np.asarray(grad(vecs["theta"]), dtype=float)
        if not np.all(np.isfinite(vecs["g"])):
            return
        args = [vecs[nm] for nm in names] + [1.0 if k == 0 else 0.0, float(k)]
        with np.errstate(all="ignore"):
            nxt = {t: np.array(np.broadcast_to(f(*args), vecs["theta"].shape), dtype=float)
                   for t, f in fns.items()}
        yield {**vecs, "theta_next": nxt["theta"], "k": k}
        vecs = {**{nm: vecs[nm] for nm in names if nm != "g"}, **nxt}
        if not np.all(np.isfinite(vecs["theta"])):
            return
