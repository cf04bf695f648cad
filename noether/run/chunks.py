"""The loss/gradient pass of a run loop, split in cache-sized row chunks over threads (issue 7).

A sample-separable model's batch loss is a mean of per-sample terms, so the batch can be cut in
row chunks, each evaluated on its own (``loss_grad_par`` in the generated module) and the chunk
gradients summed in chunk order.  The chunking, not the thread schedule, fixes the summation
order: a run is deterministic, whatever the load.  :func:`batch_pass` picks the chunks, the
workspace and the thread settings for one run; GD (:mod:`.gd`) and every optimizer
(:mod:`.optimizers`) share it.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
from ..kernels.loops import LOSS_GRAD, bind
from ..kernels.primitives import blas_threads_for, kernel_threads, blas_threads, numba_threads
import os
import numba

#: 6·N·D (the dense flops of one forward + backward pass) from which the batch is split over threads:
#: below it a parallel region's start-up (~10 µs on 2 cores) costs more than it saves (noether bench).
PAR_FLOPS = 1.0e6
#: fewest samples per chunk
PAR_MIN_ROWS = 16
#: rows x widest activation per chunk: a chunk's intermediates (~512 KB each) are evaluated in a
#: per-thread workspace slot that stays in the core's cache from chunk to chunk.  Measured on
#: relu 64-w-10 (loss/grad pass, 2 threads, 1-thread BLAS per chunk; chunks -> ms): w1024 N4096
#: 2 -> 34, 16 -> 26, 64 -> 21 (43 unchunked with 2-thread BLAS); w256 N4096 2 -> 8.6, 16 -> 5.1;
#: w64 N4096 2 -> 2.3, 8 -> 1.5; w1024 N256 2 -> 1.8, 4 -> 1.5, 16 -> 2.3.
TILE_ELEMS = 65536
TILE_ROWS = (64, 512)       # clamp of the rows per chunk
#: bytes of per-chunk gradient buffers (P x D float64) at most, beyond the one per core
GPARTS_BYTES = 64 << 20


def sample_chunks(kernels, n_samples: int, n_params: int, parallel: bool | None = None) -> int:
    """Row chunks for a run's loss/gradient pass, if the model is sample-separable and
    (``parallel`` None) the pass is large enough to pay for a parallel region; 1 means serial.

    At least one chunk per core, and enough that a chunk's rows x widest activation is about
    TILE_ELEMS (cache-sized tiles); numba's ``prange`` spreads the chunks over the threads."""
    cores = os.cpu_count() or 1
    mod = kernels.module
    if parallel is False or not getattr(mod, "SAMPLE_PARALLEL", False):
        return 1
    if parallel is None and (cores == 1 or 6.0 * n_samples * n_params < PAR_FLOPS):
        return 1
    width = max(getattr(mod, "WS_DIMS", (1,)))
    rows = min(max(TILE_ELEMS // max(width, 1), TILE_ROWS[0]), TILE_ROWS[1])
    P = max(cores, -(-n_samples // rows))
    P = min(P, max(cores, GPARTS_BYTES // (8 * max(n_params, 1))))
    P = -(-P // cores) * cores                     # whole rounds of chunks per thread
    return max(1, min(P, n_samples // PAR_MIN_ROWS))


@dataclass
class BatchPass:
    """What a run loop needs for its loss/gradient pass: ``gparts`` (P, D) chunk gradients (P = 1:
    serial), the workspace (``make_workspace`` rows, or per-thread slots of one chunk's rows for
    ``loss_grad_par``), and the thread settings to run it under (:meth:`threads`)."""
    gparts: np.ndarray
    ws: np.ndarray           # one flat buffer (``make_workspace`` / ``make_workspace_par``)
    chunked: bool
    numba_threads: int
    blas_threads: int

    def loss_grad(self, module):
        """The pass this workspace is sized for (``loss_grad_par`` when chunked, else ``loss_grad``),
        compiled for the loops' signature :data:`noether.kernels.loops.LOSS_GRAD`."""
        return bind(module.loss_grad_par if self.chunked else module.loss_grad, LOSS_GRAD)

    @contextlib.contextmanager
    def threads(self):
        with numba_threads(self.numba_threads), blas_threads(self.blas_threads):
            yield self


def batch_pass(kernels, n_rows: int, n_params: int, parallel: bool | None = None) -> BatchPass:
    """Chunks, workspace and threads for a pass over ``n_rows`` samples.

    ``parallel``: True splits the batch whenever the model allows, False never, None by size
    (:func:`sample_chunks`), running the chunks on every core only when no other process is
    running (:func:`noether.kernels.primitives.kernel_threads`)."""

    mod = kernels.module
    P = sample_chunks(kernels, n_rows, n_params, parallel)
    chunked = P > 1
    threads = kernel_threads() if parallel is None else (1 if parallel is False else 64)
    if chunked:     # a workspace slot per thread (get_thread_id() < the threads set), one chunk's rows
        slots = max(1, min(threads, numba.config.NUMBA_NUM_THREADS))
        ws = mod.make_workspace_par(-(-n_rows // P), slots)
    else:
        ws = mod.make_workspace(n_rows)
    # chunks (and the Gram charge blocks) run on numba's threads, each calling a 1-thread BLAS: a
    # multi-threaded BLAS inside them oversubscribes the cores (linear 64-1024-10 charges: 1.4 ms
    # on a 1-thread BLAS, 12.6 ms on 2).  An unchunked pass follows the BLAS policy of its size.
    blas = 1 if chunked else blas_threads_for(6.0 * n_rows * n_params)
    return BatchPass(np.empty((P, n_params)), ws, chunked, threads, blas)


def loss_and_grad(kernels, theta, X, Y) -> tuple[float, np.ndarray]:
    """The loss and gradient of the model's compiled serial pass at ``theta`` on (X, Y), its buffers
    allocated here (one call; a loop allocates them once, as :func:`batch_pass` does)."""
    mod = kernels.module
    theta = np.require(theta, np.float64, ["C", "W"])
    X, Y = np.require(X, np.float64, ["C", "W"]), np.require(Y, np.float64, ["C", "W"])
    grad = np.empty(theta.shape[0])
    L = mod.loss_grad(theta, X, Y, grad, mod.make_workspace(X.shape[0]), np.empty((1, theta.shape[0])), np.empty(1))
    return float(L), grad
