"""Hand-written, size-independent loops.

``run_rule`` is copied into the module of each optimizer variant a run asks for (as ``opt_<variant>``;
gradient descent is the variant ``gd``), with
``step_rule`` / ``lawv_rule`` renamed to that variant's generated step and law
(:func:`noether.kernels.codegen.rule_module_source`).

These functions are *templates*: the code generator copies their source into each model's
module, where ``loss_grad``, ``charges`` and ``charges_abs`` are that model's generated
functions, and compiles them there with ``@njit(cache=True)`` (so that each model
has its own numba cache entry).  They are never called from this module.
"""

# ruff: noqa: F821  (names resolved in the generated module)

import numpy as np

TEMPLATES = ["all_finite", "law_step_check", "gf_rhs", "bregman_rhs", "flow_rhs", "integrate_flow"]
#: inlined into their one caller (``flow_rhs``) in numba IR: each compiled function links and
#: re-optimizes the whole compiled code of its callees (loss_grad and below), so one level less saves
#: a re-optimization (measured on the quickstart MLP: the flows compile in 2.7 s of CPU instead of 4.0)
INLINE = {"gf_rhs", "bregman_rhs"}


def all_finite(x):
    for v in x:
        if not np.isfinite(v):
            return False
    return True


def law_step_check(c_now, c_next, a_now, a_next, rhs, rhs_abs, charge_resid):
    """max_q |ΔC_q − rhs_q| / scale_q for one step (also raising ``charge_resid``).
    The scale is the rounding scale (``charges_abs``) of both charges and of the rhs."""
    worst = 0.0
    for q in range(c_now.shape[0]):
        scale = a_now[q] + a_next[q] + rhs_abs[q] + 1e-300
        rel = abs((c_next[q] - c_now[q]) - rhs[q]) / scale
        if rel > worst:
            worst = rel
        if rel > charge_resid[q]:
            charge_resid[q] = rel
    return worst


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


def run_rule(theta0, S0, X, Y, hp, steps, batch_idx, use_batch, ws, check_law, record, record_grad,
             thetas, states, grads, Cs, losses, step_resid, charge_resid, gparts):
    """Any optimizer rule, gradient descent included (full batch, or the rows ``batch_idx[k]`` at
    step k) with every charge evaluated and, if ``check_law``, the derived exact law checked at
    every step: ``step_resid[k]`` is max_q |ΔC_q − rhs_q| / scale_q at step k, ``charge_resid[q]``
    the max over k.  ``record``: θ and the state (``S0`` may have no rows: a rule without state)
    at every step; ``record_grad``: the gradient too.  Without the check no scale and no law
    is computed.

    Returns the number of completed steps (< steps when the run went non-finite).
    ``gparts`` (P, D): row-chunk gradients of the ``_par`` copy, which the code generator makes
    with ``loss_grad_par`` (the batch in P chunks over threads); unused here, so that a serial
    run never compiles the parallel pass.  Every buffer is allocated here, once per run.
    """
    D = theta0.shape[0]
    nC = charge_resid.shape[0]
    theta = theta0.copy()
    S = S0.copy()
    grad = np.empty(D)
    nb = batch_idx.shape[1]
    Xb = np.empty((nb, X.shape[1]))
    Yb = np.empty((nb, Y.shape[1]))
    a_now, a_next = np.empty(nC), np.empty(nC)
    rhs, rhs_abs = np.zeros(nC), np.zeros(nC)
    scr = np.empty((LAW_ROWS, nC))
    wv = np.empty(D)
    lparts = np.empty(gparts.shape[0])
    charges(theta, Cs[0], 0)          # charges are written straight into their rows of Cs: no copies
    if check_law:
        charges_abs(theta, a_now, 0)
    if record:
        copy_vec(thetas[0], theta)
        copy_mat(states[0], S)
    for k in range(steps):
        if use_batch:
            for r in range(nb):
                copy_vec(Xb[r], X[batch_idx[k, r]])
                copy_vec(Yb[r], Y[batch_idx[k, r]])
            L = loss_grad(theta, Xb, Yb, grad, ws)
        else:
            L = loss_grad(theta, X, Y, grad, ws)
        losses[k] = L
        if not (np.isfinite(L) and all_finite(grad)):
            return k
        if record_grad:
            copy_vec(grads[k], grad)
        first = 1.0 if k == 0 else 0.0
        if check_law:
            lawv_rule(theta, grad, S, hp, first, rhs, rhs_abs, scr, wv)
        step_rule(theta, grad, S, hp, float(k), first)
        if not (all_finite(theta) and all_finite(S.ravel())):
            return k
        charges(theta, Cs[k + 1], 0)
        if check_law:
            charges_abs(theta, a_next, 0)
            step_resid[k] = law_step_check(Cs[k], Cs[k + 1], a_now, a_next, rhs, rhs_abs, charge_resid)
        if record:
            copy_vec(thetas[k + 1], theta)
            copy_mat(states[k + 1], S)
        a_now, a_next = a_next, a_now     # swap, no copy
    return steps


