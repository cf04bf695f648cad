"""Hand-written, size-independent loops.

``run_rule`` is copied once per optimizer variant (as ``opt_<variant>``), with ``step_rule`` / ``lawv_rule`` renamed
to that variant's generated step and law (:func:`noether.kernels.codegen.rule_code`).

These functions are *templates*: the code generator copies their source into each model's
module, where ``loss_grad``, ``charges``, ``charges_abs`` and ``law_gd`` are that model's
generated functions, and compiles them there with ``@njit(cache=True)`` (so that each model
has its own numba cache entry).  They are never called from this module.
"""

# ruff: noqa: F821  (names resolved in the generated module)

import numpy as np

TEMPLATES = ["all_finite", "law_step_check", "shift_charges", "run_gd", "gf_rhs", "bregman_rhs"]


def all_finite(x):
    for v in x:
        if not np.isfinite(v):
            return False
    return True


def law_step_check(c_now, c_next, a_now, a_next, rhs, rhs_abs, charge_resid):
    """max_q |ΔC_q − rhs_q| / scale_q for one step (also raising ``charge_resid``), then
    c_next/a_next become c_now/a_now.  The scale is the |terms| of both charges and of the rhs."""
    worst = 0.0
    for q in range(c_now.shape[0]):
        scale = a_now[q] + a_next[q] + rhs_abs[q] + 1e-300
        rel = abs((c_next[q] - c_now[q]) - rhs[q]) / scale
        if rel > worst:
            worst = rel
        if rel > charge_resid[q]:
            charge_resid[q] = rel
    return worst


def shift_charges(c_now, c_next, a_now, a_next):
    for q in range(c_now.shape[0]):
        c_now[q] = c_next[q]
        a_now[q] = a_next[q]


def run_gd(theta0, X, Y, lr, steps, ws, record, thetas, Cs, losses, step_resid, charge_resid):
    """Full-batch GD with every charge and the exact GD law checked at every step.

    Returns the number of completed steps (< steps when the run went non-finite).
    ``step_resid[k]`` is max_q |ΔC_q − rhs_q| / scale_q at step k; ``charge_resid[q]`` the max over k.
    """
    D = theta0.shape[0]
    nC = charge_resid.shape[0]
    theta = theta0.copy()
    grad = np.empty(D)
    c_now, c_next = np.empty(nC), np.empty(nC)
    a_now, a_next = np.empty(nC), np.empty(nC)
    rhs, rhs_abs = np.empty(nC), np.empty(nC)
    charges(theta, c_now, 0)
    charges_abs(theta, a_now, 0)
    if record:
        thetas[0, :] = theta
    Cs[0, :] = c_now
    for k in range(steps):
        L = loss_grad(theta, X, Y, grad, ws)
        losses[k] = L
        if not (np.isfinite(L) and all_finite(grad)):
            return k
        law_gd(theta, grad, lr, rhs, rhs_abs)
        for r in range(D):
            theta[r] -= lr * grad[r]
        if not all_finite(theta):
            return k
        charges(theta, c_next, 0)
        charges_abs(theta, a_next, 0)
        step_resid[k] = law_step_check(c_now, c_next, a_now, a_next, rhs, rhs_abs, charge_resid)
        if record:
            thetas[k + 1, :] = theta
        Cs[k + 1, :] = c_next
        shift_charges(c_now, c_next, a_now, a_next)
    return steps


def gf_rhs(theta, X, Y, lr, ws, grad, out):
    """Gradient flow θ̇ = −η ∇L(θ)."""
    loss_grad(theta, X, Y, grad, ws)
    for r in range(theta.shape[0]):
        out[r] = -lr * grad[r]


def bregman_rhs(t, state, X, Y, lr, gamma, ws, grad, gptr, rows, cols, vals, out):
    """Second-order Bregman flow θ̈ = −γθ̇ − γη∇V, plus q̇_k = e^{γt} θ̇ᵀA_kθ̇ / η per generator."""
    D = grad.shape[0]
    theta = state[:D]
    vel = state[D:2 * D]
    loss_grad(theta, X, Y, grad, ws)
    for r in range(D):
        out[r] = vel[r]
        out[D + r] = -gamma * vel[r] - gamma * lr * grad[r]
    G = len(gptr) - 1
    src = out[2 * D:2 * D + G]
    fields_quadratic(gptr, rows, cols, vals, vel, src)
    w = np.exp(gamma * t) / lr
    for k in range(G):
        src[k] *= w


def run_rule(theta0, S0, X, Y, hp, steps, batch_idx, use_batch, ws, check_law, record,
             thetas, states, grads, Cs, losses, step_resid, charge_resid):
    """Any optimizer rule (full batch, or the rows ``batch_idx[k]`` at step k) with every charge
    evaluated and, if ``check_law``, the derived exact law checked at every step.

    Returns the number of completed steps (< steps when the run went non-finite).
    """
    D = theta0.shape[0]
    nC = charge_resid.shape[0]
    theta = theta0.copy()
    S = S0.copy()
    grad = np.empty(D)
    nb = batch_idx.shape[1]
    Xb = np.empty((nb, X.shape[1]))
    Yb = np.empty((nb, Y.shape[1]))
    c_now, c_next = np.empty(nC), np.empty(nC)
    a_now, a_next = np.empty(nC), np.empty(nC)
    rhs, rhs_abs = np.zeros(nC), np.zeros(nC)
    charges(theta, c_now, 0)
    charges_abs(theta, a_now, 0)
    if record:
        thetas[0, :] = theta
        states[0, :, :] = S
    Cs[0, :] = c_now
    for k in range(steps):
        if use_batch:
            for r in range(nb):
                Xb[r, :] = X[batch_idx[k, r], :]
                Yb[r, :] = Y[batch_idx[k, r], :]
            L = loss_grad(theta, Xb, Yb, grad, ws)
        else:
            L = loss_grad(theta, X, Y, grad, ws)
        losses[k] = L
        if not (np.isfinite(L) and all_finite(grad)):
            return k
        if record:
            grads[k, :] = grad
        first = 1.0 if k == 0 else 0.0
        if check_law:
            lawv_rule(theta, grad, S, hp, first, rhs, rhs_abs)
        step_rule(theta, grad, S, hp, float(k), first)
        if not (all_finite(theta) and all_finite(S.ravel())):
            return k
        charges(theta, c_next, 0)
        charges_abs(theta, a_next, 0)
        if check_law:
            step_resid[k] = law_step_check(c_now, c_next, a_now, a_next, rhs, rhs_abs, charge_resid)
        if record:
            thetas[k + 1, :] = theta
            states[k + 1, :, :] = S
        Cs[k + 1, :] = c_next
        shift_charges(c_now, c_next, a_now, a_next)
    return steps
