"""Numba primitive of the softmax cross-entropy loss (see noether.model.loss.CrossEntropy)."""

from __future__ import annotations

import math

from numba import njit


@njit(cache=True)
def ce_loss_grad(F, Y, dF):
    """L = (1/N) Σ_n [(Σy) logsumexp(f) − y·f]; dF = ((Σy) softmax(f) − y)/N (max-shifted)."""
    N, K = F.shape
    L = 0.0
    for r in range(N):
        m = F[r, 0]
        for o in range(1, K):
            if F[r, o] > m:
                m = F[r, o]
        s = 0.0
        for o in range(K):
            s += math.exp(F[r, o] - m)
        lse = m + math.log(s)
        ys = 0.0
        yf = 0.0
        for o in range(K):
            ys += Y[r, o]
            yf += Y[r, o] * F[r, o]
        L += ys * lse - yf
        for o in range(K):
            dF[r, o] = (ys * math.exp(F[r, o] - lse) - Y[r, o]) / N
    return L / N
