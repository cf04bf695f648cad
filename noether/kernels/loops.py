"""Hand-written, model-independent loops, compiled once per install.

``run_rule`` runs any optimizer rule (gradient descent included) and ``integrate_flow`` integrates
the gradient and Bregman flows.  Neither knows a model: the model's loss/gradient pass, its charges
and the rule's law and step reach them as numba first-class functions (``types.FunctionType``) of
the fixed signatures below, compiled in the generated modules.  The loops themselves are compiled
with those signatures and cached by numba beside this file, so a new model compiles only its own
functions (its forward/backward pass, charges, law and step), not the loops around them.

A generated function is handed to a loop through :func:`bind`, which compiles it for the loop's
signature (or loads it from numba's cache).

Numba keys the cache of these loops by this file alone: after editing a primitive they call
(``copy_vec``, ``copy_mat``, ``fields_quadratic``) in a source checkout, delete this package's
``__pycache__/loops.*.nb*`` files, or the loops keep the old primitive's compiled code.
"""

import numpy as np
from numba import njit, types

from .primitives import copy_mat, copy_vec, fields_quadratic

_f8, _i8, _b1 = types.float64, types.int64, types.boolean
_V, _M = types.Array(_f8, 1, "C"), types.Array(_f8, 2, "C")
_T3, _IV, _IM = types.Array(_f8, 3, "C"), types.Array(_i8, 1, "C"), types.Array(_i8, 2, "C")

#: ``loss_grad(theta, X, Y, grad, ws, gparts, lparts) -> loss``: the model's pass on a flat
#: workspace (``make_workspace``); its row-chunked copy ``loss_grad_par`` has the same form
LOSS_GRAD = types.FunctionType(_f8(_V, _M, _M, _V, _V, _M, _V))
#: ``charges(x, out, start) -> next index`` (and ``charges_abs``, their rounding scale)
CHARGES = types.FunctionType(_i8(_V, _V, _i8))
#: ``lawv_<variant>(theta, grad, S, hp, first, out, out_abs, scr, wv, charges_quad, charges_lin,
#: charges_abs)``: a rule's exact law, evaluated through the model's charge parts it is handed
LAW = types.FunctionType(types.none(_V, _V, _M, _V, _f8, _V, _V, _M, _V, CHARGES, CHARGES, CHARGES))
#: ``step_<variant>(theta, grad, S, hp, k, first)``: one step of a rule, in place
STEP = types.FunctionType(types.none(_V, _V, _M, _V, _f8, _f8))


@njit(CHARGES.signature, cache=True)
def no_charges(x, out, start):
    """A charge part no law calls (the runner passes it in place of one it does not compile)."""
    return start


def bind(dispatcher, ftype):
    """``dispatcher`` compiled for the signature of ``ftype`` (from numba's cache when it is there),
    ready to be passed to a loop here."""
    dispatcher.compile(ftype.signature.args)
    return dispatcher


@njit(cache=True)
def all_finite(x):
    for v in x:
        if not np.isfinite(v):
            return False
    return True


@njit(cache=True)
def polarise(u, v, out, out_abs, scr, w, charges_quad, charges_abs):
    """B(u, v) = quad(u + v) − quad(u) − quad(v) of the charges' quadratic part ``charges_quad``, into
    out, and its rounding scale from ``charges_abs``; scratch: scr[0:4] and w (no allocation)."""
    n = out.shape[0]
    b, c, tb, tc = scr[0], scr[1], scr[2], scr[3]
    for r in range(w.shape[0]):
        w[r] = u[r] + v[r]
    charges_quad(w, out, 0)
    charges_quad(u, b, 0)
    charges_quad(v, c, 0)
    charges_abs(w, out_abs, 0)
    charges_abs(u, tb, 0)
    charges_abs(v, tc, 0)
    for q in range(n):
        out[q] = out[q] - b[q] - c[q]
        out_abs[q] = out_abs[q] + tb[q] + tc[q]


@njit(cache=True)
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


@njit(cache=True, inline="always")
def gf_rhs(loss_grad, theta, X, Y, lr, ws, gparts, lparts, grad, out):
    """Gradient flow θ̇ = −η ∇L(θ)."""
    loss_grad(theta, X, Y, grad, ws, gparts, lparts)
    for r in range(theta.shape[0]):
        out[r] = -lr * grad[r]


@njit(cache=True, inline="always")
def bregman_rhs(loss_grad, t, state, X, Y, lr, gamma, ws, gparts, lparts, grad, gptr, rows, cols, vals, out):
    """Second-order Bregman flow θ̈ = −γθ̇ − γη∇V, plus q̇_k = e^{γt} θ̇ᵀA_kθ̇ / η per generator."""
    D = grad.shape[0]
    theta = state[:D]
    vel = state[D:2 * D]
    loss_grad(theta, X, Y, grad, ws, gparts, lparts)
    for r in range(D):
        out[r] = vel[r]
        out[D + r] = -gamma * vel[r] - gamma * lr * grad[r]
    G = len(gptr) - 1
    src = out[2 * D:2 * D + G]
    fields_quadratic(gptr, rows, cols, vals, vel, src)
    w = np.exp(gamma * t) / lr
    for k in range(G):
        src[k] *= w


