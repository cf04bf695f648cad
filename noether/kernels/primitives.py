"""Hand-written, size-independent numba primitives the generated modules call.

fastmath stays off everywhere: the laws are checked to 1e-10 relative.
"""

from __future__ import annotations

import ctypes
import functools
import glob
import os
import time

import numba
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
        # row-major sweep (dZ is C-ordered): the column sums accumulate in the order r = 0, 1, ...
        for o in range(n_out):
            grad[ob + o] = 0.0
        for r in range(dZ.shape[0]):
            for o in range(n_out):
                grad[ob + o] += dZ[r, o]
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
def copy_vec(dst, src):
    """dst[:] = src (1-d, same length), element by element.  The run loops copy with these instead
    of slice assignment, whose shape check makes numba compile its string formatting (about 2 s in
    every fresh process; these are compiled once per install)."""
    for i in range(src.shape[0]):
        dst[i] = src[i]


@njit(cache=True)
def copy_mat(dst, src):
    """dst[:, :] = src (2-d, same shape), element by element (see :func:`copy_vec`)."""
    for r in range(src.shape[0]):
        for c in range(src.shape[1]):
            dst[r, c] = src[r, c]


@njit(cache=True)
def sparse_charges(x, out, start, qptr, qr, qs, qv, lptr, li, lv, part, absolute):
    """Charges C_k = Σ qv·x[qr]·x[qs] + Σ lv·x[li] from CSR-by-charge arrays: ``part`` 0 both
    degrees, 1 the quadratic part, 2 the linear part; ``absolute`` sums |term| (the rounding
    scale).  Compiled once per install, whatever the model: used when the explicit charges are
    too long to print as expressions (numba compiles a printed 1000-term sum for minutes)."""
    n = qptr.shape[0] - 1
    for k in range(n):
        acc = 0.0
        if part != 2:
            for t in range(qptr[k], qptr[k + 1]):
                v = qv[t] * x[qr[t]] * x[qs[t]]
                acc += abs(v) if absolute else v
        if part != 1:
            for t in range(lptr[k], lptr[k + 1]):
                v = lv[t] * x[li[t]]
                acc += abs(v) if absolute else v
        out[start + k] = acc
    return start + n


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



# Gram-form pair families: noether/kernels/primitives_gram.py (re-exported below)


# ---- BLAS threads (plain Python: numba's np.dot runs in the calling thread's BLAS pool) ----
_SET_NAMES = ("openblas_set_num_threads", "scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
              "openblas_set_num_threads64_")
_GET_NAMES = tuple(n.replace("set_", "get_") for n in _SET_NAMES)


@functools.lru_cache(maxsize=1)
def _openblas_handles():
    """(get, set) ctypes functions of every OpenBLAS numpy / scipy ship (the one numba's np.dot uses
    is scipy's); the libraries are already loaded, so CDLL returns the live instance.  Found once."""
    import scipy.linalg.cython_blas  # noqa: F401  (lazy: loads scipy's OpenBLAS, the one numba calls)
    out = []
    for mod in ("numpy", "scipy"):
        base = os.path.dirname(os.path.dirname(__import__(mod).__file__))
        for path in glob.glob(os.path.join(base, f"{mod}.libs", "*openblas*.so*")):
            try:
                lib = ctypes.CDLL(path)
            except OSError:
                continue
            for g, s in zip(_GET_NAMES, _SET_NAMES):
                if hasattr(lib, g) and hasattr(lib, s):
                    out.append((getattr(lib, g), getattr(lib, s)))
                    break
    return out


class blas_threads:
    """``with blas_threads(1): ...`` runs BLAS single-threaded and restores the previous counts.

    On a 2-core machine a 2-thread BLAS pays only for large products, and under other load its
    threads' busy-waiting can cost 10x (measured by ``noether bench``); OpenBLAS only."""

    def __init__(self, n: int):
        self.n, self.saved = n, []

    def __enter__(self):
        try:
            hs = _openblas_handles()
        except (ImportError, OSError):
            hs = []
        self.saved = [(s, g()) for g, s in hs]
        for s, _ in self.saved:
            s(int(self.n))
        return self

    def __exit__(self, *exc):
        for s, n in self.saved:
            s(int(n))
        return False


BLAS_MT_FLOPS = 1.0e9   # per GD step; below this one BLAS thread is as fast on 2 cores (noether bench)


def blas_threads_for(flops_per_step: float) -> int:
    """BLAS threads for a GD step of that many dense flops: all cores only for steps of at least
    BLAS_MT_FLOPS and when no other process is runnable (:func:`busy_cores`; an oversubscribed
    OpenBLAS spins: measured 10-30x slower by ``noether bench`` on a busy 2-core machine); else 1."""
    n = os.cpu_count() or 1
    if flops_per_step < BLAS_MT_FLOPS or n == 1:
        return 1
    return n if busy_cores() <= 0 else 1


def _own_running() -> int:
    """Running threads of this process (its idle-spinning BLAS/XLA pools are not other load)."""
    n = 0
    try:
        for tid in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{tid}/stat") as fh:
                n += fh.read().rsplit(")", 1)[1].split()[0] == "R"
    except (OSError, IndexError):
        return 1
    return max(n, 1)


def busy_cores(samples: int = 3) -> int:
    """Runnable tasks of *other* processes now: the 4th field of /proc/loadavg (runnable / total) minus
    this process's running threads, the least of a few reads 1 ms apart (0 where /proc is missing).
    Instantaneous, unlike the 1-minute load average, which also counts this process's own threads."""
    best = None
    for k in range(samples):
        try:
            with open("/proc/loadavg") as fh:
                n = int(fh.read().split()[3].split("/")[0]) - _own_running()
        except (OSError, ValueError, IndexError):
            return 0
        best = n if best is None else min(best, n)
        if best <= 0:
            break
        if k + 1 < samples:
            time.sleep(0.001)
    return max(best or 0, 0)


def kernel_threads() -> int:
    """Threads for the parallel kernel paths: every core when no other process is running, else 1.

    A parallel region on 2 cores waits at its barrier for the slowest thread; with another process
    on a core that is a scheduler time slice (measured ~5-8 ms per region, against ~50 µs of work
    per GD step at width 16).  The chunking, and so the result, does not depend on this number."""
    n = os.cpu_count() or 1
    return n if busy_cores() <= 0 else 1


class numba_threads:
    """``with numba_threads(n): ...`` runs numba's parallel regions on n threads, then restores."""

    def __init__(self, n: int):
        self.n, self.saved = n, None

    def __enter__(self):
        self.saved = numba.get_num_threads()
        numba.set_num_threads(max(1, min(int(self.n), numba.config.NUMBA_NUM_THREADS)))
        return self

    def __exit__(self, *exc):
        numba.set_num_threads(self.saved)
        return False


# primitives of further layer types, one file each (re-exported for the generated modules)
from .primitives_softmax import *  # noqa: E402,F401,F403
from .primitives_attention import *  # noqa: E402,F401,F403
from .primitives_batchnorm import *  # noqa: E402,F401,F403
from .primitives_gram import *  # noqa: E402,F401,F403
