"""Full-batch gradient descent with every charge and the exact law checked at each step."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .chunks import batch_pass


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


def run_gd(kernels, theta0, X, Y, lr: float, steps: int, record: bool = True,
           parallel: bool | None = None, check_law: bool = True) -> GDRun:
    """Full-batch GD recording every charge; with ``check_law`` (default) the exact GD law is checked on
    every charge at every step (``step_resid``, ``charge_resid``; zeros without).

    ``parallel``: True splits the batch in row chunks over the cores whenever the model allows,
    False never, None by size (:func:`noether.run.chunks.batch_pass`); results do not depend on
    the thread count, only on the chunking."""
    mod = kernels.module
    nC = len(kernels.layout.names)
    D = theta0.shape[0]
    # rows 0..done of thetas / Cs and 0..done-1 of losses are written by the loop, and only they are
    # returned: no fill (for h(h-1)/2 pair charges a NaN fill is a memset of the whole history)
    thetas = np.empty((steps + 1, D) if record else (1, D))
    Cs = np.empty((steps + 1, nC))
    losses = np.empty(steps)
    step_resid = np.zeros(steps)
    charge_resid = np.zeros(nC)
    ps = batch_pass(kernels, X.shape[0], D, parallel)
    with ps.threads():
        loop = mod.run_gd_par if ps.chunked else mod.run_gd
        done = int(loop(np.ascontiguousarray(theta0, dtype=float), np.ascontiguousarray(X, dtype=float),
                        np.ascontiguousarray(Y, dtype=float), float(lr), int(steps), ps.ws, record,
                        thetas, Cs, losses, step_resid, charge_resid, ps.gparts, bool(check_law)))
    # a diverged run keeps its partial trajectory: the steps up to the first non-finite value
    return GDRun(lr, steps, done, thetas[:done + 1] if record else None, Cs[:done + 1], losses[:done],
                 step_resid[:done], charge_resid)