def flow_rhs(kind, t, y, out, X, Y, lr, gamma, ws, grad, gptr, rows, cols, vals):
    """kind 0: gradient flow at rate lr (``gf_rhs``); kind 1: the Bregman flow (``bregman_rhs``)."""
    if kind == 0:
        gf_rhs(y, X, Y, lr, ws, grad, out)
    else:
        bregman_rhs(t, y, X, Y, lr, gamma, ws, grad, gptr, rows, cols, vals, out)


def integrate_flow(kind, y0, T, n_out, budget, rtol, atol, A, B, C, E3, E5,
                   X, Y, lr, gamma, ws, grad, gptr, rows, cols, vals, ts, ys):
    """DOP853 (Hairer, Nørsett & Wanner, Solving ODEs I, §II.5; Dormand & Prince's 8(5,3) pair) with
    scipy's step-size control and initial step (scipy.integrate.DOP853), all in one compiled loop.

    Records (t, y) into ts/ys whenever t has advanced T/n_out since the last record, and at the end.
    Returns (records, status, evaluations): status 0 reached T, 1 evaluation budget spent, 2 step
    size below 10 ulp of t."""
    n = y0.shape[0]
    S = C.shape[0]
    K = np.empty((S + 1, n))
    y = y0.copy()
    ynew = np.empty(n)
    tmp = np.empty(n)
    f = np.empty(n)
    t = 0.0
    flow_rhs(kind, t, y, f, X, Y, lr, gamma, ws, grad, gptr, rows, cols, vals)
    nfev = 1
    # initial step (scipy.integrate._ivp.common.select_initial_step, error estimator order 7)
    d0 = 0.0
    d1 = 0.0
    for i in range(n):
        sc = atol + abs(y[i]) * rtol
        d0 += (y[i] / sc) ** 2
        d1 += (f[i] / sc) ** 2
    d0 = np.sqrt(d0 / n)
    d1 = np.sqrt(d1 / n)
    h0 = 1e-6 if (d0 < 1e-5 or d1 < 1e-5) else 0.01 * d0 / d1
    h0 = min(h0, T)
    for i in range(n):
        tmp[i] = y[i] + h0 * f[i]
    flow_rhs(kind, h0, tmp, ynew, X, Y, lr, gamma, ws, grad, gptr, rows, cols, vals)
    nfev += 1
    d2 = 0.0
    for i in range(n):
        sc = atol + abs(y[i]) * rtol
        d2 += ((ynew[i] - f[i]) / sc) ** 2
    d2 = np.sqrt(d2 / n) / h0
    if d1 <= 1e-15 and d2 <= 1e-15:
        h1 = max(1e-6, h0 * 1e-3)
    else:
        h1 = (0.01 / max(d1, d2)) ** (1.0 / 8.0)
    h_abs = min(100 * h0, h1, T)
    every = T / n_out
    ts[0] = 0.0
    copy_vec(ys[0], y)
    rec = 1
    status = 0
    while t < T:
        if nfev > budget:
            status = 1
            break
        min_step = 10 * abs(np.nextafter(t, np.inf) - t)
        if h_abs < min_step:
            h_abs = min_step
        rejected = False
        accepted = False
        while not accepted:
            if h_abs < min_step:
                status = 2
                break
            tnew = t + h_abs
            if tnew > T:
                tnew = T
            h = tnew - t
            h_abs = abs(h)
            for i in range(n):
                K[0, i] = f[i]
            for st in range(1, S):
                for i in range(n):
                    acc = 0.0
                    for r in range(st):
                        acc += K[r, i] * A[st, r]
                    tmp[i] = y[i] + acc * h
                flow_rhs(kind, t + C[st] * h, tmp, K[st], X, Y, lr, gamma, ws, grad, gptr, rows, cols, vals)
            for i in range(n):
                acc = 0.0
                for r in range(S):
                    acc += K[r, i] * B[r]
                ynew[i] = y[i] + h * acc
            flow_rhs(kind, t + h, ynew, K[S], X, Y, lr, gamma, ws, grad, gptr, rows, cols, vals)
            nfev += S
            e5 = 0.0
            e3 = 0.0
            for i in range(n):
                sc = atol + max(abs(y[i]), abs(ynew[i])) * rtol
                a5 = 0.0
                a3 = 0.0
                for r in range(S + 1):
                    a5 += K[r, i] * E5[r]
                    a3 += K[r, i] * E3[r]
                e5 += (a5 / sc) ** 2
                e3 += (a3 / sc) ** 2
            if e5 == 0.0 and e3 == 0.0:
                err = 0.0
            else:
                err = h_abs * e5 / np.sqrt((e5 + 0.01 * e3) * n)
            if err < 1:
                factor = 10.0 if err == 0 else min(10.0, 0.9 * err ** (-1.0 / 8.0))
                if rejected:
                    factor = min(1.0, factor)
                h_abs *= factor
                accepted = True
            else:
                h_abs *= max(0.2, 0.9 * err ** (-1.0 / 8.0))
                rejected = True
        if status == 2:
            break
        t = tnew
        for i in range(n):
            y[i] = ynew[i]
            f[i] = K[S, i]
        if t - ts[rec - 1] >= every or t >= T:
            ts[rec] = t
            copy_vec(ys[rec], y)
            rec += 1
    if ts[rec - 1] != t:
        ts[rec] = t
        copy_vec(ys[rec], y)
        rec += 1
    return rec, status, nfev