@njit(_i8(LOSS_GRAD, LAW, STEP, CHARGES, CHARGES, CHARGES, CHARGES, _V, _M, _M, _M, _V, _i8, _IM, _b1, _V,
          _b1, _b1, _b1, _M, _T3, _M, _M, _V, _V, _V, _M, _i8), cache=True)
def run_rule(loss_grad, lawv, step, charges, charges_abs, charges_quad, charges_lin, theta0, S0, X, Y, hp,
             steps, batch_idx, use_batch, ws, check_law, record, record_grad, thetas, states, grads, Cs, losses,
             step_resid, charge_resid, gparts, law_rows):
    """Any optimizer rule, gradient descent included (full batch, or the rows ``batch_idx[k]`` at
    step k) with every charge evaluated and, if ``check_law``, the derived exact law checked at
    every step: ``step_resid[k]`` is max_q |ΔC_q − rhs_q| / scale_q at step k, ``charge_resid[q]``
    the max over k.  ``record``: θ and the state (``S0`` may have no rows: a rule without state)
    at every step; ``record_grad``: the gradient too.  Without the check no scale and no law
    is computed.

    ``loss_grad`` is the model's serial or row-chunked pass (``gparts`` (P, D): the chunks'
    gradients), ``charges``, ``charges_abs``, ``charges_quad``, ``charges_lin`` its charges, their
    rounding scale and their quadratic and linear parts; ``lawv`` and ``step`` the rule's generated
    law and step, ``law_rows`` the scratch rows its law uses (``LAW_ROWS`` of its module).
    Returns the number of completed steps (< steps when the run went non-finite).  Every buffer is
    allocated here, once per run.
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
    scr = np.empty((law_rows, nC))
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
            L = loss_grad(theta, Xb, Yb, grad, ws, gparts, lparts)
        else:
            L = loss_grad(theta, X, Y, grad, ws, gparts, lparts)
        losses[k] = L
        if not (np.isfinite(L) and all_finite(grad)):
            return k
        if record_grad:
            copy_vec(grads[k], grad)
        first = 1.0 if k == 0 else 0.0
        if check_law:
            lawv(theta, grad, S, hp, first, rhs, rhs_abs, scr, wv, charges_quad, charges_lin, charges_abs)
        step(theta, grad, S, hp, float(k), first)
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


@njit(cache=True)
def flow_rhs(loss_grad, kind, t, y, out, X, Y, lr, gamma, ws, gparts, lparts, grad, gptr, rows, cols, vals):
    """kind 0: gradient flow at rate lr (``gf_rhs``); kind 1: the Bregman flow (``bregman_rhs``)."""
    if kind == 0:
        gf_rhs(loss_grad, y, X, Y, lr, ws, gparts, lparts, grad, out)
    else:
        bregman_rhs(loss_grad, t, y, X, Y, lr, gamma, ws, gparts, lparts, grad, gptr, rows, cols, vals, out)


@njit(types.UniTuple(_i8, 3)(LOSS_GRAD, _i8, _V, _f8, _i8, _i8, _f8, _f8, _M, _V, _V, _V, _V, _M, _M, _f8,
                             _f8, _V, _V, _M, _V, _IV, _IV, _IV, _V, _V, _M), cache=True)
def integrate_flow(loss_grad, kind, y0, T, n_out, budget, rtol, atol, A, B, C, E3, E5,
                   X, Y, lr, gamma, ws, grad, gparts, lparts, gptr, rows, cols, vals, ts, ys):
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
    flow_rhs(loss_grad, kind, t, y, f, X, Y, lr, gamma, ws, gparts, lparts, grad, gptr, rows, cols, vals)
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
    flow_rhs(loss_grad, kind, h0, tmp, ynew, X, Y, lr, gamma, ws, gparts, lparts, grad, gptr, rows, cols, vals)
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
                flow_rhs(loss_grad, kind, t + C[st] * h, tmp, K[st], X, Y, lr, gamma, ws, gparts, lparts, grad,
                         gptr, rows, cols, vals)
            for i in range(n):
                acc = 0.0
                for r in range(S):
                    acc += K[r, i] * B[r]
                ynew[i] = y[i] + h * acc
            flow_rhs(loss_grad, kind, t + h, ynew, K[S], X, Y, lr, gamma, ws, gparts, lparts, grad,
                     gptr, rows, cols, vals)
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
