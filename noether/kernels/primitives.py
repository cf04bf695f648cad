"""Hand-written, size-independent numba primitives the generated modules call.

fastmath stays off everywhere: the laws are checked to 1e-10 relative.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def linear_fwd(theta, oW, ob, n_in, n_out, has_b, X, Z):
    """Z = X Wᵀ + b for a batch X (N, n_in)."""
    W = theta[oW:oW + n_out * n_in].reshape((n_out, n_in))
    np.dot(X, W.T, Z)
    if has_b:
        for r in range(Z.shape[0]):
            for o in range(n_out):
                Z[r, o] += theta[ob + o]


@njit(cache=True)
def linear_bwd(theta, grad, oW, ob, n_in, n_out, has_b, X, dZ, dX, need_dx):
    """grad_W = dZᵀX, grad_b = Σ_rows dZ, and (if need_dx) dX = dZ W."""
    gW = grad[oW:oW + n_out * n_in].reshape((n_out, n_in))
    np.dot(dZ.T, X, gW)
    if has_b:
        for o in range(n_out):
            s = 0.0
            for r in range(dZ.shape[0]):
                s += dZ[r, o]
            grad[ob + o] = s
    if need_dx:
        W = theta[oW:oW + n_out * n_in].reshape((n_out, n_in))
        np.dot(dZ, W, dX)


@njit(cache=True)
def mse_loss_grad(F, Y, dF):
    """L = (1/N) Σ ½‖f − y‖²; dF = (F − Y)/N."""
    N = F.shape[0]
    L = 0.0
    for r in range(N):
        for o in range(F.shape[1]):
            e = F[r, o] - Y[r, o]
            L += 0.5 * e * e
            dF[r, o] = e / N
    return L / N


@njit(cache=True)
def fields_dot(gptr, rows, cols, vals, cptr, cidx, cvals, theta, v, out):
    """out[k] = (A_k θ + c_k)·v for sparse generators k (CSR-like by generator)."""
    for k in range(len(gptr) - 1):
        s = 0.0
        for e in range(gptr[k], gptr[k + 1]):
            s += vals[e] * theta[cols[e]] * v[rows[e]]
        for e in range(cptr[k], cptr[k + 1]):
            s += cvals[e] * v[cidx[e]]
        out[k] = s


@njit(cache=True)
def fields_quadratic(gptr, rows, cols, vals, v, out):
    """out[k] = vᵀ A_k v."""
    for k in range(len(gptr) - 1):
        s = 0.0
        for e in range(gptr[k], gptr[k + 1]):
            s += vals[e] * v[rows[e]] * v[cols[e]]
        out[k] = s


@njit(cache=True)
def fields_dot_abs(gptr, rows, cols, vals, cptr, cidx, cvals, theta, v, out):
    """Σ |terms| of :func:`fields_dot`: the scale its rounding error is relative to."""
    for k in range(len(gptr) - 1):
        s = 0.0
        for e in range(gptr[k], gptr[k + 1]):
            s += abs(vals[e] * theta[cols[e]] * v[rows[e]])
        for e in range(cptr[k], cptr[k + 1]):
            s += abs(cvals[e] * v[cidx[e]])
        out[k] = s


@njit(cache=True)
def fields_quadratic_abs(gptr, rows, cols, vals, v, out):
    for k in range(len(gptr) - 1):
        s = 0.0
        for e in range(gptr[k], gptr[k + 1]):
            s += abs(vals[e] * v[rows[e]] * v[cols[e]])
        out[k] = s
