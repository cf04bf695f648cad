"""Numba primitives of multi-head self-attention (see noether.model.attention for the layout).

The backward pass recomputes Q, K, V and the softmax rows per sample (no stored activations).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True)
def _attn_sample(theta, oWQ, obQ, oWK, obK, oWV, obV, T, n, H, dk, dv, has_b, X, r, Q, K, V, A, Hc):
    """Q, K, V, A (per head) and the concatenated head outputs Hc of sample r."""
    scale = 1.0 / math.sqrt(dk)
    for h in range(H):
        for t in range(T):
            for a in range(dk):
                q = theta[obQ + h * dk + a] if has_b else 0.0
                k = theta[obK + h * dk + a] if has_b else 0.0
                for j in range(n):
                    q += theta[oWQ + (h * dk + a) * n + j] * X[r, t * n + j]
                    k += theta[oWK + (h * dk + a) * n + j] * X[r, t * n + j]
                Q[h, t, a] = q
                K[h, t, a] = k
            for c in range(dv):
                v = theta[obV + h * dv + c] if has_b else 0.0
                for j in range(n):
                    v += theta[oWV + (h * dv + c) * n + j] * X[r, t * n + j]
                V[h, t, c] = v
        for t in range(T):
            m = -np.inf
            for u in range(T):
                s = 0.0
                for a in range(dk):
                    s += Q[h, t, a] * K[h, u, a]
                A[h, t, u] = s * scale
                if A[h, t, u] > m:
                    m = A[h, t, u]
            z = 0.0
            for u in range(T):
                A[h, t, u] = math.exp(A[h, t, u] - m)
                z += A[h, t, u]
            for u in range(T):
                A[h, t, u] /= z
            for c in range(dv):
                s = 0.0
                for u in range(T):
                    s += A[h, t, u] * V[h, u, c]
                Hc[t, h * dv + c] = s


@njit(cache=True)
def attn_fwd(theta, oWQ, obQ, oWK, obK, oWV, obV, oWO, obO, T, n, H, dk, dv, nout, has_b, X, Z):
    """Z[r, t·nout + o] = Σ_c WO[o, c] Hc[t, c] + bO[o] for every sample r."""
    Q = np.empty((H, T, dk))
    K = np.empty((H, T, dk))
    V = np.empty((H, T, dv))
    A = np.empty((H, T, T))
    Hc = np.empty((T, H * dv))
    for r in range(X.shape[0]):
        _attn_sample(theta, oWQ, obQ, oWK, obK, oWV, obV, T, n, H, dk, dv, has_b, X, r, Q, K, V, A, Hc)
        for t in range(T):
            for o in range(nout):
                s = theta[obO + o] if has_b else 0.0
                for c in range(H * dv):
                    s += theta[oWO + o * H * dv + c] * Hc[t, c]
                Z[r, t * nout + o] = s


@njit(cache=True)
def attn_bwd(theta, grad, oWQ, obQ, oWK, obK, oWV, obV, oWO, obO, T, n, H, dk, dv, nout, has_b,
             X, dZ, dX, need_dx):
    """Parameter gradients (written into grad) and, if need_dx, dL/dX, by reverse-mode per sample."""
    scale = 1.0 / math.sqrt(dk)
    grad[oWQ:oWQ + H * dk * n] = 0.0
    grad[oWK:oWK + H * dk * n] = 0.0
    grad[oWV:oWV + H * dv * n] = 0.0
    grad[oWO:oWO + nout * H * dv] = 0.0
    if has_b:
        grad[obQ:obQ + H * dk] = 0.0
        grad[obK:obK + H * dk] = 0.0
        grad[obV:obV + H * dv] = 0.0
        grad[obO:obO + nout] = 0.0
    Q = np.empty((H, T, dk))
    K = np.empty((H, T, dk))
    V = np.empty((H, T, dv))
    A = np.empty((H, T, T))
    Hc = np.empty((T, H * dv))
    dH = np.empty((T, H * dv))
    dA = np.empty(T)
    dS = np.empty((T, T))
    dQ = np.empty((T, dk))
    dK = np.empty((T, dk))
    dV = np.empty((T, dv))
    for r in range(X.shape[0]):
        _attn_sample(theta, oWQ, obQ, oWK, obK, oWV, obV, T, n, H, dk, dv, has_b, X, r, Q, K, V, A, Hc)
        if need_dx:
            for i in range(T * n):
                dX[r, i] = 0.0
        for t in range(T):
            for c in range(H * dv):
                dH[t, c] = 0.0
            for o in range(nout):
                g = dZ[r, t * nout + o]
                if has_b:
                    grad[obO + o] += g
                for c in range(H * dv):
                    grad[oWO + o * H * dv + c] += g * Hc[t, c]
                    dH[t, c] += g * theta[oWO + o * H * dv + c]
        for h in range(H):
            for u in range(T):
                for c in range(dv):
                    s = 0.0
                    for t in range(T):
                        s += A[h, t, u] * dH[t, h * dv + c]
                    dV[u, c] = s
            for t in range(T):
                w = 0.0
                for u in range(T):
                    s = 0.0
                    for c in range(dv):
                        s += dH[t, h * dv + c] * V[h, u, c]
                    dA[u] = s
                    w += s * A[h, t, u]
                for u in range(T):
                    dS[t, u] = A[h, t, u] * (dA[u] - w) * scale
            for t in range(T):
                for a in range(dk):
                    sq = 0.0
                    sk = 0.0
                    for u in range(T):
                        sq += dS[t, u] * K[h, u, a]
                        sk += dS[u, t] * Q[h, u, a]
                    dQ[t, a] = sq
                    dK[t, a] = sk
            for t in range(T):
                for a in range(dk):
                    if has_b:
                        grad[obQ + h * dk + a] += dQ[t, a]
                        grad[obK + h * dk + a] += dK[t, a]
                    for j in range(n):
                        x = X[r, t * n + j]
                        grad[oWQ + (h * dk + a) * n + j] += dQ[t, a] * x
                        grad[oWK + (h * dk + a) * n + j] += dK[t, a] * x
                        if need_dx:
                            dX[r, t * n + j] += dQ[t, a] * theta[oWQ + (h * dk + a) * n + j] \
                                + dK[t, a] * theta[oWK + (h * dk + a) * n + j]
                for c in range(dv):
                    if has_b:
                        grad[obV + h * dv + c] += dV[t, c]
                    for j in range(n):
                        grad[oWV + (h * dv + c) * n + j] += dV[t, c] * X[r, t * n + j]
                        if need_dx:
                            dX[r, t * n + j] += dV[t, c] * theta[oWV + (h * dv + c) * n + j]
