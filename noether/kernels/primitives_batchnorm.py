"""Numba primitives of training-mode batch normalisation (see noether.model.batchnorm)."""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True)
def _bn_stats(X, eps):
    N, n = X.shape
    mu = np.zeros(n)
    s = np.zeros(n)
    for r in range(N):
        for i in range(n):
            mu[i] += X[r, i]
    for i in range(n):
        mu[i] /= N
    for r in range(N):
        for i in range(n):
            s[i] += (X[r, i] - mu[i]) ** 2
    for i in range(n):
        s[i] = math.sqrt(s[i] / N + eps)
    return mu, s


@njit(cache=True)
def bn_fwd(theta, og, ob, affine, eps, X, Z):
    """Z = (X − μ)/√(σ² + eps) (· g + β), batch statistics over the rows of X."""
    mu, s = _bn_stats(X, eps)
    for r in range(X.shape[0]):
        for i in range(X.shape[1]):
            v = (X[r, i] - mu[i]) / s[i]
            Z[r, i] = v * theta[og + i] + theta[ob + i] if affine else v


@njit(cache=True)
def bn_bwd(theta, grad, og, ob, affine, eps, X, dZ, dX, need_dx):
    """grad_g = Σ dZ·x̂, grad_β = Σ dZ; dX = (d − mean d − x̂ mean(d x̂))/s with d = dZ (· g)."""
    N, n = X.shape
    mu, s = _bn_stats(X, eps)
    if affine:
        for i in range(n):
            grad[og + i] = 0.0
            grad[ob + i] = 0.0
    md = np.zeros(n)
    mdx = np.zeros(n)
    for r in range(N):
        for i in range(n):
            xh = (X[r, i] - mu[i]) / s[i]
            d = dZ[r, i]
            if affine:
                grad[og + i] += d * xh
                grad[ob + i] += d
                d = d * theta[og + i]
            md[i] += d
            mdx[i] += d * xh
    if need_dx:
        for r in range(N):
            for i in range(n):
                xh = (X[r, i] - mu[i]) / s[i]
                d = dZ[r, i] * theta[og + i] if affine else dZ[r, i]
                dX[r, i] = (d - md[i] / N - xh * mdx[i] / N) / s[i]


@njit(cache=True)
def ch_rows(X, C):
    """(N, C·S) channel-major samples -> (N·S, C) rows: batchnorm over channels is the per-feature
    batchnorm of these rows (statistics over samples and positions)."""
    N, S = X.shape[0], X.shape[1] // C
    R = np.empty((N * S, C))
    for n in range(N):
        for c in range(C):
            for s in range(S):
                R[n * S + s, c] = X[n, c * S + s]
    return R


@njit(cache=True)
def ch_unrows(R, Z):
    """Inverse of :func:`ch_rows`, written into Z (N, C·S)."""
    N, C = Z.shape[0], R.shape[1]
    S = Z.shape[1] // C
    for n in range(N):
        for c in range(C):
            for s in range(S):
                Z[n, c * S + s] = R[n * S + s, c]
