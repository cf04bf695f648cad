"""Gram-form charge families by blocked BLAS products (issue 7), serial or split over threads.

A pair family G = Σ_t c_t M_t M_tᵀ (see :mod:`.gramform`) is formed as one product P Qᵀ with the
stacked operands P = [c_1 M_1, c_2 M_2, ...] and Q = [M_1, M_2, ...] (one GEMM per row block, written
into a reused scratch, no temporaries), upper triangle only.  Row blocks are split over threads in
pairs (block b with block nb−1−b) so that both threads get the same number of flops; every entry is
computed by the same product either way, so the serial and the parallel path give identical bits.

Scale (``absolute``): the Cauchy–Schwarz bound Σ_t |c_t| ‖M_t,i‖ ‖M_t,j‖ ≥ Σ_t |c_t| Σ_k |M_t,ik M_t,jk|
(the abs-term sum the printed loops use).  Both are the scale of the dot products' rounding error
(Higham 2002, §3.1: |fl(aᵀb) − aᵀb| ≤ γ_K Σ|a_k b_k| ≤ γ_K ‖a‖‖b‖); the bound costs O(T h²) instead
of a second O(h² K) product, and for rows that are not sparse it is within ~π/2 of the abs-term sum.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

GRAM_BLOCK = 64            # fewest rows of G per BLAS product
GRAM_NBLOCKS = 8           # row blocks when h/8 > GRAM_BLOCK: wider products, still 4 balanced pairs.
#                            linear 64-1024-10 charges (2 threads): 64-row blocks 2.3 ms, 128-row 1.5 ms
GRAM_PAR_FLOPS = 8.0e6     # h²K at and above which the row blocks are split over threads (see noether bench)


@njit(cache=True)
def _block_rows(h):
    """h/8 rows, at least GRAM_BLOCK and at most 2·GRAM_BLOCK (a 128 × h scratch per thread; only
    measured up to h = 1024)."""
    return min(max(GRAM_BLOCK, (h + GRAM_NBLOCKS - 1) // GRAM_NBLOCKS), 2 * GRAM_BLOCK)


@njit(cache=True)
def gram_operands(x, h, offs, n0, n1, axes, coefs):
    """P = [c_t M_t]_t and Q = [M_t]_t, each (h, ΣK_t), C-ordered."""
    T = offs.shape[0]
    K = 0
    for t in range(T):
        K += n1[t] if axes[t] == 0 else n0[t]
    P = np.empty((h, K))
    Q = np.empty((h, K))
    c = 0
    for t in range(T):
        blk = x[offs[t]:offs[t] + n0[t] * n1[t]].reshape((n0[t], n1[t]))
        if axes[t] == 0:
            for i in range(h):
                for k in range(n1[t]):
                    v = blk[i, k]
                    P[i, c + k] = coefs[t] * v
                    Q[i, c + k] = v
            c += n1[t]
        else:
            for k in range(n0[t]):
                for i in range(h):
                    v = blk[k, i]
                    P[i, c + k] = coefs[t] * v
                    Q[i, c + k] = v
            c += n0[t]
    return P, Q


@njit(cache=True)
def _pair_index(i, h):
    """Position of (i, i+1) in the row-major list of pairs (a, b), a < b < h."""
    return i * (h - 1) - i * (i - 1) // 2


@njit(cache=True)
def gram_block(P, Q, h, b, B, buf, out, start):
    """Rows b·B .. of G against columns b·B .. h, upper entries into out (one GEMM into buf)."""
    i0 = b * B
    i1 = min(i0 + B, h)
    r, c = i1 - i0, h - i0
    G = buf[:r * c].reshape((r, c))
    np.dot(P[i0:i1], Q[i0:].T, G)
    for i in range(i0, i1):
        n = start + _pair_index(i, h)
        for j in range(i + 1, h):
            out[n] = G[i - i0, j - i0]
            n += 1


@njit(cache=True)
def gram_blocks_serial(P, Q, h, out, start):
    B = _block_rows(h)
    buf = np.empty(B * h)
    for b in range((h + B - 1) // B):
        gram_block(P, Q, h, b, B, buf, out, start)


@njit(cache=True, parallel=True)
def gram_blocks_parallel(P, Q, h, out, start):
    """Block pairs (b, nb−1−b) over threads: equal flops per iteration."""
    B = _block_rows(h)
    nb = (h + B - 1) // B
    for p in prange((nb + 1) // 2):
        buf = np.empty(B * h)
        gram_block(P, Q, h, p, B, buf, out, start)
        q = nb - 1 - p
        if q != p:
            gram_block(P, Q, h, q, B, buf, out, start)


@njit(cache=True)
def gram_scale(x, out, start, h, offs, n0, n1, axes, coefs):
    """out[start + n] = Σ_t |c_t| ‖M_t,i‖ ‖M_t,j‖ for i < j (row-major)."""
    T = offs.shape[0]
    nr = np.zeros((T, h))
    for t in range(T):
        blk = x[offs[t]:offs[t] + n0[t] * n1[t]].reshape((n0[t], n1[t]))
        if axes[t] == 0:
            for i in range(h):
                s = 0.0
                for k in range(n1[t]):
                    s += blk[i, k] * blk[i, k]
                nr[t, i] = np.sqrt(s)
        else:
            for k in range(n0[t]):
                for i in range(h):
                    nr[t, i] += blk[k, i] * blk[k, i]
            for i in range(h):
                nr[t, i] = np.sqrt(nr[t, i])
    n = start
    for i in range(h):
        m = h - i - 1
        for j in range(m):                  # term by term along the row (vectorises: no reduction)
            out[n + j] = 0.0
        for t in range(T):
            a = abs(coefs[t]) * nr[t, i]
            for j in range(m):
                out[n + j] += a * nr[t, i + 1 + j]
        n += m
    return n


@njit(cache=True)
def gram_pair(x, out, start, h, offs, n0, n1, axes, coefs, absolute, parallel=-1):
    """out[start + n] = G[i, j] for i < j (row-major), G = Σ_t coef_t M_t M_tᵀ; returns the next position.

    M_t is block t of x (shape n0×n1 at offs[t]) if axes[t] == 0, its transpose if 1 (a 1-D block
    has n1 = 1).  With ``absolute``, the Cauchy–Schwarz scale of each entry (module docstring).
    ``parallel``: 1 split over threads, 0 serial, −1 by size (h²K >= GRAM_PAR_FLOPS)."""
    if absolute:
        return gram_scale(x, out, start, h, offs, n0, n1, axes, coefs)
    P, Q = gram_operands(x, h, offs, n0, n1, axes, coefs)
    par = parallel == 1 or (parallel == -1 and float(h) * h * P.shape[1] >= GRAM_PAR_FLOPS)
    if par:
        gram_blocks_parallel(P, Q, h, out, start)
    else:
        gram_blocks_serial(P, Q, h, out, start)
    return start + h * (h - 1) // 2


@njit(cache=True, parallel=True)
def row_dots3(a, b, c, out):
    """The row dot products of three matrices in one pass: out[i] = (a_i·a_i, b_i·b_i, c_i·c_i,
    a_i·b_i, a_i·c_i, b_i·c_i), summed in float64 whatever the inputs' float type (each product of
    float32 values is exact in float64).  Rows are split over threads; each row's sums run in one
    order, so the result does not depend on the thread count."""
    for i in prange(a.shape[0]):
        s0 = s1 = s2 = s3 = s4 = s5 = 0.0
        for j in range(a.shape[1]):
            x, y, z = np.float64(a[i, j]), np.float64(b[i, j]), np.float64(c[i, j])
            s0 += x * x
            s1 += y * y
            s2 += z * z
            s3 += x * y
            s4 += x * z
            s5 += y * z
        out[i, 0], out[i, 1], out[i, 2], out[i, 3], out[i, 4], out[i, 5] = s0, s1, s2, s3, s4, s5


@njit(cache=True, parallel=True)
def row_sq(a, out):
    """out[i] = a_i·a_i in float64 (as :func:`row_dots3` for one matrix)."""
    for i in prange(a.shape[0]):
        s = 0.0
        for j in range(a.shape[1]):
            x = np.float64(a[i, j])
            s += x * x
        out[i] = s
