"""Full-batch gradient descent with every charge and the exact law checked at each step."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class GDRun:
    lr: float
    steps: int
    completed: int                 # steps done before a non-finite value (== steps if none)
    theta: np.ndarray | None       # (completed+1, D) if recorded
    charges: np.ndarray            # (completed+1, n_charges)
    losses: np.ndarray             # (completed,)
    step_resid: np.ndarray         # (completed,) max relative law residual per step
    charge_resid: np.ndarray       # (n_charges,) max relative law residual per charge

    @property
    def diverged(self) -> bool:
        return self.completed < self.steps


#: 6·N·D (the dense flops of one forward + backward pass) from which the batch is split over threads:
#: below it a parallel region's start-up (~10 µs on 2 cores) costs more than it saves (noether bench).
PAR_FLOPS = 1.0e6
#: fewest samples per chunk
PAR_MIN_ROWS = 16


def sample_chunks(kernels, n_samples: int, n_params: int, parallel: bool | None = None) -> int:
    """Row chunks for the GD loop's loss/gradient pass: the cores, if the model is sample-separable and
    (``parallel`` None) the pass is large enough to pay for a parallel region; 1 means serial.

    The chunking, not the thread schedule, fixes the summation order, so a run is deterministic."""
    import os
    cores = os.cpu_count() or 1
    if parallel is False or cores == 1 or not getattr(kernels.module, "SAMPLE_PARALLEL", False):
        return 1
    P = min(cores, n_samples // PAR_MIN_ROWS)
    if parallel is None and 6.0 * n_samples * n_params < PAR_FLOPS:
        return 1
    from ..kernels.primitives import BLAS_MT_FLOPS
    if parallel is None and 6.0 * n_samples * n_params >= BLAS_MT_FLOPS:
        # BLAS itself goes multi-threaded here: chunks on top of it oversubscribe the cores
        # (relu 64-1024-10, N = 4096: the same steps/s for 1.4x the CPU, noether bench)
        return 1
    return max(P, 1)


def run_gd(kernels, theta0, X, Y, lr: float, steps: int, record: bool = True,
           parallel: bool | None = None, check_law: bool = True) -> GDRun:
    """Full-batch GD recording every charge; with ``check_law`` (default) the exact GD law is checked on
    every charge at every step (``step_resid``, ``charge_resid``; zeros without).

    ``parallel``: True splits the batch over the cores whenever the model allows, False never,
    None by size (:func:`sample_chunks`) and runs the chunks on every core only when no other
    process is running (:func:`noether.kernels.primitives.kernel_threads`); results do not depend
    on the thread count, only on the chunking."""
    mod = kernels.module
    nC = len(kernels.layout.names)
    D = theta0.shape[0]
    ws = mod.make_workspace(X.shape[0])
    thetas = np.full((steps + 1, D) if record else (1, D), np.nan)
    Cs = np.full((steps + 1, nC), np.nan)
    losses = np.full(steps, np.nan)
    step_resid = np.zeros(steps)
    charge_resid = np.zeros(nC)
    gparts = np.empty((sample_chunks(kernels, X.shape[0], D, parallel), D))
    from ..kernels.primitives import kernel_threads, numba_threads
    with numba_threads(kernel_threads() if parallel is None else (1 if parallel is False else 64)):
        loop = mod.run_gd_par if gparts.shape[0] > 1 else mod.run_gd
        done = int(loop(np.ascontiguousarray(theta0, dtype=float), np.ascontiguousarray(X, dtype=float),
                        np.ascontiguousarray(Y, dtype=float), float(lr), int(steps), ws, record,
                        thetas, Cs, losses, step_resid, charge_resid, gparts, bool(check_law)))
    if done < steps and record:
        # keep the partial trajectory, including the first non-finite parameters if they were formed
        pass
    return GDRun(lr, steps, done, thetas[:done + 1] if record else None, Cs[:done + 1], losses[:done],
                 step_resid[:done], charge_resid)
