"""``verify``: derive -> kernels -> runs -> report, for one model (the three checks of issue 2).

(a) gradient flow (DOP853, rtol 1e-10): every charge's relative drift <= 1e-8;
(b) full-batch GD: the derived exact per-step law at every step, relative residual <= 1e-10;
(c) Bregman flow: Q_k(t) − Q_k(0) = ∫ source_k for every generator, relative residual <= 1e-8.
Relative means: divided by the sum of absolute values of the terms, the scale of float64 rounding.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .derive.derivation import derive
from .errors import SpecError
from .io import save_npz_atomic  # noqa: F401 (re-exported: noether.verify.save_npz_atomic)
from .kernels.codegen import build_kernels
from .kernels.primitives import fields_dot, fields_dot_abs   # generic in the generators: not per model
from .local_laws import verify_local
from .run.checks import Report
from .run.data import initial_parameters, load_data, random_data
from .run.gd import run_gd
from .run.flows import bregman_flow, gradient_flow
from .run.verify_optim import verify_optimizer

TOL_GF = 1e-8        # DOP853 at rtol 1e-10 over O(10) time units: drift ~1e-10 relative, 100x margin
TOL_GD = 1e-10       # the law is an identity; float64 rounding of C and the update is ~1e-15 relative
TOL_BREGMAN = 1e-8   # as for GF: integrator error, not rounding, dominates


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


def verify(model, opts: VerifyOptions | None = None, progress=print, deriv=None, kernels=None) -> Report:
    opts = opts or VerifyOptions()
    check_options(opts)
    if opts.trajectory and not opts.trajectory.endswith(".npz"):
        raise SpecError("--trajectory", "must name a .npz file")
    if opts.local:
        return verify_local(model, opts, progress, deriv, kernels)
    if opts.optimizer is not None:
        return verify_optimizer(model, opts, progress, deriv, kernels)
    deriv = deriv or derive(model)
    deriv.require_charges("verify")
    if deriv.dim == 0 and not opts.trajectory:      # nothing to check, by design: say so, run nothing
        return Report(model.name, info={"lr": opts.lr, "steps": opts.steps, "seed": opts.seed,
                                        "n_charges": 0, "algebra_dim": 0})
    kern = kernels or build_kernels(deriv, opts.cache)
    X, Y = load_data(model, opts.data) if opts.data else random_data(model, opts.samples, opts.seed)
    theta0 = initial_parameters(model, opts.seed)
    names = kern.layout.names
    fams = kern.layout.families
    rep = Report(model.name, info={"lr": opts.lr, "steps": opts.steps, "seed": opts.seed,
                                   "n_charges": len(names), "kernels": str(kern.path),
                                   "algebra_dim": deriv.dim})
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
        run = run_gd(kern, theta0, X, Y, opts.lr, opts.steps, record=bool(opts.trajectory))
        if opts.trajectory:
            save_npz_atomic(opts.trajectory, parameters=np.array(model.parameters), theta=run.theta,
                            charges=run.charges, charge_names=np.array(names), X=X, Y=Y, lr=opts.lr,
                            loss=run.losses, completed_steps=run.completed)
        if run.diverged:
            rep.diverged_at = run.completed
            return rep
        for q, name in enumerate(names):
            rep.add(name, "gd", run.charge_resid[q], TOL_GD, fams[q], "C(theta_next) - C(theta) = eta^2/2 B(g, g)")
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
        ws = mod.make_workspace(X.shape[0])
        grad = np.empty(model.D)
        mod.loss_grad(theta0, X, Y, grad, ws)
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
