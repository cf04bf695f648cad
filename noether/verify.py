"""``verify``: derive -> kernels -> runs -> report, for one model (the three checks of issue 2).

(a) gradient flow (DOP853, rtol 1e-10): every charge's relative drift <= 1e-8;
(b) full-batch GD: the derived exact per-step law at every step, relative residual <= 1e-10;
(c) Bregman flow: Q_k(t) − Q_k(0) = ∫ source_k for every generator, relative residual <= 1e-8.
Relative means: divided by the sum of absolute values of the terms, the scale of float64 rounding.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .derive.continuous import prediction_errors, rotation_decay
from .derive.derivation import derive
from .derive.laws import derive_law, derive_state_law
from .errors import SpecError
from .io import save_npz_atomic  # noqa: F401 (re-exported: noether.verify.save_npz_atomic)
from .kernels.codegen import build_kernels
from .kernels.primitives import fields_dot, fields_dot_abs   # generic in the generators: not per model
from .local_laws import verify_local
from .optim import make_rule
from .run.checks import Report
from .run.chunks import loss_and_grad
from .run.data import initial_parameters, load_data, random_data
from .run.gd import run_gd
from .run.flows import bregman_flow, gradient_flow
from .run.optimizers import run_optimizer
from .run.recheck import generator_sparse, state_law_residuals
from .run.trajectory import save_trajectory

TOL_GF = 1e-8        # DOP853 at rtol 1e-10 over O(10) time units: drift ~1e-10 relative, 100x margin
TOL_GD = 1e-10       # the law is an identity; float64 rounding of C and the update is ~1e-15 relative
TOL_BREGMAN = 1e-8   # as for GF: integrator error, not rounding, dominates
TOL_LAW = 1e-10      # an optimizer's law is a per-step identity; rounding is ~1e-15 of the term scale


def flow_tolerance(base: float, n_state: int) -> float:
    """The tolerance of a conservation check along an adaptive flow with ``n_state`` components.

    DOP853 keeps the *root-mean-square* of the scaled local errors over all components at rtol, so
    one component (and a charge built from a few of them) may carry up to sqrt(n_state) times that.
    ``base`` was set with a 100x margin for models of at most 100 state components (sqrt = 10); the
    same margin at any size is base·sqrt(n_state)/10.  (A width-100,000 ReLU net has 1.2M Bregman
    state components: 1.1e-6, against a measured residual of 4e-7.)"""
    return base * max(1.0, float(np.sqrt(n_state)) / 10.0)


@dataclass
class VerifyOptions:
    lr: float = 0.05
    steps: int = 2000
    seed: int = 0
    samples: int = 32
    data: str | None = None
    gamma: float | None = None
    trajectory: str | None = None
    cache: str | None = None
    checks: tuple[str, ...] = ("gf", "gd", "bregman")
    # issue 4: any optimizer rule (noether/optim); None keeps the three checks above
    optimizer: str | None = None
    hyper: dict = field(default_factory=dict)     # the rule's hyperparameters besides lr, by name
    batch: int | None = None
    continuous: bool = True
    # issue 13: local laws (noether/local_laws.py), from --params if given
    local: bool = False
    params: str | None = None
    region_plot: str | None = None

    def rule(self):
        """The optimizer rule these options name (plain GD at ``lr`` when none is named)."""
        return make_rule(self.optimizer or "gd", lr=self.lr, **self.hyper)


def check_options(o: VerifyOptions) -> None:
    if not (isinstance(o.lr, float | int) and np.isfinite(o.lr) and o.lr > 0):
        raise SpecError("--lr", f"must be a finite number > 0, got {o.lr!r}")
    if o.steps <= 0:
        raise SpecError("--steps", f"must be a positive integer, got {o.steps}")
    if o.gamma is not None and not (np.isfinite(o.gamma) and o.gamma > 0):
        raise SpecError("--gamma", f"must be a finite number > 0, got {o.gamma!r}")
    if o.samples <= 0:
        raise SpecError("--samples", f"must be a positive integer, got {o.samples}")
    if o.hyper and o.optimizer is None:      # the gf/gd/bregman checks read lr only
        name = next(iter(o.hyper))
        raise SpecError("--" + name.replace("_", "-"), "is an optimizer hyperparameter; give --optimizer too")
    if o.trajectory and not o.trajectory.endswith(".npz"):
        raise SpecError("--trajectory", "must name a .npz file")


@dataclass
class _Setup:
    """What every check of one ``verify`` shares: the derivation, kernels, data and start."""
    model: object
    opts: VerifyOptions
    deriv: object
    kern: object
    X: np.ndarray
    Y: np.ndarray
    theta0: np.ndarray

    @property
    def names(self):
        return self.kern.layout.names

    @property
    def fams(self):
        return self.kern.layout.families


def verify(model, opts: VerifyOptions | None = None, progress=print, deriv=None, kernels=None) -> Report:
    """Derive, generate kernels, run and check: the three checks of the module docstring, or
    with ``opts.optimizer`` that rule's exact laws (:func:`_rule_checks`), or with ``opts.local``
    the local laws (:mod:`noether.local_laws`)."""
    opts = opts or VerifyOptions()
    check_options(opts)
    if opts.local:
        return verify_local(model, opts, progress, deriv, kernels)
    rule = opts.rule() if opts.optimizer is not None else None
    deriv = deriv or derive(model)
    deriv.require_charges("verify")
    info = {**(rule.hyperparameters() if rule else {"lr": opts.lr}), "steps": opts.steps, "seed": opts.seed}
    if deriv.dim == 0 and not opts.trajectory:      # nothing to check, by design: say so, run nothing
        return Report(model.name, info={**info, "n_charges": 0, "algebra_dim": 0})
    kern = kernels or build_kernels(deriv, opts.cache)
    X, Y = load_data(model, opts.data) if opts.data else random_data(model, opts.samples, opts.seed)
    run = _Setup(model, opts, deriv, kern, X, Y, initial_parameters(model, opts.seed))
    rep = Report(model.name, info={**info, **({"batch": opts.batch} if rule else {}),
                                   "n_charges": len(run.names), "kernels": str(kern.path), "algebra_dim": deriv.dim})
    if rule:
        return _rule_checks(run, rule, rep, progress)
    return _flow_checks(run, rep, progress)


def _flow_checks(run: _Setup, rep: Report, progress) -> Report:
    """(a) gradient flow, (b) GD and its exact law, (c) Bregman flow (the module docstring)."""
    model, opts, deriv, kern, X, Y, theta0 = (run.model, run.opts, run.deriv, run.kern, run.X, run.Y,
                                               run.theta0)
    names, fams = run.names, run.fams
    mod = kern.module
    nC = len(names)

    def charges_at(th):
        c, a = np.empty(nC), np.empty(nC)
        mod.charges(th, c, 0)
        mod.charges_abs(th, a, 0)
        return c, a

    # (b) GD and its exact law
    if "gd" in opts.checks or opts.trajectory:
        progress(f"  GD: {opts.steps} steps at lr={opts.lr} on {X.shape[0]} samples ...")
        gd = run_gd(kern, theta0, X, Y, opts.lr, opts.steps, record=bool(opts.trajectory))
        if opts.trajectory:
            save_npz_atomic(opts.trajectory, parameters=np.array(model.parameters), theta=gd.theta,
                            charges=gd.charges, charge_names=np.array(names), X=X, Y=Y, lr=opts.lr,
                            loss=gd.losses, completed_steps=gd.completed)
        if gd.diverged:
            rep.diverged_at = gd.completed
            return rep
        for q, name in enumerate(names):
            rep.add(name, "gd", gd.charge_resid[q], TOL_GD, fams[q], "C(theta_next) - C(theta) = eta^2/2 B(g, g)")
    # (a) gradient flow
    if "gf" in opts.checks and nC:
        T = min(opts.lr * opts.steps, 5.0)
        progress(f"  GF: DOP853 on [0, {T:g}] at rtol 1e-10 ...")
        fl = gradient_flow(kern, theta0, X, Y, T)
        covered = fl.reached / T
        rep.info["gf_time"] = {"requested": T, "reached": fl.reached, "covered": covered, "message": fl.message}
        if not fl.complete:
            progress(f"  GF: {fl.message}; checked on [0, {fl.reached:.4g}] of [0, {T:g}]")
        c0, a0 = charges_at(fl.y[0])
        worst = np.zeros(nC)
        for th in fl.y[1:]:
            c, a = charges_at(th)
            worst = np.maximum(worst, np.abs(c - c0) / (a + a0 + 1e-300))
        for q, name in enumerate(names):
            rep.add(name, "gf", worst[q], flow_tolerance(TOL_GF, model.D), fams[q],
                    f"dC/dt = 0 on [0, {fl.reached:.4g}] of [0, {T:g}]", covered)
    # (c) Bregman flow and the Noether charges of every generator
    if "bregman" in opts.checks and kern.generators is not None and len(kern.generators["gptr"]) > 1:
        gamma = opts.gamma or 2.0 / opts.lr
        T = 10.0 / gamma
        progress(f"  Bregman: gamma={gamma:g} on [0, {T:g}] ...")
        _, grad = loss_and_grad(kern, theta0, X, Y)
        vel0 = -opts.lr * grad
        fl = bregman_flow(kern, theta0, vel0, X, Y, opts.lr, gamma, T)
        covered = fl.reached / T
        rep.info["bregman_time"] = {"requested": T, "reached": fl.reached, "covered": covered,
                                    "message": fl.message, "gamma": gamma}
        if not fl.complete:
            progress(f"  Bregman: {fl.message}; checked on [0, {fl.reached:.4g}] of [0, {T:g}]")
        g = kern.generators
        G = len(g["gptr"]) - 1
        D = model.D
        Q, Qa, Qs = np.empty(G), np.empty(G), np.empty(G)
        worst = np.zeros(G)
        # fields along a direction where L is exactly flat (docs/theory.md §2 caveat, e.g. f(θ)·∂/∂b_K
        # in attention): θ̇ there is rounding (~1e-16 of |θ̇|), so Q ≡ 0 and a relative residual is 0/0
        flat = np.ones(G, dtype=bool)
        ones = np.ones(D)
        Q0 = None
        for t, y in zip(fl.t, fl.y):
            th, vel, q = y[:D], y[D:2 * D], y[2 * D:]
            fields_dot(g["gptr"], g["rows"], g["cols"], g["vals"], g["cptr"], g["cidx"], g["cvals"], th, vel, Q)
            fields_dot_abs(g["gptr"], g["rows"], g["cols"], g["vals"], g["cptr"], g["cidx"], g["cvals"], th, vel, Qa)
            fields_dot_abs(g["gptr"], g["rows"], g["cols"], g["vals"], g["cptr"], g["cidx"], g["cvals"], th, ones, Qs)
            flat &= Qa <= 1e-12 * np.abs(vel).max() * Qs
            w = np.exp(gamma * t) / opts.lr
            Qt, Qat = Q * w, Qa * w
            if Q0 is None:
                Q0, Qa0 = Qt.copy(), Qat.copy()
                continue
            worst = np.maximum(worst, np.abs(Qt - Q0 - q) / (Qat + Qa0 + np.abs(q) + 1e-300))
        gens = deriv.algebra.generators
        for k, gen in enumerate(gens):
            law = "dQ/dt = 0" if gen.is_antisymmetric() else "dQ/dt = exp(gamma t) thetadot^T A thetadot / eta"
            if flat[k]:
                law, worst[k] = "Q = 0 to rounding all along (field along a flat direction of L)", 0.0
            rep.add(f"Q[{gen.name}]", "bregman", worst[k], flow_tolerance(TOL_BREGMAN, fl.y.shape[1]),
                    gen.family, law, covered)
    return rep


def _rule_checks(run: _Setup, rule, rep: Report, progress) -> Report:
    """``verify --optimizer``: the rule's exact charge law at every step (or, without a closed
    law, the measured drift), the discrete Noether-momentum law of every generator, and the
    continuous predictions with their measured error."""
    model, opts, deriv, kern = run.model, run.opts, run.deriv, run.kern
    names, fams = run.names, run.fams
    law = derive_law(rule)
    rep.info.update(law=law.pretty(), law_latex=law.latex())
    progress(f"  {rule.name}: {opts.steps} steps at lr={rule.lr} ({rule.describe()}) ...")
    res = run_optimizer(kern, rule, run.theta0, run.X, run.Y, opts.steps, batch=opts.batch, seed=opts.seed,
                        record=True)
    if opts.trajectory:
        save_trajectory(opts.trajectory, model, deriv, rule, res, names, run.X, run.Y, law)
    if res.diverged:
        rep.diverged_at = res.completed
        return rep
    if law.closed:
        for q, name in enumerate(names):
            rep.add(name, rule.name, res.charge_resid[q], TOL_LAW, fams[q], law.pretty())
    else:
        scale = np.empty_like(res.charges)
        for k, th in enumerate(res.theta):
            kern.module.charges_abs(th, scale[k], 0)
        drift = np.abs(res.charges - res.charges[0]).max(axis=0) / (scale.max(axis=0) + 1e-300)
        rep.info["no_law_reason"] = f"{rule.name}: {law.note}"
        for q, name in enumerate(names):
            rep.measure(name, f"{rule.name}:drift", drift[q], fams[q],
                        "no closed law (kinetic symmetry breaking): measured relative drift")
    if law.closed and rule.state and kern.generators is not None and len(kern.generators["gptr"]) > 1:
        slaw = derive_state_law(rule, general=True)
        resid = state_law_residuals(slaw, rule, res, generator_sparse(kern.generators, model.D))
        rep.info["state_law"] = slaw.pretty()
        for j, gen in enumerate(deriv.algebra.generators):
            rep.add(f"P[{gen.name}]", f"{rule.name}:P", resid[j], TOL_LAW, gen.family, "P_next = rho P + source")
        if rule.momentum > 0 and deriv.rotations:     # only a model that has rotations has their decay
            rep.info["rotation_decay"] = rotation_decay(rule.lr, rule.momentum, rule.dampening)
    if law.closed and opts.continuous:
        preds = prediction_errors(kern, rule, res, names)
        rep.info["continuous"] = [{"charge": p.charge, "kind": p.kind, "regime": p.regime, "error": p.error,
                                   "error_first_order": p.error_first_order} for p in preds]
    return rep
