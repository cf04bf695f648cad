"""``verify --optimizer``: an optimizer rule's exact laws (or measured drift), the discrete
Noether-momentum law of every generator, and the continuous predictions with measured error."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sps

from ..derive.continuous import prediction_errors, rotation_decay
from ..derive.derivation import derive
from ..derive.laws import derive_law, derive_state_law
from ..io import save_npz_atomic
from ..kernels.codegen import build_kernels
from ..optim import HYPER, make_rule
from .checks import Report
from .data import initial_parameters, load_data, random_data
from .optimizers import run_optimizer
from .recheck import eval_law
import sympy as sp

TOL_LAW = 1e-10     # each law is a per-step identity; float64 rounding is ~1e-15 of the term scale
STATE_NAMES = {"v": "velocity", "m": "first_moment", "s": "second_moment"}
MAX_DENSE = 4_000_000  # charge matrices saved in the trajectory when nC·D² is below this


def rule_from(opts):
    return make_rule(opts.optimizer, lr=opts.lr, **opts.hyper)


def charge_matrices(deriv):
    """Dense (A_q, c_q) of every explicit charge C_q = ½θᵀA_qθ + c_qᵀθ, from the sympy expressions."""
    syms = deriv.model.symbols
    D = len(syms)
    A = np.zeros((len(deriv.charges), D, D))
    c = np.zeros((len(deriv.charges), D))
    for q, ch in enumerate(deriv.charges):
        poly = sp.Poly(sp.expand(ch.expr), *syms)
        for mon, coef in poly.terms():
            nz = [i for i, e in enumerate(mon) if e]
            if sum(mon) == 1:
                c[q, nz[0]] = float(coef)
            elif len(nz) == 1:
                A[q, nz[0], nz[0]] = 2 * float(coef)
            else:
                A[q, nz[0], nz[1]] = A[q, nz[1], nz[0]] = float(coef)
    return A, c


def generator_sparse(g, D):
    out = []
    for k in range(len(g["gptr"]) - 1):
        s, e = g["gptr"][k], g["gptr"][k + 1]
        A = sps.csr_matrix((g["vals"][s:e], (g["rows"][s:e], g["cols"][s:e])), shape=(D, D))
        c = np.zeros(D)
        cs, ce = g["cptr"][k], g["cptr"][k + 1]
        np.add.at(c, g["cidx"][cs:ce], g["cvals"][cs:ce])
        out.append((A, c))
    return out


def state_law_residuals(rule, run, gens) -> tuple[object, np.ndarray]:
    """max_k |P_{k+1} − (ρP_k + source_k)| / scale per generator, P_k = X(θ_k)·s_k (numpy)."""
    law = derive_state_law(rule, general=True)
    n = run.completed
    vecs = {"theta": run.theta[:n], "g": run.grad[:n]}
    for i, s in enumerate(rule.state):
        vecs[s] = run.state[:n, i]
    first = np.zeros(n)
    first[0] = 1.0
    vals = rule.values()
    hyper = {k: vals[v] for k, v in HYPER.items()}
    out = np.zeros(len(gens))
    # The substituted identity X(θ_k)·g_k = 0 holds in float64 only to ε·|X(θ_k)|·(the size of the
    # terms summed into g_k), which does not shrink as g_k → 0 at convergence; max_k |g_k|∞ bounds
    # that size, so η·max|g|·Σ|X(θ_k)| joins the rounding scale.
    gscale = rule.lr * float(np.abs(run.grad).max()) if n else 0.0
    sv = run.state[:, rule.state.index(law.state)]
    for j, (A, c) in enumerate(gens):
        Pv = np.einsum("kd,kd->k", sv, np.asarray((A @ run.theta.T).T)) + sv @ c
        Pa = np.einsum("kd,kd->k", np.abs(sv), np.asarray((abs(A) @ np.abs(run.theta).T).T)) + np.abs(sv) @ np.abs(c)
        val, scale = eval_law(law.rhs, vecs, A, c, hyper, first, P=(Pv[:n], Pa[:n]))
        scale = scale + gscale * (np.asarray((abs(A) @ np.abs(run.theta[:n]).T).T).sum(axis=1) + np.abs(c).sum())
        out[j] = np.max(np.abs(Pv[1:n + 1] - val) / (scale + Pa[1:n + 1] + 1e-300)) if n else 0.0
    return law, out


def verify_optimizer(model, opts, progress=print, deriv=None, kernels=None) -> Report:
    rule = rule_from(opts)
    deriv = deriv or derive(model)
    deriv.require_charges("verify")
    if deriv.dim == 0 and not opts.trajectory:      # nothing to check, by design: say so, run nothing
        return Report(model.name, info={**rule.hyperparameters(), "steps": opts.steps, "seed": opts.seed,
                                        "n_charges": 0, "algebra_dim": 0})
    kern = kernels or build_kernels(deriv, opts.cache)
    X, Y = load_data(model, opts.data) if opts.data else random_data(model, opts.samples, opts.seed)
    theta0 = initial_parameters(model, opts.seed)
    names, fams = kern.layout.names, kern.layout.families
    law = derive_law(rule)
    rep = Report(model.name, info={**rule.hyperparameters(), "steps": opts.steps, "seed": opts.seed,
                                   "batch": opts.batch, "n_charges": len(names), "kernels": str(kern.path),
                                   "law": law.pretty(), "law_latex": law.latex(), "algebra_dim": deriv.dim})
    progress(f"  {rule.name}: {opts.steps} steps at lr={rule.lr} ({rule.describe()}) ...")
    run = run_optimizer(kern, rule, theta0, X, Y, opts.steps, batch=opts.batch, seed=opts.seed, record=True)
    if opts.trajectory:
        save_trajectory(opts.trajectory, model, deriv, rule, run, names, X, Y, law)
    if run.diverged:
        rep.diverged_at = run.completed
        return rep
    if law.closed:
        for q, name in enumerate(names):
            rep.add(name, rule.name, run.charge_resid[q], TOL_LAW, fams[q], law.pretty())
    else:
        scale = np.empty_like(run.charges)
        for k, th in enumerate(run.theta):
            kern.module.charges_abs(th, scale[k], 0)
        drift = np.abs(run.charges - run.charges[0]).max(axis=0) / (scale.max(axis=0) + 1e-300)
        rep.info["no_law_reason"] = f"{rule.name}: {law.note}"
        for q, name in enumerate(names):
            rep.measure(name, f"{rule.name}:drift", drift[q], fams[q],
                        "no closed law (kinetic symmetry breaking): measured relative drift")
    if law.closed and rule.state and kern.generators is not None and len(kern.generators["gptr"]) > 1:
        gens = deriv.algebra.generators
        slaw, res = state_law_residuals(rule, run, generator_sparse(kern.generators, model.D))
        rep.info["state_law"] = slaw.pretty()
        for j, gen in enumerate(gens):
            rep.add(f"P[{gen.name}]", f"{rule.name}:P", res[j], TOL_LAW, gen.family, "P_next = rho P + source")
        if rule.momentum > 0 and deriv.rotations:     # only a model that has rotations has their decay
            rep.info["rotation_decay"] = rotation_decay(rule.lr, rule.momentum, rule.dampening)
    if law.closed and opts.continuous:
        preds = prediction_errors(kern, rule, run, names)
        rep.info["continuous"] = [{"charge": p.charge, "kind": p.kind, "regime": p.regime, "error": p.error,
                                   "error_first_order": p.error_first_order} for p in preds]
    return rep


def save_trajectory(path, model, deriv, rule, run, names, X, Y, law):
    arrays = dict(parameters=np.array(model.parameters), theta=run.theta, charges=run.charges,
                  charge_names=np.array(names), X=X, Y=Y, loss=run.losses, completed_steps=run.completed,
                  grad=run.grad, optimizer=rule.name, law=str(law.rhs) if law.closed else "none",
                  **{k: v for k, v in rule.hyperparameters().items() if k != "optimizer"})
    for i, s in enumerate(rule.state):
        arrays[f"state_{STATE_NAMES.get(s, s)}"] = run.state[:, i]
    if run.batch_index is not None:
        arrays["batch_index"] = run.batch_index
    if deriv.charges is not None and len(deriv.charges) * model.D ** 2 <= MAX_DENSE \
            and len(deriv.charges) == len(names):
        A, c = charge_matrices(deriv)
        arrays["charge_A"], arrays["charge_c"] = A, c
    save_npz_atomic(path, **arrays)
